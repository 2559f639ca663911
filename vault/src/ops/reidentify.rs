//! Re-identify a batch: one verdict per pseudonym under docs/concepts.md's rule; every verdict is
//! audited durably before any identifier leaves the vault.

use std::sync::Arc;

use super::{check_batch, find_domain, find_purpose};
use crate::{
    app::App,
    authz::Caller,
    engine::{
        consent::{PurposeRule, Verdict},
        release::{DomainFacts, Facts, MappingFacts, Released, decide},
        scheme::Pseudonym,
    },
    error::{VaultError, VaultResult},
    store::records::{DomainRecord, LegalBasis, PurposeRecord, Role},
};

/// One item's outcome: the verdict and, when released, the normalised identifier.
#[derive(Debug)]
pub struct ReIdentified {
    /// The verdict.
    pub verdict: Verdict,
    /// The identifier, only when `verdict` is `Released`. Leaves the vault through the response.
    pub identifier: Option<String>,
    /// The pseudonym is of an earlier epoch, still honoured during the grace period.
    pub old_epoch: bool,
}

/// A verdict's name in audit entries.
pub fn verdict_name(v: Verdict) -> &'static str {
    match v {
        Verdict::Released => "released",
        Verdict::NoConsent => "no-consent",
        Verdict::ConsentWithdrawn => "consent-withdrawn",
        Verdict::ConsentExpired => "consent-expired",
        Verdict::NotFound => "not-found",
        Verdict::Denied => "denied",
        Verdict::KeyDestroyed => "key-destroyed",
        Verdict::Restricted => "restricted",
    }
}

/// Re-identifies `pseudonyms` of the caller's domain for `purpose_name`.
pub async fn reidentify(
    app: &Arc<App>,
    caller: &Caller,
    domain_name: &str,
    purpose_name: &str,
    pseudonyms: Vec<String>,
) -> VaultResult<Vec<ReIdentified>> {
    let tenant_id = caller.tenant_with(Role::Reidentifier)?;
    check_batch(app, "pseudonyms", pseudonyms.len())?;
    let domain = find_domain(app, tenant_id, domain_name).await?;
    let purpose = find_purpose(app, tenant_id, purpose_name).await?;
    let results = release(
        app,
        caller,
        (tenant_id, &domain, &purpose),
        pseudonyms,
        Release {
            action: "reidentify",
            changes: Vec::new(),
        },
    )
    .await?;
    app.metrics.batch("reidentify", results.len());
    for r in &results {
        app.metrics.verdict(verdict_name(r.verdict));
    }
    Ok(results)
}

/// What a release is for, in its audit entry.
pub(crate) struct Release {
    /// The entry's action (`reidentify`, `translate`).
    pub action: &'static str,
    /// The entry's changes (a translation's agreement and target domain).
    pub changes: Vec<(String, String, String)>,
}

