//! Format-preserving pseudonyms are valid-shaped identifiers from the part of each kind's space
//! that no real person has: 10,000 per kind, checked by validators written here from the
//! published rules (not the vault's own code), re-identified, stable for the same person, new
//! after an erasure; kinds without such a part are refused.

// A test file: helpers unwrap like the tests do; a failure is the test's message.
#![allow(clippy::unwrap_used)]

use std::collections::HashSet;

use valv_e2e::{Valv, pb, pseudonymise_ok, reidentify, setup_tenant, start};

const N: usize = 10_000;

/// A validator of identifier text.
type Check = fn(&str) -> bool;

/// Days in a month of the proleptic Gregorian calendar (0 for no such month).
fn days_in(year: u32, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400) => {
            29
        }
        2 => 28,
        _ => 0,
    }
}

fn real_date(year: u32, month: u32, day: u32) -> bool {
    day >= 1 && day <= days_in(year, month)
}

fn digits(s: &str) -> Vec<u32> {
    s.chars().filter_map(|c| c.to_digit(10)).collect()
}

fn n2(d: &[u32]) -> u32 {
    d[0] * 10 + d[1]
}

/// Skatteetaten's mod-11 check digit over `d` with weights `w` (`None`: the number is never
/// issued).
fn mod11(d: &[u32], w: &[u32]) -> Option<u32> {
    let r = 11 - d.iter().zip(w).map(|(a, b)| a * b).sum::<u32>() % 11;
    match r {
        11 => Some(0),
        10 => None,
        k => Some(k),
    }
}

const NO_W1: [u32; 9] = [3, 7, 6, 1, 8, 9, 4, 5, 2];
const NO_W2: [u32; 10] = [5, 4, 3, 2, 7, 6, 5, 4, 3, 2];

/// The century of a Norwegian individual number and two-digit year (Folkeregister rules).
fn no_year(individual: u32, yy: u32) -> Option<u32> {
    match individual {
        0..=499 => Some(1900 + yy),
        500..=749 if yy >= 54 => Some(1800 + yy),
        500..=999 if yy <= 39 => Some(2000 + yy),
        900..=999 if yy >= 40 => Some(1900 + yy),
        _ => None,
    }
}

/// A Norwegian number with valid check digits whose month is `month_offset` above a real
/// month: 0 for fødselsnummer (D-numbers add 40 to the day), 80 for Skatteetaten's synthetic
/// test persons.
fn no_valid(s: &str, month_offset: u32) -> bool {
    let d = digits(s);
    if s.len() != 11 || d.len() != 11 {
        return false;
    }
    let (day, month, yy) = (n2(&d[0..2]), n2(&d[2..4]), n2(&d[4..6]));
    let day = if day > 40 { day - 40 } else { day };
    // A real number's month may carry 40 (H-numbers); the synthetic ones carry 80.
    let month = match month_offset {
        0 if month > 40 => month - 40,
        offset => match month.checked_sub(offset) {
            Some(m) => m,
            None => return false,
        },
    };
    let Some(year) = no_year(d[6] * 100 + d[7] * 10 + d[8], yy) else {
        return false;
    };
    real_date(year, month, day)
        && mod11(&d[..9], &NO_W1) == Some(d[9])
        && mod11(&d[..10], &NO_W2) == Some(d[10])
}

/// The CPR century from the 7th digit and the two-digit year (CPR office table).
fn dk_year(seventh: u32, yy: u32) -> u32 {
    match seventh {
        0..=3 => 1900 + yy,
        4 | 9 if yy <= 36 => 2000 + yy,
        4 | 9 => 1900 + yy,
        _ if yy <= 57 => 2000 + yy,
        _ => 1800 + yy,
    }
}

/// A CPR-shaped number whose day is `day_offset` above a real day (0: a real CPR number).
fn dk_valid(s: &str, day_offset: u32) -> bool {
    let d = digits(s);
    if s.len() != 10 || d.len() != 10 {
        return false;
    }
    let Some(day) = n2(&d[0..2]).checked_sub(day_offset) else {
        return false;
    };
    real_date(dk_year(d[6], n2(&d[4..6])), n2(&d[2..4]), day)
}

