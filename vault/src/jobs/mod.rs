//! Background jobs: persisted records ([`JobRecord`]) advanced by tasks that save a resume point
//! after every page of work, so a killed vault picks each running job up where it stopped.
//! Key rotation ([`rotation`]) resumes from its cursor; a retention run
//! (`ops::retention`) recomputes its plan and runs again.
//!
//! Ownership across processes: a job runs only in the process that holds its lease
//! ([`JobStore::claim_job`](crate::store::JobStore::claim_job)); every saved page renews it, and
//! a save refused because another process took the lease over stops the job here. Each process
//! sweeps for running jobs whose lease has run out ([`spawn_sweeper`]), so a job whose node died
//! is taken over within its lease (`--job-lease-seconds`).

pub mod checkpoint;
pub mod lease;
pub mod rotation;
pub mod schedule;
#[cfg(test)]
mod tests;

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, OnceLock},
};

use crate::{app::App, error::VaultResult, store::records::JobRecord};

use crate::store::records::{JobKind, JobState};

pub use self::lease::claim;

/// Resumes a job of a kind whose work lives above this module (a retention run is a use case):
/// registered by the server at start with [`register_resumer`].
pub type Resumer =
    fn(Arc<App>, JobRecord) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

fn resumers() -> &'static Mutex<HashMap<JobKind, Resumer>> {
    static RESUMERS: OnceLock<Mutex<HashMap<JobKind, Resumer>>> = OnceLock::new();
    RESUMERS.get_or_init(|| Mutex::new(HashMap::new()))
}

/// Makes [`resume`] hand running jobs of `kind` to `resumer` (after taking their lease).
pub fn register_resumer(kind: JobKind, resumer: Resumer) {
    if let Ok(mut r) = resumers().lock() {
        r.insert(kind, resumer);
    }
}

/// Progress figures of a job: records per second since this process (re)started it, and the
/// estimated end (ms since the epoch; 0 when unknown).
pub fn progress(app: &App, job: &JobRecord, now_ms: i64) -> (f64, i64) {
    if job.state != JobState::Running {
        return (0.0, 0);
    }
    let Some((since, done_then)) = app.running.since(job.id) else {
        return (0.0, 0);
    };
    let secs = since.elapsed().as_secs_f64();
    let rate = if secs > 0.0 {
        job.done.saturating_sub(done_then) as f64 / secs
    } else {
        0.0
    };
    let eta = if rate > 0.0 {
        let left = job.total.saturating_sub(job.done) as f64 / rate;
        now_ms.saturating_add((left * 1000.0) as i64)
    } else {
        0
    };
    (rate, eta)
}

/// Runs a key-rotation `job` in the background until it ends, if this process gets its lease.
pub fn spawn(app: Arc<App>, job: JobRecord) {
    app.running.start(job.id, job.done);
    tokio::spawn(async move {
        // The whole run is one unit of work (`store::operation`): on a failed disk its next
        // store call fails and it pauses, ending the operation.
        let operation = app.store.operation();
        let id = job.id;
        match claim(&app, id).await {
            Ok(Some(job)) => rotation::run(Arc::clone(&app), job).await,
            Ok(None) => tracing::debug!(job = id, "job is held by another process"),
            Err(e) => tracing::warn!(job = id, error = %e, "cannot claim job"),
        }
        app.running.end(id);
        drop(operation);
    });
}

/// Resumes, every half lease, the running jobs whose lease ran out (their process died),
/// until the vault stops.
pub fn spawn_sweeper(app: Arc<App>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let every = std::time::Duration::from_millis(
            u64::try_from(app.limits.job_lease_ms() / 2).unwrap_or(30_000),
        );
        loop {
            tokio::time::sleep(every).await;
            if app.is_sealed() {
                continue;
            }
            let operation = app.store.operation();
            if let Err(e) = resume(&app, false).await {
                tracing::warn!(error = %e, "job sweep failed");
            }
            drop(operation);
        }
    })
}

/// Resumes every running job that no live process holds: at start (`at_start`) also those whose
/// lease this node's previous run held (it died, or it would not be starting).
pub async fn resume(app: &Arc<App>, at_start: bool) -> VaultResult<usize> {
    let now = app.now_ms();
    let running: Vec<JobRecord> = app
        .store
        .jobs()
        .await?
        .into_iter()
        .filter(|j| j.state == JobState::Running)
        // A job that is still running in this process (sealed and unsealed quickly) is not
        // started twice; one whose lease another process holds is left to it.
        .filter(|j| !app.running.contains(j.id))
        .filter(|j| {
            j.lease_owner.is_empty()
                || j.lease_until_ms < now
                || (at_start && j.lease_owner == app.node_id)
        })
        .collect();
    let n = running.len();
    for job in running {
        tracing::info!(
            job = job.id,
            kind = job.kind.as_str(),
            done = job.done,
            total = job.total,
            "resuming job"
        );
        let resumer = resumers()
            .lock()
            .ok()
            .and_then(|r| r.get(&job.kind).copied());
        if let Some(resumer) = resumer {
            let Some(job) = claim(app, job.id).await? else {
                continue;
            };
            let operation = app.store.operation();
            let run = resumer(Arc::clone(app), job);
            tokio::spawn(async move {
                run.await;
                drop(operation);
            });
        } else {
            spawn(Arc::clone(app), job);
        }
    }
    Ok(n)
}
