//! Record, withdraw and read consents. Subjects are named by domain + identifier or domain +
//! pseudonym and stored only as subject handles.

use std::sync::Arc;

use super::{find_domain, find_purpose};
use crate::{
    app::App,
    audit,
    authz::Caller,
    engine::{
        consent::{ConsentEvent, ConsentEventKind, ConsentStatus, status},
        date::Date,
        identifier::normalise,
        scheme::Pseudonym,
        subject::SubjectHandle,
    },
    error::{VaultError, VaultResult},
    store::records::{LegalBasis, Role},
};

/// How a request names the subject.
#[derive(Debug)]
pub enum SubjectBy {
    /// The identifier (normalised by the domain's kind; never stored).
    Identifier(String),
    /// A pseudonym of the domain.
    Pseudonym(String),
}

/// A consent grant.
#[derive(Debug)]
pub struct Grant {
    /// Consent text version agreed to.
    pub text_version: u32,
    /// Method name, e.g. `bankid`.
    pub method: String,
    /// End of validity; 0 = the purpose's default.
    pub valid_until_ms: i64,
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
    let domain = find_domain(app, tenant_id, domain_name)
        .await
        .map_err(|e| match e {
            VaultError::InvalidArgument { rule, .. } => VaultError::invalid("subject.domain", rule),
            other => other,
        })?;
    match by {
        SubjectBy::Identifier(raw) => {
            let today = Date::from_unix_ms(app.now_ms());
            let n = normalise(domain.kind, &raw, today, app.limits.max_identifier_bytes)
                .map_err(|e| VaultError::invalid("subject.identifier", e.to_string()))?;
            Ok(app
                .subject_hasher(tenant_id)
                .await?
                .handle(domain.kind, n.value.expose_secret()))
        }
        SubjectBy::Pseudonym(text) => {
            let not_found = || {
                VaultError::NotFound("subject.pseudonym: no such pseudonym in this domain".into())
            };
            let p = Pseudonym::parse(domain.scheme, &text).ok_or_else(not_found)?;
            let found = app.store.mappings(domain.id, vec![p.0]).await?;
            found
                .into_iter()
                .next()
                .flatten()
                .map(|m| m.subject)
                .ok_or_else(not_found)
        }
    }
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

/// Records a consent event. Fail closed: the audit entry is appended first, so a failing audit
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
    let mut entry = audit::act(event.at_ms, caller, action);
    entry.purpose = Some(purpose.to_owned());
    entry.subject = Some(hex::encode(subject));
    entry.counts = vec![("text_version".into(), u64::from(event.text_version))];
    app.audit.append(tenant_id, entry).await?;
    let event = app
        .store
        .append_consent(tenant_id, subject, purpose, event)
        .await?;
    app.store.sync().await.map_err(|e| {
        VaultError::Unavailable(format!("consent change could not be made durable: {e}"))
    })?;
    Ok(event)
}

/// Grants a consent.
pub async fn grant(
    app: &Arc<App>,
    caller: &Caller,
    domain: &str,
    by: SubjectBy,
    purpose: &str,
    grant: Grant,
) -> VaultResult<ConsentEvent> {
    let tenant_id = caller.tenant_with(Role::ConsentManager)?;
    let purpose = find_purpose(app, tenant_id, purpose).await?;
    consent_purpose(&purpose)?;
    if grant.text_version == 0 {
        return Err(VaultError::invalid("text_version", "must be at least 1"));
    }
    if grant.method.is_empty() {
        return Err(VaultError::invalid("method", "must be set"));
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
    let subject = resolve_subject(app, tenant_id, domain, by).await?;
    let event = ConsentEvent {
        seq: 0,
        kind: ConsentEventKind::Granted,
        text_version: grant.text_version,
        method: grant.method,
        at_ms: now,
        valid_until_ms,
        recorded_by: caller.id().to_owned(),
    };
    record(
        app,
        caller,
        tenant_id,
        "consent.grant",
        &purpose.name,
        subject,
        event,
    )
    .await
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
    let subject = resolve_subject(app, tenant_id, domain, by).await?;
    let history = app
        .store
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
    let event = ConsentEvent {
        seq: 0,
        kind: ConsentEventKind::Withdrawn,
        text_version: 0,
        method: String::new(),
        at_ms: app.now_ms(),
        valid_until_ms: 0,
        recorded_by: caller.id().to_owned(),
    };
    record(
        app,
        caller,
        tenant_id,
        "consent.withdraw",
        &purpose.name,
        subject,
        event,
    )
    .await
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
        app.store
            .list_purposes(tenant_id)
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
        let events = app.store.consent_history(tenant_id, subject, &name).await?;
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
