//! Prometheus metrics, served on their own listen address (`--metrics-listen`) so that scraping
//! never shares a port, a TLS identity or an authorisation path with the data RPCs.
//!
//! Names (all prefixed `valv_`): `requests_total{method,code}`, `request_duration_seconds{method}`,
//! `batch_size{method}`, `identifiers_pseudonymised_total`, `mappings_created_total`,
//! `reidentify_verdicts_total{verdict}`, `identifiers_released_total`, `audit_entries_total`,
//! `integrity_failures_total{kind}`,
//! `audit_checkpoints_total`, `store_size_bytes`, `store_flushes_total`, `store_flush_waits_total`,
//! `key_version_age_seconds{tenant,version,state}`,
//! `job_progress_ratio{job,kind,tenant}`, `job_records_done{job,kind,tenant}`.

use std::{
    net::SocketAddr,
    sync::{Arc, atomic::AtomicU64},
    time::Duration,
};

use http_body_util::Full;
use hyper::{Request, Response, StatusCode, body::Bytes, service::service_fn};
use hyper_util::rt::TokioIo;
use prometheus_client::{
    encoding::text::encode,
    metrics::{counter::Counter, family::Family, gauge::Gauge, histogram::Histogram},
    registry::Registry,
};
use tokio::net::TcpListener;

type Labels = Vec<(&'static str, String)>;

fn latency_histogram() -> Histogram {
    // 100 µs … ~6.5 s.
    Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(
        0.000_1, 2.0, 17,
    ))
}

fn size_histogram() -> Histogram {
    Histogram::new([1.0, 10.0, 100.0, 1_000.0, 10_000.0, 100_000.0])
}

