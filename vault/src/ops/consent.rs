//! Record, withdraw and read consents. Subjects are named by domain + identifier or domain +
//! pseudonym and stored only as subject handles.

use std::sync::Arc;

use valv_kms::AadContext;

use super::{
    consent_texts, find_domain, find_purpose, receipts, subject,
    subject::{Resolved, SubjectBy, resolve},
    subject_events,
};
use crate::{
    app::App,
    authz::Caller,
    engine::{
        consent::{ConsentEvent, ConsentEventKind, ConsentStatus, status},
        date::Date,
        subject::SubjectHandle,
    },
    error::{VaultError, VaultResult},
    store::records::{DEFAULT_AGE_OF_CONSENT, LegalBasis, Role},
};

/// A consent grant.
pub struct Grant {
    /// Consent text version agreed to.
    pub text_version: u32,
    /// Method name, e.g. `bankid`.
    pub method: String,
    /// End of validity; 0 = the purpose's default.
    pub valid_until_ms: i64,
    /// Where consent was collected.
    pub channel: String,
    /// Proof (stored encrypted; wiped from memory on drop).
    pub evidence: valv_kms::SecretBytes,
    /// The evidence's media type.
    pub evidence_media_type: String,
    /// For a minor: the guardian, named in the same domain as the subject.
    pub guardian: Option<SubjectBy>,
}

/// Largest evidence accepted, in bytes.
pub const MAX_EVIDENCE_BYTES: usize = 1024 * 1024;

/// A grant as recorded: the event and its signed receipt.
#[derive(Debug)]
pub struct Granted {
    /// The stored event.
    pub event: ConsentEvent,
    /// The receipt (JSON).
    pub receipt: String,
}

/// A purpose's history for one subject.
#[derive(Debug)]
pub struct PurposeHistory {
    /// Purpose name.
    pub purpose: String,
    /// Current state.
    pub status: ConsentStatus,
    /// Events, oldest first.
    pub events: Vec<ConsentEvent>,
}

async fn resolve_subject(
    app: &App,
    tenant_id: u64,
    domain_name: &str,
    by: SubjectBy,
) -> VaultResult<SubjectHandle> {
    Ok(resolve(app, tenant_id, domain_name, by, "subject")
        .await?
        .handle)
}

fn consent_purpose(p: &crate::store::records::PurposeRecord) -> VaultResult<()> {
    if p.legal_basis == LegalBasis::Consent {
        Ok(())
    } else {
        Err(VaultError::FailedPrecondition(
            "purpose: its legal basis is not consent".into(),
        ))
    }
}

/// Records a consent event (and the subject event that tells downstream systems). Fail closed: the audit entry is appended first, so a failing audit
/// log refuses the act before it changes anything; one flush then makes both durable. (A store
/// error between the two leaves an entry for an act that did not happen — never the reverse.)
async fn record(
    app: &App,
    caller: &Caller,
    tenant_id: u64,
    action: &str,
    purpose: &str,
    subject: SubjectHandle,
    event: ConsentEvent,
) -> VaultResult<ConsentEvent> {
    let mut entry = caller.act(event.at_ms, action);
    entry.purpose = Some(purpose.to_owned());
    entry.subject = Some(hex::encode(subject));
    entry.counts = vec![("text_version".into(), u64::from(event.text_version))];
    app.audit.append(tenant_id, entry).await?;
    let event = app
        .append_consent(tenant_id, subject, purpose, event)
        .await?;
    // What downstream systems are told, made durable by the same flush.
    let kind = match event.kind {
        ConsentEventKind::Granted => subject_events::kind::GRANTED,
        ConsentEventKind::Withdrawn => subject_events::kind::WITHDRAWN,
    };
    subject_events::stage(
        app,
        tenant_id,
        vec![subject_events::event(
            event.at_ms,
            kind,
            &hex::encode(subject),
            purpose,
            &event.subject_domain,
            &event.subject_pseudonym,
        )],
    )
    .await?;
    app.store.sync().await.map_err(|e| {
        VaultError::Unavailable(format!("consent change could not be made durable: {e}"))
    })?;
    app.events.appended();
    Ok(event)
}

