//! Known answers from `tests/testdata/identifiers.json` plus property tests.

use proptest::prelude::*;
use serde_json::Value;

use super::*;

const DATA: &str = include_str!("../../../../tests/testdata/identifiers.json");
const TODAY: Date = Date {
    year: 2026,
    month: 11,
    day: 23,
};

fn kinds() -> [(&'static str, IdentifierKind); 6] {
    [
        ("se-personnummer", IdentifierKind::SePersonnummer),
        ("no-fodselsnummer", IdentifierKind::NoFodselsnummer),
        ("dk-cpr", IdentifierKind::DkCpr),
        ("fi-hetu", IdentifierKind::FiHetu),
        ("email", IdentifierKind::Email),
        ("phone", IdentifierKind::Phone),
    ]
}

fn norm(kind: IdentifierKind, raw: &str) -> Result<String, InvalidIdentifier> {
    normalise(kind, raw, TODAY, 256)
        .map(|n| String::from_utf8_lossy(n.value.expose_secret()).into_owned())
}

#[test]
fn every_valid_spelling_gives_the_normal_form() {
    let data: Value = serde_json::from_str(DATA).unwrap_or(Value::Null);
    let mut checked = 0;
    for (name, kind) in kinds() {
        for case in data[name]["valid"].as_array().into_iter().flatten() {
            let spellings: Vec<&str> = match case.get("same_person") {
                Some(list) => list
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .collect(),
                None => case["value"].as_str().into_iter().collect(),
            };
            let expected = case["normal_form"].as_str().map(str::to_owned);
            let first = norm(kind, spellings[0]);
            assert!(
                first.is_ok(),
                "{name} {:?} refused: {first:?}",
                spellings[0]
            );
            for s in &spellings {
                let got = norm(kind, s);
                assert_eq!(got.as_ref().ok(), first.as_ref().ok(), "{name} {s:?}");
                if let Some(e) = &expected {
                    assert_eq!(got.as_deref().ok(), Some(e.as_str()), "{name} {s:?}");
                }
                checked += 1;
            }
        }
    }
    assert!(checked >= 30, "only {checked} valid spellings checked");
}

#[test]
fn every_invalid_value_is_refused_with_the_named_rule() {
    let data: Value = serde_json::from_str(DATA).unwrap_or(Value::Null);
    // The test data's rule words -> a word our rule text must contain.
    let expect = |rule: &str| -> &'static str {
        let r = rule.to_lowercase();
        if r.starts_with("second check") {
            "second check digit"
        } else if r.starts_with("check digits") {
            "check digit"
        } else if r.starts_with("check character") {
            "check character"
        } else if r.starts_with("check digit") {
            "check digit"
        } else if r.starts_with("month") {
            "month"
        } else if r.contains("february") || r.starts_with("day") {
            "day"
        } else if r.starts_with("length") {
            "length"
        } else if r.starts_with("not a digit") {
            ""
        } else if r.starts_with("century") {
            "century sign"
        } else if r.starts_with("no @") {
            "no @"
        } else if r.starts_with("two @") {
            "two @"
        } else if r.starts_with("empty domain") {
            "empty domain"
        } else if r.starts_with("too short") {
            "too short"
        } else if r.starts_with("more than 15") {
            "more than 15 digits"
        } else if r.starts_with("no country code") {
            "no country code"
        } else {
            "?"
        }
    };
    let mut checked = 0;
    for (name, kind) in kinds() {
        for case in data[name]["invalid"].as_array().into_iter().flatten() {
            let value = case["value"].as_str().unwrap_or_default();
            let rule = case["rule"].as_str().unwrap_or_default();
            let got = norm(kind, value);
            let Err(err) = got else {
                panic!("{name}: invalid value accepted (rule {rule})")
            };
            assert!(
                err.rule.contains(expect(rule)),
                "{name}: expected rule {rule:?}, got {:?}",
                err.rule
            );
            assert!(
                !err.to_string().contains(value.trim()),
                "error echoes the identifier"
            );
            checked += 1;
        }
    }
    assert!(checked >= 18);
}

#[test]
fn coordination_and_d_numbers() {
    assert_eq!(
        norm(IdentifierKind::SePersonnummer, "331163-1034")
            .ok()
            .as_deref(),
        Some("193311631034")
    );
    assert!(norm(IdentifierKind::NoFodselsnummer, "48049224403").is_ok());
}

#[test]
fn ten_digit_personnummer_century_follows_today_and_plus() {
    // 031116 with '-' is 2003; with '+' (100 years or older) 1903.
    assert_eq!(
        norm(IdentifierKind::SePersonnummer, "031116-1632")
            .ok()
            .as_deref(),
        Some("200311161632")
    );
    assert_eq!(
        norm(IdentifierKind::SePersonnummer, "031116+1632")
            .ok()
            .as_deref(),
        Some("190311161632")
    );
}

#[test]
fn opaque_is_taken_as_given() {
    assert_eq!(
        norm(IdentifierKind::Opaque, " P-123 ").ok().as_deref(),
        Some(" P-123 ")
    );
    assert!(norm(IdentifierKind::Opaque, "").is_err());
    assert!(norm(IdentifierKind::Opaque, &"x".repeat(257)).is_err());
}

proptest! {
    /// Normalising a normal form gives it back (idempotence), for every kind and any input.
    #[test]
    fn normalisation_is_idempotent(raw in "\\PC{0,40}", k in 0usize..6) {
        let kind = kinds()[k].1;
        if let Ok(n) = norm(kind, &raw) {
            prop_assert_eq!(norm(kind, &n).ok(), Some(n));
        }
    }

    /// Random digit strings never panic and never produce an error that echoes them.
    #[test]
    fn digits_never_panic_or_echo(raw in "[0-9+ -]{0,16}", k in 0usize..6) {
        let kind = kinds()[k].1;
        if let Err(e) = norm(kind, &raw) {
            let text = e.to_string();
            prop_assert!(raw.trim().len() < 6 || !text.contains(raw.trim()));
        }
    }
}