/// Every metric of the vault.
pub struct Metrics {
    registry: Registry,
    requests: Family<Labels, Counter>,
    latency: Family<Labels, Histogram, fn() -> Histogram>,
    batch: Family<Labels, Histogram, fn() -> Histogram>,
    pseudonymised: Counter,
    created: Counter,
    verdicts: Family<Labels, Counter>,
    integrity: Family<Labels, Counter>,
    quota: Family<Labels, Counter>,
    released: Counter,
    audit_entries: Counter,
    checkpoints: Counter,
    store_size: Gauge,
    flushes: Counter,
    flush_waits: Counter,
    /// The group commit's totals at the last refresh (its counts restart with a reopened engine).
    commit_seen: std::sync::Mutex<crate::store::CommitStats>,
    key_age: Family<Labels, Gauge>,
    job_ratio: Family<Labels, Gauge<f64, AtomicU64>>,
    job_done: Family<Labels, Gauge>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A registry with every metric at zero.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("valv");
        let requests = Family::<Labels, Counter>::default();
        registry.register(
            "requests",
            "gRPC calls by method and status code",
            requests.clone(),
        );
        let latency: Family<Labels, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(latency_histogram);
        registry.register(
            "request_duration_seconds",
            "Time to the response headers, by method",
            latency.clone(),
        );
        let batch: Family<Labels, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(size_histogram);
        registry.register(
            "batch_size",
            "Items per batch call, by method",
            batch.clone(),
        );
        let pseudonymised = Counter::default();
        registry.register(
            "identifiers_pseudonymised",
            "Identifiers answered with a pseudonym",
            pseudonymised.clone(),
        );
        let created = Counter::default();
        registry.register("mappings_created", "New mappings stored", created.clone());
        let verdicts = Family::<Labels, Counter>::default();
        registry.register(
            "reidentify_verdicts",
            "Re-identification verdicts by verdict",
            verdicts.clone(),
        );
        let integrity = Family::<Labels, Counter>::default();
        registry.register(
            "integrity_failures",
            "Stored rows refused because they failed their integrity check, by kind",
            integrity.clone(),
        );
        let released = Counter::default();
        registry.register(
            "identifiers_released",
            "Identifiers released by re-identification",
            released.clone(),
        );
        let audit_entries = Counter::default();
        registry.register(
            "audit_entries",
            "Audit entries appended",
            audit_entries.clone(),
        );
        let checkpoints = Counter::default();
        registry.register(
            "audit_checkpoints",
            "Signed audit checkpoints",
            checkpoints.clone(),
        );
        let store_size = Gauge::default();
        registry.register(
            "store_size_bytes",
            "Bytes the store occupies on disk",
            store_size.clone(),
        );
        let flushes = Counter::default();
        registry.register(
            "store_flushes",
            "Durable flushes of the embedded store (group commit)",
            flushes.clone(),
        );
        let flush_waits = Counter::default();
        registry.register(
            "store_flush_waits",
            "Units of work that waited for a durable flush of the embedded store; divided by store_flushes: units of work per flush",
            flush_waits.clone(),
        );
        let key_age = Family::<Labels, Gauge>::default();
        registry.register(
            "key_version_age_seconds",
            "Age of each tenant encryption key version (tenants loaded since start)",
            key_age.clone(),
        );
        let job_ratio = Family::<Labels, Gauge<f64, AtomicU64>>::default();
        registry.register(
            "job_progress_ratio",
            "Share of a background job's records handled (1 when it ended)",
            job_ratio.clone(),
        );
        let job_done = Family::<Labels, Gauge>::default();
        registry.register(
            "job_records_done",
            "Records a background job has handled",
            job_done.clone(),
        );
        let quota = Family::<Labels, Counter>::default();
        registry.register(
            "quota_events",
            "Principals that crossed a quota's warning threshold (event=warning) or were refused by it (event=refused), by quota",
            quota.clone(),
        );
        Self {
            quota,
            job_ratio,
            job_done,
            registry,
            requests,
            latency,
            batch,
            pseudonymised,
            created,
            verdicts,
            integrity,
            released,
            audit_entries,
            checkpoints,
            store_size,
            flushes,
            flush_waits,
            commit_seen: std::sync::Mutex::new(crate::store::CommitStats::default()),
            key_age,
        }
    }

    /// One finished call.
    pub fn request_done(&self, method: &str, code: i32, elapsed: Duration) {
        self.requests
            .get_or_create(&vec![
                ("method", method.to_owned()),
                ("code", code.to_string()),
            ])
            .inc();
        self.latency
            .get_or_create(&vec![("method", method.to_owned())])
            .observe(elapsed.as_secs_f64());
    }

    /// One batch of `items` for `method`.
    pub fn batch(&self, method: &'static str, items: usize) {
        self.batch
            .get_or_create(&vec![("method", method.to_owned())])
            .observe(items as f64);
    }

    /// A pseudonymise batch's outcome.
    pub fn pseudonymised(&self, answered: u64, created: u64) {
        self.pseudonymised.inc_by(answered);
        self.created.inc_by(created);
    }

    /// One re-identification verdict.
    pub fn verdict(&self, verdict: &'static str) {
        self.verdicts
            .get_or_create(&vec![("verdict", verdict.to_owned())])
            .inc();
        if verdict == "released" {
            self.released.inc();
        }
    }

    /// A stored row of `kind` failed its integrity check.
    pub fn integrity_failure(&self, kind: &'static str) {
        self.integrity
            .get_or_create(&vec![("kind", kind.to_owned())])
            .inc();
    }

    /// A principal crossed a quota's warning threshold (`warning`) or was refused (`refused`).
    pub fn quota_event(&self, quota: &'static str, event: &'static str) {
        self.quota
            .get_or_create(&vec![
                ("quota", quota.to_owned()),
                ("event", event.to_owned()),
            ])
            .inc();
    }

    /// An audit entry was appended.
    pub fn audit_entry(&self) {
        self.audit_entries.inc();
    }

    /// A checkpoint was signed.
    pub fn checkpoint(&self) {
        self.checkpoints.inc();
    }

    /// Sets the store size.
    pub fn set_store_size(&self, bytes: u64) {
        self.store_size
            .set(i64::try_from(bytes).unwrap_or(i64::MAX));
    }

    /// Adds what the group commit did since the last refresh (`now`: its totals).
    pub fn set_commit_stats(&self, now: crate::store::CommitStats) {
        let Ok(mut seen) = self.commit_seen.lock() else {
            return;
        };
        // Totals below the last ones: the engine was reopened and counts from zero again.
        let delta = |now: u64, before: u64| if now >= before { now - before } else { now };
        self.flushes.inc_by(delta(now.flushes, seen.flushes));
        self.flush_waits.inc_by(delta(now.waits, seen.waits));
        *seen = now;
    }

    /// Sets one key version's age.
    pub fn set_key_age(&self, tenant: u64, version: u32, state: &str, age_seconds: i64) {
        self.key_age
            .get_or_create(&vec![
                ("tenant", tenant.to_string()),
                ("version", version.to_string()),
                ("state", state.to_owned()),
            ])
            .set(age_seconds);
    }

    /// A job's progress.
    pub fn job_progress(&self, job: &crate::store::records::JobRecord) {
        let labels = vec![
            ("job", job.id.to_string()),
            ("kind", job.kind.as_str().to_owned()),
            ("tenant", job.tenant_id.to_string()),
        ];
        let ratio = if job.state == crate::store::records::JobState::Done || job.total == 0 {
            if job.state == crate::store::records::JobState::Running {
                0.0
            } else {
                1.0
            }
        } else {
            job.done as f64 / job.total as f64
        };
        self.job_ratio.get_or_create(&labels).set(ratio);
        self.job_done
            .get_or_create(&labels)
            .set(i64::try_from(job.done).unwrap_or(i64::MAX));
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

/// Serves `GET /metrics` on `addr` until the task is dropped; `refresh` runs before each scrape
/// (to update gauges such as the store size).
pub async fn serve<F, Fut>(
    listener: TcpListener,
    metrics: Arc<Metrics>,
    refresh: F,
) -> std::io::Result<()>
where
    F: Fn() -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    loop {
        let (stream, _) = listener.accept().await?;
        let metrics = Arc::clone(&metrics);
        let refresh = refresh.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req: Request<hyper::body::Incoming>| {
                let metrics = Arc::clone(&metrics);
                let refresh = refresh.clone();
                async move {
                    if req.uri().path() == "/metrics" {
                        refresh().await;
                        Response::builder()
                            .header(
                                "content-type",
                                "application/openmetrics-text; version=1.0.0; charset=utf-8",
                            )
                            .body(Full::new(Bytes::from(metrics.render())))
                    } else {
                        Response::builder()
                            .status(StatusCode::NOT_FOUND)
                            .body(Full::new(Bytes::from_static(b"see /metrics\n")))
                    }
                }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// Binds the metrics listener.
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}
