//! Prometheus metrics on their own listener: the names the README lists, exact counts after a
//! known workload, and never an identifier.

// A test file: helpers unwrap like the tests do; a failure is the test's message.
#![allow(clippy::unwrap_used)]

use valv_e2e::{
    grant, http_get as scrape, pb, pseudonymise_ok, reidentify, setup_tenant, start_configured,
};

fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .and_then(|l| l[series.len()..].trim().parse().ok())
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_count_the_workload_and_hold_no_identifier() {
    let server = start_configured(
        |c| c.metrics_listen = Some(([127, 0, 0, 1], 0).into()),
        None,
    )
    .await;
    let addr = server
        .metrics_addr
        .unwrap_or_else(|| panic!("metrics address"));
    let operator = server.client(&server.operator_token).await;
    let t = setup_tenant(
        &operator,
        "watched",
        &[(
            "patients",
            pb::IdentifierKind::Email,
            pb::Scheme::Keyed,
            true,
        )],
        &[("research", pb::LegalBasis::Consent)],
    )
    .await;
    let tok = server.client(&t.tokenizer).await;
    let ids = [
        "metric.one@example.se",
        "metric.two@example.se",
        "metric.three@example.se",
    ];
    let ps = pseudonymise_ok(&tok, "patients", &ids).await;
    pseudonymise_ok(&tok, "patients", &ids[..1]).await;
    // One malformed item: answered with an error, not a pseudonym.
    tok.pseudonyms()
        .pseudonymise(pb::PseudonymiseRequest {
            domain: "patients".into(),
            identifiers: vec!["not-an-email".into()],
            batch_id: 0,
        })
        .await
        .unwrap();
    server
        .client(&t.consent_manager)
        .await
        .consents()
        .grant_consent(grant("patients", ids[0], "research", 1, 0))
        .await
        .unwrap();
    let re = server.client(&t.reidentifier).await;
    reidentify(&re, "patients", "research", &ps).await.unwrap();
    // A denied call is counted with its status code (7 = PERMISSION_DENIED).
    let _ = tok
        .audit()
        .verify_audit(pb::VerifyAuditRequest {
            operator_chain: false,
        })
        .await;

    let response = scrape(addr, "/metrics").await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    let text = response.split("\r\n\r\n").nth(1).unwrap_or_default();
    let pseudonymise = "method=\"/valv.v1.PseudonymService/Pseudonymise\"";
    assert_eq!(
        value(
            text,
            &format!("valv_requests_total{{{pseudonymise},code=\"0\"}}")
        ),
        Some(3.0),
        "{text}"
    );
    assert_eq!(
        value(
            text,
            "valv_requests_total{method=\"/valv.v1.AuditService/VerifyAudit\",code=\"7\"}"
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        value(
            text,
            &format!("valv_request_duration_seconds_count{{{pseudonymise}}}")
        ),
        Some(3.0)
    );
    assert_eq!(
        value(text, "valv_identifiers_pseudonymised_total"),
        Some(4.0)
    );
    assert_eq!(value(text, "valv_mappings_created_total"), Some(3.0));
    assert_eq!(
        value(text, "valv_reidentify_verdicts_total{verdict=\"released\"}"),
        Some(1.0)
    );
    assert_eq!(
        value(
            text,
            "valv_reidentify_verdicts_total{verdict=\"no-consent\"}"
        ),
        Some(2.0)
    );
    assert_eq!(value(text, "valv_identifiers_released_total"), Some(1.0));
    assert_eq!(
        value(text, "valv_batch_size_count{method=\"pseudonymise\"}"),
        Some(3.0)
    );
    assert!(value(text, "valv_audit_entries_total").is_some_and(|v| v >= 8.0));
    assert!(value(text, "valv_store_size_bytes").is_some_and(|v| v > 0.0));
    // Every call that stored something waited for a flush, and no flush ran without a waiter.
    let flushes = value(text, "valv_store_flushes_total").unwrap_or_default();
    let waits = value(text, "valv_store_flush_waits_total").unwrap_or_default();
    assert!(
        flushes >= 1.0 && waits >= flushes,
        "{flushes} flushes, {waits} waits"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("valv_key_version_age_seconds{")
                && l.contains("state=\"active\"")),
        "{text}"
    );
    for id in ids {
        assert!(!text.contains(id), "identifier in metrics");
        assert!(!text.contains(id.split('@').next().unwrap_or(id)));
    }
    assert!(scrape(addr, "/other").await.starts_with("HTTP/1.1 404"));
    server.stop().await;
}

/// Invented paths, sent by anyone who reaches the port, are counted as `unknown`: the metrics
/// keep one series for all of them instead of growing with every path.
#[tokio::test(flavor = "multi_thread")]
async fn invented_paths_do_not_grow_the_metrics() {
    let server = start_configured(
        |c| c.metrics_listen = Some(([127, 0, 0, 1], 0).into()),
        None,
    )
    .await;
    let addr = server.metrics_addr.unwrap();
    let anonymous = valv_e2e::connect(&server.addr, &server.ca_pem, None).await;
    let call = |path: String| {
        let channel = anonymous.channel();
        async move {
            let mut grpc = tonic::client::Grpc::new(channel);
            grpc.ready().await.unwrap();
            grpc.unary::<(), (), _>(
                tonic::Request::new(()),
                path.parse().unwrap(),
                tonic_prost::ProstCodec::default(),
            )
            .await
        }
    };
    let first = call("/valv.v1.Invented/Method0".into())
        .await
        .err()
        .unwrap();
    // Valv's own package needs a credential before anything else, invented methods too.
    assert_eq!(first.code(), tonic::Code::Unauthenticated);
    let before = scrape(addr, "/metrics").await.len();
    for i in 1..300 {
        let _ = call(format!("/attacker{i}.{}/Method{i}", "x".repeat(200))).await;
    }
    let after = scrape(addr, "/metrics").await;
    assert!(
        after.len() < before + 2_000,
        "{} → {} bytes",
        before,
        after.len()
    );
    assert!(
        !after.contains("attacker"),
        "no invented path in the metrics"
    );
    assert_eq!(
        value(
            &after,
            "valv_requests_total{method=\"unknown\",code=\"12\"}"
        ),
        Some(299.0)
    );
    assert_eq!(
        value(
            &after,
            "valv_requests_total{method=\"unknown\",code=\"16\"}"
        ),
        Some(1.0)
    );
    server.stop().await;
}
