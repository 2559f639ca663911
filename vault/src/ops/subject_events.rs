//! The subject-event log: what downstream systems must be told (GDPR Art. 19) — consent
//! granted / withdrawn / expired, restriction, erasure — by domain and pseudonym, in order, with
//! a cursor to resume from. Acts append their events after the act itself is stored (the same
//! flush makes both durable); expiries are noticed by a ticker and whenever a stream opens.

use std::{sync::Arc, time::Duration};

use tokio::sync::mpsc;

use crate::{
    app::App,
    authz::Caller,
    engine::consent::ConsentEventKind,
    error::{VaultError, VaultResult},
    store::records::{Role, SubjectEventRecord},
};

/// Event kinds as stored.
pub mod kind {
    /// A consent was granted.
    pub const GRANTED: &str = "consent-granted";
    /// A consent was withdrawn.
    pub const WITHDRAWN: &str = "consent-withdrawn";
    /// A consent's end passed.
    pub const EXPIRED: &str = "consent-expired";
    /// Processing restricted.
    pub const RESTRICTED: &str = "restricted";
    /// Restriction lifted.
    pub const LIFTED: &str = "restriction-lifted";
    /// A mapping was erased.
    pub const ERASED: &str = "erased";
}

/// A new event (sequence number assigned when appended).
pub fn event(
    at_ms: i64,
    kind: &str,
    subject_hex: &str,
    purpose: &str,
    domain: &str,
    pseudonym: &str,
) -> SubjectEventRecord {
    SubjectEventRecord {
        seq: 0,
        at_ms,
        kind: kind.to_owned(),
        subject: subject_hex.to_owned(),
        purpose: purpose.to_owned(),
        domain: domain.to_owned(),
        pseudonym: pseudonym.to_owned(),
    }
}

/// Appends events without a flush; the caller makes them durable with its own act and then
/// wakes the streams (`app.events.appended()`).
pub async fn stage(app: &App, tenant_id: u64, events: Vec<SubjectEventRecord>) -> VaultResult<()> {
    if events.is_empty() {
        return Ok(());
    }
    Ok(app.store.append_subject_events(tenant_id, events).await?)
}

/// Appends events, makes them durable and wakes the streams that follow the log.
pub async fn emit(app: &App, tenant_id: u64, events: Vec<SubjectEventRecord>) -> VaultResult<()> {
    if events.is_empty() {
        return Ok(());
    }
    stage(app, tenant_id, events).await?;
    app.store.sync().await.map_err(|e| {
        VaultError::Unavailable(format!("subject events could not be made durable: {e}"))
    })?;
    app.events.appended();
    Ok(())
}

/// Announces every consent whose end has passed and was not announced yet (once each). Scans
/// the tenant's consents only when the earliest known end has come (or is not known).
pub async fn announce_expired(app: &App, tenant_id: u64) -> VaultResult<usize> {
    let now = app.now_ms();
    let next = app.events.next_expiry(tenant_id);
    if next.is_some_and(|t| t > now) {
        return Ok(0);
    }
    let mut latest = std::collections::BTreeMap::new();
    for (subject, purpose, e) in app.scan_consents(tenant_id).await? {
        latest.insert((subject, purpose.clone()), e);
    }
    let upcoming = latest
        .values()
        .filter(|e| e.kind == ConsentEventKind::Granted && e.valid_until_ms > now)
        .map(|e| e.valid_until_ms)
        .min()
        .unwrap_or(i64::MAX);
    let n = announce(app, tenant_id, latest).await?;
    // A grant that landed during the scan may have lowered the entry: the earlier is kept.
    app.events.scanned(tenant_id, now, upcoming);
    Ok(n)
}

/// A consent ending at `valid_until_ms` was granted: the ticker must look again by then.
pub fn expiry_scheduled(app: &App, tenant_id: u64, valid_until_ms: i64) {
    if valid_until_ms == 0 {
        return;
    }
    app.events.expiry_scheduled(tenant_id, valid_until_ms);
}

