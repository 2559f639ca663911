//! What a change to a purpose, a record policy or a principal's roles does to who can see
//! identifiers: the before and after values the audit records, and whether the change widens
//! release (and so, under the two-person rule, waits for a second person). Pure: the use cases
//! read the stored records and decide what to do with the answer.

use crate::store::records::{PurposeRecord, RecordPolicyRecord, Role};

/// One changed value: (field, before, after); empty before = new, empty after = removed.
pub type Change = (String, String, String);

/// The changes of an act, and whether they widen release.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Review {
    /// What changes.
    pub changes: Vec<Change>,
    /// Whether anyone may see more identifiers afterwards than before.
    pub widens: bool,
}

impl Review {
    fn note(&mut self, field: &str, before: String, after: String, widens: bool) {
        if before != after {
            self.changes.push((field.to_owned(), before, after));
            self.widens |= widens;
        }
    }
}

fn list(items: &[String]) -> String {
    items.join(",")
}

/// The purpose `new` replacing `old` (None: a new purpose). A new purpose widens nothing: no
/// principal can hold a purpose before it exists. Err: the legal basis changed, which is never
/// allowed (a purpose keeps the basis it was defined with; define a new purpose instead).
pub fn purpose(old: Option<&PurposeRecord>, new: &PurposeRecord) -> Result<Review, &'static str> {
    let mut r = Review::default();
    let Some(old) = old else {
        r.note(
            "legal_basis",
            String::new(),
            new.legal_basis.as_str().into(),
            false,
        );
        r.note(
            "min_text_version",
            String::new(),
            new.min_text_version.to_string(),
            false,
        );
        r.note("domains", String::new(), domains_text(&new.domains), false);
        r.note(
            "explicit_consent",
            String::new(),
            new.explicit_consent.to_string(),
            false,
        );
        return Ok(r);
    };
    if old.legal_basis != new.legal_basis {
        return Err("a purpose's legal basis is fixed for its life; define a new purpose");
    }
    r.note(
        "min_text_version",
        old.min_text_version.to_string(),
        new.min_text_version.to_string(),
        new.min_text_version < old.min_text_version,
    );
    r.note(
        "domains",
        domains_text(&old.domains),
        domains_text(&new.domains),
        covers_more(&old.domains, &new.domains),
    );
    r.note(
        "explicit_consent",
        old.explicit_consent.to_string(),
        new.explicit_consent.to_string(),
        old.explicit_consent && !new.explicit_consent,
    );
    r.note(
        "erase_on_withdrawal",
        old.erase_on_withdrawal.to_string(),
        new.erase_on_withdrawal.to_string(),
        false,
    );
    r.note(
        "default_consent_validity_seconds",
        old.default_consent_validity_seconds.to_string(),
        new.default_consent_validity_seconds.to_string(),
        false,
    );
    r.note(
        "evidence_retention_seconds",
        old.evidence_retention_seconds.to_string(),
        new.evidence_retention_seconds.to_string(),
        false,
    );
    if old.description != new.description {
        r.changes
            .push(("description".into(), "…".into(), "…".into()));
    }
    Ok(r)
}

/// Covered domains as text: empty means every domain of the tenant.
fn domains_text(domains: &[String]) -> String {
    if domains.is_empty() {
        "*".into()
    } else {
        list(domains)
    }
}

/// Whether `new` covers a domain `old` did not (empty = all domains).
fn covers_more(old: &[String], new: &[String]) -> bool {
    if old.is_empty() {
        return false;
    }
    new.is_empty() || new.iter().any(|d| !old.contains(d))
}

fn field_text(policy: &RecordPolicyRecord) -> Vec<(String, String)> {
    policy
        .fields
        .iter()
        .map(|f| {
            (
                format!("field {}", f.pointer),
                format!("{}{}", f.domain, if f.required { " required" } else { "" }),
            )
        })
        .collect()
}

/// The record policy `new` replacing `old` (None on either side: created or deleted). It widens
/// when protection goes: a field no longer pseudonymised, pseudonymised into another domain or
/// no longer required, a dropped field kept, or the policy deleted (services that name it would
/// otherwise need a replacement that protects less).
pub fn policy(old: Option<&RecordPolicyRecord>, new: Option<&RecordPolicyRecord>) -> Review {
    let mut r = Review::default();
    let before = old.map(field_text).unwrap_or_default();
    let after = new.map(field_text).unwrap_or_default();
    let new_fields = new.map(|p| p.fields.as_slice()).unwrap_or_default();
    for (f, (field, value)) in old
        .map(|p| p.fields.as_slice())
        .unwrap_or_default()
        .iter()
        .zip(&before)
    {
        let now = new_fields.iter().find(|g| g.pointer == f.pointer);
        let less = now.is_none_or(|g| g.domain != f.domain || (f.required && !g.required));
        let text = after
            .iter()
            .find(|(g, _)| g == field)
            .map(|(_, v)| v.clone());
        r.note(field, value.clone(), text.unwrap_or_default(), less);
    }
    for (field, value) in &after {
        if !before.iter().any(|(f, _)| f == field) {
            r.note(field, String::new(), value.clone(), false);
        }
    }
    let old_drop = old.map(|p| p.drop.clone()).unwrap_or_default();
    let new_drop = new.map(|p| p.drop.clone()).unwrap_or_default();
    for d in &old_drop {
        if !new_drop.contains(d) {
            r.note(&format!("drop {d}"), "dropped".into(), String::new(), true);
        }
    }
    for d in &new_drop {
        if !old_drop.contains(d) {
            r.note(&format!("drop {d}"), String::new(), "dropped".into(), false);
        }
    }
    if old.is_some() && new.is_none() {
        r.widens = true;
        r.changes
            .push(("policy".into(), "defined".into(), String::new()));
    }
    r
}

