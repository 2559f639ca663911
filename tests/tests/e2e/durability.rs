//! A pseudonym handed out survives kill -9; pseudonyms are stable across restarts and
//! unlinkable across domains.

// A test file: helpers unwrap like the tests do; a failure is the test's message.
#![allow(clippy::unwrap_used)]

use std::collections::HashSet;

use valv_e2e::{pb, *};

const BIN: &str = env!("CARGO_BIN_EXE_valv-under-test");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_pseudonym_handed_out_survives_kill_9() {
    init();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let log = dir.path().join("server.log");
    let server = spawn(BIN, &data, &log);
    let operator = server.client(&server.operator_token).await;
    let t = setup_tenant(
        &operator,
        "acme",
        &[
            ("keyed", pb::IdentifierKind::Opaque, pb::Scheme::Keyed, true),
            (
                "random",
                pb::IdentifierKind::Opaque,
                pb::Scheme::Random,
                true,
            ),
            ("other", pb::IdentifierKind::Opaque, pb::Scheme::Keyed, true),
        ],
        &[("ops", pb::LegalBasis::Contract)],
    )
    .await;
    let tok = server.client(&t.tokenizer).await;

    // Concurrent writers; the server is killed the moment the last response arrives.
    let mut tasks = Vec::new();
    for w in 0..4 {
        let tok = tok.clone();
        tasks.push(tokio::spawn(async move {
            let mut got = Vec::new();
            for b in 0..10 {
                let ids: Vec<String> = (0..250).map(|i| format!("crash-{w}-{b}-{i}")).collect();
                let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
                let domain = if b % 2 == 0 { "keyed" } else { "random" };
                let ps = pseudonymise_ok(&tok, domain, &refs).await;
                got.extend(ids.into_iter().zip(ps).map(|(i, p)| (domain, i, p)));
            }
            got
        }));
    }
    let mut handed_out = Vec::new();
    for task in tasks {
        handed_out.extend(task.await.unwrap_or_default());
    }
    server.kill_9();
    assert_eq!(handed_out.len(), 10_000);

    let server = spawn(BIN, &data, &log);
    let reid = server.client(&t.reidentifier).await;
    for domain in ["keyed", "random"] {
        let items: Vec<_> = handed_out.iter().filter(|(d, _, _)| *d == domain).collect();
        for chunk in items.chunks(5000) {
            let ps: Vec<String> = chunk.iter().map(|(_, _, p)| p.clone()).collect();
            let back = reidentify(&reid, domain, "ops", &ps).await.unwrap();
            for ((_, id, _), (verdict, got)) in chunk.iter().zip(back) {
                assert_eq!(
                    (verdict, got.as_str()),
                    (pb::Verdict::Released, id.as_str())
                );
            }
        }
    }

    // Stable across the restart: the same identifiers give the same pseudonyms in both schemes.
    let tok = server.client(&t.tokenizer).await;
    for domain in ["keyed", "random"] {
        let sample: Vec<_> = handed_out
            .iter()
            .filter(|(d, _, _)| *d == domain)
            .take(100)
            .collect();
        let ids: Vec<&str> = sample.iter().map(|(_, i, _)| i.as_str()).collect();
        let again = pseudonymise_ok(&tok, domain, &ids).await;
        let before: Vec<String> = sample.iter().map(|(_, _, p)| p.clone()).collect();
        assert_eq!(again, before, "{domain}");
    }
    // Unlinkable across domains: no pseudonym of `keyed` appears in `other`.
    let keyed: Vec<_> = handed_out
        .iter()
        .filter(|(d, _, _)| *d == "keyed")
        .take(500)
        .collect();
    let ids: Vec<&str> = keyed.iter().map(|(_, i, _)| i.as_str()).collect();
    let other: HashSet<String> = pseudonymise_ok(&tok, "other", &ids)
        .await
        .into_iter()
        .collect();
    assert_eq!(other.len(), 500);
    assert!(keyed.iter().all(|(_, _, p)| !other.contains(p)));
    server.terminate();
}
