//! The server lifecycle: open the data directory → bind → serve gRPC (with health and
//! reflection) over TLS → drain on shutdown.

use std::{net::SocketAddr, path::PathBuf, sync::Arc};

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
        admin::AdminApi, audit::AuditApi, consent::ConsentApi, keys::KeyApi,
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
    /// Stops accepting, lets in-flight calls finish, and waits for the server to end.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.wait().await
    }

    /// Waits until the server ends (and then stops its background tasks).
    pub async fn wait(mut self) -> anyhow::Result<()> {
        let result = (&mut self.task).await;
        for task in &self.background {
            task.abort();
        }
        result.context("server task")?.context("server")?;
        Ok(())
    }

    /// A sender that stops the server when used (for signal handling).
    pub fn take_shutdown(&mut self) -> Option<oneshot::Sender<()>> {
        self.shutdown.take()
    }
}

/// Opens the data directory, binds and starts serving in the background.
pub async fn start(config: ServeConfig, clock: Arc<dyn Clock>) -> anyhow::Result<Running> {
    config.validate().map_err(anyhow::Error::msg)?;
    let app = bootstrap::open(
        &config.data_dir,
        &config.root,
        clock,
        config.limits,
        config.audit.checkpoint_entries,
        config.store.clone().map(|s| s.0),
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

    let mut builder = Server::builder().layer(RequestIdLayer::new(Arc::clone(&app.metrics)));
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
    set_health(&health_reporter, app.is_sealed()).await;
    if let Some(seal) = &app.seal {
        // Health follows the seal: NOT_SERVING for every data service while sealed.
        let mut sealed = seal.watch();
        let reporter = health_reporter.clone();
        background.push(tokio::spawn(async move {
            while sealed.changed().await.is_ok() {
                let now = *sealed.borrow_and_update();
                set_health(&reporter, now).await;
            }
        }));
    }
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

/// Every service but the seal service serves only while the vault is unsealed.
async fn set_health(reporter: &tonic_health::server::HealthReporter, sealed: bool) {
    use tonic_health::ServingStatus::{NotServing, Serving};
    let status = if sealed { NotServing } else { Serving };
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