const FI_CHECK: &[u8; 31] = b"0123456789ABCDEFHJKLMNPRSTUVWXY";

/// A HETU with a real date, a century sign of DVV's list, the right check character, and an
/// individual number in `individual`.
fn fi_valid(s: &str, individual: std::ops::RangeInclusive<u32>) -> bool {
    let b = s.as_bytes();
    if b.len() != 11 {
        return false;
    }
    let century = match b[6] {
        b'+' => 1800,
        b'-' | b'Y' | b'X' | b'W' | b'V' | b'U' => 1900,
        b'A' | b'B' | b'C' | b'D' | b'E' | b'F' => 2000,
        _ => return false,
    };
    let nine = format!("{}{}", &s[..6], &s[7..10]);
    let Ok(n) = nine.parse::<u64>() else {
        return false;
    };
    let d = digits(&nine);
    d.len() == 9
        && real_date(century + n2(&d[4..6]), n2(&d[2..4]), n2(&d[0..2]))
        && individual.contains(&(d[6] * 100 + d[7] * 10 + d[8]))
        && FI_CHECK[usize::try_from(n % 31).unwrap()] == b[10]
}

/// `N` distinct valid identifiers of a kind, from dates of 1930–2020.
fn generate(kind: pb::IdentifierKind) -> Vec<String> {
    let mut out = Vec::with_capacity(N);
    'dates: for year in 1930..=2020u32 {
        for month in 1..=12 {
            for day in (1..=days_in(year, month)).step_by(7) {
                let date = format!("{day:02}{month:02}{:02}", year % 100);
                match kind {
                    pb::IdentifierKind::NoFodselsnummer => {
                        let individuals = if year < 2000 { 0..500 } else { 500..1000 };
                        for ind in individuals.step_by(97) {
                            let nine = digits(&format!("{date}{ind:03}"));
                            let Some(k1) = mod11(&nine, &NO_W1) else {
                                continue;
                            };
                            let ten: Vec<u32> = nine.iter().copied().chain([k1]).collect();
                            let Some(k2) = mod11(&ten, &NO_W2) else {
                                continue;
                            };
                            out.push(format!("{date}{ind:03}{k1}{k2}"));
                        }
                    }
                    pb::IdentifierKind::DkCpr => {
                        let serials = if year < 2000 { 0..4000 } else { 4000..5000 };
                        for s in serials.step_by(1301) {
                            out.push(format!("{date}{s:04}"));
                        }
                    }
                    _ => {
                        let sign = if year < 2000 { '-' } else { 'A' };
                        for ind in (2..900).step_by(211) {
                            let n: u64 = format!("{date}{ind:03}").parse().unwrap();
                            let c = char::from(FI_CHECK[usize::try_from(n % 31).unwrap()]);
                            out.push(format!("{date}{sign}{ind:03}{c}"));
                        }
                    }
                }
                if out.len() >= N {
                    break 'dates;
                }
            }
        }
    }
    out.truncate(N);
    out
}

async fn pseudonymise_all(tok: &Valv, domain: &str, ids: &[String]) -> Vec<String> {
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    pseudonymise_ok(tok, domain, &refs).await
}