/// Grants a consent: checks the text version, the subject's age (a minor needs a guardian),
/// stores the evidence encrypted, records the event (audit first) and signs its receipt.
pub async fn grant(
    app: &Arc<App>,
    caller: &Caller,
    domain: &str,
    by: SubjectBy,
    purpose: &str,
    grant: Grant,
) -> VaultResult<Granted> {
    let tenant_id = caller.tenant_with(Role::ConsentManager)?;
    let purpose = find_purpose(app, tenant_id, purpose).await?;
    consent_purpose(&purpose)?;
    if grant.text_version == 0 {
        return Err(VaultError::invalid("text_version", "must be at least 1"));
    }
    if grant.method.is_empty() {
        return Err(VaultError::invalid("method", "must be set"));
    }
    if grant.channel.len() > 64 {
        return Err(VaultError::invalid("channel", "at most 64 bytes"));
    }
    if grant.evidence.len() > MAX_EVIDENCE_BYTES {
        return Err(VaultError::invalid("evidence", "at most 1 MiB"));
    }
    if grant.evidence_media_type.len() > 100 {
        return Err(VaultError::invalid(
            "evidence_media_type",
            "at most 100 bytes",
        ));
    }
    let now = app.now_ms();
    let valid_until_ms = match grant.valid_until_ms {
        0 if purpose.default_consent_validity_seconds > 0 => now.saturating_add(
            i64::try_from(
                purpose
                    .default_consent_validity_seconds
                    .saturating_mul(1000),
            )
            .unwrap_or(i64::MAX),
        ),
        0 => 0,
        t if t <= now => {
            return Err(VaultError::invalid(
                "valid_until_unix_ms",
                "must be in the future",
            ));
        }
        t => t,
    };
    let text = consent_texts::get(
        app,
        tenant_id,
        &purpose.name,
        grant.text_version,
        "text_version",
    )
    .await?;
    if find_domain(app, tenant_id, domain)
        .await?
        .kind
        .carries_birth_date()
    {
        // Whether a grant by pseudonym needs a guardian (or whether a guardian named by
        // pseudonym is of age) would tell the caller a pseudonymised person's age.
        let by_pseudonym = |field: &str| {
            VaultError::FailedPrecondition(format!(
                "{field}: name the person by identifier to record a consent in a domain of national identity numbers: age decides who may consent, and the vault does not tell a pseudonymised person's age"
            ))
        };
        if matches!(by, SubjectBy::Pseudonym(_)) {
            return Err(by_pseudonym("subject"));
        }
        if matches!(grant.guardian, Some(SubjectBy::Pseudonym(_))) {
            return Err(by_pseudonym("guardian"));
        }
    }
    let subject = resolve(app, tenant_id, domain, by, "subject").await?;
    let guardian_ref = guardian_check(app, tenant_id, domain, &subject, grant.guardian).await?;

    let mut receipt_id = [0u8; 16];
    rand::Rng::fill_bytes(&mut rand::rng(), &mut receipt_id);
    let evidence_bytes = grant.evidence.len() as u64;
    // Evidence first (encrypted under the active key version, counted against its budget, under
    // the tenant's shared gate): a crash before the event leaves an orphan, never an event
    // that claims evidence it lacks.
    if evidence_bytes > 0 {
        let fence = app.fence(tenant_id);
        let gate = app.keys.gate(tenant_id);
        let shared = gate.read().await;
        let keys = app.keys.tenant_keys(tenant_id).await?;
        let version = keys.active_version().ok_or_else(|| {
            VaultError::FailedPrecondition("tenant has no active key version".into())
        })?;
        let mut fence = fence.sealed_under(version);
        if !app.keys.reserve_encryptions(tenant_id, version, 1).await? {
            return Err(VaultError::Unavailable(
                "the active key version's use budget is spent; rotate the tenant key".into(),
            ));
        }
        let ct = keys.data_key(EVIDENCE_DOMAIN_ID, version)?.seal(
            &AadContext {
                tenant_id,
                domain_id: EVIDENCE_DOMAIN_ID,
                record: &receipt_id,
                bound: b"",
            },
            grant.evidence.expose_secret(),
        )?;
        app.store
            .put_evidence(tenant_id, &receipt_id, ct.clone())
            .await?;
        drop(shared);
        let mut current = ct;
        while fence.check().await?.is_some() {
            current = app
                .reseal_evidence(
                    tenant_id,
                    &receipt_id,
                    &current,
                    grant.evidence.expose_secret(),
                )
                .await?;
        }
    }
    let event = ConsentEvent {
        kind: ConsentEventKind::Granted,
        text_version: grant.text_version,
        method: grant.method,
        at_ms: now,
        valid_until_ms,
        recorded_by: caller.id().to_owned(),
        channel: grant.channel,
        receipt_id: hex::encode(receipt_id),
        text_sha256: text.sha256,
        guardian_ref,
        evidence_bytes,
        evidence_media_type: grant.evidence_media_type,
        subject_domain: subject.domain.clone(),
        subject_pseudonym: subject.pseudonym.clone(),
        ..ConsentEvent::default()
    };
    let event = record(
        app,
        caller,
        tenant_id,
        "consent.grant",
        &purpose.name,
        subject.handle,
        event,
    )
    .await?;
    subject_events::expiry_scheduled(app, tenant_id, event.valid_until_ms);
    let receipt = receipts::issue(app, tenant_id, &purpose, &subject.handle, &event).await?;
    Ok(Granted { event, receipt })
}

pub use crate::keys::EVIDENCE_DOMAIN_ID;

