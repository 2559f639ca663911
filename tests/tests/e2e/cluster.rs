//! Three `valv` processes on one PostgreSQL database behave like one vault: one pseudonym per
//! identifier whichever node is asked, a change through one node holds on the next call through
//! another, one audit chain per tenant, nothing acknowledged lost when a node is killed.
//! Skipped (with a notice) without `VALV_TEST_POSTGRES_URL`.

#![allow(clippy::unwrap_used)]

use valv_e2e::{
    Valv, cluster::Cluster, grant, pb, principal_token, pseudonymise_ok, reidentify, setup_tenant,
};

const BIN: &str = env!("CARGO_BIN_EXE_valv-under-test");

fn subject(domain: &str, pseudonym: &str) -> Option<pb::SubjectRef> {
    Some(pb::SubjectRef {
        domain: domain.into(),
        by: Some(pb::subject_ref::By::Pseudonym(pseudonym.into())),
    })
}

/// One verdict of re-identifying `pseudonym` for `purpose` through `node`.
async fn verdict(node: &Valv, purpose: &str, pseudonym: &str) -> pb::Verdict {
    reidentify(node, "patients", purpose, &[pseudonym.to_owned()])
        .await
        .unwrap_or_else(|e| panic!("reidentify: {e}"))[0]
        .0
}

