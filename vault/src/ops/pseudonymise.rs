//! Pseudonymise a batch: normalise, derive or look up pseudonyms, store new mappings with their
//! encrypted identifiers, audit the counts, and answer only once all of it is durable.

use std::sync::Arc;

use super::{check_batch, find_domain, keys};
use crate::{
    app::{App, keys::seal_mapping},
    authz::Caller,
    engine::{
        batch::{BatchDomain, Candidate, Erasures, Prepared, Slot, prepare},
        date::Date,
        identifier::normalise,
        mapping_bound::Governing,
        scheme::{Pseudonym, Scheme},
        subject::{Erased, SubjectHandle},
    },
    error::{VaultError, VaultResult},
    store::records::{InsertOutcome, MappingRecord, NewMapping, Role},
};

/// One item's outcome: the pseudonym text, or the rule the identifier broke.
pub type ItemResult = Result<String, String>;

/// The outcome of a batch.
#[derive(Debug)]
pub struct Pseudonymised {
    /// One result per identifier, in order.
    pub results: Vec<ItemResult>,
    /// New mappings stored.
    pub created: u32,
}

/// The active key version's use budget is spent: rotate now (the vault itself asks), or refuse
/// while a rotation is still moving records.
async fn budget_spent(app: &Arc<App>, tenant_id: u64, caller: &Caller) -> VaultResult<()> {
    tracing::warn!(tenant = tenant_id, "key version use budget spent; rotating");
    match keys::rotate(app, tenant_id, "valv:use-budget", &caller.request_id).await {
        Ok(_) => Ok(()),
        // Another node rotated first: take its key ring and go on.
        Err(VaultError::Aborted(_)) => app.observe(tenant_id).await.map(drop),
        Err(VaultError::FailedPrecondition(_)) => Err(VaultError::Unavailable(
            "the active key version's use budget is spent and a key rotation is still running; retry later"
                .into(),
        )),
        Err(e) => Err(e),
    }
}

/// Checks `identifiers` against the rules of the caller's domain `domain_name`: (index, rule)
/// of each that breaks one. Pure apart from finding the domain; nothing is stored or audited.
pub async fn check(
    app: &Arc<App>,
    caller: &Caller,
    domain_name: &str,
    identifiers: &[String],
) -> VaultResult<Vec<(usize, String)>> {
    let tenant_id = caller.tenant_with(Role::Tokenizer)?;
    check_batch(app, "identifiers", identifiers.len())?;
    let domain = find_domain(app, tenant_id, domain_name).await?;
    let today = Date::from_unix_ms(app.now_ms());
    Ok(identifiers
        .iter()
        .enumerate()
        .filter_map(|(i, raw)| {
            normalise(domain.kind, raw, today, app.limits.max_identifier_bytes)
                .err()
                .map(|e| (i, e.to_string()))
        })
        .collect())
}

/// Pseudonymises `identifiers` in the caller's domain `domain_name`.
pub async fn pseudonymise(
    app: &Arc<App>,
    caller: &Caller,
    domain_name: &str,
    identifiers: Vec<String>,
) -> VaultResult<Pseudonymised> {
    let tenant_id = caller.tenant_with(Role::Tokenizer)?;
    pseudonymise_into(app, caller, tenant_id, domain_name, identifiers).await
}