/// A subject under the tenant's age of consent needs an adult guardian; returns the guardian's
/// reference for the record (empty when none is needed or given).
async fn guardian_check(
    app: &App,
    tenant_id: u64,
    domain: &str,
    subject: &Resolved,
    guardian: Option<SubjectBy>,
) -> VaultResult<String> {
    let tenant = app
        .tenant(tenant_id)
        .await?
        .ok_or_else(|| VaultError::Internal("tenant record missing".into()))?;
    let age_of_consent = match tenant.age_of_consent {
        0 => DEFAULT_AGE_OF_CONSENT,
        age => age,
    };
    let today = Date::from_unix_ms(app.now_ms());
    if subject.age_unknowable {
        return Err(VaultError::FailedPrecondition(
            "subject: the age of consent cannot be checked from a one-way pseudonym; name the subject by identifier".into(),
        ));
    }
    let minor = subject
        .birth_date
        .is_some_and(|born| born.years_until(today) < age_of_consent);
    let Some(guardian) = guardian else {
        if minor {
            return Err(VaultError::invalid(
                "guardian",
                format!(
                    "the subject is under the age of consent ({age_of_consent}); name a guardian who consents on their behalf"
                ),
            ));
        }
        return Ok(String::new());
    };
    let guardian = resolve(app, tenant_id, domain, guardian, "guardian").await?;
    if guardian.handle == subject.handle {
        return Err(VaultError::invalid(
            "guardian",
            "must be another person than the subject",
        ));
    }
    if guardian
        .birth_date
        .is_some_and(|born| born.years_until(today) < age_of_consent)
    {
        return Err(VaultError::invalid(
            "guardian",
            "is under the age of consent too",
        ));
    }
    Ok(receipts::subject_ref(&guardian.handle))
}

/// Withdraws a consent; NOT_FOUND if the latest event is not a grant.
pub async fn withdraw(
    app: &Arc<App>,
    caller: &Caller,
    domain: &str,
    by: SubjectBy,
    purpose: &str,
) -> VaultResult<ConsentEvent> {
    let tenant_id = caller.tenant_with(Role::ConsentManager)?;
    let purpose = find_purpose(app, tenant_id, purpose).await?;
    let named = resolve(app, tenant_id, domain, by, "subject").await?;
    let subject = named.handle;
    let history = app
        .consent_history(tenant_id, subject, &purpose.name)
        .await?;
    match history.last() {
        Some(e) if e.kind == ConsentEventKind::Granted => {}
        _ => {
            return Err(VaultError::NotFound(
                "consent: no granted consent to withdraw".into(),
            ));
        }
    }
    // Erase on withdrawal needs to find the subject's mappings: check that before anything.
    let doomed = if purpose.erase_on_withdrawal {
        let only = (!purpose.domains.is_empty()).then_some(purpose.domains.as_slice());
        Some(subject::held(app, tenant_id, &named, only).await?)
    } else {
        None
    };
    let event = ConsentEvent {
        kind: ConsentEventKind::Withdrawn,
        at_ms: app.now_ms(),
        recorded_by: caller.id().to_owned(),
        subject_domain: named.domain.clone(),
        subject_pseudonym: named.pseudonym.clone(),
        ..ConsentEvent::default()
    };
    let event = record(
        app,
        caller,
        tenant_id,
        "consent.withdraw",
        &purpose.name,
        subject,
        event,
    )
    .await?;
    if let Some(held) = doomed {
        let mut entry = caller.act(app.now_ms(), "subject.erase.withdrawal");
        entry.purpose = Some(purpose.name.clone());
        entry.subject = Some(hex::encode(subject));
        entry.counts = vec![("mappings".into(), held.len() as u64)];
        app.audit.append(tenant_id, entry).await?;
        subject::delete_held(app, tenant_id, &subject, &held).await?;
        app.store.request_compaction().await?;
        app.store.sync().await.map_err(|e| {
            VaultError::Unavailable(format!("erasure could not be made durable: {e}"))
        })?;
    }
    Ok(event)
}

/// The consent history of a subject, for one purpose or all.
pub async fn history(
    app: &Arc<App>,
    caller: &Caller,
    domain: &str,
    by: SubjectBy,
    purpose: &str,
) -> VaultResult<Vec<PurposeHistory>> {
    let tenant_id = caller.tenant_with(Role::ConsentManager)?;
    let purposes = if purpose.is_empty() {
        app.purposes(tenant_id)
            .await?
            .into_iter()
            .map(|p| p.name)
            .collect()
    } else {
        vec![find_purpose(app, tenant_id, purpose).await?.name]
    };
    let subject = resolve_subject(app, tenant_id, domain, by).await?;
    let now = app.now_ms();
    let mut out = Vec::new();
    for name in purposes {
        let events = app.consent_history(tenant_id, subject, &name).await?;
        if events.is_empty() && purpose.is_empty() {
            continue;
        }
        out.push(PurposeHistory {
            status: status(events.last(), now),
            purpose: name,
            events,
        });
    }
    Ok(out)
}
