//! Finding consents: the current state of every (subject, purpose) pair, filtered and paged,
//! and counts per purpose and status — so a consent desk sees what expired or was withdrawn and
//! whom to ask again, by pseudonym and never by identifier.

use std::{collections::BTreeMap, sync::Arc};

use crate::{
    app::App,
    authz::Caller,
    engine::consent::{ConsentEvent, ConsentStatus, status},
    error::{VaultError, VaultResult},
    store::records::Role,
};

use super::receipts::subject_ref;

/// What to list.
#[derive(Debug, Default)]
pub struct Filter {
    /// Only this purpose (empty: all).
    pub purpose: String,
    /// Only this current status.
    pub status: Option<ConsentStatus>,
    /// Latest event recorded in [after, before) (0 = open).
    pub granted_after_ms: i64,
    /// See `granted_after_ms`.
    pub granted_before_ms: i64,
    /// Still granted and ending in [after, before) (both 0: no filter).
    pub expiring_after_ms: i64,
    /// See `expiring_after_ms`.
    pub expiring_before_ms: i64,
    /// Text version below this (0: no filter).
    pub text_version_below: u32,
    /// Page size (default 100, at most 1000).
    pub page_size: u32,
    /// Resume after this pair (`<subject hex>/<purpose>`).
    pub page_token: String,
}

/// One pair's current consent.
#[derive(Debug)]
pub struct Summary {
    /// `subject:<hex>`.
    pub subject_ref: String,
    /// Purpose.
    pub purpose: String,
    /// State now.
    pub status: ConsentStatus,
    /// The latest event.
    pub latest: ConsentEvent,
}

/// The latest event per (subject, purpose) pair, in subject order.
async fn latest(
    app: &App,
    tenant_id: u64,
) -> VaultResult<BTreeMap<String, (String, ConsentEvent)>> {
    let mut pairs = BTreeMap::new();
    for (subject, purpose, event) in app.scan_consents(tenant_id).await? {
        // Events come in sequence order: the last one per pair wins.
        pairs.insert(
            format!("{}/{purpose}", hex::encode(subject)),
            (purpose, event),
        );
    }
    Ok(pairs)
}

fn within(t: i64, after: i64, before: i64) -> bool {
    (after == 0 || t >= after) && (before == 0 || t < before)
}

/// Lists current consents (consent-manager). Returns the page and the next page token.
pub async fn list(
    app: &Arc<App>,
    caller: &Caller,
    filter: Filter,
) -> VaultResult<(Vec<Summary>, String)> {
    let tenant_id = caller.tenant_with(Role::ConsentManager)?;
    let page_size = match filter.page_size {
        0 => 100,
        n if n > 1000 => {
            return Err(VaultError::invalid("page_size", "at most 1000"));
        }
        n => n as usize,
    };
    if !filter.purpose.is_empty() {
        super::find_purpose(app, tenant_id, &filter.purpose).await?;
    }
    let now = app.now_ms();
    let expiring = filter.expiring_after_ms != 0 || filter.expiring_before_ms != 0;
    let mut out = Vec::new();
    let mut next = String::new();
    for (key, (purpose, event)) in latest(app, tenant_id).await? {
        if !filter.page_token.is_empty() && key.as_str() <= filter.page_token.as_str() {
            continue;
        }
        let state = status(Some(&event), now);
        let granted = matches!(
            event.kind,
            crate::engine::consent::ConsentEventKind::Granted
        );
        let keep = (filter.purpose.is_empty() || purpose == filter.purpose)
            && filter.status.is_none_or(|s| s == state)
            && within(
                event.at_ms,
                filter.granted_after_ms,
                filter.granted_before_ms,
            )
            && (!expiring
                || (state == ConsentStatus::Granted
                    && event.valid_until_ms != 0
                    && within(
                        event.valid_until_ms,
                        filter.expiring_after_ms,
                        filter.expiring_before_ms,
                    )))
            && (filter.text_version_below == 0
                || (granted && event.text_version < filter.text_version_below));
        if !keep {
            continue;
        }
        if out.len() == page_size {
            next = out
                .last()
                .map(|(k, _): &(String, Summary)| k.clone())
                .unwrap_or_default();
            break;
        }
        let subject = key.split('/').next().unwrap_or_default().to_owned();
        let handle: [u8; 16] = hex::decode(&subject)
            .ok()
            .and_then(|b| b.try_into().ok())
            .unwrap_or([0; 16]);
        out.push((
            key,
            Summary {
                subject_ref: subject_ref(&handle),
                purpose,
                status: state,
                latest: event,
            },
        ));
    }
    Ok((out.into_iter().map(|(_, s)| s).collect(), next))
}

/// Counts of current consents per purpose: (purpose, granted, withdrawn, expired).
pub async fn stats(app: &Arc<App>, caller: &Caller) -> VaultResult<Vec<(String, [u64; 3])>> {
    counts_of(app, caller.tenant_with(Role::ConsentManager)?).await
}

/// [`stats`] of a tenant (no role check: for use cases that checked theirs).
pub async fn counts_of(app: &App, tenant_id: u64) -> VaultResult<Vec<(String, [u64; 3])>> {
    let now = app.now_ms();
    let mut counts: BTreeMap<String, [u64; 3]> = BTreeMap::new();
    for purpose in app.purposes(tenant_id).await? {
        if purpose.legal_basis == crate::store::records::LegalBasis::Consent {
            counts.entry(purpose.name).or_default();
        }
    }
    for (_, (purpose, event)) in latest(app, tenant_id).await? {
        let slot = match status(Some(&event), now) {
            ConsentStatus::Granted => 0,
            ConsentStatus::Withdrawn => 1,
            ConsentStatus::Expired => 2,
            ConsentStatus::None => continue,
        };
        counts.entry(purpose).or_default()[slot] += 1;
    }
    Ok(counts.into_iter().collect())
}
