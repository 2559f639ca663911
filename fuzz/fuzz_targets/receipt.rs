//! Consent receipt verification, on any text: no panic, and nothing but the exact bytes of a
//! receipt signed by the key verifies. The corpus starts from a receipt signed with the fixed
//! key below, so the fuzzer mutates real receipts.
#![no_main]

use libfuzzer_sys::fuzz_target;
use valv_kms::{SecretKey, SigningKey};
use valv_proto::receipt::{render, verify};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Some(seed) = SecretKey::from_slice(&[7; 32]) else {
        return;
    };
    let key = SigningKey::from_seed(&seed);
    if let Ok(receipt) = verify(text, &key.public_key()) {
        // Verified: the text is the issued rendering, byte for byte.
        assert_eq!(render(&receipt), text.trim_end_matches('\n'));
    }
    // Under another key nothing verifies.
    let Some(other_seed) = SecretKey::from_slice(&[8; 32]) else {
        return;
    };
    let other = SigningKey::from_seed(&other_seed);
    assert!(
        verify(text, &other.public_key()).is_err(),
        "verified under another key"
    );
});
