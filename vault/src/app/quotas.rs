//! Per-principal quotas against enumeration: how many new identifiers one principal may
//! pseudonymise per hour, with a warning threshold below the limit. A tokenizer that walks a
//! kind's whole space (every valid personnummer of a century is about 3.65 × 10⁷) to invert
//! keyed or format-preserving pseudonyms is stopped at the limit, and seen — a metric and an
//! audit entry — when it crosses the warning.
//!
//! The count is a store budget ([`KeyStore::reserve_budget`](crate::store::KeyStore)), atomic
//! across nodes: every node draws from blocks it reserved, so the stored total is an upper bound
//! of what all nodes used together (a block a node could not use counts; the limit can be reached
//! a little early, never passed). Windows are whole hours of the vault's clock.
//!
//! Cache: each tenant's limits are kept with the tenant's change counter ([`Generations`]) as
//! read at the start of the call (`Generations`); a settings change on any node raises the
//! counter, so the next call on every node reads them again.

use std::{
    collections::HashMap,
    sync::{Mutex, RwLock},
    time::Instant,
};

use super::App;
use crate::{
    error::{VaultError, VaultResult},
    store::records::AuditRecord,
};

/// Who asks: the principal and the call's request id (for the audit entries a quota writes).
#[derive(Debug, Clone, Copy)]
pub struct Asker<'a> {
    /// Principal id.
    pub principal: &'a str,
    /// The call's request id.
    pub request_id: &'a str,
}

impl Asker<'_> {
    fn act(&self, at_ms: i64, action: &str) -> AuditRecord {
        AuditRecord {
            request_id: self.request_id.to_owned(),
            ..crate::audit::entry(at_ms, self.principal, action)
        }
    }
}

/// One hour, the quota window, in milliseconds.
const WINDOW_MS: i64 = 3_600_000;

/// A tenant's effective quota limits (0: none).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct QuotaLimits {
    /// New identifiers per principal and hour.
    pub new_per_hour: u64,
    /// Crossing this many in an hour is reported (metric and audit entry).
    pub warn_per_hour: u64,
    /// Calls per principal and second, on each node.
    pub requests_per_second: u64,
}

/// What this process drew from a principal's budget in the current window.
#[derive(Debug, Clone, Copy, Default)]
struct Allotment {
    window: i64,
    next: u64,
    end: u64,
}

/// A principal's call rate on this node: a token bucket that holds one second of calls.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Principals whose call rate is tracked before the map is cleared (a cleared bucket starts
/// full: clearing can only let a principal through, never turn it away wrongly).
const BUCKETS: usize = 100_000;

/// Quota state of a running vault.
#[derive(Default)]
pub struct Quotas {
    limits: RwLock<HashMap<u64, (u64, QuotaLimits)>>,
    allotments: tokio::sync::Mutex<HashMap<String, Allotment>>,
    buckets: Mutex<HashMap<String, Bucket>>,
}

/// Takes one call from `bucket` (refilled at `rate` per second up to `rate`) at `now`.
fn take_call(bucket: &mut Bucket, rate: u64, now: Instant) -> bool {
    let rate = rate as f64;
    let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
    bucket.tokens = (bucket.tokens + elapsed * rate).min(rate);
    bucket.at = now;
    if bucket.tokens >= 1.0 {
        bucket.tokens -= 1.0;
        true
    } else {
        false
    }
}

impl Quotas {
    fn cached(&self, tenant_id: u64, stamp: u64) -> Option<QuotaLimits> {
        self.limits
            .read()
            .ok()?
            .get(&tenant_id)
            .filter(|(s, _)| *s == stamp)
            .map(|(_, l)| *l)
    }

    fn remember(&self, tenant_id: u64, stamp: u64, limits: QuotaLimits) {
        if let Ok(mut m) = self.limits.write() {
            m.insert(tenant_id, (stamp, limits));
        }
    }
}

/// The store scope of a principal's new-identifier budget.
fn scope(principal: &str) -> String {
    format!("new-identifiers/{principal}")
}

