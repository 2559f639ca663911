//! Operability: health and reflection (so grpcurl and load balancers work), and the
//! bidirectional pseudonymise stream.

// A test file: helpers unwrap like the tests do; a failure is the test's message.
#![allow(clippy::unwrap_used)]

use tokio_stream::StreamExt;
use tonic::Code;
use valv_e2e::{pb, *};

#[tokio::test]
async fn health_and_reflection_are_served() {
    use tonic_health::pb::{
        HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
    };
    use tonic_reflection::pb::v1::{
        ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
        server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
    };
    let server = start().await;
    let anonymous = connect(&server.addr, &server.ca_pem, None).await;
    let mut health = HealthClient::new(anonymous.channel());
    for service in [
        "valv.v1.AdminService",
        "valv.v1.PseudonymService",
        "valv.v1.ConsentService",
    ] {
        let r = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(r.status(), ServingStatus::Serving, "{service}");
    }
    let mut reflection = ServerReflectionClient::new(anonymous.channel());
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut replies = reflection
        .server_reflection_info(tokio_stream::iter(vec![request]))
        .await
        .unwrap()
        .into_inner();
    let reply = replies
        .next()
        .await
        .and_then(Result::ok)
        .and_then(|r| r.message_response);
    let Some(MessageResponse::ListServicesResponse(list)) = reply else {
        panic!("no service list")
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    for service in [
        "valv.v1.AdminService",
        "valv.v1.PseudonymService",
        "valv.v1.ConsentService",
        "grpc.health.v1.Health",
    ] {
        assert!(
            names.iter().any(|n| n == service),
            "{service} missing from {names:?}"
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn pseudonymise_stream_answers_every_batch_in_order() {
    let server = start().await;
    let operator = server.client(&server.operator_token).await;
    let t = setup_tenant(
        &operator,
        "acme",
        &[("d", pb::IdentifierKind::Email, pb::Scheme::Keyed, true)],
        &[],
    )
    .await;
    let tok = server.client(&t.tokenizer).await;
    let batches: Vec<pb::PseudonymiseRequest> = (0..20u64)
        .map(|b| pb::PseudonymiseRequest {
            domain: "d".into(),
            identifiers: (0..50).map(|i| format!("user{b}-{i}@example.se")).collect(),
            batch_id: 100 + b,
        })
        .collect();
    let mut replies = tok
        .pseudonyms()
        .pseudonymise_stream(tokio_stream::iter(batches))
        .await
        .unwrap()
        .into_inner();
    let mut ids = Vec::new();
    let mut first = None;
    while let Some(reply) = replies.next().await {
        let reply = reply.unwrap();
        assert_eq!(reply.results.len(), 50);
        assert_eq!(reply.created, 50);
        if first.is_none() {
            first = reply.results[0].outcome.clone();
        }
        ids.push(reply.batch_id);
    }
    assert_eq!(ids, (100..120).collect::<Vec<u64>>());
    // The stream and the unary call agree.
    let unary = pseudonymise_ok(&tok, "d", &["user0-0@example.se"]).await;
    assert_eq!(
        first,
        Some(pb::pseudonymise_result::Outcome::Pseudonym(
            unary[0].clone()
        ))
    );

    // A batch for an unknown domain ends the stream with its status, after the good ones.
    let batches = vec![
        pb::PseudonymiseRequest {
            domain: "d".into(),
            identifiers: vec!["a@b.se".into()],
            batch_id: 1,
        },
        pb::PseudonymiseRequest {
            domain: "nope".into(),
            identifiers: vec!["a@b.se".into()],
            batch_id: 2,
        },
    ];
    let mut replies = tok
        .pseudonyms()
        .pseudonymise_stream(tokio_stream::iter(batches))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        replies
            .next()
            .await
            .and_then(Result::ok)
            .map(|r| r.batch_id),
        Some(1)
    );
    assert_eq!(
        replies.next().await.and_then(Result::err).map(|s| s.code()),
        Some(Code::NotFound)
    );
    server.stop().await;
}

#[tokio::test]
async fn configured_certificates_and_loopback_plaintext() {
    use valv::config::TlsMode;
    init();
    // An organisation's own CA and server certificate, given as files.
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new();
    let server_cert = ca.issue("127.0.0.1");
    let (cert_path, key_path) = (dir.path().join("server.pem"), dir.path().join("server.key"));
    std::fs::write(&cert_path, &server_cert.cert_pem).unwrap();
    std::fs::write(&key_path, &server_cert.key_pem).unwrap();
    let server = start_tls(
        valv::config::Limits::default(),
        None,
        TlsMode::Files {
            cert: cert_path,
            key: key_path,
        },
        Some(ca.pem.clone().into_bytes()),
    )
    .await;
    assert!(
        !server.dir.path().join("data/tls").exists(),
        "no development CA when certificates are given"
    );
    let operator = server.client(&server.operator_token).await;
    operator
        .admin()
        .create_tenant(pb::CreateTenantRequest {
            name: "acme".into(),
            admin_name: String::new(),
            admins: 0,
        })
        .await
        .unwrap();
    // A client trusting another CA (the development one of a different server) is refused.
    let other = start().await;
    let wrong = Valv::connect(ClientConfig {
        addr: server.addr.clone(),
        ca_pem: Some(other.ca_pem.clone()),
        token: Some(server.operator_token.clone()),
        retry: valv_client::RetryPolicy::none(),
        ..ClientConfig::default()
    })
    .await;
    let refused = match wrong {
        Err(_) => true,
        Ok(c) => c
            .admin()
            .list_domains(pb::ListDomainsRequest {})
            .await
            .is_err(),
    };
    assert!(refused);
    server.stop().await;
    other.stop().await;

    // Plaintext, asked for explicitly on loopback.
    let plain = start_tls(
        valv::config::Limits::default(),
        None,
        TlsMode::InsecurePlaintext,
        Some(Vec::new()),
    )
    .await;
    assert!(plain.addr.starts_with("http://"));
    let client = Valv::connect(ClientConfig {
        addr: plain.addr.clone(),
        token: Some(plain.operator_token.clone()),
        retry: valv_client::RetryPolicy::none(),
        ..ClientConfig::default()
    })
    .await
    .unwrap();
    client
        .admin()
        .create_tenant(pb::CreateTenantRequest {
            name: "acme".into(),
            admin_name: String::new(),
            admins: 0,
        })
        .await
        .unwrap();
    plain.stop().await;
}

/// A client's open stream does not keep a stopping vault alive: after SIGTERM the vault lets
/// calls finish for its grace period, then ends the stream and exits, well within the stop
/// timeout of its systemd unit (30 s).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_stream_does_not_keep_a_stopping_vault_alive() {
    use std::time::{Duration, Instant};
    const BIN: &str = env!("CARGO_BIN_EXE_valv-under-test");
    init();
    let dir = tempfile::tempdir().unwrap();
    let (data, log) = (dir.path().join("data"), dir.path().join("server.log"));
    let server = spawn(BIN, &data, &log);
    let operator = server.client(&server.operator_token).await;
    let t = setup_tenant(
        &operator,
        "stop-co",
        &[("d", pb::IdentifierKind::Opaque, pb::Scheme::Keyed, true)],
        &[("ops", pb::LegalBasis::Contract)],
    )
    .await;
    let mut live = server
        .client(&t.tokenizer)
        .await
        .subjects()
        .watch_subject_events(pb::WatchSubjectEventsRequest {
            after_seq: 0,
            follow: true,
        })
        .await
        .unwrap()
        .into_inner();
    let stopping = Instant::now();
    server.terminate();
    let took = stopping.elapsed();
    assert!(took < Duration::from_secs(30), "stopping took {took:?}");
    assert!(
        took >= valv::server::DRAIN_GRACE,
        "the vault did not wait its grace period ({took:?})"
    );
    let end = tokio::time::timeout(Duration::from_secs(5), live.message())
        .await
        .unwrap_or_else(|_| panic!("the stream was not ended"));
    assert!(!matches!(end, Ok(Some(_))), "{end:?}");
    let text = String::from_utf8_lossy(&std::fs::read(&log).unwrap()).into_owned();
    assert!(
        text.contains("calls still open after the shutdown grace period were ended"),
        "no log line says the open calls were ended"
    );
}
