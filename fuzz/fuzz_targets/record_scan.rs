//! The record scanner, on any policy and any document: no panic; every identifier it finds is
//! exactly the JSON value at its byte range; and the document with every identifier replaced and
//! every dropped field removed — what `PseudonymiseRecords` answers — is still one JSON document.
//!
//! Input: policy pointers one per line (`!` first: a field to drop; `?` first: an optional
//! field), an empty line, then the document.
#![no_main]

use libfuzzer_sys::fuzz_target;
use valv::engine::record::{Compiled, Pattern, plan, splice};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Some((policy, doc)) = text.split_once("\n\n") else {
        return;
    };
    let mut fields = Vec::new();
    let mut drops = Vec::new();
    for line in policy.lines().take(8) {
        if let Some(p) = line.strip_prefix('!') {
            drops.extend(Pattern::parse(p));
        } else if let Some(p) = line.strip_prefix('?') {
            fields.extend(Pattern::parse(p).map(|p| (p, false)));
        } else {
            fields.extend(Pattern::parse(line).map(|p| (p, true)));
        }
    }
    let compiled = Compiled::new(fields, drops);
    let Ok(found) = plan(doc, &compiled) else {
        return;
    };
    let mut edits = Vec::new();
    for hit in &found.hits {
        let raw = doc
            .get(hit.range.clone())
            .unwrap_or_else(|| panic!("hit range {:?} off the document", hit.range));
        if raw.starts_with('"') {
            let decoded: String = serde_json::from_str(raw)
                .unwrap_or_else(|e| panic!("hit {} is not a JSON string ({e})", hit.pointer));
            assert_eq!(decoded, hit.value, "string value");
        } else {
            assert_eq!(raw, hit.value, "number digits");
            assert!(
                serde_json::from_str::<serde::de::IgnoredAny>(raw).is_ok(),
                "hit {} is not a JSON number",
                hit.pointer
            );
        }
        edits.push((hit.range.clone(), "\"PSEUDONYM\"".to_owned()));
    }
    for range in &found.drops {
        assert!(
            doc.get(range.clone()).is_some(),
            "drop range {range:?} off the document"
        );
        edits.push((range.clone(), String::new()));
    }
    let out = splice(doc, edits);
    if let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(&out) {
        panic!("the rewritten record is not JSON ({e}): {out}");
    }
});