#[tokio::test(flavor = "multi_thread")]
async fn pseudonyms_are_valid_shaped_numbers_nobody_has() {
    let server = start().await;
    let operator = server.client(&server.operator_token).await;
    let fp = pb::Scheme::FormatPreserving;
    let t = setup_tenant(
        &operator,
        "registry",
        &[
            ("no", pb::IdentifierKind::NoFodselsnummer, fp, true),
            ("dk", pb::IdentifierKind::DkCpr, fp, true),
            ("fi", pb::IdentifierKind::FiHetu, fp, false),
        ],
        &[("ops", pb::LegalBasis::Contract)],
    )
    .await;
    let tok = server.client(&t.tokenizer).await;
    let reid = server.client(&t.reidentifier).await;

    for (domain, kind) in [
        ("no", pb::IdentifierKind::NoFodselsnummer),
        ("dk", pb::IdentifierKind::DkCpr),
        ("fi", pb::IdentifierKind::FiHetu),
    ] {
        let ids = generate(kind);
        assert_eq!(ids.len(), N, "{domain}");
        let (real, shaped): (Check, Check) = match kind {
            pb::IdentifierKind::NoFodselsnummer => (|s| no_valid(s, 0), |s| no_valid(s, 80)),
            pb::IdentifierKind::DkCpr => (|s| dk_valid(s, 0), |s| dk_valid(s, 60)),
            _ => (|s| fi_valid(s, 2..=899), |s| fi_valid(s, 900..=999)),
        };
        assert!(ids.iter().all(|i| real(i)), "{domain}: the generator");
        let ps = pseudonymise_all(&tok, domain, &ids).await;
        let distinct: HashSet<&String> = ps.iter().collect();
        assert_eq!(distinct.len(), N, "{domain}: one pseudonym per person");
        for p in &ps {
            assert!(shaped(p), "{domain}: {p} is not of the reserved shape");
            assert!(!real(p), "{domain}: {p} could be a real person's number");
        }
        // The same person gets the same pseudonym again, in any batch.
        let again = pseudonymise_all(&tok, domain, &ids[..100]).await;
        assert_eq!(again, ps[..100]);
        if domain != "fi" {
            let back = reidentify(&reid, domain, "ops", &ps[..1000]).await.unwrap();
            for (i, (verdict, id)) in back.iter().enumerate() {
                assert_eq!(*verdict, pb::Verdict::Released);
                assert_eq!(*id, ids[i].replace('-', ""), "{domain}");
            }
        }
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn after_an_erasure_the_subject_gets_a_new_format_preserving_pseudonym() {
    let server = start().await;
    let operator = server.client(&server.operator_token).await;
    let t = setup_tenant(
        &operator,
        "registry",
        &[(
            "no",
            pb::IdentifierKind::NoFodselsnummer,
            pb::Scheme::FormatPreserving,
            true,
        )],
        &[("ops", pb::LegalBasis::Contract)],
    )
    .await;
    let admin = server.client(&t.admin).await;
    let officer_token = valv_e2e::principal_token(&admin, "dpo", pb::Role::SubjectOfficer).await;
    let officer = server.client(&officer_token).await;
    let tok = server.client(&t.tokenizer).await;
    let reid = server.client(&t.reidentifier).await;

    let old = pseudonymise_ok(&tok, "no", &["04110657264", "02019713906"]).await;
    officer
        .subjects()
        .erase_subject(pb::EraseSubjectRequest {
            subject: Some(pb::SubjectRef {
                domain: "no".into(),
                by: Some(pb::subject_ref::By::Identifier("04110657264".into())),
            }),
        })
        .await
        .unwrap();
    let new = pseudonymise_ok(&tok, "no", &["04110657264"]).await;
    assert_ne!(new[0], old[0]);
    assert!(no_valid(&new[0], 80));
    let back = reidentify(
        &reid,
        "no",
        "ops",
        &[old[0].clone(), new[0].clone(), old[1].clone()],
    )
    .await
    .unwrap();
    assert_eq!(back[0], (pb::Verdict::NotFound, String::new()));
    assert_eq!(back[1], (pb::Verdict::Released, "04110657264".to_owned()));
    assert_eq!(back[2], (pb::Verdict::Released, "02019713906".to_owned()));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn kinds_without_a_reserved_space_are_refused() {
    let server = start().await;
    let operator = server.client(&server.operator_token).await;
    let t = valv_e2e::plain_tenant(&operator).await;
    let admin = server.client(&t.admin).await;
    for kind in [
        pb::IdentifierKind::SePersonnummer,
        pb::IdentifierKind::Phone,
        pb::IdentifierKind::Email,
        pb::IdentifierKind::Opaque,
    ] {
        let err = valv_e2e::create_domain(&admin, "x", kind, pb::Scheme::FormatPreserving, true, 0)
            .await
            .unwrap_err();
        assert_eq!(err.code(), tonic::Code::InvalidArgument);
        assert!(
            err.message().starts_with(
                "scheme: format-preserving is offered for no-fodselsnummer, dk-cpr and fi-hetu"
            ),
            "{}",
            err.message()
        );
    }
    server.stop().await;
}
