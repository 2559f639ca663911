//! Requests from data subjects (`subject-officer`): access (export), erasure with a tombstone,
//! and restriction of processing. How a subject's mappings are found is `ops::subject`.

use std::{collections::HashSet, sync::Arc};

use serde_json::json;

use super::{
    subject::{Resolved, SubjectBy, erased_events, held, resolve},
    subject_events,
};
use crate::{
    app::App,
    authz::Caller,
    engine::consent::{ConsentEventKind, status},
    error::{VaultError, VaultResult},
    store::{
        Erasure,
        records::{RestrictionRecord, Role, TombstoneRecord},
    },
};

use super::receipts::subject_ref;

async fn named(
    app: &App,
    caller: &Caller,
    domain: &str,
    by: SubjectBy,
) -> VaultResult<(u64, Resolved)> {
    let tenant_id = caller.tenant_with(Role::SubjectOfficer)?;
    let subject = resolve(app, tenant_id, domain, by, "subject").await?;
    Ok((tenant_id, subject))
}

/// Restricts processing of a subject: re-identification answers `restricted`.
pub async fn restrict(
    app: &Arc<App>,
    caller: &Caller,
    domain: &str,
    by: SubjectBy,
    reason: String,
) -> VaultResult<String> {
    if reason.len() > 200 {
        return Err(VaultError::invalid("reason", "at most 200 bytes"));
    }
    let (tenant_id, subject) = named(app, caller, domain, by).await?;
    let hex_handle = hex::encode(subject.handle);
    let mut entry = caller.act(app.now_ms(), "subject.restrict");
    entry.subject = Some(hex_handle.clone());
    app.audit.append(tenant_id, entry).await?;
    let change = app.restrictions.begin_change().await;
    app.put_restriction(
        tenant_id,
        &RestrictionRecord {
            subject: hex_handle,
            since_ms: app.now_ms(),
            by: caller.id().to_owned(),
            reason,
            mac: String::new(),
        },
    )
    .await?;
    app.store.sync().await.map_err(|e| {
        VaultError::Unavailable(format!("restriction could not be made durable: {e}"))
    })?;
    change.done(tenant_id)?;
    let events =
        super::subject::about_subject(app, tenant_id, &subject, subject_events::kind::RESTRICTED)
            .await?;
    subject_events::emit(app, tenant_id, events).await?;
    Ok(subject_ref(&subject.handle))
}

/// Lifts a restriction; false if there was none.
pub async fn lift(
    app: &Arc<App>,
    caller: &Caller,
    domain: &str,
    by: SubjectBy,
) -> VaultResult<bool> {
    let (tenant_id, subject) = named(app, caller, domain, by).await?;
    let hex_handle = hex::encode(subject.handle);
    let mut entry = caller.act(app.now_ms(), "subject.restrict.lift");
    entry.subject = Some(hex_handle.clone());
    app.audit.append(tenant_id, entry).await?;
    let change = app.restrictions.begin_change().await;
    let lifted = app.store.delete_restriction(tenant_id, &hex_handle).await?;
    app.store
        .sync()
        .await
        .map_err(|e| VaultError::Unavailable(format!("lifting could not be made durable: {e}")))?;
    change.done(tenant_id)?;
    if lifted {
        let events =
            super::subject::about_subject(app, tenant_id, &subject, subject_events::kind::LIFTED)
                .await?;
        subject_events::emit(app, tenant_id, events).await?;
    }
    Ok(lifted)
}

/// Erases a subject: mappings in every domain, consent history and evidence, restriction;
/// leaves a tombstone — one unit of work in the store. Audited first (refused if the audit log
/// cannot take it).
pub async fn erase(
    app: &Arc<App>,
    caller: &Caller,
    domain: &str,
    by: SubjectBy,
) -> VaultResult<TombstoneRecord> {
    let (tenant_id, subject) = named(app, caller, domain, by).await?;
    let hex_handle = hex::encode(subject.handle);
    let held = held(app, tenant_id, &subject, None).await?;
    let mut receipts = Vec::new();
    let mut events = 0u64;
    for purpose in app.purposes(tenant_id).await? {
        for e in app
            .consent_history(tenant_id, subject.handle, &purpose.name)
            .await?
        {
            events += 1;
            if !e.receipt_id.is_empty()
                && let Ok(id) = hex::decode(&e.receipt_id)
            {
                receipts.push(id);
            }
        }
    }
    let now = app.now_ms();
    let mut entry = caller.act(now, "subject.erase");
    entry.subject = Some(hex_handle.clone());
    entry.counts = vec![
        ("mappings".into(), held.len() as u64),
        ("consent_events".into(), events),
    ];
    app.audit.append(tenant_id, entry).await?;

    subject_events::announce_expired_of(app, tenant_id, subject.handle).await?;
    let mut tombstone = TombstoneRecord {
        subject: hex_handle.clone(),
        erased_ms: now,
        by: caller.id().to_owned(),
        request_id: caller.request_id.clone(),
        tweak: hex::encode(crate::engine::subject::new_tweak()),
        ..TombstoneRecord::default()
    };
    app.seal_in(tenant_id, &mut tombstone).await?;
    let erasure = Erasure {
        subject: subject.handle,
        mappings: held
            .iter()
            .map(|h| (h.domain.id, h.pseudonym.clone(), h.blind))
            .collect(),
        evidence: receipts,
        events: erased_events(now, &hex_handle, &held),
        tombstone,
    };
    let tombstone = {
        let change = app.restrictions.begin_change().await;
        let tombstone = app.store.erase_subject(tenant_id, erasure).await?;
        change.done(tenant_id)?;
        tombstone
    };
    app.store.request_compaction().await?;
    app.store
        .sync()
        .await
        .map_err(|e| VaultError::Unavailable(format!("erasure could not be made durable: {e}")))?;
    app.events.appended();
    Ok(tombstone)
}

