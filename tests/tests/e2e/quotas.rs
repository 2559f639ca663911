//! Quotas against enumeration: a principal's new identifiers per hour stop at the tenant's
//! limit with a retry hint and nothing stored, the warning threshold is audited and counted
//! once, other principals are not affected, and the next hour starts again.

// A test file: helpers unwrap like the tests do; a failure is the test's message.
#![allow(clippy::unwrap_used)]

use tonic::Code;
use valv_e2e::{http_get as scrape, pb, *};

async fn pseudonymise(
    client: &valv_client::Valv,
    domain: &str,
    ids: &[String],
) -> Result<u64, tonic::Status> {
    client
        .pseudonyms()
        .pseudonymise(pb::PseudonymiseRequest {
            domain: domain.into(),
            identifiers: ids.to_vec(),
            batch_id: 0,
        })
        .await
        .map(|r| u64::from(r.into_inner().created))
}

fn ids(prefix: &str, range: std::ops::Range<u32>) -> Vec<String> {
    range.map(|i| format!("{prefix}-{i}")).collect()
}

fn actions(entries: &[pb::AuditEntry], action: &str) -> usize {
    entries.iter().filter(|e| e.action == action).count()
}

#[tokio::test(flavor = "multi_thread")]
async fn new_identifiers_stop_at_the_hourly_quota_and_the_warning_is_reported_once() {
    let server = start_configured(
        |c| c.metrics_listen = Some(([127, 0, 0, 1], 0).into()),
        None,
    )
    .await;
    let operator = server.client(&server.operator_token).await;
    let t = setup_tenant(
        &operator,
        "acme",
        &[
            ("d", pb::IdentifierKind::Opaque, pb::Scheme::Keyed, true),
            ("r", pb::IdentifierKind::Opaque, pb::Scheme::Random, true),
        ],
        &[("ops", pb::LegalBasis::Contract)],
    )
    .await;
    let admin = server.client(&t.admin).await;
    let defaults = admin
        .admin()
        .get_tenant_settings(pb::GetTenantSettingsRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (
            defaults.new_identifiers_per_hour,
            defaults.new_identifiers_warning_per_hour
        ),
        (5_000_000, 1_000_000)
    );
    let set = admin
        .admin()
        .set_tenant_settings(pb::SetTenantSettingsRequest {
            new_identifiers_per_hour: Some(100),
            new_identifiers_warning_per_hour: Some(60),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (
            set.age_of_consent,
            set.new_identifiers_per_hour,
            set.new_identifiers_warning_per_hour
        ),
        (16, 100, 60)
    );

    let tok = server.client(&t.tokenizer).await;
    assert_eq!(pseudonymise(&tok, "d", &ids("a", 0..50)).await.unwrap(), 50);
    // Known identifiers do not count.
    assert_eq!(pseudonymise(&tok, "d", &ids("a", 0..50)).await.unwrap(), 0);
    assert_eq!(
        pseudonymise(&tok, "d", &ids("a", 50..60)).await.unwrap(),
        10
    );
    // 41 more would pass 100: the whole batch is refused, with the seconds to the next hour.
    let refused = pseudonymise(&tok, "d", &ids("b", 0..41)).await.unwrap_err();
    assert_eq!(refused.code(), Code::ResourceExhausted);
    assert_eq!(
        refused.message(),
        "identifiers: this principal's quota of 100 new identifiers per hour is used up (the tenant's settings set it)"
    );
    let hint: u64 = refused
        .metadata()
        .get("retry-after-seconds")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap();
    assert!((1..=3600).contains(&hint), "{hint}");
    // 40 fit exactly; then not one more — in a random domain every identifier counts.
    assert_eq!(pseudonymise(&tok, "d", &ids("b", 0..40)).await.unwrap(), 40);
    let code = |r: Result<u64, tonic::Status>| r.err().map(|s| s.code());
    assert_eq!(
        code(pseudonymise(&tok, "r", &ids("c", 0..1)).await),
        Some(Code::ResourceExhausted)
    );
    assert_eq!(
        code(pseudonymise(&tok, "d", &ids("b", 40..41)).await),
        Some(Code::ResourceExhausted)
    );
    // Known identifiers are still served.
    assert_eq!(pseudonymise(&tok, "d", &ids("a", 0..60)).await.unwrap(), 0);

    // Another principal has its own quota.
    let other = server
        .client(&principal_token(&admin, "ingest-2", pb::Role::Tokenizer).await)
        .await;
    assert_eq!(pseudonymise(&other, "d", &ids("o", 0..5)).await.unwrap(), 5);

    // The warning and the refusal each once in the audit and the metric.
    let (entries, _) = read_audit(
        &server.client(&t.auditor).await,
        pb::ReadAuditRequest::default(),
    )
    .await;
    assert_eq!(actions(&entries, "quota.warning"), 1);
    assert_eq!(actions(&entries, "quota.refused"), 1);
    let settings = entries
        .iter()
        .find(|e| e.action == "tenant.settings")
        .unwrap();
    let changes: Vec<(&str, &str, &str)> = settings
        .changes
        .iter()
        .map(|c| (c.field.as_str(), c.before.as_str(), c.after.as_str()))
        .collect();
    assert_eq!(
        changes,
        [
            ("new_identifiers_per_hour", "5000000", "100"),
            ("new_identifiers_warning_per_hour", "1000000", "60")
        ]
    );
    let metrics = scrape(server.metrics_addr.unwrap(), "/metrics").await;
    assert!(
        metrics.contains("valv_quota_events_total{quota=\"new-identifiers\",event=\"warning\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("valv_quota_events_total{quota=\"new-identifiers\",event=\"refused\"} 3")
    );

    // The next hour starts from zero.
    server.clock.advance_ms(3_600_000);
    assert_eq!(pseudonymise(&tok, "d", &ids("b", 40..41)).await.unwrap(), 1);
    server.stop().await;
}

/// Three nodes on one database draw from one quota: together they store exactly the limit.
#[tokio::test(flavor = "multi_thread")]
async fn three_nodes_share_one_quota() {
    valv_e2e::init();
    let bin = env!("CARGO_BIN_EXE_valv-under-test");
    let Some(cluster) = cluster::Cluster::start("quotas: three nodes", bin, 3, &[]).await else {
        return;
    };
    let operator = cluster.node(0).client(&cluster.operator_token).await;
    let t = setup_tenant(
        &operator,
        "shared",
        &[("d", pb::IdentifierKind::Opaque, pb::Scheme::Keyed, true)],
        &[],
    )
    .await;
    cluster
        .node(1)
        .client(&t.admin)
        .await
        .admin()
        .set_tenant_settings(pb::SetTenantSettingsRequest {
            new_identifiers_per_hour: Some(30),
            ..Default::default()
        })
        .await
        .unwrap();
    // Each node is asked for 20 new identifiers, one at a time, all at once.
    let mut tasks = Vec::new();
    for n in 0..3 {
        let node = cluster.node(n).client(&t.tokenizer).await;
        tasks.push(tokio::spawn(async move {
            let mut created = 0;
            let mut refused = 0;
            for i in 0..20 {
                match pseudonymise(&node, "d", &[format!("n{n}-{i}")]).await {
                    Ok(c) => created += c,
                    Err(s) if s.code() == Code::ResourceExhausted => refused += 1,
                    Err(s) => panic!("{s}"),
                }
            }
            (created, refused)
        }));
    }
    let (mut created, mut refused) = (0, 0);
    for task in tasks {
        let (c, r) = task.await.unwrap();
        created += c;
        refused += r;
    }
    assert_eq!((created, refused), (30, 30));
    assert_eq!(
        cluster.count("SELECT count(*) FROM mappings").await,
        30,
        "exactly the quota was stored"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn calls_per_second_stop_at_the_tenants_rate_for_that_principal_only() {
    let server = start().await;
    let t = plain_tenant(&server.client(&server.operator_token).await).await;
    let admin = server.client(&t.admin).await;
    let set = admin
        .admin()
        .set_tenant_settings(pb::SetTenantSettingsRequest {
            requests_per_second: Some(5),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(set.requests_per_second, 5);
    let tok = server.client(&t.tokenizer).await;
    let limits = || {
        let tok = tok.clone();
        async move {
            tok.pseudonyms()
                .get_limits(pb::GetLimitsRequest {})
                .await
                .map(drop)
        }
    };
    // A burst of one second's worth passes; the next call in the same moment does not.
    let mut answers = Vec::new();
    for _ in 0..8 {
        answers.push(
            limits()
                .await
                .err()
                .map(|s| (s.code(), s.metadata().get("retry-after-seconds").cloned())),
        );
    }
    let refused = answers.iter().filter(|a| a.is_some()).count();
    assert!((2..=3).contains(&refused), "{answers:?}");
    assert!(answers[..5].iter().all(Option::is_none), "{answers:?}");
    let (code, hint) = answers[7].clone().unwrap();
    assert_eq!(code, Code::ResourceExhausted);
    assert_eq!(hint.unwrap().to_str().unwrap(), "1");
    // Another principal of the tenant has its own rate.
    server
        .client(&t.consent_manager)
        .await
        .consents()
        .list_consents(pb::ListConsentsRequest::default())
        .await
        .unwrap();
    // A second later the principal may call again.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    limits().await.unwrap();
    server.stop().await;
}
