//! Failover without loss: two nodes pseudonymise under load on a PostgreSQL primary with a
//! synchronous standby; the primary is stopped hard, the standby promoted, and every pseudonym
//! acknowledged before the stop re-identifies afterwards, through nodes that were not restarted.
//! Runs with the PostgreSQL tests (`VALV_TEST_POSTGRES_URL` set) and the server binaries
//! installed.

#![allow(clippy::unwrap_used)]

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use valv_e2e::{pb, replication::Replicated, setup_tenant, spawn_with};

use super::keys::all_reidentify;

const BIN: &str = env!("CARGO_BIN_EXE_valv-under-test");

type Acked = Arc<Mutex<Vec<(String, String, Instant)>>>;

/// Pseudonymises new identifiers one per request until `stop`, recording what was acknowledged
/// and when.
async fn load(tok: valv_e2e::Valv, name: &'static str, acked: Acked, stop: Arc<Mutex<bool>>) {
    for n in 0.. {
        if stop.lock().map(|s| *s).unwrap_or(true) {
            return;
        }
        let id = format!("{name}-{n}");
        let reply = tok
            .pseudonyms()
            .pseudonymise(pb::PseudonymiseRequest {
                domain: "patients".into(),
                identifiers: vec![id.clone()],
                batch_id: 0,
            })
            .await;
        match reply {
            Ok(r) => {
                if let Some(pb::pseudonymise_result::Outcome::Pseudonym(p)) =
                    r.into_inner().results.remove(0).outcome
                {
                    acked.lock().unwrap().push((id, p, Instant::now()));
                }
            }
            // During the failover: refused, and retried by the next iteration with a new id.
            Err(s) => {
                assert_eq!(s.code(), tonic::Code::Unavailable, "{s}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_primary_stopped_hard_loses_no_acknowledged_pseudonym_after_promoting_its_standby() {
    valv_e2e::init();
    if std::env::var(valv::store::postgres::testing::URL_VAR).is_err() {
        return; // the other PostgreSQL tests say that they were skipped
    }
    let Some(pg) = Replicated::start() else {
        panic!(
            "VALV_TEST_POSTGRES_URL is set but the PostgreSQL server binaries are not installed"
        );
    };
    let dir = tempfile::tempdir().unwrap();
    let url = pg.url();
    let node = |i: usize| {
        let data = dir.path().join(format!("node{i}"));
        if i > 0 {
            valv_e2e::cluster::copy_root_key(&dir.path().join("node0"), &data);
        }
        let id = format!("node-{i}");
        let log = dir.path().join(format!("node{i}.log"));
        spawn_with(BIN, &data, &log, &["--store", &url, "--node-id", &id])
    };
    let n0 = node(0);
    let n1 = node(1);
    let operator = n0.client(&n0.operator_token).await;
    let t = setup_tenant(
        &operator,
        "failover",
        &[(
            "patients",
            pb::IdentifierKind::Opaque,
            pb::Scheme::Keyed,
            true,
        )],
        &[("care", pb::LegalBasis::Contract)],
    )
    .await;

    let acked: Acked = Arc::default();
    let stop = Arc::new(Mutex::new(false));
    let writers = [
        tokio::spawn(load(
            n0.client(&t.tokenizer).await,
            "a",
            acked.clone(),
            stop.clone(),
        )),
        tokio::spawn(load(
            n1.client(&t.tokenizer).await,
            "b",
            acked.clone(),
            stop.clone(),
        )),
    ];
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before_crash = acked.lock().unwrap().len();
    pg.crash_primary();
    let crashed_at = Instant::now();
    pg.promote_standby();
    let promoted_at = Instant::now();
    // Load goes on against the promoted standby through the same nodes.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let after = {
            let acked = acked.lock().unwrap();
            let since = |prefix: char| {
                acked
                    .iter()
                    .filter(|(id, _, at)| *at > promoted_at && id.starts_with(prefix))
                    .count()
            };
            since('a').min(since('b'))
        };
        if after >= 20 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the nodes did not resume on the new primary"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    *stop.lock().unwrap() = true;
    for w in writers {
        w.await.unwrap();
    }
    let acked: Vec<(String, String, Instant)> = acked.lock().unwrap().clone();
    let before: Vec<(String, String)> = acked
        .iter()
        .filter(|(_, _, at)| *at < crashed_at)
        .map(|(i, p, _)| (i.clone(), p.clone()))
        .collect();
    assert!(
        before.len() >= before_crash && before_crash > 20,
        "{before_crash}"
    );
    // Every pseudonym acknowledged before the stop (and after) re-identifies, through both nodes.
    let all: Vec<(String, String)> = acked
        .iter()
        .map(|(i, p, _)| (i.clone(), p.clone()))
        .collect();
    for n in [&n0, &n1] {
        let re = n.client(&t.reidentifier).await;
        all_reidentify(&re, &before).await;
        all_reidentify(&re, &all).await;
    }
    // The standby is the primary now.
    assert_eq!(pg.query(pg.standby_port, "SELECT pg_is_in_recovery()"), "f");
}
