//! Domain pseudonym epochs, for a key officer after a suspected leak of a domain's MAC or
//! blind-index key: rotate (new pseudonyms from a new epoch at once; old ones still re-identify, marked
//! old, until the grace period ends), translate (old→new pairs for every stored mapping, the new
//! mappings stored as they are made), finalize (end the grace period).
//!
//! One-way domains keep no identifiers: rotating their epoch means new pseudonyms from then on,
//! unlinkable to the old ones, and there is nothing to translate from — `translate` refuses.

use std::sync::Arc;

use super::find_domain;
use crate::{
    app::{App, keys::seal_mapping},
    authz::Caller,
    engine::{
        mapping_bound::Governing,
        scheme::{Pseudonym, Scheme},
    },
    error::{VaultError, VaultResult},
    store::records::{DomainRecord, InsertOutcome, MappingRecord, NewMapping, Role},
};

/// Mappings handled per translation step.
const PAGE: usize = 500;

/// Moves `domain_name` to a new epoch; returns it and the end of the grace period.
pub async fn rotate(
    app: &Arc<App>,
    caller: &Caller,
    domain_name: &str,
    grace_seconds: u64,
) -> VaultResult<(u32, i64)> {
    let tenant_id = caller.tenant_with(Role::KeyOfficer)?;
    let gate = app.keys.gate(tenant_id);
    let exclusive = gate.write().await;
    let mut domain = find_domain(app, tenant_id, domain_name).await?;
    let grace = match grace_seconds {
        0 => app.limits.epoch_grace_seconds,
        s => s,
    };
    let now = app.now_ms();
    let epoch = domain.epoch.saturating_add(1);
    let mut entry = caller.act(now, "epoch.rotate");
    entry.domain = Some(domain.name.clone());
    entry.counts = vec![
        ("from_epoch".into(), u64::from(domain.epoch)),
        ("to_epoch".into(), u64::from(epoch)),
        ("grace_seconds".into(), grace),
    ];
    app.audit.append(tenant_id, entry).await?;
    let mut keys = app.keys.load_tenant_keys(tenant_id).await?;
    keys.ensure_epoch(epoch);
    app.keys.install_tenant_keys(keys).await?;
    domain.epoch = epoch;
    domain.old_epochs_until_ms =
        now.saturating_add(i64::try_from(grace.saturating_mul(1000)).unwrap_or(i64::MAX));
    app.put_domain(&domain).await?;
    app.store.sync().await.map_err(|e| {
        VaultError::Unavailable(format!("epoch change could not be made durable: {e}"))
    })?;
    drop(exclusive);
    Ok((epoch, domain.old_epochs_until_ms))
}

/// Ends the grace period of `domain_name`'s earlier epochs.
pub async fn finalize(app: &Arc<App>, caller: &Caller, domain_name: &str) -> VaultResult<u32> {
    let tenant_id = caller.tenant_with(Role::KeyOfficer)?;
    let mut domain = find_domain(app, tenant_id, domain_name).await?;
    let now = app.now_ms();
    let mut entry = caller.act(now, "epoch.finalize");
    entry.domain = Some(domain.name.clone());
    entry.counts = vec![("epoch".into(), u64::from(domain.epoch))];
    app.audit.append(tenant_id, entry).await?;
    domain.old_epochs_until_ms = now.saturating_sub(1);
    app.put_domain(&domain).await?;
    app.store.sync().await.map_err(|e| {
        VaultError::Unavailable(format!("epoch change could not be made durable: {e}"))
    })?;
    Ok(domain.epoch)
}

/// Checks and records a translation of `domain_name`; returns the domain to walk.
pub async fn start_translation(
    app: &Arc<App>,
    caller: &Caller,
    domain_name: &str,
) -> VaultResult<DomainRecord> {
    let tenant_id = caller.tenant_with(Role::KeyOfficer)?;
    let domain = find_domain(app, tenant_id, domain_name).await?;
    if !domain.reversible {
        return Err(VaultError::FailedPrecondition(
            "domain: a one-way domain keeps no identifiers, so its old pseudonyms cannot be translated".into(),
        ));
    }
    let mut entry = caller.act(app.now_ms(), "epoch.translate");
    entry.domain = Some(domain.name.clone());
    entry.counts = vec![("epoch".into(), u64::from(domain.epoch))];
    app.audit.record(tenant_id, entry).await?;
    Ok(domain)
}

