//! Tenant-key rotation: a new version at once, a job that moves every record while traffic
//! continues, retirement of the old version at the end, resumption after `kill -9`, and the
//! use budget that rotates on its own.

// A test file: helpers unwrap like the tests do; a failure is the test's message.
#![allow(clippy::unwrap_used)]

use std::sync::{
    Arc,
    atomic::{AtomicBool, AtomicU64, Ordering},
};

use valv::config::Limits;
use valv_client::{Valv, pb};
use valv_e2e::{
    Tenant, audit_key, jobs, key_versions, pseudonymise_ok, read_audit, reidentify, setup_tenant,
    spawn_with, start_configured,
};

const BIN: &str = env!("CARGO_BIN_EXE_valv-under-test");
const VALVCTL: &str = env!("CARGO_BIN_EXE_valvctl-under-test");

pub(crate) async fn tenant(operator: &Valv, name: &str) -> Tenant {
    setup_tenant(
        operator,
        name,
        &[
            (
                "patients",
                pb::IdentifierKind::Opaque,
                pb::Scheme::Keyed,
                true,
            ),
            ("mail", pb::IdentifierKind::Email, pb::Scheme::Random, true),
        ],
        &[("care", pb::LegalBasis::Contract)],
    )
    .await
}

/// Pseudonymises `n` identifiers `<prefix>-<i>` in batches; returns (identifier, pseudonym).
pub(crate) async fn fill(tok: &Valv, prefix: &str, n: usize) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let ids: Vec<String> = (0..n).map(|i| format!("{prefix}-{i:06}")).collect();
    for chunk in ids.chunks(1000) {
        let refs: Vec<&str> = chunk.iter().map(String::as_str).collect();
        let ps = pseudonymise_ok(tok, "patients", &refs).await;
        out.extend(chunk.iter().cloned().zip(ps));
    }
    out
}

/// Follows `WatchJob` to its end; returns the last message and how many were seen.
pub(crate) async fn watch(ko: &Valv, id: u64) -> (pb::Job, usize) {
    let mut stream = ko
        .keys()
        .watch_job(pb::GetJobRequest { id })
        .await
        .unwrap_or_else(|e| panic!("watch: {e}"))
        .into_inner();
    let mut last = None;
    let mut n = 0;
    while let Some(j) = stream.message().await.unwrap() {
        n += 1;
        assert!(j.done <= j.total.max(j.done));
        last = Some(j);
    }
    (last.unwrap_or_default(), n)
}