/// Decides and opens `pseudonyms` of `domain` for `purpose`: the verdicts of ReIdentify, audited
/// durably (as `how` says) before anything is returned. The caller's role was checked by the
/// caller of this function; the principal must still hold the purpose.
pub(crate) async fn release(
    app: &Arc<App>,
    caller: &Caller,
    (tenant_id, domain, purpose): (u64, &DomainRecord, &PurposeRecord),
    pseudonyms: Vec<String>,
    how: Release,
) -> VaultResult<Vec<ReIdentified>> {
    if !domain.reversible {
        return Err(VaultError::FailedPrecondition(
            "domain: one-way domain keeps no identifiers to re-identify".into(),
        ));
    }
    // The principal must hold the purpose, and the purpose must cover this domain.
    let allowed = caller.principal.purposes.iter().any(|p| p == &purpose.name)
        && (purpose.domains.is_empty() || purpose.domains.contains(&domain.name));
    let rule = PurposeRule {
        needs_consent: purpose.legal_basis == LegalBasis::Consent,
        min_text_version: purpose.min_text_version,
    };
    let now = app.now_ms();

    let parsed: Vec<Option<Pseudonym>> = pseudonyms
        .iter()
        .map(|t| Pseudonym::parse(domain.scheme, t))
        .collect();
    let lookups: Vec<Vec<u8>> = parsed.iter().flatten().map(|p| p.0.clone()).collect();
    // Shared gate from reading ciphertexts to opening them: a rotation cannot erase a key
    // version in between.
    let gate = app.keys.gate(tenant_id);
    let shared = gate.read().await;
    let found = if allowed && !lookups.is_empty() {
        app.store.mappings(domain.id, lookups).await?
    } else {
        Vec::new()
    };
    let mut found = found.into_iter();
    let mappings: Vec<_> = parsed
        .iter()
        .map(|p| match p {
            Some(_) if allowed => found.next().flatten(),
            _ => None,
        })
        .collect();
    let subjects: Vec<_> = mappings.iter().flatten().map(|m| m.subject).collect();
    // Latest events per mapping of the bound purpose (consent-bound domains) and of the
    // requested purpose (consent-based purposes), in mapping order.
    let latest_per_mapping = |events: Vec<Option<crate::model::ConsentEvent>>| {
        let mut events = events.into_iter();
        mappings
            .iter()
            .map(|m| m.as_ref().and_then(|_| events.next().flatten()))
            .collect::<Vec<_>>()
    };
    let bound = if domain.consent_purpose.is_empty() || subjects.is_empty() {
        vec![None; mappings.len()]
    } else {
        latest_per_mapping(
            app.latest_consents(tenant_id, &domain.consent_purpose, subjects.clone())
                .await?,
        )
    };
    let consents = if rule.needs_consent && !subjects.is_empty() {
        latest_per_mapping(
            app.latest_consents(tenant_id, &purpose.name, subjects)
                .await?,
        )
    } else {
        vec![None; mappings.len()]
    };

    let restricted = app.restricted(tenant_id).await?;
    let domain_facts = DomainFacts {
        epoch: domain.epoch,
        old_epochs_until_ms: domain.old_epochs_until_ms,
        consent_bound: !domain.consent_purpose.is_empty(),
    };
    // The active data key opens almost every record; older versions are derived once, on demand.
    let mut data_keys = if allowed {
        Some(app.keys.domain_data_keys(domain).await?)
    } else {
        None
    };
    let mut decided: Vec<(Verdict, Option<Released>, bool)> = Vec::with_capacity(pseudonyms.len());
    let mut entry = caller.act(now, how.action);
    entry.domain = Some(domain.name.clone());
    entry.purpose = Some(purpose.name.clone());
    entry.changes = how.changes;
    let mut released = 0u64;
    // The decryptions' share of the call (a trace shows the time spent inside, `busy_ns`).
    let opening =
        tracing::debug_span!(target: "valv::keys", "keys.open", released = tracing::field::Empty);
    let mut used = Vec::new();
    for (i, text) in pseudonyms.iter().enumerate() {
        let mapping = mappings[i].as_ref();
        let facts = Facts {
            allowed,
            domain: domain_facts,
            mapping: mapping.map(|m| MappingFacts {
                expires_ms: m.expires_ms,
                epoch: m.epoch,
            }),
            purpose: rule,
            consent: consents[i].as_ref(),
            bound_consent: bound[i].as_ref(),
            restricted: mapping.is_some_and(|m| restricted.contains(&m.subject)),
            now_ms: now,
        };
        let mut verdict = decide(&facts);
        // A mapping that no longer names its subject (expired, past its epoch's grace, bound
        // consent ended) is not-found like one that does not exist.
        let matched = mapping.is_some() && verdict != Verdict::NotFound;
        if verdict == Verdict::Released
            && domain.retention_since_last_use
            && let (Some(m), Some(p)) = (mapping, &parsed[i])
        {
            used.push((p.0.clone(), m.clone()));
        }
        let identifier = match (verdict, mapping, &parsed[i]) {
            (Verdict::Released, Some(m), Some(p)) => 'open: {
                if m.ciphertext.is_none() {
                    return Err(VaultError::Internal(
                        "reversible mapping without ciphertext".into(),
                    ));
                }
                let opened =
                    opening.in_scope(|| data_keys.as_mut().map(|k| k.open(&p.0, m)).transpose());
                if let Err(VaultError::Tampered(_)) = &opened {
                    // The whole call is refused: a row changed outside the vault is never used.
                    return Err(app.tampered("mapping", tenant_id, text).await);
                }
                let Some(plain) = opened?.flatten() else {
                    verdict = Verdict::KeyDestroyed;
                    break 'open None;
                };
                released += 1;
                Some(Released::new(plain))
            }
            _ => None,
        };
        // Only pseudonyms that matched a mapping are logged, in their canonical spelling (parsing
        // ignores case) and with the mapping's subject handle, so that an auditor's search by
        // subject and the subject's access export find the entry; text that matched nothing
        // could be anything the caller sent, even an identifier.
        let (logged, subject) = match (matched, mapping, &parsed[i]) {
            (true, Some(m), Some(p)) => (p.declassify(domain.scheme), hex::encode(m.subject)),
            _ => ("<unmatched>".to_owned(), String::new()),
        };
        entry.items.push((logged, verdict_name(verdict).to_owned()));
        entry.item_subjects.push(subject);
        let old_epoch = matched && mapping.is_some_and(|m| m.epoch < domain.epoch);
        decided.push((verdict, identifier, old_epoch));
    }
    opening.record("released", released);
    drop(opening);
    entry.counts = vec![
        ("items".into(), pseudonyms.len() as u64),
        ("released".into(), released),
    ];
    entry.verdict = Some(
        match released {
            0 => "refused",
            n if n == pseudonyms.len() as u64 => "released",
            _ => "partly-released",
        }
        .to_owned(),
    );
    // Fail closed: nothing is released unless its audit entry is durable.
    app.audit.record(tenant_id, entry).await?;
    let results: Vec<ReIdentified> = decided
        .into_iter()
        .map(|(verdict, identifier, old_epoch)| ReIdentified {
            verdict,
            // Recorded above: the identifiers may now go to the caller.
            identifier: identifier.map(Released::declassify),
            old_epoch,
        })
        .collect();
    // Touching takes the gate itself (it may re-seal); a nested read could wait behind a
    // rotation queued meanwhile, which waits for this one.
    drop(shared);
    super::retention::touch(app, domain, used).await?;
    Ok(results)
}