/// Roles whose holder can re-identify, link one domain's data to another's (translate),
/// approve what widens release, or administer: a principal with one of them is created only
/// with a second person's approval under the two-person rule.
pub fn needs_second_person(roles: &[Role]) -> bool {
    roles.iter().any(|r| {
        matches!(
            r,
            Role::Operator
                | Role::TenantAdmin
                | Role::KeyOfficer
                | Role::Reidentifier
                | Role::Translator
        )
    })
}

/// A new principal's roles and purposes as changes.
pub fn principal(roles: &[Role], purposes: &[String]) -> Vec<Change> {
    let roles: Vec<String> = roles.iter().map(|r| r.as_str().to_owned()).collect();
    let mut out = vec![("roles".to_owned(), String::new(), list(&roles))];
    if !purposes.is_empty() {
        out.push(("purposes".into(), String::new(), list(purposes)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::records::{LegalBasis, RecordFieldRecord};

    fn research() -> PurposeRecord {
        PurposeRecord {
            name: "research".into(),
            legal_basis: LegalBasis::Consent,
            min_text_version: 2,
            domains: vec!["a".into()],
            explicit_consent: true,
            ..PurposeRecord::default()
        }
    }

    #[test]
    fn a_legal_basis_never_changes() {
        let mut p = research();
        p.legal_basis = LegalBasis::LegitimateInterests;
        assert!(purpose(Some(&research()), &p).is_err());
    }

    #[test]
    fn what_releases_more_widens_and_what_releases_less_does_not() {
        let old = research();
        let case = |f: &dyn Fn(&mut PurposeRecord)| {
            let mut p = research();
            f(&mut p);
            purpose(Some(&old), &p).map(|r| r.widens).ok()
        };
        assert_eq!(case(&|p| p.min_text_version = 1), Some(true));
        assert_eq!(case(&|p| p.min_text_version = 3), Some(false));
        assert_eq!(case(&|p| p.domains = vec![]), Some(true));
        assert_eq!(case(&|p| p.domains.push("b".into())), Some(true));
        assert_eq!(case(&|p| p.domains = vec!["a".into()]), Some(false));
        assert_eq!(case(&|p| p.explicit_consent = false), Some(true));
        assert_eq!(case(&|p| p.description = "x".into()), Some(false));
        let r = purpose(Some(&old), &{
            let mut p = research();
            p.min_text_version = 1;
            p
        });
        assert_eq!(
            r.map(|r| r.changes).ok(),
            Some(vec![("min_text_version".into(), "2".into(), "1".into())])
        );
        assert!(!purpose(None, &research()).is_ok_and(|r| r.widens));
    }

    fn pol(fields: &[(&str, &str, bool)], drop: &[&str]) -> RecordPolicyRecord {
        RecordPolicyRecord {
            tenant_id: 1,
            name: "p".into(),
            fields: fields
                .iter()
                .map(|(p, d, r)| RecordFieldRecord {
                    pointer: (*p).into(),
                    domain: (*d).into(),
                    required: *r,
                })
                .collect(),
            drop: drop.iter().map(|d| (*d).to_string()).collect(),
            updated_ms: 0,
            mac: String::new(),
        }
    }

    #[test]
    fn a_policy_that_protects_less_widens() {
        let old = pol(&[("/pnr", "d", true), ("/mail", "m", false)], &["/name"]);
        let w = |new: Option<&RecordPolicyRecord>| policy(Some(&old), new).widens;
        assert!(w(Some(&pol(&[("/pnr", "d", true)], &["/name"]))));
        assert!(w(Some(&pol(
            &[("/pnr", "d", false), ("/mail", "m", false)],
            &["/name"]
        ))));
        assert!(w(Some(&pol(
            &[("/pnr", "x", true), ("/mail", "m", false)],
            &["/name"]
        ))));
        assert!(w(Some(&pol(
            &[("/pnr", "d", true), ("/mail", "m", false)],
            &[]
        ))));
        assert!(w(None));
        let more = pol(
            &[
                ("/pnr", "d", true),
                ("/mail", "m", true),
                ("/tel", "t", false),
            ],
            &["/name", "/addr"],
        );
        let r = policy(Some(&old), Some(&more));
        assert!(!r.widens, "{r:?}");
        assert_eq!(r.changes.len(), 3, "{r:?}");
        assert!(!policy(None, Some(&old)).widens);
    }
}