#[tokio::test(flavor = "multi_thread")]
async fn overlapping_identifiers_through_three_nodes_get_one_pseudonym_and_one_mapping_each() {
    valv_e2e::init();
    let Some(cluster) = Cluster::start("cluster: one pseudonym", BIN, 3, &[]).await else {
        return;
    };
    let operator = cluster.node(0).client(&cluster.operator_token).await;
    let t = setup_tenant(
        &operator,
        "shared",
        &[
            ("k", pb::IdentifierKind::Opaque, pb::Scheme::Keyed, true),
            ("r", pb::IdentifierKind::Opaque, pb::Scheme::Random, true),
            (
                "f",
                pb::IdentifierKind::DkCpr,
                pb::Scheme::FormatPreserving,
                true,
            ),
        ],
        &[],
    )
    .await;
    let ids = |domain: &str, from: usize, to: usize| -> Vec<String> {
        (from..to)
            .map(|i| match domain {
                // CPR numbers of 1 January 1950–1999, serials 0000–3999.
                "f" => format!("0101{:02}{:04}", 50 + i % 50, i % 4000),
                _ => format!("id-{i:05}"),
            })
            .collect()
    };
    for domain in ["k", "r", "f"] {
        // Node i asks for identifiers [100·i, 100·i + 300): every identifier in 100..400 is
        // asked for by two or three nodes at once, in batches of 50.
        let mut tasks = Vec::new();
        for i in 0..3 {
            let node = cluster.node(i).client(&t.tokenizer).await;
            let batch = ids(domain, 100 * i, 100 * i + 300);
            let domain = domain.to_owned();
            tasks.push(tokio::spawn(async move {
                let mut out = Vec::new();
                for chunk in batch.chunks(50) {
                    let refs: Vec<&str> = chunk.iter().map(String::as_str).collect();
                    let ps = pseudonymise_ok(&node, &domain, &refs).await;
                    out.extend(chunk.iter().cloned().zip(ps));
                }
                out
            }));
        }
        let mut seen: std::collections::HashMap<String, String> = Default::default();
        for task in tasks {
            for (id, p) in task.await.unwrap() {
                let first = seen.entry(id.clone()).or_insert_with(|| p.clone());
                assert_eq!(first, &p, "{domain}: two pseudonyms for one identifier");
            }
        }
        assert_eq!(seen.len(), 500, "{domain}");
        let distinct: std::collections::HashSet<&String> = seen.values().collect();
        assert_eq!(
            distinct.len(),
            500,
            "{domain}: one pseudonym per identifier"
        );
        let stored = cluster
            .count(&format!(
                "SELECT count(*) FROM mappings m JOIN domains d ON d.id = m.domain_id \
                 WHERE d.name = '{domain}'"
            ))
            .await;
        assert_eq!(stored, 500, "{domain}: one stored mapping per identifier");
    }
    let blind = cluster.count("SELECT count(*) FROM blind_index").await;
    assert_eq!(
        blind, 1000,
        "one blind-index entry per identifier of the random and the format-preserving domain"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_change_through_one_node_holds_on_the_next_call_through_another() {
    valv_e2e::init();
    let Some(cluster) = Cluster::start("cluster: no stale state", BIN, 3, &[]).await else {
        return;
    };
    let operator = cluster.node(0).client(&cluster.operator_token).await;
    let t = setup_tenant(
        &operator,
        "clinic",
        &[(
            "patients",
            pb::IdentifierKind::Opaque,
            pb::Scheme::Keyed,
            true,
        )],
        &[
            ("research", pb::LegalBasis::Consent),
            ("care", pb::LegalBasis::Contract),
        ],
    )
    .await;
    let (a, b, c) = (0, 1, 2);
    let admin_a = cluster.node(a).client(&t.admin).await;
    let officer = principal_token(&admin_a, "officer", pb::Role::SubjectOfficer).await;
    let ps = pseudonymise_ok(
        &cluster.node(a).client(&t.tokenizer).await,
        "patients",
        &["p1", "p2", "p3", "p4", "p5"],
    )
    .await;
    let re_b = cluster.node(b).client(&t.reidentifier).await;
    // Warm node B's caches first: each change below must reach it on its very next call.
    for p in &ps {
        assert_eq!(verdict(&re_b, "care", p).await, pb::Verdict::Released);
    }

    // Consent withdrawn through A.
    let cm_a = cluster.node(a).client(&t.consent_manager).await;
    cm_a.consents()
        .grant_consent(grant("patients", "p1", "research", 1, 0))
        .await
        .unwrap();
    assert_eq!(
        verdict(&re_b, "research", &ps[0]).await,
        pb::Verdict::Released
    );
    cm_a.consents()
        .withdraw_consent(pb::WithdrawConsentRequest {
            subject: subject("patients", &ps[0]),
            purpose: "research".into(),
        })
        .await
        .unwrap();
    assert_eq!(
        verdict(&re_b, "research", &ps[0]).await,
        pb::Verdict::ConsentWithdrawn
    );

    // A restriction through C, lifted through A.
    let so_c = cluster.node(c).client(&officer).await;
    so_c.subjects()
        .restrict_subject(pb::RestrictSubjectRequest {
            subject: subject("patients", &ps[1]),
            reason: "accuracy contested".into(),
        })
        .await
        .unwrap();
    assert_eq!(
        verdict(&re_b, "care", &ps[1]).await,
        pb::Verdict::Restricted
    );
    cluster
        .node(a)
        .client(&officer)
        .await
        .subjects()
        .lift_restriction(pb::LiftRestrictionRequest {
            subject: subject("patients", &ps[1]),
        })
        .await
        .unwrap();
    assert_eq!(verdict(&re_b, "care", &ps[1]).await, pb::Verdict::Released);

    // An erasure through C.
    so_c.subjects()
        .erase_subject(pb::EraseSubjectRequest {
            subject: subject("patients", &ps[2]),
        })
        .await
        .unwrap();
    assert_eq!(verdict(&re_b, "care", &ps[2]).await, pb::Verdict::NotFound);

    // A raised minimum text version through C: a grant of text 1 no longer counts.
    cm_a.consents()
        .grant_consent(grant("patients", "p4", "research", 1, 0))
        .await
        .unwrap();
    assert_eq!(
        verdict(&re_b, "research", &ps[3]).await,
        pb::Verdict::Released
    );
    cluster
        .node(c)
        .client(&t.admin)
        .await
        .admin()
        .define_purpose(pb::DefinePurposeRequest {
            name: "research".into(),
            legal_basis: pb::LegalBasis::Consent.into(),
            min_text_version: 2,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        verdict(&re_b, "research", &ps[3]).await,
        pb::Verdict::NoConsent
    );

    // A principal revoked through A is refused by B.
    let second = admin_a
        .admin()
        .create_principal(pb::CreatePrincipalRequest {
            name: "second-reader".into(),
            roles: vec![pb::Role::Reidentifier.into()],
            purposes: vec!["care".into()],
            enrol: false,
        })
        .await
        .unwrap()
        .into_inner();
    let second_b = cluster.node(b).client(&second.token).await;
    assert_eq!(
        verdict(&second_b, "care", &ps[4]).await,
        pb::Verdict::Released
    );
    admin_a
        .admin()
        .revoke_principal(pb::RevokePrincipalRequest {
            id: second.principal.unwrap_or_default().id,
        })
        .await
        .unwrap();
    let refused = reidentify(&second_b, "patients", "care", &ps[4..5]).await;
    assert_eq!(
        refused.err().map(|s| s.code()),
        Some(tonic::Code::Unauthenticated)
    );

    // A domain's epoch rotated through C: B pseudonymises in the new epoch on its next call
    // (its domain was read, and kept, by the calls before).
    let tok_b = cluster.node(b).client(&t.tokenizer).await;
    assert_eq!(pseudonymise_ok(&tok_b, "patients", &["p5"]).await[0], ps[4]);
    cluster
        .node(c)
        .client(&t.key_officer)
        .await
        .keys()
        .rotate_domain_epoch(pb::RotateDomainEpochRequest {
            domain: "patients".into(),
            grace_seconds: 0,
        })
        .await
        .unwrap();
    let new_b = pseudonymise_ok(&tok_b, "patients", &["p5"]).await;
    let tok_c = cluster.node(c).client(&t.tokenizer).await;
    assert_ne!(new_b[0], ps[4], "B pseudonymised in the old epoch");
    assert_eq!(new_b, pseudonymise_ok(&tok_c, "patients", &["p5"]).await);
    // The old epoch ended through C (only the domain row changes): B no longer re-identifies
    // its pseudonyms, though it read the domain during the grace period just before.
    assert_eq!(verdict(&re_b, "care", &ps[4]).await, pb::Verdict::Released);
    cluster
        .node(c)
        .client(&t.key_officer)
        .await
        .keys()
        .finalize_epoch(pb::FinalizeEpochRequest {
            domain: "patients".into(),
        })
        .await
        .unwrap();
    assert_eq!(verdict(&re_b, "care", &ps[4]).await, pb::Verdict::NotFound);

    // A tenant shredded through C is refused by B.
    cluster
        .node(c)
        .client(&cluster.operator_token)
        .await
        .keys()
        .shred_tenant(pb::ShredTenantRequest {
            tenant: "clinic".into(),
        })
        .await
        .unwrap();
    let after = reidentify(&re_b, "patients", "care", &ps[4..5]).await;
    assert_eq!(
        after.err().map(|s| s.code()),
        Some(tonic::Code::FailedPrecondition)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn audit_entries_through_every_node_form_one_chain_signed_once_per_head() {
    valv_e2e::init();
    let extra = ["--audit-checkpoint-entries", "10"];
    let Some(cluster) = Cluster::start("cluster: one audit chain", BIN, 3, &extra).await else {
        return;
    };
    let operator = cluster.node(0).client(&cluster.operator_token).await;
    let t = super::keys::tenant(&operator, "chained").await;
    // Concurrent acts through all three nodes.
    let mut tasks = Vec::new();
    for i in 0..3 {
        let tok = cluster.node(i).client(&t.tokenizer).await;
        tasks.push(tokio::spawn(async move {
            for n in 0..20 {
                let id = format!("node{i}-{n}");
                pseudonymise_ok(&tok, "patients", &[id.as_str()]).await;
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    // The chain verifies through every node and has no gap or fork.
    for i in 0..3 {
        let auditor = cluster.node(i).client(&t.auditor).await;
        let verified = auditor
            .audit()
            .verify_audit(pb::VerifyAuditRequest::default())
            .await
            .unwrap()
            .into_inner();
        assert!(verified.ok, "node {i}: {verified:?}");
    }
    let chain: i64 = cluster
        .count("SELECT id FROM tenants WHERE name = 'chained'")
        .await;
    let (entries, last) = {
        let db = cluster.db().await;
        let row = db
            .query_one(
                "SELECT count(*), max(seq) FROM audit_entries WHERE chain = $1",
                &[&chain],
            )
            .await
            .unwrap();
        (row.get::<_, i64>(0), row.get::<_, i64>(1))
    };
    assert_eq!(entries, last, "sequence numbers 1..n without a gap");
    assert!(entries >= 60, "{entries}");
    // Checkpoints: at most one per head (nodes that saw the same head did not sign it twice).
    let marks = cluster
        .count(&format!(
            "SELECT count(*) FROM marks WHERE key LIKE 'checkpoint/{chain}/%'"
        ))
        .await;
    let signed = cluster
        .count(&format!(
            "SELECT count(*) FROM audit_checkpoints WHERE chain = {chain}"
        ))
        .await;
    assert!(signed >= 1, "the checkpointers signed the chain");
    assert_eq!(
        signed, marks,
        "every signed head was claimed by exactly one node"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_killed_node_loses_nothing_it_acknowledged_and_rejoins() {
    valv_e2e::init();
    let Some(mut cluster) = Cluster::start("cluster: kill -9", BIN, 2, &[]).await else {
        return;
    };
    let operator = cluster.node(0).client(&cluster.operator_token).await;
    let t = super::keys::tenant(&operator, "killed").await;
    let tok = cluster.node(1).client(&t.tokenizer).await;
    // Acknowledged by node 1 while requests are in flight; then kill -9.
    let writer = tokio::spawn(async move {
        let mut acked = Vec::new();
        for n in 0.. {
            let id = format!("acked-{n}");
            match tok
                .pseudonyms()
                .pseudonymise(pb::PseudonymiseRequest {
                    domain: "patients".into(),
                    identifiers: vec![id.clone()],
                    batch_id: 0,
                })
                .await
            {
                Ok(reply) => {
                    if let Some(pb::pseudonymise_result::Outcome::Pseudonym(p)) =
                        reply.into_inner().results.remove(0).outcome
                    {
                        acked.push((id, p));
                    }
                }
                Err(_) => break,
            }
        }
        acked
    });
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    cluster.kill_9(1);
    let acked = writer.await.unwrap();
    assert!(acked.len() > 10, "{}", acked.len());
    let re = cluster.node(0).client(&t.reidentifier).await;
    super::keys::all_reidentify(&re, &acked).await;
    // Restarted, it serves again (and sees what node 0 wrote meanwhile).
    let more = pseudonymise_ok(
        &cluster.node(0).client(&t.tokenizer).await,
        "patients",
        &["after-restart"],
    )
    .await;
    cluster.restart(1);
    let re1 = cluster.node(1).client(&t.reidentifier).await;
    super::keys::all_reidentify(&re1, &[("after-restart".to_owned(), more[0].clone())]).await;
    super::keys::all_reidentify(&re1, &acked).await;
}

/// A node remembers which mappings are stored, so a repeated identifier costs no database
/// round trip; a mapping the retention reaper deleted through another node is not among them on
/// the next call: the identifier is stored again.
#[tokio::test(flavor = "multi_thread")]
async fn a_mapping_reaped_through_one_node_is_stored_again_through_another() {
    valv_e2e::init();
    let Some(cluster) = Cluster::start("cluster: known mappings", BIN, 2, &[]).await else {
        return;
    };
    let operator = cluster.node(0).client(&cluster.operator_token).await;
    let t = setup_tenant(
        &operator,
        "clinic",
        &[],
        &[("care", pb::LegalBasis::Contract)],
    )
    .await;
    valv_e2e::create_domain(
        &cluster.node(0).client(&t.admin).await,
        "visits",
        pb::IdentifierKind::Opaque,
        pb::Scheme::Keyed,
        true,
        1,
    )
    .await
    .unwrap();
    let stored = "SELECT count(*) FROM mappings WHERE expires_ms > 0";
    let tok_a = cluster.node(0).client(&t.tokenizer).await;
    let first = pseudonymise_ok(&tok_a, "visits", &["v-1"]).await;
    // Repeated through node A: known, one row.
    assert_eq!(pseudonymise_ok(&tok_a, "visits", &["v-1"]).await, first);
    assert_eq!(cluster.count(stored).await, 1);
    // Past its retention, reaped through node B.
    tokio::time::sleep(std::time::Duration::from_millis(2_100)).await;
    let ran = cluster
        .node(1)
        .client(&t.admin)
        .await
        .retention()
        .run_retention(pb::RunRetentionRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ran.mappings_deleted, 1);
    assert_eq!(cluster.count(stored).await, 0);
    // Node A sees the identifier again: same (keyed) pseudonym, and the mapping is stored anew.
    assert_eq!(pseudonymise_ok(&tok_a, "visits", &["v-1"]).await, first);
    assert_eq!(cluster.count(stored).await, 1);
}
