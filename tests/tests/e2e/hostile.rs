//! A caller who wants to hurt the vault: a stranger's huge request is answered from its head
//! and costs no memory, failed authentication is throttled per source address, and the calls
//! in flight are bounded.

// A test file: helpers unwrap like the tests do; a failure is the test's message.
#![allow(clippy::unwrap_used)]

use tokio_stream::wrappers::ReceiverStream;
use tonic::Code;
use valv::config::Limits;
use valv_e2e::{pb, *};

const BIN: &str = env!("CARGO_BIN_EXE_valv-under-test");

/// A `Pseudonymise` of 8 Mi empty strings: 16 MiB on the wire, about 200 MB once decoded.
fn huge_request() -> pb::PseudonymiseRequest {
    pb::PseudonymiseRequest {
        domain: "patients".into(),
        identifiers: vec![String::new(); 8 * 1024 * 1024],
        batch_id: 0,
    }
}

/// A token of the right shape whose secret is wrong.
fn forged(token: &str) -> String {
    let (head, last) = token.split_at(token.len() - 1);
    format!("{head}{}", if last == "A" { "B" } else { "A" })
}

async fn send_huge(client: &valv_client::Valv, request: &pb::PseudonymiseRequest) -> Code {
    client
        .pseudonyms()
        .max_encoding_message_size(64 * 1024 * 1024)
        .pseudonymise(request.clone())
        .await
        .err()
        .map(|s| s.code())
        .unwrap_or(Code::Ok)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_strangers_huge_request_is_refused_from_its_head_and_costs_no_memory() {
    let dir = tempfile::tempdir().unwrap();
    // A message limit far above the request: what refuses it must be the missing credential.
    let server = spawn_with(
        BIN,
        &dir.path().join("data"),
        &dir.path().join("valv.log"),
        &["--max-message-bytes", &(32 * 1024 * 1024).to_string()],
    );
    let operator = server.client(&server.operator_token).await;
    let t = setup_tenant(
        &operator,
        "acme",
        &[(
            "patients",
            pb::IdentifierKind::Email,
            pb::Scheme::Keyed,
            true,
        )],
        &[("care", pb::LegalBasis::Contract)],
    )
    .await;
    let tok = server.client(&t.tokenizer).await;
    pseudonymise_ok(&tok, "patients", &["warm.up@example.se"]).await;

    let request = huge_request();
    let stranger = connect(&server.addr, &server.ca_pem, None).await;
    let forger = server.client(&forged(&t.tokenizer)).await;
    let before = server.rss_kib();
    for client in [&stranger, &forger, &stranger, &forger] {
        assert_eq!(send_huge(client, &request).await, Code::Unauthenticated);
    }
    let after = server.rss_kib();
    assert!(
        after < before + 8 * 1024,
        "four unauthenticated 16 MiB requests raised the server's RSS from {before} KiB to {after} KiB"
    );
    // The vault still serves its callers.
    pseudonymise_ok(&tok, "patients", &["still.here@example.se"]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_default_message_limit_holds_a_full_batch_and_refuses_more() {
    let server = start().await;
    let t = plain_tenant(&server.client(&server.operator_token).await).await;
    let tok = server.client(&t.tokenizer).await;
    let limits = tok
        .pseudonyms()
        .get_limits(pb::GetLimitsRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(limits.max_message_bytes, 4 * 1024 * 1024);
    let defaults = Limits::default();
    assert!(defaults.full_batch_bytes() <= defaults.max_message_bytes);
    // One byte over the limit (4,097 entries of 1,024 bytes: tag, two-byte length, 1,021
    // bytes): refused from the length prefix.
    let over = pb::PseudonymiseRequest {
        domain: "d".into(),
        identifiers: vec!["x".repeat(1021); 4 * 1024 + 1],
        batch_id: 0,
    };
    let code = tok
        .pseudonyms()
        .max_encoding_message_size(64 * 1024 * 1024)
        .pseudonymise(over)
        .await
        .err()
        .map(|s| s.code());
    assert_eq!(code, Some(Code::OutOfRange));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn failed_authentication_is_throttled_per_source_address() {
    let server = start_with(
        Limits {
            auth_failures_per_minute: 5,
            ..Limits::default()
        },
        None,
    )
    .await;
    let t = plain_tenant(&server.client(&server.operator_token).await).await;
    let list = |client: valv_client::Valv| async move {
        client
            .admin()
            .list_domains(pb::ListDomainsRequest {})
            .await
            .map(|_| ())
    };
    let forger = server.client(&forged(&t.admin)).await;
    for _ in 0..5 {
        assert_eq!(
            list(forger.clone()).await.unwrap_err().code(),
            Code::Unauthenticated
        );
    }
    let refused = list(forger.clone()).await.unwrap_err();
    assert_eq!(refused.code(), Code::ResourceExhausted);
    assert!(refused.message().starts_with("credential: too many failed"));
    let hint: u64 = refused
        .metadata()
        .get("retry-after-seconds")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap();
    assert_eq!(hint, 60);
    // The whole address is turned away for the window, a valid credential too …
    let admin_here = server.client(&t.admin).await;
    assert_eq!(
        list(admin_here).await.unwrap_err().code(),
        Code::ResourceExhausted
    );
    // … but health needs no credential and still answers …
    let mut health =
        tonic_health::pb::health_client::HealthClient::new(server.client(&t.admin).await.channel());
    health
        .check(tonic_health::pb::HealthCheckRequest::default())
        .await
        .unwrap();
    // … and another address is not affected.
    let elsewhere = valv_client::Valv::connect(
        valv_client::ClientConfig::new(&server.addr)
            .with_ca_pem(server.ca_pem.clone())
            .with_token(&t.admin)
            .with_local_address([127, 0, 0, 2].into())
            .with_retry(valv_client::RetryPolicy::none()),
    )
    .await
    .unwrap();
    list(elsewhere).await.unwrap();
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn calls_in_flight_are_bounded_and_a_closed_stream_frees_its_place() {
    let server = start_with(
        Limits {
            max_calls: 2,
            ..Limits::default()
        },
        None,
    )
    .await;
    let t = plain_tenant(&server.client(&server.operator_token).await).await;
    let tok = server.client(&t.tokenizer).await;
    // Two open streams take both places.
    let mut open = Vec::new();
    for _ in 0..2 {
        let (tx, rx) = tokio::sync::mpsc::channel::<pb::PseudonymiseRequest>(1);
        let response = tok
            .pseudonyms()
            .pseudonymise_stream(ReceiverStream::new(rx))
            .await
            .unwrap();
        open.push((tx, response.into_inner()));
    }
    let busy = tok
        .pseudonyms()
        .get_limits(pb::GetLimitsRequest {})
        .await
        .unwrap_err();
    assert_eq!(busy.code(), Code::ResourceExhausted);
    assert!(
        busy.message().starts_with("server busy"),
        "{}",
        busy.message()
    );
    // An open stream still works; closing one frees its place.
    let (tx, mut answers) = open.pop().unwrap();
    tx.send(pb::PseudonymiseRequest {
        domain: "d".into(),
        identifiers: vec!["P-1".into()],
        batch_id: 0,
    })
    .await
    .unwrap();
    assert_eq!(answers.message().await.unwrap().unwrap().results.len(), 1);
    drop(tx);
    assert!(answers.message().await.unwrap().is_none());
    drop(answers);
    let mut freed = false;
    for _ in 0..50 {
        if tok
            .pseudonyms()
            .get_limits(pb::GetLimitsRequest {})
            .await
            .is_ok()
        {
            freed = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(freed, "the ended stream's place was not given back");
    drop(open);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_revoked_token_is_answered_like_a_forged_one() {
    let server = start().await;
    let t = plain_tenant(&server.client(&server.operator_token).await).await;
    let id = t.tokenizer.split('_').nth(1).unwrap().to_owned();
    server
        .client(&t.admin)
        .await
        .admin()
        .revoke_principal(pb::RevokePrincipalRequest { id })
        .await
        .unwrap();
    let answer = |token: String| {
        let server = &server;
        async move {
            let status = server
                .client(&token)
                .await
                .pseudonyms()
                .get_limits(pb::GetLimitsRequest {})
                .await
                .unwrap_err();
            (status.code(), status.message().to_owned())
        }
    };
    let revoked = answer(t.tokenizer.clone()).await;
    let forged = answer(forged(&t.consent_manager)).await;
    assert_eq!(revoked, forged);
    assert_eq!(
        revoked,
        (Code::Unauthenticated, "unknown or invalid token".to_owned())
    );
    server.stop().await;
}
