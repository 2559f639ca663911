//! Output and input helpers shared by every command: JSON or aligned text, identifiers from
//! arguments or stdin, verdict words, the time.

use std::io::BufRead;

use valv_client::pb;

use crate::table;

/// Prints `value` as JSON, or `text` as tab-separated lines for `cut` and `awk` (item output).
pub(crate) fn print_tsv(json: bool, value: serde_json::Value, text: impl FnOnce() -> String) {
    if json {
        println!("{value}");
    } else {
        println!("{}", text());
    }
}

/// Prints `value` as JSON, or `text` with its tab-separated columns aligned.
pub(crate) fn print(json: bool, value: serde_json::Value, text: impl FnOnce() -> String) {
    if json {
        println!("{value}");
    } else {
        println!("{}", table::align(&text()));
    }
}

pub(crate) fn stdin_lines(given: Vec<String>) -> anyhow::Result<Vec<String>> {
    if !given.is_empty() {
        return Ok(given);
    }
    std::io::stdin()
        .lock()
        .lines()
        .map(|l| l.map_err(Into::into))
        .collect()
}

/// A verdict as a word.
pub(crate) fn verdict_word(v: pb::Verdict) -> &'static str {
    match v {
        pb::Verdict::Released => "released",
        pb::Verdict::NoConsent => "no-consent",
        pb::Verdict::ConsentWithdrawn => "consent-withdrawn",
        pb::Verdict::ConsentExpired => "consent-expired",
        pb::Verdict::NotFound => "not-found",
        pb::Verdict::Denied => "denied",
        pb::Verdict::KeyDestroyed => "key-destroyed",
        pb::Verdict::Restricted => "restricted",
        pb::Verdict::Unspecified => "unspecified",
    }
}

/// An enum value's wire name as a word: `CONSENT_STATUS_WITHDRAWN` with prefix
/// `CONSENT_STATUS_` is `withdrawn`, `CONSENT_METHOD_BANK_ID` is `bank-id`.
pub(crate) fn enum_word(wire_name: &str, prefix: &str) -> String {
    wire_name
        .strip_prefix(prefix)
        .unwrap_or(wire_name)
        .to_ascii_lowercase()
        .replace('_', "-")
}

/// A time (ms since the Unix epoch) for people: RFC 3339 in UTC to the second; `—` for 0
/// (not set).
pub(crate) fn time_text(unix_ms: i64) -> String {
    if unix_ms == 0 {
        return "—".to_owned();
    }
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(unix_ms) * 1_000_000)
        .ok()
        .and_then(|t| t.replace_nanosecond(0).ok())
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| format!("{unix_ms} ms"))
}

/// Now, in ms since the Unix epoch.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// "filed as operation N …" for an act that waits under the two-person rule.
pub fn pending_text(why: &str, id: u64) -> String {
    format!(
        "not changed yet: {why}, so it was filed as operation {id}; an independent second principal must run `valvctl approval approve {id}`"
    )
}

/// What an act changes, one indented line each (empty when nothing).
pub fn changes_text(changes: &[valv_client::pb::AuditChange]) -> String {
    changes
        .iter()
        .map(|c| {
            let show = |s: &str| {
                if s.is_empty() {
                    "—".to_owned()
                } else {
                    s.to_owned()
                }
            };
            format!("\n  {}: {} → {}", c.field, show(&c.before), show(&c.after))
        })
        .collect()
}

/// Changes as JSON.
pub fn changes_json(changes: &[valv_client::pb::AuditChange]) -> serde_json::Value {
    changes
        .iter()
        .map(|c| serde_json::json!({"field": c.field, "before": c.before, "after": c.after}))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_enum_values_read_as_words() {
        assert_eq!(time_text(0), "—");
        assert_eq!(time_text(1_764_646_149_999), "2025-12-02T03:29:09Z");
        assert_eq!(
            enum_word("CONSENT_STATUS_WITHDRAWN", "CONSENT_STATUS_"),
            "withdrawn"
        );
        assert_eq!(
            enum_word("CONSENT_METHOD_BANK_ID", "CONSENT_METHOD_"),
            "bank-id"
        );
    }
}
