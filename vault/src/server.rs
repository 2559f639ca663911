//! The server lifecycle: open the data directory → bind → serve gRPC (with health and
//! reflection) over TLS → drain on shutdown.

use std::{net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};

use anyhow::Context;
use tokio::{net::TcpListener, sync::oneshot, task::JoinHandle};
use tonic::transport::{Certificate, Identity, Server, ServerTlsConfig};
use valv_proto::v1::{
    admin_service_server::AdminServiceServer, audit_service_server::AuditServiceServer,
    consent_service_server::ConsentServiceServer, key_service_server::KeyServiceServer,
    pseudonym_service_server::PseudonymServiceServer,
    retention_service_server::RetentionServiceServer, seal_service_server::SealServiceServer,
    subject_service_server::SubjectServiceServer,
};

use crate::{
    api::{
        admin::AdminApi, audit::AuditApi, consent::ConsentApi, gate::GateLayer, keys::KeyApi,
        pseudonym::PseudonymApi, retention::RetentionApi, seal::SealApi, subject::SubjectApi,
    },
    bootstrap,
    config::{ServeConfig, TlsMode},
    engine::clock::Clock,
    jobs::checkpoint,
    observe::{metrics, request_id::RequestIdLayer},
    tls,
};

/// A running server.
pub struct Running {
    /// The bound address (useful with port 0).
    pub addr: SocketAddr,
    /// The development CA clients should trust, if one is in use.
    pub dev_ca: Option<PathBuf>,
    /// The bound metrics address, if metrics are served.
    pub metrics_addr: Option<SocketAddr>,
    shutdown: Option<oneshot::Sender<()>>,
    background: Vec<JoinHandle<()>>,
    task: JoinHandle<Result<(), tonic::transport::Error>>,
}

impl Running {
    /// Stops accepting, lets every call in flight finish, and waits for the server to end (the
    /// in-process servers of tests; `valv serve` drains with a grace period instead).
    pub async fn stop(self) -> anyhow::Result<()> {
        // `timeout` treats a deadline past the end of time as never.
        self.drain(Duration::MAX).await
    }

    /// Stops accepting and lets calls in flight finish for at most `grace`, then ends the
    /// calls still open (a client's long-lived stream must not keep a stopping vault alive).
    /// Ending them loses nothing acknowledged: an answer is sent only after its writes are
    /// durable.
    pub async fn drain(mut self, grace: Duration) -> anyhow::Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let joined = tokio::time::timeout(grace, &mut self.task).await;
        for task in &self.background {
            task.abort();
        }
        match joined {
            Ok(result) => {
                result.context("server task")?.context("server")?;
                Ok(())
            }
            Err(_) => {
                tracing::warn!(
                    grace_secs = grace.as_secs(),
                    "calls still open after the shutdown grace period were ended"
                );
                self.task.abort();
                Ok(())
            }
        }
    }
}

/// How long a stopping vault lets calls in flight finish (systemd's stop timeout is longer).
pub const DRAIN_GRACE: Duration = Duration::from_secs(10);

