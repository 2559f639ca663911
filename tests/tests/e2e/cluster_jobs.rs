//! Work that several nodes on one PostgreSQL database share: a key rotation that outlives the
//! node running it, key-use budgets counted across nodes, and health that follows the database.
//! Skipped (with a notice) without `VALV_TEST_POSTGRES_URL`.

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use tonic_health::pb::health_check_response::ServingStatus;
use valv_e2e::{cluster::Cluster, key_versions, pb, proxy::Proxy, pseudonymise_ok};

use super::keys::{all_reidentify, fill, tenant, watch};

const BIN: &str = env!("CARGO_BIN_EXE_valv-under-test");

#[tokio::test(flavor = "multi_thread")]
async fn a_rotation_runs_once_and_another_node_finishes_it_when_its_node_is_killed() {
    valv_e2e::init();
    let extra = [
        "--rotation-records-per-second",
        "1000",
        "--job-lease-seconds",
        "3",
    ];
    let Some(mut cluster) = Cluster::start("cluster: rotation takeover", BIN, 3, &extra).await
    else {
        return;
    };
    let operator = cluster.node(0).client(&cluster.operator_token).await;
    let t = tenant(&operator, "rotated").await;
    let pairs = fill(&cluster.node(1).client(&t.tokenizer).await, "r", 4_000).await;
    let ko0 = cluster.node(0).client(&t.key_officer).await;
    let rotated = ko0
        .keys()
        .rotate_tenant_key(pb::RotateTenantKeyRequest {})
        .await
        .unwrap()
        .into_inner();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let j = ko0
            .keys()
            .get_job(pb::GetJobRequest { id: rotated.job_id })
            .await
            .unwrap()
            .into_inner();
        if j.done >= 500 {
            assert!(j.done < j.total, "{j:?}");
            break;
        }
        assert!(Instant::now() < deadline, "job did not progress: {j:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The node running it dies; one of the others takes the lease over once it has run out.
    cluster.kill_9(0);
    let ko1 = cluster.node(1).client(&t.key_officer).await;
    let (end, _) = watch(&ko1, rotated.job_id).await;
    assert_eq!(end.state(), pb::JobState::Done, "{end:?}");
    assert_eq!(end.total, 4_000);
    let v = key_versions(&ko1).await;
    assert_eq!(v[0].state(), pb::KeyVersionState::Retired, "{v:?}");
    assert_eq!(v[0].records, 0, "nothing left under the old version");
    assert_eq!(v[1].records, 4_000);
    let db = cluster.db().await;
    let jobs = db
        .query("SELECT lease_owner, state FROM jobs", &[])
        .await
        .unwrap();
    assert_eq!(jobs.len(), 1, "one job for the cluster");
    let owner: String = jobs[0].get(0);
    assert!(owner == "node-1" || owner == "node-2", "{owner}");
    // Nothing undecryptable: every record re-identifies through the third node.
    let re = cluster.node(2).client(&t.reidentifier).await;
    all_reidentify(&re, &pairs).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn key_use_budgets_are_counted_across_nodes() {
    valv_e2e::init();
    let budget = 100;
    let extra = ["--key-use-budget", "100"];
    let Some(cluster) = Cluster::start("cluster: key-use budget", BIN, 3, &extra).await else {
        return;
    };
    let operator = cluster.node(0).client(&cluster.operator_token).await;
    let t = tenant(&operator, "budgeted").await;
    let mut tasks = Vec::new();
    for i in 0..3 {
        let tok = cluster.node(i).client(&t.tokenizer).await;
        tasks.push(tokio::spawn(async move {
            let mut pairs = Vec::new();
            for n in 0..60 {
                let id = format!("n{i}-{n}");
                // A spent budget while another node's rotation runs is UNAVAILABLE: retried,
                // as clients do.
                let p = loop {
                    let reply = tok
                        .pseudonyms()
                        .pseudonymise(pb::PseudonymiseRequest {
                            domain: "patients".into(),
                            identifiers: vec![id.clone()],
                            batch_id: 0,
                        })
                        .await;
                    match reply {
                        Ok(r) => match r.into_inner().results.remove(0).outcome {
                            Some(pb::pseudonymise_result::Outcome::Pseudonym(p)) => break p,
                            other => panic!("{other:?}"),
                        },
                        Err(s) if s.code() == tonic::Code::Unavailable => {
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                        Err(s) => panic!("pseudonymise: {s}"),
                    }
                };
                pairs.push((id, p));
            }
            pairs
        }));
    }
    let mut pairs = Vec::new();
    for task in tasks {
        pairs.extend(task.await.unwrap());
    }
    // 180 encryptions under a budget of 100: the vault rotated, and no version was used past
    // its budget even though three nodes reserved at once.
    let db = cluster.db().await;
    let rows = db
        .query(
            "SELECT u.version, u.reserved FROM key_usage u JOIN tenants t ON t.id = u.tenant_id \
             WHERE t.name = 'budgeted' ORDER BY u.version",
            &[],
        )
        .await
        .unwrap();
    assert!(rows.len() >= 2, "the budget made the vault rotate");
    let reserved: Vec<i64> = rows.iter().map(|r| r.get(1)).collect();
    assert!(
        reserved.iter().all(|r| *r <= budget),
        "a version reserved past its budget: {reserved:?}"
    );
    assert!(reserved.iter().sum::<i64>() >= 180, "{reserved:?}");
    let ko = cluster.node(1).client(&t.key_officer).await;
    let versions = key_versions(&ko).await;
    assert!(
        versions.iter().all(|v| v.encryptions <= v.budget),
        "{versions:?}"
    );
    // One job per version added: no node's rotation was lost to another's, and none left a job
    // for a version that does not exist.
    let jobs = cluster.count("SELECT count(*) FROM jobs").await;
    assert_eq!(
        usize::try_from(jobs).unwrap() + 1,
        versions.len(),
        "{versions:?}"
    );
    let re = cluster.node(2).client(&t.reidentifier).await;
    all_reidentify(&re, &pairs).await;
}

/// Health of node `i`'s pseudonym service.
async fn pseudonym_health(cluster: &Cluster, i: usize) -> ServingStatus {
    super::sealed::health(cluster.node(i), "valv.v1.PseudonymService").await
}

async fn wait_for_health(cluster: &Cluster, i: usize, want: ServingStatus) {
    super::sealed::health_becomes(cluster.node(i), "valv.v1.PseudonymService", want).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_node_out_of_reach_of_the_database_is_not_serving_and_recovers_without_a_restart() {
    valv_e2e::init();
    let Some(db_addr) = Cluster::database_addr() else {
        let _ = Cluster::start("cluster: health", BIN, 0, &[]).await;
        return;
    };
    let proxy = Proxy::start(db_addr).await;
    let extra = ["--store-pool-size", "2"];
    let Some(cluster) =
        Cluster::start_through("cluster: health", BIN, 1, &extra, Some(proxy.addr)).await
    else {
        return;
    };
    let operator = cluster.node(0).client(&cluster.operator_token).await;
    let t = tenant(&operator, "reachable").await;
    let tok = cluster.node(0).client(&t.tokenizer).await;
    let before = pseudonymise_ok(&tok, "patients", &["before"]).await;
    assert_eq!(pseudonym_health(&cluster, 0).await, ServingStatus::Serving);

    proxy.cut();
    wait_for_health(&cluster, 0, ServingStatus::NotServing).await;
    let refused = tok
        .pseudonyms()
        .pseudonymise(pb::PseudonymiseRequest {
            domain: "patients".into(),
            identifiers: vec!["during".into()],
            batch_id: 0,
        })
        .await;
    assert_eq!(
        refused.err().map(|s| s.code()),
        Some(tonic::Code::Unavailable)
    );

    proxy.mend();
    wait_for_health(&cluster, 0, ServingStatus::Serving).await;
    let again = pseudonymise_ok(&tok, "patients", &["before", "after"]).await;
    assert_eq!(again[0], before[0]);
    // The refused request stored nothing.
    let during = cluster.count("SELECT count(*) FROM mappings").await;
    assert_eq!(during, 2, "only `before` and `after` are stored");
    let re = cluster.node(0).client(&t.reidentifier).await;
    all_reidentify(
        &re,
        &[
            ("before".to_owned(), again[0].clone()),
            ("after".to_owned(), again[1].clone()),
        ],
    )
    .await;
}

/// A root-key rotation through one node re-wraps every key ring; another node, whose copy of the
/// root key is now the old one, refuses with an error that says what to do instead of serving
/// with it, and takes the new key into use on the next call once it is there — at once with a
/// shared HSM token, after the operator copied the key file otherwise. No restart either way.
#[tokio::test(flavor = "multi_thread")]
async fn a_root_key_rotated_through_one_node_is_taken_up_by_the_others() {
    valv_e2e::init();
    let Some(cluster) = Cluster::start("cluster: root-key rotation", BIN, 2, &[]).await else {
        return;
    };
    let operator = cluster.node(0).client(&cluster.operator_token).await;
    let t = tenant(&operator, "rooted").await;
    let pairs = fill(&cluster.node(1).client(&t.tokenizer).await, "root", 50).await;
    let re_b = cluster.node(1).client(&t.reidentifier).await;
    all_reidentify(&re_b, &pairs).await;
    operator
        .keys()
        .rotate_root_key(pb::RotateRootKeyRequest::default())
        .await
        .unwrap();
    let asked = re_b
        .pseudonyms()
        .re_identify(pb::ReIdentifyRequest {
            domain: "patients".into(),
            purpose: "care".into(),
            pseudonyms: vec![pairs[0].1.clone()],
        })
        .await;
    if valv_e2e::pkcs11_mode() {
        // The token both nodes use holds the new key under the same label.
        assert!(asked.is_ok(), "{asked:?}");
    } else {
        let refused = asked.err().unwrap();
        assert_eq!(refused.code(), tonic::Code::FailedPrecondition);
        assert!(
            refused
                .message()
                .contains("another node rotated the root key"),
            "{refused:?}"
        );
        valv_e2e::cluster::copy_root_key(&cluster.data_dir(0), &cluster.data_dir(1));
    }
    all_reidentify(&re_b, &pairs).await;
    let more = fill(&cluster.node(1).client(&t.tokenizer).await, "after", 5).await;
    all_reidentify(&cluster.node(0).client(&t.reidentifier).await, &more).await;
}
