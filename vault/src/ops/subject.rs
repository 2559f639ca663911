//! Naming a subject — by identifier or by pseudonym of a domain — and finding what the vault
//! holds of it: the mappings in every domain of its identifier kind and every epoch. Shared by
//! consents, subject requests and the subject-event log.
//!
//! There is no subject → pseudonyms index (see `MappingStore::insert_mappings`): a subject's
//! mappings are found again from the normal form of their identifier, by deriving the pseudonym
//! (keyed) or the blind index (random, format-preserving) in every domain of the same identifier
//! kind and every pseudonym epoch, and keeping only rows whose stored subject handle matches.

use valv_kms::DerivedKeyPurpose;

use super::{find_domain, subject_events};
use crate::{
    app::App,
    engine::{
        date::Date,
        identifier::{IdentifierKind, normalise},
        scheme::{Pseudonym, PseudonymKey, Scheme},
        subject::SubjectHandle,
    },
    error::{VaultError, VaultResult},
    store::records::{DomainRecord, MappingRecord, SubjectEventRecord},
};

/// How a request names the subject.
#[derive(Debug)]
pub enum SubjectBy {
    /// The identifier (normalised by the domain's kind; never stored).
    Identifier(String),
    /// A pseudonym of the domain.
    Pseudonym(String),
}

/// A subject as a request named it: its handle and, where the identifier kind carries one and
/// it could be read, the birth date.
pub(crate) struct Resolved {
    pub(crate) handle: SubjectHandle,
    pub(crate) birth_date: Option<Date>,
    /// The kind carries a birth date but this reference cannot reveal it (one-way pseudonym).
    pub(crate) age_unknowable: bool,
    /// The domain the subject was named in, and its pseudonym there where known.
    pub(crate) domain: String,
    pub(crate) pseudonym: String,
    /// The identifier kind of that domain.
    pub(crate) kind: IdentifierKind,
    /// The normal form of the identifier, when the reference reveals it (an identifier, or a
    /// pseudonym of a reversible domain); needed to find the subject in every domain.
    pub(crate) normal: Option<valv_kms::SecretBytes>,
}

/// Resolves a subject reference; `field` names it in errors (`subject`, `guardian`).
pub(crate) async fn resolve(
    app: &App,
    tenant_id: u64,
    domain_name: &str,
    by: SubjectBy,
    field: &str,
) -> VaultResult<Resolved> {
    let domain = find_domain(app, tenant_id, domain_name)
        .await
        .map_err(|e| match e {
            VaultError::InvalidArgument { rule, .. } => {
                VaultError::invalid(format!("{field}.domain"), rule)
            }
            other => other,
        })?;
    let today = Date::from_unix_ms(app.now_ms());
    match by {
        SubjectBy::Identifier(raw) => {
            let n = normalise(domain.kind, &raw, today, app.limits.max_identifier_bytes)
                .map_err(|e| VaultError::invalid(format!("{field}.identifier"), e.to_string()))?;
            // Keyed pseudonyms follow from the identifier; an allocated one (`random`,
            // `format-preserving`) would need a lookup and is left out.
            let handle = app
                .keys
                .subject_hasher(tenant_id)
                .await?
                .handle(domain.kind, n.value.expose_secret());
            let erased = app.erased(tenant_id).await?;
            let pseudonym = app
                .keys
                .domain_keys(&domain)
                .await?
                .pseudonym
                .derive_for(n.value.expose_secret(), erased.get(&handle))
                .map(|p| p.declassify(domain.scheme))
                .unwrap_or_default();
            Ok(Resolved {
                handle,
                birth_date: n.birth_date,
                age_unknowable: false,
                domain: domain.name,
                pseudonym,
                kind: domain.kind,
                normal: Some(n.value),
            })
        }
        SubjectBy::Pseudonym(text) => {
            let not_found = || {
                VaultError::NotFound(format!(
                    "{field}.pseudonym: no such pseudonym in this domain"
                ))
            };
            let p = Pseudonym::parse(domain.scheme, &text).ok_or_else(not_found)?;
            let mapping = app
                .store
                .mapping(domain.id, &p.0)
                .await?
                .ok_or_else(not_found)?;
            let mut resolved = Resolved {
                handle: mapping.subject,
                birth_date: None,
                age_unknowable: false,
                domain: domain.name.clone(),
                pseudonym: p.declassify(domain.scheme),
                kind: domain.kind,
                normal: None,
            };
            // Reversible: the identifier the vault holds gives the normal form (and birth date).
            if mapping.ciphertext.is_some() {
                let gate = app.keys.gate(tenant_id);
                let _shared = gate.read().await;
                let mut keys = app.keys.domain_data_keys(&domain).await?;
                resolved.normal = app.open_mapping(&mut keys, &domain, &p.0, &mapping).await?;
            }
            if domain.kind.carries_birth_date() {
                resolved.birth_date = resolved
                    .normal
                    .as_ref()
                    .and_then(|n| std::str::from_utf8(n.expose_secret()).ok())
                    .and_then(|t| {
                        normalise(domain.kind, t, today, app.limits.max_identifier_bytes).ok()
                    })
                    .and_then(|n| n.birth_date);
                resolved.age_unknowable = resolved.birth_date.is_none();
            }
            Ok(resolved)
        }
    }
}