/// The tombstone as exports and responses show it.
pub fn tombstone_json(t: &TombstoneRecord) -> serde_json::Value {
    json!({
        "subject_ref": format!("subject:{}", t.subject),
        "erased_at_ms": t.erased_ms,
        "erased_by": t.by,
        "mappings": t.mappings,
        "consent_events": t.consent_events,
        "evidence": t.evidence,
    })
}

/// The access-request document (audited; fail closed).
pub async fn export(
    app: &Arc<App>,
    caller: &Caller,
    domain: &str,
    by: SubjectBy,
) -> VaultResult<String> {
    let (tenant_id, subject) = named(app, caller, domain, by).await?;
    let hex_handle = hex::encode(subject.handle);
    let now = app.now_ms();
    let tenant = app
        .tenant(tenant_id)
        .await?
        .ok_or_else(|| VaultError::Internal("tenant record missing".into()))?;
    let mut entry = caller.act(now, "subject.export");
    entry.subject = Some(hex_handle.clone());
    app.audit.record(tenant_id, entry).await?;
    let head = json!({
        "format": "valv-subject-export/1",
        "tenant": tenant.name,
        "subject_ref": subject_ref(&subject.handle),
        "exported_at_ms": now,
        "exported_by": caller.id(),
    });
    // An erased subject that came back (pseudonymised again) has live data beside its
    // tombstone: the export shows both.
    let tombstone = app.tombstone(tenant_id, &hex_handle).await?;

    let held = held(app, tenant_id, &subject, None).await?;
    let mut pseudonym_texts = HashSet::new();
    let pseudonyms: Vec<serde_json::Value> = held
        .iter()
        .map(|h| {
            let text =
                crate::engine::scheme::Pseudonym(h.pseudonym.clone()).declassify(h.domain.scheme);
            pseudonym_texts.insert(text.clone());
            json!({
                "domain": h.domain.name,
                "pseudonym": text,
                "epoch": h.epoch,
                "reversible": h.domain.reversible,
                "created_ms": h.record.created_ms,
                "expires_ms": h.record.expires_ms,
            })
        })
        .collect();

    let mut consents = Vec::new();
    for purpose in app.purposes(tenant_id).await? {
        let history = app
            .consent_history(tenant_id, subject.handle, &purpose.name)
            .await?;
        if history.is_empty() {
            continue;
        }
        let texts = app.store.consent_texts(tenant_id, &purpose.name).await?;
        let events: Vec<serde_json::Value> = history
            .iter()
            .map(|e| {
                let text = texts
                    .iter()
                    .find(|t| e.kind == ConsentEventKind::Granted && t.version == e.text_version)
                    .map(|t| t.text.clone());
                json!({
                    "seq": e.seq,
                    "kind": if e.kind == ConsentEventKind::Granted { "granted" } else { "withdrawn" },
                    "at_ms": e.at_ms,
                    "text_version": e.text_version,
                    "text_sha256": e.text_sha256,
                    "text": text,
                    "method": e.method,
                    "channel": e.channel,
                    "valid_until_ms": e.valid_until_ms,
                    "receipt_id": e.receipt_id,
                    "guardian_ref": e.guardian_ref,
                    "evidence_bytes": e.evidence_bytes,
                    "evidence_media_type": e.evidence_media_type,
                    "recorded_by": e.recorded_by,
                })
            })
            .collect();
        let state = match status(history.last(), now) {
            crate::engine::consent::ConsentStatus::None => "none",
            crate::engine::consent::ConsentStatus::Granted => "granted",
            crate::engine::consent::ConsentStatus::Withdrawn => "withdrawn",
            crate::engine::consent::ConsentStatus::Expired => "expired",
        };
        consents.push(json!({"purpose": purpose.name, "status": state, "events": events}));
    }

    // Every audit entry about the subject — by handle, as the entry's subject or an item's —
    // through the store's subject index, not by reading the chain.
    let mut audit_entries = Vec::new();
    let mut after = 0;
    loop {
        let page = super::audit::page(app, tenant_id, &hex_handle, after).await?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        for e in &page {
            let items: Vec<serde_json::Value> = e
                .items
                .iter()
                .filter(|i| i.subject == hex_handle || pseudonym_texts.contains(&i.target))
                .map(|i| json!({"pseudonym": i.target, "outcome": i.outcome}))
                .collect();
            if e.subject == hex_handle || !items.is_empty() {
                audit_entries.push(json!({
                    "seq": e.seq,
                    "at_ms": e.at_unix_ms,
                    "principal": e.principal,
                    "action": e.action,
                    "domain": e.domain,
                    "purpose": e.purpose,
                    "items": items,
                }));
            }
        }
    }
    let restriction = app
        .restrictions_of(tenant_id)
        .await?
        .into_iter()
        .find(|r| r.subject == hex_handle)
        .map(|r| json!({"since_ms": r.since_ms, "by": r.by, "reason": r.reason}));

    let mut doc = head;
    if let Some(t) = &tombstone {
        doc["erased"] = tombstone_json(t);
    }
    doc["restriction"] = restriction.unwrap_or(serde_json::Value::Null);
    doc["pseudonyms"] = json!(pseudonyms);
    doc["consents"] = json!(consents);
    doc["audit"] = json!(audit_entries);
    Ok(serde_json::to_string_pretty(&doc).unwrap_or_default())
}
