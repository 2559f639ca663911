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

/// A first start cut off after its operator was stored but before the token file got its name
/// leaves `operator.token.new` and no `operator.token`: the next start finishes it, so the
/// operator's token is not lost. A pending token that names no stored operator is removed and
/// never installed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_start_cut_off_before_the_token_file_was_named_is_finished_by_the_next() {
    init();
    let dir = tempfile::tempdir().unwrap();
    let (data, log) = (dir.path().join("data"), dir.path().join("server.log"));
    let (named, pending) = (data.join("operator.token"), data.join("operator.token.new"));
    let server = spawn(BIN, &data, &log);
    let token = server.operator_token.clone();
    assert!(!token.is_empty());
    server.kill_9();
    std::fs::rename(&named, &pending).unwrap();

    let server = spawn(BIN, &data, &log);
    assert_eq!(server.operator_token, token);
    assert!(!pending.exists());
    let operator = server.client(&token).await;
    operator
        .pseudonyms()
        .get_limits(pb::GetLimitsRequest {})
        .await
        .unwrap();
    server.kill_9();

    let stranger = format!("valv_0123456789abcdef_{}", "a".repeat(52));
    std::fs::write(&pending, &stranger).unwrap();
    let server = spawn(BIN, &data, &log);
    assert!(!pending.exists(), "a token nobody has was left in place");
    assert_eq!(std::fs::read_to_string(&named).unwrap().trim(), token);
    server.terminate();
}