/// One stored mapping of a subject.
pub(crate) struct Held {
    pub(crate) domain: DomainRecord,
    pub(crate) epoch: u32,
    pub(crate) pseudonym: Vec<u8>,
    pub(crate) blind: Option<[u8; 16]>,
    pub(crate) record: MappingRecord,
}

/// Every mapping of the subject in the tenant's domains of its identifier kind (only those
/// named in `only`, when given), in every pseudonym epoch.
pub(crate) async fn held(
    app: &App,
    tenant_id: u64,
    subject: &Resolved,
    only: Option<&[String]>,
) -> VaultResult<Vec<Held>> {
    let Some(normal) = &subject.normal else {
        return Err(VaultError::FailedPrecondition(
            "subject: a one-way pseudonym does not reveal the identifier; name the subject by identifier (or by a pseudonym of a reversible domain)".into(),
        ));
    };
    let keys = app.keys.tenant_keys(tenant_id).await?;
    // A subject erased before has its keyed pseudonyms under its tombstone's tweak.
    let erased = app.erased(tenant_id).await?;
    let tweak = erased.get(&subject.handle);
    let mut out = Vec::new();
    for domain in app.domains(tenant_id).await? {
        if domain.kind != subject.kind || only.is_some_and(|o| !o.contains(&domain.name)) {
            continue;
        }
        let purpose = match domain.scheme {
            Scheme::Keyed => DerivedKeyPurpose::PseudonymMac,
            Scheme::Random => DerivedKeyPurpose::BlindIndex,
            Scheme::FormatPreserving => DerivedKeyPurpose::FormatPreserving,
        };
        for epoch in 1..=domain.epoch {
            // A finalized epoch's secret may be gone: nothing of that epoch is stored then.
            let Ok(secret) = keys.pseudonym_key(purpose, domain.id, epoch) else {
                continue;
            };
            let key = PseudonymKey::new(domain.scheme, domain.kind, &secret)
                .map_err(|_| VaultError::Internal("domain scheme does not fit its kind".into()))?;
            let (pseudonym, blind) = if domain.scheme.allocates() {
                let blind = key.blind_index(normal.expose_secret());
                match app.store.blind_lookup(domain.id, blind).await? {
                    Some(p) => (p, Some(blind)),
                    None => continue,
                }
            } else {
                match key.derive_for(normal.expose_secret(), tweak) {
                    Some(p) => (p.0, None),
                    None => continue,
                }
            };
            let found = app.store.mapping(domain.id, &pseudonym).await?;
            if let Some(record) = found.filter(|m| m.subject == subject.handle) {
                out.push(Held {
                    domain: domain.clone(),
                    epoch,
                    pseudonym,
                    blind,
                    record,
                });
            }
        }
    }
    Ok(out)
}

/// The `erased` event of each mapping in `held` (what downstream systems are told).
pub(crate) fn erased_events(now: i64, subject_hex: &str, held: &[Held]) -> Vec<SubjectEventRecord> {
    held.iter()
        .map(|h| {
            let p =
                crate::engine::scheme::Pseudonym(h.pseudonym.clone()).declassify(h.domain.scheme);
            subject_events::event(
                now,
                subject_events::kind::ERASED,
                subject_hex,
                "",
                &h.domain.name,
                &p,
            )
        })
        .collect()
}

/// Deletes mappings for good (known-mappings table first, inside the store) and tells
/// downstream systems (an `erased` event per mapping).
pub(crate) async fn delete_held(
    app: &App,
    tenant_id: u64,
    subject: &crate::engine::subject::SubjectHandle,
    held: &[Held],
) -> VaultResult<u64> {
    for h in held {
        app.store
            .delete_mapping(h.domain.id, &h.pseudonym, h.blind)
            .await?;
    }
    let events = erased_events(app.now_ms(), &hex::encode(subject), held);
    subject_events::emit(app, tenant_id, events).await?;
    Ok(held.len() as u64)
}

/// One event per mapping the subject holds where the reference reveals them all, else one for
/// the domain and pseudonym the request named.
pub(crate) async fn about_subject(
    app: &App,
    tenant_id: u64,
    subject: &Resolved,
    kind: &str,
) -> VaultResult<Vec<SubjectEventRecord>> {
    let now = app.now_ms();
    let subject_hex = hex::encode(subject.handle);
    if subject.normal.is_some() {
        let held = held(app, tenant_id, subject, None).await?;
        if !held.is_empty() {
            return Ok(held
                .iter()
                .map(|h| {
                    let p = crate::engine::scheme::Pseudonym(h.pseudonym.clone())
                        .declassify(h.domain.scheme);
                    subject_events::event(now, kind, &subject_hex, "", &h.domain.name, &p)
                })
                .collect());
        }
    }
    Ok(vec![subject_events::event(
        now,
        kind,
        &subject_hex,
        "",
        &subject.domain,
        &subject.pseudonym,
    )])
}
