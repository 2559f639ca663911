//! Background jobs: persisted records ([`JobRecord`]) advanced by tasks that save a resume point
//! after every page of work, so a killed vault picks each running job up where it stopped.
//! Key rotation ([`rotation`]) resumes from its cursor; a retention run
//! (`ops::retention`) recomputes its plan and runs again.

pub mod rotation;

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, OnceLock},
    time::Instant,
};

use crate::{app::App, error::VaultResult, store::records::JobRecord};

/// Job states as stored.
pub const RUNNING: &str = "running";
/// Ended with every record handled.
pub const DONE: &str = "done";
/// Ended with an error (see the record's `error`).
pub const FAILED: &str = "failed";

/// When this process (re)started a job and how far it was then: the base of its rate.
fn runtime() -> &'static Mutex<HashMap<u64, (Instant, u64)>> {
    static RUNTIME: OnceLock<Mutex<HashMap<u64, (Instant, u64)>>> = OnceLock::new();
    RUNTIME.get_or_init(|| Mutex::new(HashMap::new()))
}

/// Progress figures of a job: records per second since this process (re)started it, and the
/// estimated end (ms since the epoch; 0 when unknown).
pub fn progress(job: &JobRecord, now_ms: i64) -> (f64, i64) {
    if job.state != RUNNING {
        return (0.0, 0);
    }
    let Some((since, done_then)) = runtime().lock().ok().and_then(|r| r.get(&job.id).copied())
    else {
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

/// Runs `job` in the background until it ends.
pub fn spawn(app: Arc<App>, job: JobRecord) {
    if let Ok(mut r) = runtime().lock() {
        r.insert(job.id, (Instant::now(), job.done));
    }
    tokio::spawn(async move {
        let id = job.id;
        rotation::run(app, job).await;
        if let Ok(mut r) = runtime().lock() {
            r.remove(&id);
        }
    });
}

/// Resumes every job a previous run left running (called once at start).
pub async fn resume(app: &Arc<App>) -> VaultResult<usize> {
    let running: Vec<JobRecord> = app
        .store
        .jobs()
        .await?
        .into_iter()
        .filter(|j| j.state == RUNNING)
        // A job that is still running in this process (sealed and unsealed quickly) is not
        // started twice.
        .filter(|j| runtime().lock().map_or(true, |r| !r.contains_key(&j.id)))
        .collect();
    let n = running.len();
    for job in running {
        tracing::info!(
            job = job.id,
            kind = %job.kind,
            done = job.done,
            total = job.total,
            "resuming job"
        );
        if job.kind == crate::ops::retention::RETENTION_JOB {
            let app = Arc::clone(app);
            tokio::spawn(async move {
                if let Err(e) = crate::ops::retention::resume(&app, &job).await {
                    tracing::warn!(job = job.id, error = %e, "resumed retention run failed");
                }
            });
        } else {
            spawn(Arc::clone(app), job);
        }
    }
    Ok(n)
}