/// [`pseudonymise`] for a caller whose right to it was checked by the caller of this function
/// (a translation, which pseudonymises into the agreement's to-domain).
pub(crate) async fn pseudonymise_into(
    app: &Arc<App>,
    caller: &Caller,
    tenant_id: u64,
    domain_name: &str,
    identifiers: Vec<String>,
) -> VaultResult<Pseudonymised> {
    check_batch(app, "identifiers", identifiers.len())?;
    let domain = find_domain(app, tenant_id, domain_name).await?;
    let keys = app.keys.domain_keys(&domain).await?;
    let now = app.now_ms();
    let today = Date::from_unix_ms(now);
    let expires_ms = match domain.retention_seconds {
        0 => 0,
        s => now.saturating_add(i64::try_from(s.saturating_mul(1000)).unwrap_or(i64::MAX)),
    };
    let batch = BatchDomain {
        kind: domain.kind,
        scheme: domain.scheme,
        reversible: domain.reversible,
    };
    // The erased subjects as of the change counter read for this request (read before the
    // view, so a change after it is seen by `taken_back` below).
    let seen = app.generation_seen(tenant_id);
    let erased = app.erased(tenant_id).await?;
    let Prepared {
        slots,
        mut candidates,
        returning,
    } = tracing::debug_span!(target: "valv::keys", "keys.pseudonyms", items = identifiers.len())
        .in_scope(|| {
            prepare(
                batch,
                &keys.pseudonym,
                &identifiers,
                today,
                app.limits.max_identifier_bytes,
                Erasures {
                    hasher: &keys.subject,
                    erased: &erased,
                },
            )
        });
    drop(identifiers);

    // Which identifiers have a mapping already: deterministic schemes ask for the pseudonym,
    // format-preserving ones for the blind index (and take the stored pseudonym). A `random`
    // batch learns it only when inserting.
    let known = match domain.scheme {
        _ if candidates.is_empty() => Vec::new(),
        Scheme::Keyed => {
            let keys: Vec<Vec<u8>> = candidates.iter().map(|c| c.pseudonym.0.clone()).collect();
            app.store.contains_mappings(domain.id, keys).await?
        }
        Scheme::FormatPreserving => {
            let blinds = candidates
                .iter()
                .map(|c| c.blind.unwrap_or_default())
                .collect();
            let found = app.store.blind_lookups(domain.id, blinds).await?;
            let mut known = Vec::with_capacity(found.len());
            for (c, stored) in candidates.iter_mut().zip(found) {
                known.push(stored.is_some());
                if let Some(p) = stored {
                    c.pseudonym = Pseudonym(p);
                }
            }
            known
        }
        Scheme::Random => vec![false; candidates.len()],
    };
    // Format-preserving identifiers new to the domain, once each (a repeat inside the batch
    // takes the first one's pseudonym).
    let mut fresh_for: Vec<Option<usize>> = vec![None; candidates.len()];
    let mut distinct = 0;
    if domain.scheme == Scheme::FormatPreserving {
        let mut first = std::collections::HashMap::new();
        for (i, c) in candidates.iter().enumerate() {
            if !known[i] {
                let next = first.len();
                fresh_for[i] = Some(*first.entry(c.blind).or_insert(next));
            }
        }
        distinct = first.len();
    }

    // Identifiers without a mapping yet count against the caller's hourly quota (in random
    // domains every one: which are new shows only when they are inserted). Past it nothing
    // is stored.
    let new = match domain.scheme {
        Scheme::Random => candidates.len(),
        Scheme::FormatPreserving => distinct,
        Scheme::Keyed => known.iter().filter(|k| !**k).count(),
    };
    let asker = crate::app::quotas::Asker {
        principal: caller.id(),
        request_id: &caller.request_id,
    };
    app.take_new_identifiers(asker, tenant_id, new as u64)
        .await?;
    if distinct > 0 {
        let fresh = app
            .serials
            .fresh(&app.store, domain.id, &keys.pseudonym, distinct)
            .await?;
        for (c, slot) in candidates.iter_mut().zip(&fresh_for) {
            if let Some(p) = slot.and_then(|j| fresh.get(j)) {
                c.pseudonym = p.clone();
            }
        }
    }

    // Count this batch's encryptions against the active key version's use budget, under the
    // tenant's shared gate so a key rotation cannot happen between choosing the key and storing
    // what it sealed.
    let to_seal = if domain.reversible {
        known.iter().filter(|k| !**k).count() as u64
    } else {
        0
    };
    let gate = app.keys.gate(tenant_id);
    let (shared, data_key, mut fence) = loop {
        // Read before the version is chosen: see `app::fence`.
        let fence = app.fence(tenant_id);
        let shared = Arc::clone(&gate).read_owned().await;
        let data_key = app.keys.domain_keys(&domain).await?.data_key.clone();
        if to_seal == 0
            || app
                .keys
                .reserve_encryptions(tenant_id, data_key.version(), to_seal)
                .await?
        {
            let fence = fence.sealed_under(data_key.version());
            break (shared, data_key, fence);
        }
        drop(shared);
        budget_spent(app, tenant_id, caller).await?;
    };

    let mut rows = Vec::new();
    let mut row_of = vec![None; candidates.len()];
    let sealing = tracing::debug_span!(target: "valv::keys", "keys.seal", items = to_seal);
    let in_sealing = sealing.enter();
    for (
        i,
        Candidate {
            pseudonym,
            blind,
            value,
        },
    ) in candidates.iter().enumerate()
    {
        if known[i] {
            continue;
        }
        let subject = keys.subject.handle(domain.kind, value.expose_secret());
        let ciphertext = if domain.reversible {
            // The subject handle, epoch and expiry are bound into the AAD: a row whose subject
            // is swapped in the store (to borrow another person's consent), or whose epoch or
            // expiry is moved (to outlive its grace or retention), no longer decrypts.
            let row = Governing {
                subject: &subject,
                epoch: domain.epoch,
                expires_ms,
            };
            Some(seal_mapping(
                &data_key,
                (tenant_id, domain.id),
                &pseudonym.0,
                row,
                value.expose_secret(),
            )?)
        } else {
            None
        };
        row_of[i] = Some(rows.len());
        rows.push(NewMapping {
            blind: *blind,
            pseudonym: pseudonym.0.clone(),
            record: MappingRecord {
                epoch: domain.epoch,
                subject,
                created_ms: now,
                expires_ms,
                ciphertext,
            },
        });
    }
    drop(in_sealing);
    drop(sealing);
    let keyed_rows: Vec<(Vec<u8>, SubjectHandle)> = if domain.scheme == Scheme::Keyed {
        rows.iter()
            .map(|r| (r.pseudonym.clone(), r.record.subject))
            .collect()
    } else {
        Vec::new()
    };
    let outcomes = if rows.is_empty() {
        Vec::new()
    } else {
        app.store
            .insert_mappings(tenant_id, domain.id, rows)
            .await?
    };
    drop(shared);
    // One read of the change counter once the rows are stored serves both checks below.
    let stored_any = outcomes.contains(&InsertOutcome::Inserted);
    let after = if stored_any && (to_seal > 0 || domain.scheme == Scheme::Keyed) {
        app.observe(tenant_id).await?
    } else {
        seen
    };
    if to_seal > 0 && stored_any {
        let mut reseal = fence.check_read(after).await?;
        while reseal.is_some() {
            let sealed: Vec<(&[u8], &[u8])> = (0..candidates.len())
                .filter(|i| {
                    row_of[*i].and_then(|r| outcomes.get(r)) == Some(&InsertOutcome::Inserted)
                })
                .map(|i| {
                    let c = &candidates[i];
                    (c.pseudonym.0.as_slice(), c.value.expose_secret())
                })
                .collect();
            app.reseal_mappings(&domain, &sealed).await?;
            reseal = fence.check().await?;
        }
    }
    let inserted: Vec<(Vec<u8>, SubjectHandle)> = keyed_rows
        .into_iter()
        .zip(&outcomes)
        .filter(|(_, o)| **o == InsertOutcome::Inserted)
        .map(|(row, _)| row)
        .collect();
    take_back_if_erased(app, tenant_id, domain.id, (seen, after), &erased, inserted).await?;

    let mut created = 0u32;
    let mut failed = 0u64;
    let mut existing: Vec<Vec<u8>> = Vec::new();
    let results: Vec<ItemResult> = slots
        .into_iter()
        .map(|slot| match slot {
            Slot::Failed(rule) => {
                failed += 1;
                Err(rule)
            }
            Slot::Ready(p) => Ok(p.declassify(domain.scheme)),
            Slot::Pending(i) => {
                let p = match row_of[i].and_then(|r| outcomes.get(r)) {
                    Some(InsertOutcome::Inserted) => {
                        created += 1;
                        candidates[i].pseudonym.clone()
                    }
                    Some(InsertOutcome::Existing(p)) => {
                        existing.push(p.clone());
                        Pseudonym(p.clone())
                    }
                    None => {
                        existing.push(candidates[i].pseudonym.0.clone());
                        candidates[i].pseudonym.clone()
                    }
                };
                Ok(p.declassify(domain.scheme))
            }
        })
        .collect();

    // Retention since last use: a mapping pseudonymised again is in use.
    if domain.retention_since_last_use && !existing.is_empty() {
        let records = app.store.mappings(domain.id, existing.clone()).await?;
        let used = existing
            .into_iter()
            .zip(records)
            .filter_map(|(p, r)| Some((p, r?)))
            .collect();
        super::retention::touch(app, &domain, used).await?;
    }
    if !returning.is_empty() {
        let back = returning
            .iter()
            .filter_map(|(slot, subject)| {
                let p = results.get(*slot)?.as_ref().ok()?;
                Some((p.clone(), *subject, *erased.get(subject)?))
            })
            .collect();
        audit_returning(app, caller, tenant_id, &domain.name, domain.id, back).await?;
    }
    let mut entry = caller.act(now, "pseudonymise");
    entry.domain = Some(domain.name.clone());
    entry.counts = vec![
        ("items".into(), results.len() as u64),
        ("created".into(), u64::from(created)),
        ("refused".into(), failed),
    ];
    app.audit.append_lazy(tenant_id, entry).await?;
    // Every pseudonym in the answer must be durable, including ones another request inserted a
    // moment ago: the group commit returns at once when nothing is waiting to be flushed.
    app.store
        .sync()
        .await
        .map_err(|e| VaultError::Unavailable(format!("mappings could not be made durable: {e}")))?;
    app.metrics.batch("pseudonymise", results.len());
    app.metrics
        .pseudonymised(results.len() as u64 - failed, u64::from(created));
    Ok(Pseudonymised { results, created })
}

