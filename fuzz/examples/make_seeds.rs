//! Writes the seed inputs of the fuzz targets into `seeds/<target>/` (run from `fuzz/`:
//! `cargo run --example make_seeds`), so each fuzzer starts from inputs that pass its checks —
//! valid identifiers from the test data, a receipt and an audit chain signed with the targets'
//! fixed keys, a stored mapping — and mutates from there.

use std::{fs, path::Path};

use prost::Message;
use valv::store::{records::MappingRecord, sled::codec::encode_mapping};
use valv_kms::{SecretKey, SigningKey};
use valv_proto::{
    audit::{GENESIS, checkpoint_message, entry_hash},
    receipt::{self, Receipt, ReceiptBody, ReceiptPurpose, ReceiptSignature},
    v1::{AuditCheckpoint, AuditEntry},
};

fn write(target: &str, name: &str, bytes: &[u8]) {
    let dir = Path::new("seeds").join(target);
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join(name), bytes).unwrap();
}

fn key(seed: u8) -> SigningKey {
    SigningKey::from_seed(&SecretKey::from_slice(&[seed; 32]).unwrap())
}

fn identifiers() {
    let text = fs::read_to_string("../tests/testdata/identifiers.json").unwrap();
    let data: serde_json::Value = serde_json::from_str(&text).unwrap();
    // The selector byte of each kind, as in the target's KINDS.
    let kinds = [
        ("email", 1u8),
        ("phone", 2),
        ("se-personnummer", 3),
        ("no-fodselsnummer", 4),
        ("dk-cpr", 5),
        ("fi-hetu", 6),
    ];
    for (kind, selector) in kinds {
        for (list, what) in [("valid", "v"), ("invalid", "x")] {
            let items = data[kind][list].as_array().cloned().unwrap_or_default();
            for (i, item) in items.iter().enumerate().take(6) {
                let spellings: Vec<&str> = match item {
                    serde_json::Value::String(s) => vec![s.as_str()],
                    _ => item["same_person"]
                        .as_array()
                        .map(|a| a.iter().filter_map(|v| v.as_str()).collect())
                        .or_else(|| item["value"].as_str().map(|v| vec![v]))
                        .unwrap_or_default(),
                };
                for (j, raw) in spellings.into_iter().enumerate() {
                    let mut bytes = vec![selector];
                    bytes.extend_from_slice(raw.as_bytes());
                    write("identifiers", &format!("{kind}-{what}{i}-{j}"), &bytes);
                }
            }
        }
    }
    write("identifiers", "opaque", b"\0patient-0001");
}

fn records() {
    for (i, p) in ["/ssn", "/contacts/*/phone", "/a~1b/~0c", "/items/0/id"]
        .iter()
        .enumerate()
    {
        write("record_pointer", &format!("p{i}"), p.as_bytes());
    }
    let doc = r#"{"ssn": "195209035525", "name": "x", "contacts": [{"phone": "+46701234567"}, {"phone": 46701234568}], "note": {"drop": true}}"#;
    write(
        "record_scan",
        "policy-and-record",
        format!("/ssn\n?/contacts/*/phone\n!/note\n\n{doc}").as_bytes(),
    );
}

fn receipt_seed() {
    let key = key(7);
    let body = ReceiptBody {
        version: receipt::VERSION.into(),
        receipt_id: "00112233445566778899aabbccddeeff".into(),
        tenant: "acme".into(),
        consent_timestamp_ms: 1_795_392_000_000,
        subject_ref: format!("subject:{}", "ab".repeat(16)),
        guardian_ref: None,
        purpose: ReceiptPurpose {
            name: "research".into(),
            legal_basis: "consent".into(),
            explicit_consent: true,
            text_version: 2,
            text_sha256: "ff".repeat(32),
        },
        collection_method: "bankid".into(),
        channel: "portal".into(),
        valid_from_ms: 1_795_392_000_000,
        valid_until_ms: 0,
        evidence_stored: true,
        recorded_by: "consent-desk".into(),
        event_seq: 1,
    };
    let signature = ReceiptSignature {
        alg: "Ed25519".into(),
        key_id: receipt::key_id(&key.public_key()),
        value: hex(&key.sign(&receipt::signed_bytes(&body))),
    };
    let text = receipt::render(&Receipt { body, signature });
    assert!(receipt::verify(&text, &key.public_key()).is_ok());
    write("receipt", "valid", text.as_bytes());
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn audit_seed() {
    let key = key(9);
    let mut prev = GENESIS.to_vec();
    let mut entries = Vec::new();
    for seq in 1..=3u64 {
        let mut e = AuditEntry {
            chain: 5,
            seq,
            at_unix_ms: 1_795_392_000_000 + seq as i64,
            principal: "p1".into(),
            action: "pseudonymise".into(),
            domain: "patients".into(),
            prev_hash: prev.clone(),
            ..Default::default()
        };
        e.hash = entry_hash(&e).to_vec();
        prev = e.hash.clone();
        entries.push(e);
    }
    let mut cp = AuditCheckpoint {
        chain: 5,
        seq: 3,
        head_hash: prev,
        at_unix_ms: 1_795_392_000_100,
        signature: Vec::new(),
    };
    cp.signature = key.sign(&checkpoint_message(&cp)).to_vec();
    let text = valvctl::render_audit_export(&entries, &[cp.clone()]);
    let (parsed, checkpoints) = valvctl::parse_audit_export(&text).unwrap();
    assert!(valv_proto::audit::verify_chain(5, &parsed, &checkpoints, &key.public_key()).ok());
    write("audit_export", "signed-chain", text.as_bytes());
    write("store_codec", "audit-entry", &entries[0].encode_to_vec());
}

fn codec_seed() {
    for (name, ciphertext) in [("keyed", None), ("reversible", Some(vec![3u8; 45]))] {
        let record = MappingRecord {
            epoch: 1,
            subject: [7; 16],
            created_ms: 1_795_392_000_000,
            expires_ms: 1_795_392_060_000,
            ciphertext,
        };
        write("store_codec", name, &encode_mapping(&record));
    }
}

fn main() {
    identifiers();
    records();
    receipt_seed();
    audit_seed();
    codec_seed();
    println!("seeds written to fuzz/seeds/");
}
