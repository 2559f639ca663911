//! What the store reads back from disk, on any bytes: the mapping codec decodes only canonical
//! records (decode then encode gives the same bytes), the envelope of a sealed identifier opens
//! only under its own context and unchanged, and stored audit entries decode without a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use prost::Message;
use valv::store::sled::codec::{decode_mapping, encode_mapping};
use valv_kms::{
    AadContext, DataKey, SecretKey,
    envelope::{bound_layout, ciphertext_version},
};
use valv_proto::v1::AuditEntry;

fuzz_target!(|data: &[u8]| {
    if let Some(record) = decode_mapping(data) {
        assert_eq!(
            encode_mapping(&record),
            data,
            "a non-canonical mapping decoded"
        );
    }
    if let Ok(entry) = AuditEntry::decode(data) {
        assert_eq!(
            AuditEntry::decode(entry.encode_to_vec().as_slice()).ok(),
            Some(entry)
        );
    }
    let Some(secret) = SecretKey::from_slice(&[3; 32]) else {
        return;
    };
    let key = DataKey::new(1, &secret);
    let context = AadContext {
        tenant_id: 1,
        domain_id: 2,
        record: b"pseudonym",
        bound: b"subject|epoch|expiry",
    };
    // Any bytes as a stored ciphertext: refused or opened, never a panic.
    let _ = (
        bound_layout(data),
        ciphertext_version(data),
        key.open(&context, data),
    );
    // Any bytes as an identifier: sealed, they open under their context only, and not at all
    // once one byte of the ciphertext changed.
    let Ok(sealed) = key.seal(&context, data) else {
        panic!("sealing failed");
    };
    let opened = key
        .open(&context, &sealed)
        .ok()
        .map(|s| s.expose_secret().to_vec());
    assert_eq!(opened.as_deref(), Some(data));
    let elsewhere = AadContext {
        record: b"another",
        ..context
    };
    assert!(
        key.open(&elsewhere, &sealed).is_err(),
        "opened under another record"
    );
    let mut changed = sealed.clone();
    let at = usize::from(data.first().copied().unwrap_or(0)) % changed.len();
    changed[at] ^= 1;
    assert!(
        key.open(&context, &changed).is_err(),
        "opened after a byte changed"
    );
});