/// Audits, once per erasure, that an erased subject is pseudonymised again in a domain (GDPR
/// Art. 17: the person is back; the pseudonym is a new one). `back`: (pseudonym, subject,
/// tombstone tweak).
async fn audit_returning(
    app: &Arc<App>,
    caller: &Caller,
    tenant_id: u64,
    domain_name: &str,
    domain_id: u64,
    back: Vec<(
        String,
        crate::engine::subject::SubjectHandle,
        crate::engine::subject::Tweak,
    )>,
) -> VaultResult<()> {
    let mut entry = caller.act(app.now_ms(), "subject.recreate");
    entry.domain = Some(domain_name.to_owned());
    for (pseudonym, subject, tweak) in back {
        let subject_hex = hex::encode(subject);
        let first = app
            .store
            .mark_once(&format!(
                "recreated/{tenant_id}/{domain_id}/{subject_hex}/{}",
                hex::encode(tweak)
            ))
            .await?;
        if first {
            entry.items.push((pseudonym, "recreated".to_owned()));
            entry.item_subjects.push(subject_hex);
        }
    }
    if entry.items.len() == 1 {
        entry.subject = entry.item_subjects.first().cloned();
    }
    if !entry.items.is_empty() {
        app.audit.append(tenant_id, entry).await?;
    }
    Ok(())
}