/// Announces the passed ends among one subject's latest consents (before an erasure removes
/// the history they would be noticed from).
pub async fn announce_expired_of(
    app: &App,
    tenant_id: u64,
    subject: crate::engine::subject::SubjectHandle,
) -> VaultResult<usize> {
    let mut latest = std::collections::BTreeMap::new();
    for purpose in app.purposes(tenant_id).await? {
        if let Some(e) = app
            .consent_history(tenant_id, subject, &purpose.name)
            .await?
            .pop()
        {
            latest.insert((subject, purpose.name), e);
        }
    }
    announce(app, tenant_id, latest).await
}

async fn announce(
    app: &App,
    tenant_id: u64,
    latest: std::collections::BTreeMap<
        (crate::engine::subject::SubjectHandle, String),
        crate::engine::consent::ConsentEvent,
    >,
) -> VaultResult<usize> {
    let now = app.now_ms();
    let mut events = Vec::new();
    for ((subject, purpose), e) in latest {
        if e.kind != ConsentEventKind::Granted || e.valid_until_ms == 0 || e.valid_until_ms > now {
            continue;
        }
        let subject_hex = hex::encode(subject);
        let marker = format!("expired/{tenant_id}/{subject_hex}/{purpose}/{}", e.seq);
        if app.store.mark_once(&marker).await? {
            events.push(event(
                e.valid_until_ms,
                kind::EXPIRED,
                &subject_hex,
                &purpose,
                &e.subject_domain,
                &e.subject_pseudonym,
            ));
        }
    }
    let n = events.len();
    emit(app, tenant_id, events).await?;
    Ok(n)
}

/// The consent-expiry ticker: every `every`, each tenant's consents whose end has passed are
/// announced (once each, across processes: `mark_once`), so every process may tick.
pub fn ticker(every: Duration) -> crate::jobs::schedule::Schedule {
    crate::jobs::schedule::Schedule {
        name: "consent-expiry",
        every,
        one_process_per_period: false,
        work: |app, tenant_id| {
            Box::pin(async move { announce_expired(&app, tenant_id).await.map(drop) })
        },
    }
}

/// Streams the caller's tenant events after `after`; with `follow`, keeps waiting for more.
pub async fn watch(
    app: &Arc<App>,
    caller: &Caller,
    after: u64,
    follow: bool,
) -> VaultResult<mpsc::Receiver<VaultResult<SubjectEventRecord>>> {
    let tenant_id = caller
        .tenant_with(Role::Tokenizer)
        .or_else(|_| caller.tenant_with(Role::ConsentManager))
        .or_else(|_| caller.tenant_with(Role::SubjectOfficer))
        .map_err(|_| {
            VaultError::PermissionDenied(
                "needs the tokenizer, consent-manager or subject-officer role".into(),
            )
        })?;
    announce_expired(app, tenant_id).await?;
    let (tx, rx) = mpsc::channel(256);
    let app = Arc::clone(app);
    tokio::spawn(async move {
        let mut cursor = after;
        loop {
            // Register interest before reading, so an event appended in between wakes us.
            let woken = app.events.wait();
            let page = match app.store.subject_events(tenant_id, cursor, 500).await {
                Ok(p) => p,
                Err(e) => {
                    let _ = tx.send(Err(e.into())).await;
                    return;
                }
            };
            let empty = page.is_empty();
            for e in page {
                cursor = e.seq;
                if tx.send(Ok(e)).await.is_err() {
                    return;
                }
            }
            if !empty {
                continue;
            }
            if !follow {
                return;
            }
            tokio::select! {
                () = woken => {}
                () = tokio::time::sleep(Duration::from_secs(1)) => {
                    let _ = announce_expired(&app, tenant_id).await;
                }
                () = tx.closed() => return,
            }
        }
    });
    Ok(rx)
}
