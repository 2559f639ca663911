//! Periodic loops over every live tenant: the retention schedule and the consent-expiry ticker.
//! The loop — its timer, the pause while sealed, the tenant list, and (when asked) one node per
//! tenant and period — lives here; the work for one tenant is a use case that the server hands
//! in as a [`Schedule`], so this module never calls a use case itself.

use std::{future::Future, pin::Pin, sync::Arc, time::Duration};

use crate::{app::App, error::VaultResult};

/// The work of one period for one tenant.
pub type TenantWork = fn(Arc<App>, u64) -> Pin<Box<dyn Future<Output = VaultResult<()>> + Send>>;

/// A loop to run.
pub struct Schedule {
    /// Name in logs.
    pub name: &'static str,
    /// Period.
    pub every: Duration,
    /// With several processes on one store, only one runs a tenant's period (a marker set once
    /// per tenant and period decides which); otherwise every process runs it.
    pub one_process_per_period: bool,
    /// The work.
    pub work: TenantWork,
}

/// Runs `schedule` until the vault stops.
pub fn spawn(app: Arc<App>, schedule: Schedule) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let period_ms = i64::try_from(schedule.every.as_millis().max(1)).unwrap_or(i64::MAX);
        loop {
            tokio::time::sleep(schedule.every).await;
            if app.is_sealed() {
                continue;
            }
            let tenants = match app.store.tenants().await {
                Ok(t) => t,
                Err(e) => {
                    tracing::warn!(loop = schedule.name, error = %e, "cannot list tenants");
                    continue;
                }
            };
            let slot = app.now_ms() / period_ms;
            for t in tenants.into_iter().filter(|t| t.shredded_ms == 0) {
                // Each tenant's pass is a unit of work (`store::operation`).
                let operation = app.store.operation();
                if schedule.one_process_per_period {
                    let marker = format!("{}-slot/{}/{slot}", schedule.name, t.id);
                    match app.store.mark_once(&marker).await {
                        Ok(true) => {}
                        Ok(false) => continue,
                        Err(e) => {
                            tracing::warn!(loop = schedule.name, tenant = t.id, error = %e, "cannot claim the period");
                            continue;
                        }
                    }
                }
                if let Err(e) = (schedule.work)(Arc::clone(&app), t.id).await {
                    tracing::warn!(loop = schedule.name, tenant = t.id, error = %e, "scheduled work failed");
                }
                drop(operation);
            }
        }
    })
}