/// A keyed mapping inserted for a subject whose erasure committed while the batch ran (after
/// the batch read the erased subjects) carries the subject's pre-erasure pseudonym, which the
/// tombstone's tweak no longer finds: such rows are deleted again and the batch answers
/// `ABORTED`, so the caller sends it again and gets the subject's new pseudonym. `after` is the
/// change counter read once the rows were stored (only batches that inserted rows read it); an
/// erasure raises it before it deletes anything.
async fn take_back_if_erased(
    app: &Arc<App>,
    tenant_id: u64,
    domain_id: u64,
    (seen, after): (u64, u64),
    erased: &Erased,
    inserted: Vec<(Vec<u8>, SubjectHandle)>,
) -> VaultResult<()> {
    if inserted.is_empty() || after == seen {
        return Ok(());
    }
    let now = app.erased(tenant_id).await?;
    let stale: Vec<Vec<u8>> = inserted
        .into_iter()
        .filter(|(_, subject)| now.get(subject) != erased.get(subject))
        .map(|(p, _)| p)
        .collect();
    if stale.is_empty() {
        return Ok(());
    }
    for p in &stale {
        app.store.delete_mapping(domain_id, p, None).await?;
    }
    tracing::warn!(
        tenant = tenant_id,
        domain = domain_id,
        taken_back = stale.len(),
        "a subject was erased while a batch inserted its mapping; the mapping was deleted again"
    );
    Err(VaultError::Aborted(
        "identifiers: a subject of this batch was erased while the batch ran; nothing new of that subject was kept — send the batch again".into(),
    ))
}