/// Opens the data directory, binds and starts serving in the background.
pub async fn start(config: ServeConfig, clock: Arc<dyn Clock>) -> anyhow::Result<Running> {
    config.validate().map_err(anyhow::Error::msg)?;
    let store = match (&config.store, &config.postgres) {
        (Some(s), _) => bootstrap::StoreChoice::Given(Arc::clone(&s.0)),
        (None, Some(options)) => {
            let pg = crate::store::postgres::PgStore::connect(options)
                .await
                .context("opening the PostgreSQL store")?;
            tracing::info!(store = %pg.target(), schema = crate::store::postgres::SCHEMA_VERSION, "store: PostgreSQL");
            bootstrap::StoreChoice::Given(Arc::new(pg))
        }
        (None, None) => bootstrap::StoreChoice::Embedded(config.sled),
    };
    let app = bootstrap::open(
        &config.data_dir,
        &config.root,
        clock,
        config.limits,
        config.audit.checkpoint_entries,
        store,
        config.node_id.clone(),
    )
    .await?;

    // Jobs a previous run left running continue now (traffic is served meanwhile); a sealed
    // vault resumes them when it is unsealed.
    if !app.is_sealed() {
        crate::jobs::resume(&app, true).await?;
    }
    let mut metrics_addr = None;
    let mut background = vec![
        checkpoint::spawn(Arc::clone(&app), config.audit.checkpoint_interval),
        crate::jobs::schedule::spawn(
            Arc::clone(&app),
            crate::ops::subject_events::ticker(std::time::Duration::from_secs(5)),
        ),
        crate::jobs::spawn_sweeper(Arc::clone(&app)),
    ];
    if config.limits.retention_interval_seconds > 0 {
        background.push(crate::jobs::schedule::spawn(
            Arc::clone(&app),
            crate::ops::retention::schedule(std::time::Duration::from_secs(
                config.limits.retention_interval_seconds,
            )),
        ));
    }
    if let Some(addr) = config.metrics_listen {
        let listener = metrics::bind(addr)
            .await
            .with_context(|| format!("binding the metrics listener {addr}"))?;
        let bound = listener.local_addr()?;
        tracing::info!(addr = %bound, "serving metrics (GET /metrics, plain HTTP)");
        metrics_addr = Some(bound);
        let scrape_app = Arc::clone(&app);
        let metrics_handle = Arc::clone(&app.metrics);
        background.push(tokio::spawn(async move {
            let refresh = move || {
                let app = Arc::clone(&scrape_app);
                async move { app.refresh_metrics().await }
            };
            let metrics = Arc::clone(&metrics_handle);
            if let Err(e) = metrics::serve(listener, metrics, refresh).await {
                tracing::error!(error = %e, "metrics listener stopped");
            }
        }));
    }

    // Outside in: the request id and the call's span, then the gate (authenticated from the
    // head before any body is read, calls in flight bounded), then the services.
    let mut builder = Server::builder()
        .max_concurrent_streams(config.limits.max_streams_per_connection)
        .layer(RequestIdLayer::new(Arc::clone(&app.metrics)))
        .layer(GateLayer::new(
            Arc::clone(&app),
            config.limits.max_calls,
            config.limits.auth_failures_per_minute,
        ));
    let mut dev_ca = None;
    let identity = match &config.tls {
        TlsMode::Files { cert, key } => Some(Identity::from_pem(
            std::fs::read(cert).with_context(|| format!("reading {}", cert.display()))?,
            std::fs::read(key).with_context(|| format!("reading {}", key.display()))?,
        )),
        TlsMode::Development => {
            let material = tls::ensure_dev_tls(&config.data_dir)?;
            dev_ca = material.dev_ca_path;
            Some(Identity::from_pem(material.cert_pem, material.key_pem))
        }
        TlsMode::InsecurePlaintext => {
            tracing::warn!("serving WITHOUT TLS on a loopback address (--insecure-plaintext)");
            None
        }
    };
    if let Some(identity) = identity {
        let mut tls_config = ServerTlsConfig::new().identity(identity);
        if let Some(ca) = &config.client_ca {
            let pem = std::fs::read(ca).with_context(|| format!("reading {}", ca.display()))?;
            tls_config = tls_config
                .client_ca_root(Certificate::from_pem(pem))
                .client_auth_optional(true);
        }
        builder = builder
            .tls_config(tls_config)
            .context("TLS configuration")?;
    }

    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    health_reporter
        .set_serving::<SealServiceServer<SealApi>>()
        .await;
    set_health(&health_reporter, !app.is_sealed()).await;
    background.push(tokio::spawn(watch_health(
        Arc::clone(&app),
        health_reporter.clone(),
    )));
    let reflection_v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(valv_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    let reflection_v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(valv_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1alpha()?;

    let max = config.limits.max_message_bytes;
    let router = builder
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(
            AdminServiceServer::new(AdminApi(Arc::clone(&app))).max_decoding_message_size(max),
        )
        .add_service(
            PseudonymServiceServer::new(PseudonymApi(Arc::clone(&app)))
                .max_decoding_message_size(max),
        )
        .add_service(
            ConsentServiceServer::new(ConsentApi(Arc::clone(&app))).max_decoding_message_size(max),
        )
        .add_service(
            AuditServiceServer::new(AuditApi(Arc::clone(&app))).max_decoding_message_size(max),
        )
        .add_service(KeyServiceServer::new(KeyApi(Arc::clone(&app))).max_decoding_message_size(max))
        .add_service(
            SubjectServiceServer::new(SubjectApi(Arc::clone(&app))).max_decoding_message_size(max),
        )
        .add_service(
            RetentionServiceServer::new(RetentionApi(Arc::clone(&app)))
                .max_decoding_message_size(max),
        )
        .add_service(
            SealServiceServer::new(SealApi(Arc::clone(&app))).max_decoding_message_size(64 * 1024),
        );

    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("binding {}", config.listen))?;
    let addr = listener.local_addr()?;
    let (tx, rx) = oneshot::channel::<()>();
    // Small request/response pairs must not wait for delayed ACKs (Nagle): TCP_NODELAY.
    let incoming = tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
    let task = tokio::spawn(router.serve_with_incoming_shutdown(incoming, async move {
        let _ = rx.await;
    }));
    tracing::info!(%addr, tls = !matches!(config.tls, TlsMode::InsecurePlaintext), "valv is serving");
    Ok(Running {
        addr,
        dev_ca,
        metrics_addr,
        shutdown: Some(tx),
        background,
        task,
    })
}

/// How often health looks at the store (and how long one look may take).
const HEALTH_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

/// Keeps health current: every data service is NOT_SERVING while the vault is sealed or the
/// store does not answer (a database out of reach), and SERVING again as soon as both hold —
/// without a restart. A load balancer's health check sends traffic only to serving nodes.
async fn watch_health(app: Arc<crate::app::App>, reporter: tonic_health::server::HealthReporter) {
    let mut sealed = app.seal.as_ref().map(|s| s.watch());
    let mut last = Some(!app.is_sealed());
    loop {
        let reachable = matches!(
            tokio::time::timeout(HEALTH_INTERVAL * 3, app.store.ping()).await,
            Ok(Ok(()))
        );
        let serving = reachable && !app.is_sealed();
        if last != Some(serving) {
            if reachable {
                tracing::info!(serving, "health changed");
            } else {
                tracing::warn!("the store does not answer: NOT_SERVING until it does");
            }
            set_health(&reporter, serving).await;
            last = Some(serving);
        }
        match sealed.as_mut() {
            Some(rx) => tokio::select! {
                changed = rx.changed() => if changed.is_err() { sealed = None },
                () = tokio::time::sleep(HEALTH_INTERVAL) => {}
            },
            None => tokio::time::sleep(HEALTH_INTERVAL).await,
        }
    }
}

/// Every service but the seal service serves only while `serving` (unsealed, store reachable).
async fn set_health(reporter: &tonic_health::server::HealthReporter, serving: bool) {
    use tonic_health::ServingStatus::{NotServing, Serving};
    let status = if serving { Serving } else { NotServing };
    reporter.set_service_status("", status).await;
    reporter
        .set_service_status(service_name::<AdminServiceServer<AdminApi>>(), status)
        .await;
    reporter
        .set_service_status(
            service_name::<PseudonymServiceServer<PseudonymApi>>(),
            status,
        )
        .await;
    reporter
        .set_service_status(service_name::<ConsentServiceServer<ConsentApi>>(), status)
        .await;
    reporter
        .set_service_status(service_name::<AuditServiceServer<AuditApi>>(), status)
        .await;
    reporter
        .set_service_status(service_name::<KeyServiceServer<KeyApi>>(), status)
        .await;
    reporter
        .set_service_status(service_name::<SubjectServiceServer<SubjectApi>>(), status)
        .await;
    reporter
        .set_service_status(
            service_name::<RetentionServiceServer<RetentionApi>>(),
            status,
        )
        .await;
}

fn service_name<S: tonic::server::NamedService>() -> &'static str {
    S::NAME
}