pub(crate) async fn all_reidentify(re: &Valv, pairs: &[(String, String)]) {
    for chunk in pairs.chunks(1000) {
        let ps: Vec<String> = chunk.iter().map(|(_, p)| p.clone()).collect();
        let got = reidentify(re, "patients", "care", &ps)
            .await
            .unwrap_or_else(|e| panic!("reidentify: {e}"));
        for ((id, _), (verdict, back)) in chunk.iter().zip(got) {
            assert_eq!(verdict, pb::Verdict::Released);
            assert_eq!(&back, id);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rotation_moves_every_record_while_traffic_continues() {
    let server = start_configured(
        |c| {
            c.limits = Limits {
                rotation_records_per_second: 3_000,
                ..Limits::default()
            };
        },
        None,
    )
    .await;
    let operator = server.client(&server.operator_token).await;
    let t = tenant(&operator, "rotating").await;
    let tok = server.client(&t.tokenizer).await;
    let re = server.client(&t.reidentifier).await;
    let ko = server.client(&t.key_officer).await;
    let before = fill(&tok, "before", 3_000).await;
    let mail = pseudonymise_ok(&tok, "mail", &["rot@example.se"]).await;
    let v = key_versions(&ko).await;
    assert_eq!(v.len(), 1);
    assert_eq!(v[0].state(), pb::KeyVersionState::Active);
    assert_eq!(v[0].records, 3_001);
    assert!(v[0].encryptions >= 3_001);

    // Traffic during the job: new pseudonyms and exact re-identifications, none may fail.
    let stop = Arc::new(AtomicBool::new(false));
    let checked = Arc::new(AtomicU64::new(0));
    let mut traffic = Vec::new();
    for w in 0..2 {
        let (tok, re, stop, checked) = (
            tok.clone(),
            re.clone(),
            Arc::clone(&stop),
            Arc::clone(&checked),
        );
        let sample: Vec<(String, String)> = before.iter().skip(w).step_by(97).cloned().collect();
        traffic.push(tokio::spawn(async move {
            let mut made = Vec::new();
            let mut round = 0;
            while !stop.load(Ordering::SeqCst) {
                let id = format!("during-{w}-{round}");
                let p = pseudonymise_ok(&tok, "patients", &[id.as_str()]).await;
                made.push((id, p[0].clone()));
                all_reidentify(&re, &sample).await;
                all_reidentify(&re, &made).await;
                checked.fetch_add(1, Ordering::SeqCst);
                round += 1;
            }
            made
        }));
    }

    let rotated = ko
        .keys()
        .rotate_tenant_key(pb::RotateTenantKeyRequest {})
        .await
        .unwrap_or_else(|e| panic!("rotate: {e}"))
        .into_inner();
    assert_eq!(rotated.new_version, 2);
    // New data is under v2 at once; v1 still opens old data.
    let v = key_versions(&ko).await;
    assert_eq!(v[0].state(), pb::KeyVersionState::DecryptOnly);
    assert_eq!(v[1].state(), pb::KeyVersionState::Active);
    // A second rotation while the job runs is refused.
    let second = ko
        .keys()
        .rotate_tenant_key(pb::RotateTenantKeyRequest {})
        .await
        .err()
        .map(|s| s.code());
    assert_eq!(second, Some(tonic::Code::FailedPrecondition));

    let (end, messages) = watch(&ko, rotated.job_id).await;
    assert_eq!(end.state(), pb::JobState::Done, "{end:?}");
    assert!(messages >= 2, "progress was reported along the way");
    stop.store(true, Ordering::SeqCst);
    let mut during = Vec::new();
    for task in traffic {
        during.extend(task.await.unwrap_or_else(|e| panic!("traffic failed: {e}")));
    }
    // Everything under v1 when the rotation began was moved: the 3,001 stored before the
    // traffic, plus whatever the traffic stored before the rotation.
    assert_eq!(end.done, end.total, "{end:?}");
    assert!(
        (3_001..=3_001 + during.len() as u64).contains(&end.total),
        "{end:?}"
    );
    assert!(
        checked.load(Ordering::SeqCst) >= 2,
        "traffic ran during the job"
    );

    let v = key_versions(&ko).await;
    assert_eq!(v[0].state(), pb::KeyVersionState::Retired);
    assert_eq!(v[0].records, 0);
    assert_eq!(v[1].state(), pb::KeyVersionState::Active);
    assert_eq!(v[1].records, 3_001 + during.len() as u64);
    all_reidentify(&re, &before).await;
    all_reidentify(&re, &during).await;
    let m = reidentify(&re, "mail", "care", &mail).await.unwrap();
    assert_eq!(m[0], (pb::Verdict::Released, "rot@example.se".into()));
    // Pseudonyms did not change: rotating the encryption ring never touches them.
    assert_eq!(
        pseudonymise_ok(&tok, "patients", &[before[0].0.as_str()]).await[0],
        before[0].1
    );

    // Both key operations are in the audit chain, which verifies.
    let auditor = server.client(&t.auditor).await;
    let (entries, _) = read_audit(&auditor, pb::ReadAuditRequest::default()).await;
    let actions: Vec<String> = entries.into_iter().map(|e| e.action).collect();
    assert!(actions.contains(&"key.rotate".to_owned()));
    assert!(actions.contains(&"key.rotate.done".to_owned()));
    let jobs = jobs(&ko).await;
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].state(), pb::JobState::Done);
    server.stop().await;
}

/// kill -9 three times while the job runs (each time further in), then let it finish: every
/// record moved exactly once and counted exactly once, whatever moment each kill hit.
#[tokio::test(flavor = "multi_thread")]
async fn a_rotation_killed_again_and_again_resumes_with_exact_counts() {
    valv_e2e::init();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let log = dir.path().join("valv.log");
    let slow = ["--rotation-records-per-second", "1000"];
    let mut server = spawn_with(BIN, &data, &log, &slow);
    let operator = server.client(&server.operator_token).await;
    let t = tenant(&operator, "resumed").await;
    let tok = server.client(&t.tokenizer).await;
    let pairs = fill(&tok, "resume", 4_000).await;
    let ko = server.client(&t.key_officer).await;
    let rotated = ko
        .keys()
        .rotate_tenant_key(pb::RotateTenantKeyRequest {})
        .await
        .unwrap()
        .into_inner();
    for (kill, past) in [500, 1_500, 2_500].into_iter().enumerate() {
        let ko = server.client(&t.key_officer).await;
        // Wait until the job is past `past`, then a little more (a kill between pages and
        // one inside a page are both likely).
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        let partway = loop {
            let j = ko
                .keys()
                .get_job(pb::GetJobRequest { id: rotated.job_id })
                .await
                .unwrap()
                .into_inner();
            if j.done >= past {
                break j;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "job did not progress: {j:?}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        };
        assert!(partway.done < partway.total, "{partway:?}");
        tokio::time::sleep(std::time::Duration::from_millis(70 * kill as u64 + 30)).await;
        server.kill_9();
        server = spawn_with(BIN, &data, &log, &slow);
    }
    let ko = server.client(&t.key_officer).await;
    let (end, _) = watch(&ko, rotated.job_id).await;
    assert_eq!(end.state(), pb::JobState::Done, "{end:?}");
    assert_eq!((end.done, end.total), (4_000, 4_000), "{end:?}");
    let v = key_versions(&ko).await;
    assert_eq!(v[0].state(), pb::KeyVersionState::Retired);
    assert_eq!(v[0].records, 0);
    assert_eq!(v[1].records, 4_000);
    let re = server.client(&t.reidentifier).await;
    all_reidentify(&re, &pairs).await;
    server.terminate();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_spent_use_budget_rotates_on_its_own() {
    let server = start_configured(
        |c| {
            c.limits = Limits {
                key_use_budget: 50,
                ..Limits::default()
            };
            c.metrics_listen = Some(([127, 0, 0, 1], 0).into());
        },
        None,
    )
    .await;
    let operator = server.client(&server.operator_token).await;
    let t = tenant(&operator, "budget").await;
    let tok = server.client(&t.tokenizer).await;
    let ko = server.client(&t.key_officer).await;
    let mut pairs = fill(&tok, "first", 40).await;
    assert_eq!(key_versions(&ko).await.len(), 1);
    // 20 more would pass 50 encryptions under v1: the vault rotates and seals them under v2.
    pairs.extend(fill(&tok, "second", 20).await);
    let v = key_versions(&ko).await;
    assert_eq!(v.len(), 2, "{v:?}");
    assert_eq!(v[1].state(), pb::KeyVersionState::Active);
    assert_eq!(v[0].budget, 50);
    let jobs = jobs(&ko).await;
    assert_eq!(jobs.len(), 1);
    let (end, _) = watch(&ko, jobs[0].id).await;
    assert_eq!(end.state(), pb::JobState::Done);
    let v = key_versions(&ko).await;
    assert_eq!(v[0].state(), pb::KeyVersionState::Retired);
    assert_eq!(v[1].records, 60);
    let re = server.client(&t.reidentifier).await;
    all_reidentify(&re, &pairs).await;
    // The job's progress is a metric.
    let metrics = valv_e2e::http_get(
        server.metrics_addr.unwrap_or_else(|| panic!("metrics")),
        "/metrics",
    )
    .await;
    let series = format!(
        "valv_job_progress_ratio{{job=\"{}\",kind=\"rotate-tenant-key\"",
        jobs[0].id
    );
    let line = metrics
        .lines()
        .find(|l| l.starts_with(&series))
        .unwrap_or_else(|| panic!("no job metric in {metrics}"));
    assert!(line.ends_with(" 1.0") || line.ends_with(" 1"), "{line}");
    assert!(metrics.contains("valv_job_records_done{"));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn valvctl_lists_rotates_and_watches() {
    valv_e2e::init();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = spawn_with(BIN, &data, &dir.path().join("valv.log"), &[]);
    let operator = server.client(&server.operator_token).await;
    let t = tenant(&operator, "cli").await;
    let tok = server.client(&t.tokenizer).await;
    let pairs = fill(&tok, "cli", 300).await;
    let valvctl = |args: &[&str]| {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let out = server.valvctl(VALVCTL, &t.key_officer, &all);
        assert!(out.status.success(), "valvctl {args:?}: {out:?}");
        serde_json::from_slice::<serde_json::Value>(&out.stdout)
            .unwrap_or_else(|e| panic!("valvctl {args:?}: not JSON ({e}): {out:?}"))
    };
    let listed = valvctl(&["keys", "list"]);
    assert_eq!(listed[0]["state"], "active");
    assert_eq!(listed[0]["records"], 300);
    let job = valvctl(&["keys", "rotate", "--watch"]);
    assert_eq!(job["state"], "done", "{job}");
    assert_eq!(job["done"], 300);
    assert_eq!(job["target_version"], 2);
    let listed = valvctl(&["keys", "list"]);
    assert_eq!(listed[0]["state"], "retired");
    assert_eq!(listed[1]["records"], 300);
    let jobs = valvctl(&["jobs", "list"]);
    assert_eq!(jobs[0]["id"], job["id"]);
    assert_eq!(valvctl(&["approval", "list"]), serde_json::json!([]));
    // Destroying the active version is refused, with the reason on stderr.
    let refused = server.valvctl(
        VALVCTL,
        &t.key_officer,
        &["keys", "destroy", "2", "--force"],
    );
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("rotate first"));
    // Epochs: rotate, translate to CSV, finalize.
    assert_eq!(
        valvctl(&["keys", "epoch", "rotate", "patients"])["epoch"],
        2
    );
    let csv = server.valvctl(
        VALVCTL,
        &t.key_officer,
        &["keys", "epoch", "translate", "patients"],
    );
    assert!(csv.status.success(), "{csv:?}");
    let csv = String::from_utf8_lossy(&csv.stdout).into_owned();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "old,new");
    assert_eq!(lines.len(), 301);
    let first_old = &pairs
        .iter()
        .find(|(_, p)| lines[1].starts_with(p.as_str()))
        .unwrap_or_else(|| panic!("a translated pseudonym of ours: {}", lines[1]))
        .1;
    assert!(lines[1].len() > first_old.len() + 1);
    assert_eq!(
        valvctl(&["keys", "epoch", "finalize", "patients"])["epoch"],
        2
    );
    let by_old: std::collections::HashMap<&str, &str> = lines[1..]
        .iter()
        .filter_map(|l| l.split_once(','))
        .collect();
    let translated: Vec<(String, String)> = pairs
        .iter()
        .map(|(id, old)| {
            (
                id.clone(),
                by_old
                    .get(old.as_str())
                    .copied()
                    .unwrap_or_default()
                    .to_owned(),
            )
        })
        .collect();
    let re = server.client(&t.reidentifier).await;
    all_reidentify(&re, &translated).await;
    server.terminate();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn destroying_a_version_needs_its_records_moved_or_force_and_a_second_officer() {
    let server = start_configured(
        |c| {
            c.limits = Limits {
                two_person_rule: true,
                approval_window_seconds: 600,
                // The job moves one page of 500 at once, then waits ~12 s: time to destroy v1
                // while 700 records are still under it.
                rotation_records_per_second: 40,
                ..Limits::default()
            };
        },
        None,
    )
    .await;
    let operator = server.client(&server.operator_token).await;
    let t = tenant(&operator, "destroying").await;
    let tok = server.client(&t.tokenizer).await;
    let pairs = fill(&tok, "destroy", 1_200).await;
    let officer_a = server.client(&t.key_officer).await;
    // Under the rule a key officer exists once a second tenant-admin approved it.
    let second = valv_e2e::principal_token_approved(
        &server.client(&t.admin).await,
        Some(&server.client(&t.admin2).await),
        "second-officer",
        pb::Role::KeyOfficer,
    )
    .await;
    let officer_b = server.client(&second).await;
    let rotated = officer_a
        .keys()
        .rotate_tenant_key(pb::RotateTenantKeyRequest {})
        .await
        .unwrap()
        .into_inner();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let j = officer_a
            .keys()
            .get_job(pb::GetJobRequest { id: rotated.job_id })
            .await
            .unwrap()
            .into_inner();
        if j.done >= 500 {
            assert_eq!(j.done, 500, "{j:?}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{j:?}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let destroy = |c: &Valv, version: u32, force: bool| {
        let c = c.clone();
        async move {
            c.keys()
                .destroy_key_version(pb::DestroyKeyVersionRequest { version, force })
                .await
        }
    };
    // The active version: rotate first.
    let err = destroy(&officer_a, 2, true).await.err();
    assert_eq!(err.map(|s| s.code()), Some(tonic::Code::FailedPrecondition));
    // Records still under v1: refused, and the counts are named.
    let err = destroy(&officer_a, 1, false)
        .await
        .err()
        .unwrap_or_else(|| panic!("must be refused"));
    assert_eq!(err.code(), tonic::Code::FailedPrecondition);
    assert!(
        err.message().contains("patients: 700 records"),
        "{}",
        err.message()
    );
    // Forced: filed for a second officer's approval.
    let filed = destroy(&officer_a, 1, true).await.unwrap().into_inner();
    assert!(!filed.destroyed);
    assert_eq!(filed.records.len(), 1);
    assert_eq!(filed.records[0].records, 700);
    let approve = |c: &Valv, id: u64| {
        let c = c.clone();
        async move {
            c.keys()
                .approve_operation(pb::ApproveOperationRequest { id })
                .await
        }
    };
    // Past the window, an approval is refused.
    server.clock.advance_ms(601_000);
    let late = approve(&officer_b, filed.pending_operation_id).await.err();
    assert_eq!(
        late.map(|s| s.code()),
        Some(tonic::Code::FailedPrecondition)
    );
    let filed = destroy(&officer_a, 1, true).await.unwrap().into_inner();
    assert!(!filed.destroyed);
    // Nothing happened yet.
    assert_eq!(
        key_versions(&officer_a).await[0].state(),
        pb::KeyVersionState::DecryptOnly
    );
    // The requester cannot approve their own request.
    let own = approve(&officer_a, filed.pending_operation_id).await.err();
    assert_eq!(own.map(|s| s.code()), Some(tonic::Code::PermissionDenied));
    let pending = officer_b
        .keys()
        .list_pending_operations(pb::ListPendingOperationsRequest {})
        .await
        .unwrap()
        .into_inner()
        .operations;
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].id, filed.pending_operation_id);
    let done = approve(&officer_b, filed.pending_operation_id)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(done.kind, "destroy-key-version");
    assert_eq!(
        key_versions(&officer_a).await[0].state(),
        pb::KeyVersionState::Destroyed
    );
    // The 500 moved records still re-identify; the 700 under v1 are gone, and say so.
    let re = server.client(&t.reidentifier).await;
    let mut released = 0;
    let mut destroyed = 0;
    for chunk in pairs.chunks(600) {
        let ps: Vec<String> = chunk.iter().map(|(_, p)| p.clone()).collect();
        let got = reidentify(&re, "patients", "care", &ps).await.unwrap();
        for ((id, _), (verdict, back)) in chunk.iter().zip(got) {
            match verdict {
                pb::Verdict::Released => {
                    assert_eq!(&back, id);
                    released += 1;
                }
                pb::Verdict::KeyDestroyed => {
                    assert!(back.is_empty());
                    destroyed += 1;
                }
                other => panic!("unexpected verdict {other:?}"),
            }
        }
    }
    assert_eq!((released, destroyed), (500, 700));
    // Request, approval and act are in the audit chain.
    let auditor = server.client(&t.auditor).await;
    let (entries, _) = read_audit(&auditor, pb::ReadAuditRequest::default()).await;
    let requests = entries
        .iter()
        .filter(|e| e.action == "destroy-key-version.request")
        .count();
    assert_eq!(requests, 2);
    let act = entries
        .iter()
        .find(|e| e.action == "key.destroy")
        .unwrap_or_else(|| panic!("key.destroy audited"));
    assert!(act.items.iter().any(|i| i.outcome == "approved"));
    assert!(
        act.counts
            .iter()
            .any(|c| c.name == "records_lost" && c.value == 700)
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn after_a_root_key_rotation_the_old_root_key_is_not_needed() {
    valv_e2e::init();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let log = dir.path().join("valv.log");
    let server = spawn_with(BIN, &data, &log, &[]);
    let operator = server.client(&server.operator_token).await;
    let t = tenant(&operator, "rooted").await;
    let tok = server.client(&t.tokenizer).await;
    let pairs = fill(&tok, "root", 200).await;
    let slot = valv_e2e::root_slot(&data);
    let old_root = slot.current().map(|r| r.root_key_id()).unwrap();
    // Through the CLI, as the README shows.
    let out = server.valvctl(
        VALVCTL,
        &server.operator_token,
        &["--json", "keys", "rotate-root"],
    );
    assert!(out.status.success(), "{out:?}");
    let rotated: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
    assert_eq!(rotated["rotated"], true, "{rotated}");
    assert_eq!(rotated["root_key_id"].as_str().map(str::len), Some(16));
    // Operators create a second operator the same way.
    let out = server.valvctl(
        VALVCTL,
        &server.operator_token,
        &[
            "--json",
            "principal",
            "create",
            "second-op",
            "--role",
            "operator",
        ],
    );
    assert!(out.status.success(), "{out:?}");
    // Tenants may not rotate the root key.
    let denied = server
        .client(&t.key_officer)
        .await
        .keys()
        .rotate_root_key(pb::RotateRootKeyRequest::default())
        .await
        .err()
        .map(|s| s.code());
    assert_eq!(denied, Some(tonic::Code::PermissionDenied));
    server.terminate();

    // The old key is gone (the file provider's file, or the token, holds only the new key) …
    let new_root = slot.current().map(|r| r.root_key_id()).unwrap();
    assert_ne!(new_root, old_root);
    assert_eq!(rotated["root_key_id"].as_str(), Some(new_root.as_str()));
    assert_eq!(slot.key_ids().ok(), Some(vec![new_root.clone()]));
    // … and nothing needs it: restart and use everything.
    let server = spawn_with(BIN, &data, &log, &[]);
    let re = server.client(&t.reidentifier).await;
    all_reidentify(&re, &pairs).await;
    let operator = server.client(&server.operator_token).await;
    let t2 = tenant(&operator, "after-root").await;
    let more = fill(&server.client(&t2.tokenizer).await, "after", 10).await;
    all_reidentify(&server.client(&t2.reidentifier).await, &more).await;
    let verified = server
        .client(&server.operator_token)
        .await
        .audit()
        .verify_audit(pb::VerifyAuditRequest {
            operator_chain: true,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(verified.ok, "{verified:?}");
    server.terminate();

    // A rotation cut off after the new key was made but before any key ring was re-wrapped:
    // the next start finishes it.
    let cut = slot
        .next(true)
        .ok()
        .flatten()
        .map(|k| k.root_key_id())
        .unwrap_or_else(|| panic!("next root key"));
    assert_eq!(slot.key_ids().map(|ids| ids.len()).ok(), Some(2));
    let server = spawn_with(BIN, &data, &log, &[]);
    assert!(slot.next(false).is_ok_and(|n| n.is_none()));
    assert_eq!(slot.key_ids().ok(), Some(vec![cut]));
    all_reidentify(&server.client(&t.reidentifier).await, &pairs).await;
    server.terminate();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_root_key_rotation_needs_a_second_operator_under_the_two_person_rule() {
    let server = start_configured(
        |c| {
            c.limits = Limits {
                two_person_rule: true,
                ..Limits::default()
            };
        },
        None,
    )
    .await;
    let first = server.client(&server.operator_token).await;
    let t = tenant(&first, "two-ops").await;
    let pairs = fill(&server.client(&t.tokenizer).await, "two", 20).await;
    let second_token =
        valv_e2e::principal_token(&first, "second-operator", pb::Role::Operator).await;
    let second = server.client(&second_token).await;
    let filed = first
        .keys()
        .rotate_root_key(pb::RotateRootKeyRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(!filed.rotated);
    let slot = valv_e2e::root_slot(&server.dir.path().join("data"));
    let key_before = slot.current().map(|r| r.root_key_id()).ok();
    let own = first
        .keys()
        .approve_operation(pb::ApproveOperationRequest {
            id: filed.pending_operation_id,
        })
        .await
        .err()
        .map(|s| s.code());
    assert_eq!(own, Some(tonic::Code::PermissionDenied));
    // A tenant's key officer cannot see or approve an operator operation.
    let ko = server.client(&t.key_officer).await;
    let foreign = ko
        .keys()
        .approve_operation(pb::ApproveOperationRequest {
            id: filed.pending_operation_id,
        })
        .await
        .err()
        .map(|s| s.code());
    assert_eq!(foreign, Some(tonic::Code::NotFound));
    let done = second
        .keys()
        .approve_operation(pb::ApproveOperationRequest {
            id: filed.pending_operation_id,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(done.kind, "rotate-root-key");
    let key_after = slot.current().map(|r| r.root_key_id()).ok();
    assert_ne!(key_before, key_after);
    all_reidentify(&server.client(&t.reidentifier).await, &pairs).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_shredded_tenant_is_unreadable_even_with_the_root_key_and_the_raw_store() {
    valv_e2e::init();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let log = dir.path().join("valv.log");
    let server = spawn_with(BIN, &data, &log, &[]);
    let operator = server.client(&server.operator_token).await;
    let a = tenant(&operator, "doomed").await;
    let b = tenant(&operator, "kept").await;
    fill(&server.client(&a.tokenizer).await, "doomed", 50).await;
    let b_pairs = fill(&server.client(&b.tokenizer).await, "kept", 50).await;
    let a_id = audit_key(&server.client(&a.auditor).await).await.chain;
    server.terminate();
    // A's key ring as stored before shredding (what leftover log copies would hold).
    let ring_before: valv_kms::WrappedTenantKeys = {
        let db = sled::open(data.join("store")).unwrap();
        let meta = db.open_tree("meta").unwrap();
        let raw = meta
            .get(format!("keys/{a_id}"))
            .ok()
            .flatten()
            .unwrap_or_else(|| panic!("A's key ring"));
        serde_json::from_slice(&raw).unwrap()
    };

    let server = spawn_with(BIN, &data, &log, &[]);
    let operator = server.client(&server.operator_token).await;
    let shredded = operator
        .keys()
        .shred_tenant(pb::ShredTenantRequest {
            tenant: "doomed".into(),
        })
        .await
        .unwrap_or_else(|e| panic!("shred: {e}"))
        .into_inner();
    assert!(shredded.shredded);
    // Every call of A's principals is refused; B is untouched.
    let refused = |r: Result<(), tonic::Status>| r.err().map(|s| s.code());
    let a_tok = server.client(&a.tokenizer).await;
    assert_eq!(
        refused(
            a_tok
                .pseudonyms()
                .pseudonymise(pb::PseudonymiseRequest {
                    domain: "patients".into(),
                    identifiers: vec!["doomed-x".into()],
                    batch_id: 0,
                })
                .await
                .map(drop)
        ),
        Some(tonic::Code::FailedPrecondition)
    );
    assert_eq!(
        refused(
            server
                .client(&a.admin)
                .await
                .admin()
                .list_domains(pb::ListDomainsRequest {})
                .await
                .map(drop)
        ),
        Some(tonic::Code::FailedPrecondition)
    );
    assert_eq!(
        refused(
            reidentify(
                &server.client(&a.reidentifier).await,
                "patients",
                "care",
                &["x".into()]
            )
            .await
            .map(drop)
        ),
        Some(tonic::Code::FailedPrecondition)
    );
    all_reidentify(&server.client(&b.reidentifier).await, &b_pairs).await;
    server.terminate();

    // The raw store with the current root key in hand: A's key ring is gone, and the copy taken
    // before shredding (as an append-only log may still hold it) no longer unwraps.
    let root = valv_e2e::root_slot(&data).current().unwrap();
    {
        let db = sled::open(data.join("store")).unwrap();
        let meta = db.open_tree("meta").unwrap();
        assert!(meta.get(format!("keys/{a_id}")).ok().flatten().is_none());
    }
    assert!(valv_kms::TenantKeys::unwrap(&ring_before, root.as_ref()).is_err());

    // Still refused after a restart; B still works.
    let server = spawn_with(BIN, &data, &log, &[]);
    let a_tok = server.client(&a.tokenizer).await;
    let again = a_tok
        .pseudonyms()
        .pseudonymise(pb::PseudonymiseRequest {
            domain: "patients".into(),
            identifiers: vec!["doomed-y".into()],
            batch_id: 0,
        })
        .await
        .err()
        .map(|s| s.code());
    assert_eq!(again, Some(tonic::Code::FailedPrecondition));
    all_reidentify(&server.client(&b.reidentifier).await, &b_pairs).await;
    server.terminate();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_domain_epoch_rotation_translates_old_pseudonyms_and_ends_with_its_grace_period() {
    let server = start_configured(|_| {}, None).await;
    let operator = server.client(&server.operator_token).await;
    let t = tenant(&operator, "epochs").await;
    valv_e2e::create_domain(
        &server.client(&t.admin).await,
        "oneway",
        pb::IdentifierKind::Opaque,
        pb::Scheme::Keyed,
        false,
        0,
    )
    .await
    .unwrap();
    let tok = server.client(&t.tokenizer).await;
    let re = server.client(&t.reidentifier).await;
    let ko = server.client(&t.key_officer).await;
    let before = fill(&tok, "epoch", 600).await;
    let mail_old = pseudonymise_ok(&tok, "mail", &["epoch@example.se"]).await;

    let rotated = ko
        .keys()
        .rotate_domain_epoch(pb::RotateDomainEpochRequest {
            domain: "patients".into(),
            grace_seconds: 3_600,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(rotated.epoch, 2);
    // New pseudonyms at once; the old one still re-identifies, marked old.
    let (id0, old0) = &before[0];
    let new0 = pseudonymise_ok(&tok, "patients", &[id0.as_str()]).await[0].clone();
    assert_ne!(&new0, old0);
    let both = re
        .pseudonyms()
        .re_identify(pb::ReIdentifyRequest {
            domain: "patients".into(),
            purpose: "care".into(),
            pseudonyms: vec![old0.clone(), new0.clone()],
        })
        .await
        .unwrap()
        .into_inner()
        .results;
    assert_eq!(both[0].identifier, *id0);
    assert!(both[0].old_epoch);
    assert_eq!(both[1].identifier, *id0);
    assert!(!both[1].old_epoch);

    // Translation: one pair per stored old mapping; each new pseudonym is what pseudonymise now
    // gives, and it re-identifies.
    let translate = |domain: &'static str| {
        let ko = ko.clone();
        async move {
            let mut stream = ko
                .keys()
                .translate_epoch(pb::TranslateEpochRequest {
                    domain: domain.into(),
                })
                .await?
                .into_inner();
            let mut pairs = Vec::new();
            while let Some(p) = stream.message().await? {
                pairs.push((p.old_pseudonym, p.new_pseudonym));
            }
            Ok::<_, tonic::Status>(pairs)
        }
    };
    let pairs = translate("patients").await.unwrap();
    assert_eq!(pairs.len(), 600);
    let by_old: std::collections::HashMap<String, String> = pairs.into_iter().collect();
    assert_eq!(by_old.get(old0), Some(&new0));
    let translated: Vec<(String, String)> = before
        .iter()
        .map(|(id, old)| (id.clone(), by_old.get(old).cloned().unwrap_or_default()))
        .collect();
    all_reidentify(&re, &translated).await;
    let ids: Vec<&str> = before[1..4].iter().map(|(i, _)| i.as_str()).collect();
    assert_eq!(
        pseudonymise_ok(&tok, "patients", &ids).await,
        translated[1..4]
            .iter()
            .map(|(_, p)| p.clone())
            .collect::<Vec<_>>()
    );
    // A one-way domain has nothing to translate from.
    let oneway = translate("oneway").await.err().map(|s| s.code());
    assert_eq!(oneway, Some(tonic::Code::FailedPrecondition));

    // After the grace period, old pseudonyms are not found; new ones still are.
    server.clock.advance_ms(3_601_000);
    let after_grace = reidentify(&re, "patients", "care", &[old0.clone(), new0.clone()])
        .await
        .unwrap();
    assert_eq!(after_grace[0].0, pb::Verdict::NotFound);
    assert_eq!(after_grace[1], (pb::Verdict::Released, id0.clone()));

    // A random-scheme domain, finalized at once.
    ko.keys()
        .rotate_domain_epoch(pb::RotateDomainEpochRequest {
            domain: "mail".into(),
            grace_seconds: 0,
        })
        .await
        .unwrap();
    let mail_pairs = translate("mail").await.unwrap();
    assert_eq!(mail_pairs.len(), 1);
    assert_eq!(mail_pairs[0].0, mail_old[0]);
    ko.keys()
        .finalize_epoch(pb::FinalizeEpochRequest {
            domain: "mail".into(),
        })
        .await
        .unwrap();
    let mail = reidentify(
        &re,
        "mail",
        "care",
        &[mail_old[0].clone(), mail_pairs[0].1.clone()],
    )
    .await
    .unwrap();
    assert_eq!(mail[0].0, pb::Verdict::NotFound);
    assert_eq!(mail[1], (pb::Verdict::Released, "epoch@example.se".into()));
    assert_eq!(
        pseudonymise_ok(&tok, "mail", &["epoch@example.se"]).await[0],
        mail_pairs[0].1
    );

    let (entries, _) = read_audit(
        &server.client(&t.auditor).await,
        pb::ReadAuditRequest::default(),
    )
    .await;
    for action in ["epoch.rotate", "epoch.translate", "epoch.finalize"] {
        assert!(
            entries.iter().any(|e| e.action == action),
            "{action} audited"
        );
    }
    server.stop().await;
}