/// How much of the budget one reservation takes: a hundredth of the limit (or of the warning,
/// when only that is set), at least the batch, at most 10,000 — a node that stops leaves at
/// most that much unused.
fn block(limits: QuotaLimits, n: u64) -> u64 {
    let basis = match limits.new_per_hour {
        0 => limits.warn_per_hour,
        l => l,
    };
    (basis / 100).clamp(1, 10_000).max(n)
}

impl App {
    /// The quota limits of `tenant_id`: the tenant's settings, else the server's defaults.
    pub async fn quota_limits(&self, tenant_id: u64) -> VaultResult<QuotaLimits> {
        let stamp = self.generations.current(tenant_id);
        if let Some(l) = self.quotas.cached(tenant_id, stamp) {
            return Ok(l);
        }
        let tenant = self
            .tenant(tenant_id)
            .await?
            .ok_or_else(|| VaultError::NotFound("tenant: gone".into()))?;
        let s = self.settings_of(&tenant);
        let limits = QuotaLimits {
            new_per_hour: s.new_identifiers_per_hour,
            warn_per_hour: s.new_identifiers_warning_per_hour,
            requests_per_second: s.requests_per_second,
        };
        self.quotas.remember(tenant_id, stamp, limits);
        Ok(limits)
    }

    /// Counts `n` new identifiers of `caller` in `tenant_id` against its hourly quota. Past the
    /// limit nothing is counted and the call is refused (RESOURCE_EXHAUSTED, with the seconds
    /// until the window ends); the first refusal of a window, and the reservation that crosses
    /// the warning threshold, are audited and counted in `valv_quota_events_total`.
    pub async fn take_new_identifiers(
        &self,
        caller: Asker<'_>,
        tenant_id: u64,
        n: u64,
    ) -> VaultResult<()> {
        let limits = self.quota_limits(tenant_id).await?;
        if n == 0 || (limits.new_per_hour == 0 && limits.warn_per_hour == 0) {
            return Ok(());
        }
        let now = self.now_ms();
        let window = now.div_euclid(WINDOW_MS);
        let limit = match limits.new_per_hour {
            0 => u64::MAX,
            l => l,
        };
        let mut allotments = self.quotas.allotments.lock().await;
        let allotment = allotments.entry(caller.principal.to_owned()).or_default();
        if allotment.window == window && allotment.end - allotment.next >= n {
            allotment.next += n;
            return Ok(());
        }
        let scope = scope(caller.principal);
        let size = block(limits, n);
        let mut granted = self
            .store
            .reserve_budget(&scope, window, size, limit)
            .await?
            .map(|total| (total, size));
        if granted.is_none() && size > n {
            granted = self
                .store
                .reserve_budget(&scope, window, n, limit)
                .await?
                .map(|total| (total, n));
        }
        let Some((total, size)) = granted else {
            drop(allotments);
            let retry_after_seconds =
                u64::try_from((window + 1) * WINDOW_MS - now).unwrap_or(0) / 1000;
            self.quota_refused(caller, tenant_id, window, limits)
                .await?;
            return Err(VaultError::Quota {
                message: format!(
                    "identifiers: this principal's quota of {limit} new identifiers per hour is used up (the tenant's settings set it)"
                ),
                retry_after_seconds,
            });
        };
        *allotment = Allotment {
            window,
            next: total - size + n,
            end: total,
        };
        drop(allotments);
        // Reservations are atomic: exactly one of them straddles the threshold.
        if limits.warn_per_hour > 0
            && total - size < limits.warn_per_hour
            && total >= limits.warn_per_hour
        {
            self.metrics.quota_event("new-identifiers", "warning");
            tracing::warn!(
                tenant = tenant_id,
                principal = caller.principal,
                warning = limits.warn_per_hour,
                "a principal crossed its new-identifier warning threshold this hour"
            );
            let mut entry = caller.act(now, "quota.warning");
            entry.counts = vec![
                ("new_identifiers".into(), total),
                ("warning".into(), limits.warn_per_hour),
                ("limit".into(), limits.new_per_hour),
            ];
            entry.items = vec![(caller.principal.to_owned(), "new-identifiers".into())];
            self.audit.record(tenant_id, entry).await?;
        }
        Ok(())
    }

