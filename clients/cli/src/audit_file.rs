//! The audit export format, one JSON object per line: `{"type":"entry", …every AuditEntry
//! field…}` in chain order, then `{"type":"checkpoint", …}`. Hashes, signatures and keys are
//! lowercase hex; counts, items and changes are arrays (their order is part of the hash). Shared
//! by `valvctl audit export`/`verify` and the witness file.

use std::path::Path;

use anyhow::{Context, bail};
use serde_json::{Value, json};
use valv_client::pb;

/// An entry as one JSON object.
pub fn entry_json(e: &pb::AuditEntry) -> Value {
    json!({
        "type": "entry",
        "chain": e.chain,
        "seq": e.seq,
        "at_unix_ms": e.at_unix_ms,
        "principal": e.principal,
        "action": e.action,
        "domain": e.domain,
        "purpose": e.purpose,
        "subject": e.subject,
        "verdict": e.verdict,
        "request_id": e.request_id,
        "counts": e.counts.iter().map(|c| json!({"name": c.name, "value": c.value})).collect::<Vec<_>>(),
        "items": e.items.iter().map(|i| json!({"target": i.target, "outcome": i.outcome, "subject": i.subject})).collect::<Vec<_>>(),
        "changes": e.changes.iter().map(|c| json!({"field": c.field, "before": c.before, "after": c.after})).collect::<Vec<_>>(),
        "prev_hash": hex(&e.prev_hash),
        "hash": hex(&e.hash),
    })
}

/// A checkpoint as one JSON object.
pub fn checkpoint_json(c: &pb::AuditCheckpoint) -> Value {
    json!({
        "type": "checkpoint",
        "chain": c.chain,
        "seq": c.seq,
        "head_hash": hex(&c.head_hash),
        "at_unix_ms": c.at_unix_ms,
        "signature": hex(&c.signature),
    })
}

pub fn hex(bytes: &[u8]) -> String {
    data_encoding::HEXLOWER.encode(bytes)
}

fn unhex(v: &Value, field: &str) -> anyhow::Result<Vec<u8>> {
    let text = v[field]
        .as_str()
        .with_context(|| format!("{field}: missing"))?;
    data_encoding::HEXLOWER_PERMISSIVE
        .decode(text.as_bytes())
        .with_context(|| format!("{field}: not hex"))
}

fn text(v: &Value, field: &str) -> String {
    v[field].as_str().unwrap_or_default().to_owned()
}

fn num(v: &Value, field: &str) -> anyhow::Result<u64> {
    v[field]
        .as_u64()
        .with_context(|| format!("{field}: missing or not a number"))
}

fn entry_from(v: &Value) -> anyhow::Result<pb::AuditEntry> {
    let list = |field: &str| v[field].as_array().cloned().unwrap_or_default();
    Ok(pb::AuditEntry {
        chain: num(v, "chain")?,
        seq: num(v, "seq")?,
        at_unix_ms: v["at_unix_ms"].as_i64().context("at_unix_ms")?,
        principal: text(v, "principal"),
        action: text(v, "action"),
        domain: text(v, "domain"),
        purpose: text(v, "purpose"),
        subject: text(v, "subject"),
        verdict: text(v, "verdict"),
        request_id: text(v, "request_id"),
        counts: list("counts")
            .iter()
            .map(|c| {
                Ok(pb::AuditCount {
                    name: text(c, "name"),
                    value: num(c, "value")?,
                })
            })
            .collect::<anyhow::Result<_>>()?,
        items: list("items")
            .iter()
            .map(|i| pb::AuditItem {
                target: text(i, "target"),
                outcome: text(i, "outcome"),
                subject: text(i, "subject"),
            })
            .collect(),
        changes: list("changes")
            .iter()
            .map(|c| pb::AuditChange {
                field: text(c, "field"),
                before: text(c, "before"),
                after: text(c, "after"),
            })
            .collect(),
        prev_hash: unhex(v, "prev_hash")?,
        hash: unhex(v, "hash")?,
    })
}

pub fn checkpoint_from(v: &Value) -> anyhow::Result<pb::AuditCheckpoint> {
    Ok(pb::AuditCheckpoint {
        chain: num(v, "chain")?,
        seq: num(v, "seq")?,
        head_hash: unhex(v, "head_hash")?,
        at_unix_ms: v["at_unix_ms"].as_i64().context("at_unix_ms")?,
        signature: unhex(v, "signature")?,
    })
}

/// Reads an export file: entries and checkpoints.
pub fn read_export(path: &Path) -> anyhow::Result<(Vec<pb::AuditEntry>, Vec<pb::AuditCheckpoint>)> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    parse_export(std::io::BufReader::new(file))
}

/// Parses an export (JSON lines): entries and checkpoints, or the first line that is not one.
pub fn parse_export(
    reader: impl std::io::BufRead,
) -> anyhow::Result<(Vec<pb::AuditEntry>, Vec<pb::AuditCheckpoint>)> {
    let mut entries = Vec::new();
    let mut checkpoints = Vec::new();
    for (n, line) in reader.lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let v: Value =
            serde_json::from_str(&line).with_context(|| format!("line {}: not JSON", n + 1))?;
        match v["type"].as_str() {
            Some("entry") => {
                entries.push(entry_from(&v).with_context(|| format!("line {}", n + 1))?)
            }
            Some("checkpoint") => {
                checkpoints.push(checkpoint_from(&v).with_context(|| format!("line {}", n + 1))?);
            }
            _ => bail!("line {}: unknown type", n + 1),
        }
    }
    Ok((entries, checkpoints))
}