/// Translates the mappings after `after` (one page): stores each old-epoch mapping's
/// new-epoch twin and returns (old, new) pseudonym texts and where to continue (`None`: done).
pub async fn translate_page(
    app: &App,
    domain: &DomainRecord,
    after: Vec<u8>,
) -> VaultResult<(Vec<(String, String)>, Option<Vec<u8>>)> {
    let page = app.store.scan_mappings(domain.id, after, PAGE).await?;
    let Some((last, _)) = page.last() else {
        return Ok((Vec::new(), None));
    };
    let next = last.clone();
    let tenant_id = domain.tenant_id;
    let fence = app.fence(tenant_id);
    let gate = app.keys.gate(tenant_id);
    let shared = gate.read().await;
    let keys = app.keys.domain_keys(domain).await?;
    let mut fence = fence.sealed_under(keys.data_key.version());
    let mut data_keys = app.keys.domain_data_keys(domain).await?;
    let now = app.now_ms();
    let erased = app.erased(tenant_id).await?;
    let mut olds = Vec::new();
    let mut rows = Vec::new();
    let mut identifiers = Vec::new();
    // Format-preserving twins take fresh serials; the first `fresh.len()` rows use them.
    let mut fresh = if domain.scheme == Scheme::FormatPreserving {
        let movable = page
            .iter()
            .filter(|(_, m)| m.ciphertext.is_some() && m.epoch < domain.epoch)
            .count();
        app.serials
            .fresh(&app.store, domain.id, &keys.pseudonym, movable)
            .await?
    } else {
        Vec::new()
    }
    .into_iter();
    for (old, m) in page {
        if m.ciphertext.is_none() || m.epoch >= domain.epoch {
            continue;
        }
        // A record under a destroyed key version cannot be translated: its identifier is gone.
        // One that fails its integrity check stops the job (Tampered): it is never carried over.
        let Some(plain) = app.open_mapping(&mut data_keys, domain, &old, &m).await? else {
            continue;
        };
        let value = plain.expose_secret();
        let pseudonym = match domain.scheme {
            Scheme::Keyed => keys.pseudonym.derive_for(value, erased.get(&m.subject)),
            Scheme::Random => Some(Pseudonym::random()),
            Scheme::FormatPreserving => fresh.next(),
        }
        .ok_or_else(|| VaultError::Internal("no pseudonym for a translated mapping".into()))?;
        let blind = domain
            .scheme
            .allocates()
            .then(|| keys.pseudonym.blind_index(value));
        let row = Governing {
            subject: &m.subject,
            epoch: domain.epoch,
            expires_ms: m.expires_ms,
        };
        let ciphertext = seal_mapping(
            &keys.data_key,
            (tenant_id, domain.id),
            &pseudonym.0,
            row,
            value,
        )?;
        rows.push(NewMapping {
            blind,
            pseudonym: pseudonym.0.clone(),
            record: MappingRecord {
                epoch: domain.epoch,
                subject: m.subject,
                created_ms: now,
                expires_ms: m.expires_ms,
                ciphertext: Some(ciphertext),
            },
        });
        olds.push(Pseudonym(old));
        identifiers.push(plain);
    }
    if rows.is_empty() {
        return Ok((Vec::new(), Some(next)));
    }
    app.keys
        .reserve_encryptions(tenant_id, keys.data_key.version(), rows.len() as u64)
        .await?;
    let fresh: Vec<Vec<u8>> = rows.iter().map(|r| r.pseudonym.clone()).collect();
    let outcomes = app
        .store
        .insert_mappings(tenant_id, domain.id, rows)
        .await?;
    app.store.sync().await.map_err(|e| {
        VaultError::Unavailable(format!("new mappings could not be made durable: {e}"))
    })?;
    drop(shared);
    while fence.check().await?.is_some() {
        let sealed: Vec<(&[u8], &[u8])> = fresh
            .iter()
            .zip(&identifiers)
            .zip(&outcomes)
            .filter(|(_, o)| **o == InsertOutcome::Inserted)
            .map(|((p, plain), _)| (p.as_slice(), plain.expose_secret()))
            .collect();
        app.reseal_mappings(domain, &sealed).await?;
    }
    let pairs = olds
        .into_iter()
        .zip(fresh)
        .zip(outcomes)
        .map(|((old, fresh), outcome)| {
            let new = match outcome {
                InsertOutcome::Inserted => Pseudonym(fresh),
                InsertOutcome::Existing(p) => Pseudonym(p),
            };
            (old.declassify(domain.scheme), new.declassify(domain.scheme))
        })
        .collect();
    Ok((pairs, Some(next)))
}