    /// Counts one call of `principal` in `tenant_id` against its tenant's calls per second on
    /// this node: past it, RESOURCE_EXHAUSTED with a retry hint of a second. The limit protects
    /// each node's capacity, so it is kept per node (with N nodes a principal may make N times
    /// as many calls); the quota of new identifiers is the one shared through the store.
    pub async fn take_call(&self, principal: &str, tenant_id: u64) -> VaultResult<()> {
        let rate = self.quota_limits(tenant_id).await?.requests_per_second;
        if rate == 0 {
            return Ok(());
        }
        let now = Instant::now();
        let allowed = match self.quotas.buckets.lock() {
            Ok(mut buckets) => {
                if buckets.len() >= BUCKETS && !buckets.contains_key(principal) {
                    buckets.clear();
                }
                let bucket = buckets.entry(principal.to_owned()).or_insert(Bucket {
                    tokens: rate as f64,
                    at: now,
                });
                take_call(bucket, rate, now)
            }
            Err(_) => true,
        };
        if allowed {
            return Ok(());
        }
        self.metrics.quota_event("requests", "refused");
        Err(VaultError::Quota {
            message: format!(
                "requests: this principal may make {rate} calls per second on each node (the tenant's settings set it)"
            ),
            retry_after_seconds: 1,
        })
    }

    /// Reports a refusal: once per principal and window in the audit (every node agrees which
    /// refusal was the first), every time in the metric.
    async fn quota_refused(
        &self,
        caller: Asker<'_>,
        tenant_id: u64,
        window: i64,
        limits: QuotaLimits,
    ) -> VaultResult<()> {
        self.metrics.quota_event("new-identifiers", "refused");
        if self
            .store
            .mark_once(&format!("quota-refused/{}/{window}", caller.principal))
            .await?
        {
            tracing::warn!(
                tenant = tenant_id,
                principal = caller.principal,
                "a principal's new-identifier quota is used up this hour"
            );
            let mut entry = caller.act(self.now_ms(), "quota.refused");
            entry.counts = vec![("limit".into(), limits.new_per_hour)];
            entry.items = vec![(caller.principal.to_owned(), "new-identifiers".into())];
            entry.verdict = Some("refused".into());
            self.audit.record(tenant_id, entry).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_holds_one_second_of_calls_and_refills() {
        let t0 = Instant::now();
        let mut b = Bucket {
            tokens: 3.0,
            at: t0,
        };
        assert!((0..3).all(|_| take_call(&mut b, 3, t0)));
        assert!(!take_call(&mut b, 3, t0));
        assert!(take_call(
            &mut b,
            3,
            t0 + std::time::Duration::from_millis(340)
        ));
        assert!(!take_call(
            &mut b,
            3,
            t0 + std::time::Duration::from_millis(340)
        ));
        // A long pause refills no more than a second's worth.
        let later = t0 + std::time::Duration::from_secs(60);
        assert!((0..3).all(|_| take_call(&mut b, 3, later)));
        assert!(!take_call(&mut b, 3, later));
    }

    #[test]
    fn blocks_are_a_hundredth_of_the_limit_within_bounds() {
        let l = |new_per_hour, warn_per_hour| QuotaLimits {
            new_per_hour,
            warn_per_hour,
            requests_per_second: 0,
        };
        assert_eq!(block(l(5_000_000, 1_000_000), 1), 10_000);
        assert_eq!(block(l(1_000, 0), 1), 10);
        assert_eq!(block(l(1_000, 0), 500), 500);
        assert_eq!(block(l(0, 300), 1), 3);
        assert_eq!(block(l(50, 0), 1), 1);
    }
}
