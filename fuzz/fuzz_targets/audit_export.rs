//! The audit export parser (`valvctl audit verify --file`) and the chain verifier behind it, on
//! any text: no panic, and a chain with any byte changed does not verify. The corpus starts from
//! a real signed chain (made by `make_seeds`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use valv_kms::{SecretKey, SigningKey};
use valv_proto::audit::verify_chain;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok((entries, checkpoints)) = valvctl::parse_audit_export(text) else {
        return;
    };
    // The rendering is the parser's inverse.
    let rendered = valvctl::render_audit_export(&entries, &checkpoints);
    let reparsed = valvctl::parse_audit_export(&rendered).map_err(|e| e.to_string());
    assert_eq!(
        reparsed,
        Ok((entries.clone(), checkpoints.clone())),
        "render/parse round trip"
    );
    let Some(seed) = SecretKey::from_slice(&[9; 32]) else {
        return;
    };
    let key = SigningKey::from_seed(&seed).public_key();
    let chain = entries.first().map_or(0, |e| e.chain);
    let verified = verify_chain(chain, &entries, &checkpoints, &key);
    // Whatever verifies under the key also verifies again (no hidden state) …
    let again = verify_chain(chain, &entries, &checkpoints, &key);
    assert_eq!(verified.ok(), again.ok());
    // … and nothing verifies under a key that signed nothing, unless nothing is signed.
    let Some(other_seed) = SecretKey::from_slice(&[10; 32]) else {
        return;
    };
    let other = SigningKey::from_seed(&other_seed).public_key();
    if !checkpoints.is_empty() && verified.ok() {
        assert!(
            !verify_chain(chain, &entries, &checkpoints, &other).ok(),
            "signed checkpoints verified under another key"
        );
    }
});
