//! The audit trail as evidence: a real server's chain verifies; alterations, deletions,
//! reorderings and truncation made directly in the raw store are caught and the first wrong entry
//! is named; `kill -9` leaves one chain without gap or fork; reads are filtered and carry the
//! request id.

// A test file: helpers unwrap like the tests do; a failure is the test's message.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use prost::Message;
use valv_client::{Valv, pb};
use valv_e2e::{
    ChildServer, Tenant, audit_key, grant, principal_token, pseudonymise_ok, read_audit,
    reidentify, setup_tenant, spawn_with,
};

const BIN: &str = env!("CARGO_BIN_EXE_valv-under-test");
/// A checkpoint after every 5 entries and at least every second.
const FAST_CHECKPOINTS: &[&str] = &[
    "--audit-checkpoint-entries",
    "5",
    "--audit-checkpoint-seconds",
    "1",
];

pub(crate) fn start(data: &Path, log: &Path) -> ChildServer {
    spawn_with(BIN, data, log, FAST_CHECKPOINTS)
}

pub(crate) async fn tenant(server: &ChildServer, name: &str) -> (Tenant, Valv) {
    let operator = server.client(&server.operator_token).await;
    let t = setup_tenant(
        &operator,
        name,
        &[(
            "patients",
            pb::IdentifierKind::Opaque,
            pb::Scheme::Keyed,
            true,
        )],
        &[("research", pb::LegalBasis::Consent)],
    )
    .await;
    (t, operator)
}

/// Some acts of every audited kind.
pub(crate) async fn workload(server: &ChildServer, t: &Tenant, prefix: &str) {
    let tok = server.client(&t.tokenizer).await;
    let cm = server.client(&t.consent_manager).await;
    let re = server.client(&t.reidentifier).await;
    for i in 0..3 {
        let ids: Vec<String> = (0..5).map(|j| format!("{prefix}-{i}-{j}")).collect();
        let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        let ps = pseudonymise_ok(&tok, "patients", &refs).await;
        cm.consents()
            .grant_consent(grant("patients", &ids[0], "research", 1, 0))
            .await
            .unwrap_or_else(|e| panic!("grant: {e}"));
        let verdicts = reidentify(&re, "patients", "research", &ps)
            .await
            .unwrap_or_else(|e| panic!("reidentify: {e}"));
        assert_eq!(verdicts[0].0, pb::Verdict::Released);
    }
}

async fn verify(server: &ChildServer, t: &Tenant) -> pb::VerifyAuditResponse {
    server
        .client(&t.auditor)
        .await
        .audit()
        .verify_audit(pb::VerifyAuditRequest {
            operator_chain: false,
        })
        .await
        .unwrap_or_else(|e| panic!("verify: {e}"))
        .into_inner()
}

/// Polls until a checkpoint covers every entry that existed at the time of a verification.
pub(crate) async fn wait_for_checkpoint_of_head(
    server: &ChildServer,
    t: &Tenant,
) -> pb::VerifyAuditResponse {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let v = verify(server, t).await;
        assert!(v.ok, "untampered chain must verify: {v:?}");
        if v.last_checkpoint_seq == v.entries {
            return v;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no checkpoint of the head: {v:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
}

pub(crate) fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

fn key(chain: u64, seq: u64) -> Vec<u8> {
    let mut k = chain.to_be_bytes().to_vec();
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

/// Opens the raw store of a stopped server, applies `tamper` to the audit tree, closes it.
fn tamper_raw(data: &Path, tamper: impl FnOnce(&sled::Tree)) {
    let db = sled::open(data.join("store")).unwrap();
    let audit = db.open_tree("audit").unwrap();
    tamper(&audit);
    db.flush().unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn tampering_in_the_raw_store_is_caught_and_named() {
    valv_e2e::init();
    let dir = tempfile::tempdir().unwrap();
    let pristine = dir.path().join("pristine");
    let log = dir.path().join("valv.log");
    let server = start(&pristine, &log);
    let (t, _) = tenant(&server, "evidence").await;
    workload(&server, &t, "tamper").await;
    let head = wait_for_checkpoint_of_head(&server, &t).await;
    assert!(head.entries >= 12, "{head:?}");
    let chain = audit_key(&server.client(&t.auditor).await).await.chain;
    server.terminate();
    // The last stored entry; a checkpoint covers at least `head.entries`.
    let last = head.entries + 1; // + the verification that saw the checkpoint

    // (case name, tamper, expected first bad seq)
    type Tamper = Box<dyn FnOnce(&sled::Tree)>;
    let cases: Vec<(&str, Tamper, u64)> = vec![
        (
            "altered entry",
            Box::new(move |tree: &sled::Tree| {
                let raw = tree
                    .get(key(chain, 3))
                    .ok()
                    .flatten()
                    .unwrap_or_else(|| panic!("entry 3"));
                let mut e = pb::AuditEntry::decode(raw.as_ref()).unwrap();
                e.principal = "someone-else".into();
                let _ = tree.insert(key(chain, 3), e.encode_to_vec());
            }),
            3,
        ),
        (
            "deleted entry",
            Box::new(move |tree: &sled::Tree| {
                let _ = tree.remove(key(chain, 4));
            }),
            4,
        ),
        (
            "reordered entries",
            Box::new(move |tree: &sled::Tree| {
                let five = tree.get(key(chain, 5)).ok().flatten();
                let six = tree.get(key(chain, 6)).ok().flatten();
                if let (Some(five), Some(six)) = (five, six) {
                    let _ = tree.insert(key(chain, 5), six);
                    let _ = tree.insert(key(chain, 6), five);
                }
            }),
            5,
        ),
        (
            "truncated tail",
            Box::new(move |tree: &sled::Tree| {
                for seq in last - 2..=last {
                    let _ = tree.remove(key(chain, seq));
                }
            }),
            last - 2,
        ),
    ];

    let copies: Vec<_> = (0..cases.len())
        .map(|i| {
            let data = dir.path().join(format!("case{i}"));
            copy_dir(&pristine, &data);
            data
        })
        .collect();

    // The untouched store restarts and still verifies (the chain survives a restart).
    let server = start(&pristine, &log);
    let v = verify(&server, &t).await;
    assert!(v.ok, "{v:?}");
    assert_eq!(v.entries, last, "{v:?}");
    server.terminate();

    for ((name, tamper, expected), data) in cases.into_iter().zip(copies) {
        tamper_raw(&data, tamper);
        let server = start(&data, &log);
        let v = verify(&server, &t).await;
        assert!(!v.ok, "{name}: not caught: {v:?}");
        assert_eq!(v.first_bad_seq, expected, "{name}: {v:?}");
        assert!(!v.problem.is_empty(), "{name}");
        server.terminate();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_leaves_one_chain_without_gap_or_fork() {
    valv_e2e::init();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let log = dir.path().join("valv.log");
    let server = start(&data, &log);
    let (t, _) = tenant(&server, "crash").await;
    // Concurrent acts from four clients append to one chain.
    let mut tasks = Vec::new();
    for w in 0..4 {
        let tok = server.client(&t.tokenizer).await;
        let cm = server.client(&t.consent_manager).await;
        tasks.push(tokio::spawn(async move {
            for i in 0..10 {
                let id = format!("crash-{w}-{i}");
                pseudonymise_ok(&tok, "patients", &[id.as_str()]).await;
                cm.consents()
                    .grant_consent(grant("patients", &id, "research", 1, 0))
                    .await
                    .unwrap_or_else(|e| panic!("grant: {e}"));
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    server.kill_9();

    let server = start(&data, &log);
    let v = verify(&server, &t).await;
    // Every grant was acknowledged, so its entry is durable: 40 grants at least.
    assert!(v.ok, "{v:?}");
    assert!(v.entries >= 40, "{v:?}");
    // Appending after the restart continues the same chain.
    workload(&server, &t, "after").await;
    let again = verify(&server, &t).await;
    assert!(again.ok, "{again:?}");
    assert!(again.entries > v.entries, "{again:?}");
    server.terminate();
}

#[tokio::test(flavor = "multi_thread")]
async fn reads_are_filtered_carry_request_ids_and_are_audited() {
    valv_e2e::init();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let log = dir.path().join("valv.log");
    let server = start(&data, &log);
    let (t, operator) = tenant(&server, "reader").await;

    // A request id sent by the caller comes back and lands in the audit entry.
    let mut request = tonic::Request::new(pb::PseudonymiseRequest {
        domain: "patients".into(),
        identifiers: vec!["reader-1".into()],
        batch_id: 0,
    });
    request
        .metadata_mut()
        .insert("x-request-id", "req-reader-0001".parse().unwrap());
    let reply = server
        .client(&t.tokenizer)
        .await
        .pseudonyms()
        .pseudonymise(request)
        .await
        .unwrap();
    assert_eq!(
        reply
            .metadata()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok()),
        Some("req-reader-0001")
    );
    // Without one, the server makes one.
    let reply = server
        .client(&t.tokenizer)
        .await
        .pseudonyms()
        .pseudonymise(pb::PseudonymiseRequest {
            domain: "patients".into(),
            identifiers: vec!["reader-2".into()],
            batch_id: 0,
        })
        .await
        .unwrap();
    let generated = reply
        .metadata()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert_eq!(generated.len(), 32, "{generated}");

    let auditor = server.client(&t.auditor).await;
    let read = |filter: pb::ReadAuditRequest| read_audit(&auditor, filter);
    let (pseudonymise, _) = read(pb::ReadAuditRequest {
        action: "pseudonymise".into(),
        ..Default::default()
    })
    .await;
    assert_eq!(pseudonymise.len(), 2);
    assert!(pseudonymise.iter().all(|e| e.action == "pseudonymise"));
    assert_eq!(pseudonymise[0].request_id, "req-reader-0001");
    assert_eq!(pseudonymise[1].request_id, generated);

    let (all, _) = read(pb::ReadAuditRequest::default()).await;
    assert!(all.len() > 2);
    assert!(all.windows(2).all(|w| w[1].seq == w[0].seq + 1));
    // The first read was itself recorded (before its answer).
    assert!(all.iter().any(|e| e.action == "audit.read"));
    let tokenizer_id = pseudonymise[0].principal.clone();
    let (by_principal, _) = read(pb::ReadAuditRequest {
        principal: tokenizer_id.clone(),
        ..Default::default()
    })
    .await;
    assert_eq!(by_principal.len(), 2);
    // By subject: the consent acts about one person, found by the handle in their entries.
    let cm = server.client(&t.consent_manager).await;
    for id in ["reader-1", "reader-2", "reader-1"] {
        cm.consents()
            .grant_consent(grant("patients", id, "research", 1, 0))
            .await
            .unwrap();
    }
    let (grants, _) = read(pb::ReadAuditRequest {
        action: "consent.grant".into(),
        ..Default::default()
    })
    .await;
    assert_eq!(grants.len(), 3);
    let handle = grants[0].subject.clone();
    assert_eq!(handle.len(), 32);
    let (about_one, _) = read(pb::ReadAuditRequest {
        subject: handle.clone(),
        ..Default::default()
    })
    .await;
    assert_eq!(about_one.len(), 2);
    assert!(about_one.iter().all(|e| e.subject == handle));
    let (none, _) = read(pb::ReadAuditRequest {
        from_unix_ms: i64::MAX - 1,
        ..Default::default()
    })
    .await;
    assert!(none.is_empty());

    // Only auditors read a tenant chain; operators read only the operator chain.
    let denied = server
        .client(&t.tokenizer)
        .await
        .audit()
        .verify_audit(pb::VerifyAuditRequest {
            operator_chain: false,
        })
        .await
        .err()
        .map(|s| s.code());
    assert_eq!(denied, Some(tonic::Code::PermissionDenied));
    let op = operator
        .audit()
        .verify_audit(pb::VerifyAuditRequest {
            operator_chain: true,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(op.ok && op.entries >= 1, "{op:?}");
    let op_reads_tenant = operator
        .audit()
        .verify_audit(pb::VerifyAuditRequest {
            operator_chain: false,
        })
        .await
        .err()
        .map(|s| s.code());
    assert_eq!(op_reads_tenant, Some(tonic::Code::PermissionDenied));
    server.terminate();
}

#[tokio::test(flavor = "multi_thread")]
async fn valvctl_exports_a_chain_and_verifies_it_offline() {
    valv_e2e::init();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let log = dir.path().join("valv.log");
    let server = start(&data, &log);
    let (t, _) = tenant(&server, "offline").await;
    workload(&server, &t, "offline").await;
    wait_for_checkpoint_of_head(&server, &t).await;
    let valvctl =
        |args: &[&str]| server.valvctl(env!("CARGO_BIN_EXE_valvctl-under-test"), &t.auditor, args);
    let online = valvctl(&["audit", "verify"]);
    assert!(online.status.success(), "{online:?}");
    assert!(String::from_utf8_lossy(&online.stdout).contains("audit chain verified"));

    let key = valvctl(&["audit", "key"]);
    assert!(key.status.success());
    let key_path = dir.path().join("audit.key");
    std::fs::write(&key_path, &key.stdout).unwrap();
    let export = dir.path().join("audit.jsonl");
    let out = valvctl(&["audit", "export", "--out", &export.to_string_lossy()]);
    assert!(out.status.success(), "{out:?}");
    server.terminate();

    // Offline: no server, only the file and the public key.
    let offline = |file: &Path| {
        std::process::Command::new(env!("CARGO_BIN_EXE_valvctl-under-test"))
            .args(["--json", "audit", "verify", "--file"])
            .arg(file)
            .arg("--public-key")
            .arg(&key_path)
            .env("VALV_ADDR", "https://127.0.0.1:1")
            .output()
            .unwrap_or_else(|e| panic!("valvctl: {e}"))
    };
    let good = offline(&export);
    assert!(good.status.success(), "{good:?}");
    let report: serde_json::Value =
        serde_json::from_slice(&good.stdout).unwrap_or(serde_json::Value::Null);
    assert_eq!(report["ok"], true);
    assert!(report["checkpoints"].as_u64().is_some_and(|n| n >= 1));

    let text = std::fs::read_to_string(&export).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let entries: Vec<usize> = (0..lines.len())
        .filter(|i| lines[*i].contains("\"type\":\"entry\""))
        .collect();
    // One character changed in the fourth entry.
    let mut altered: Vec<String> = lines.iter().map(|l| (*l).to_owned()).collect();
    altered[entries[3]] = altered[entries[3]].replacen("\"at_unix_ms\":", "\"at_unix_ms\":1", 1);
    let altered_path = dir.path().join("altered.jsonl");
    std::fs::write(&altered_path, altered.join("\n")).unwrap();
    let bad = offline(&altered_path);
    assert_eq!(bad.status.code(), Some(1));
    let report: serde_json::Value =
        serde_json::from_slice(&bad.stdout).unwrap_or(serde_json::Value::Null);
    assert_eq!(report["ok"], false);
    assert_eq!(report["first_bad_seq"], 4);
    // The tail cut off from two entries before the last checkpoint (checkpoints kept): caught
    // against that checkpoint. (Entries after the last checkpoint cannot be missed by anyone.)
    let last_checkpoint = lines
        .iter()
        .filter(|l| l.contains("\"type\":\"checkpoint\""))
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v["seq"].as_u64())
        .max()
        .unwrap_or_else(|| panic!("a checkpoint in the export"));
    let keep = usize::try_from(last_checkpoint - 2).unwrap_or(0);
    let cut: Vec<&str> = lines
        .iter()
        .enumerate()
        .filter(|(i, _)| !entries[keep..].contains(i))
        .map(|(_, l)| *l)
        .collect();
    let cut_path = dir.path().join("cut.jsonl");
    std::fs::write(&cut_path, cut.join("\n")).unwrap();
    let bad = offline(&cut_path);
    assert_eq!(bad.status.code(), Some(1), "{bad:?}");
    assert!(String::from_utf8_lossy(&bad.stdout).contains("truncated"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reidentification_is_logged_canonically_with_its_subject_and_found_by_it() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(&dir.path().join("data"), &dir.path().join("valv.log"));
    let (t, _) = tenant(&server, "hospital").await;
    let auditor = server.client(&t.auditor).await;
    let admin = server.client(&t.admin).await;
    let officer = server
        .client(&principal_token(&admin, "officer", pb::Role::SubjectOfficer).await)
        .await;
    let tok = server.client(&t.tokenizer).await;
    let re = server.client(&t.reidentifier).await;
    let p = pseudonymise_ok(&tok, "patients", &["P-7"]).await.remove(0);
    server
        .client(&t.consent_manager)
        .await
        .consents()
        .grant_consent(grant("patients", "P-7", "research", 1, 0))
        .await
        .unwrap();
    // Parsing ignores case: the caller asks in upper case.
    let asked = p.to_ascii_uppercase();
    assert_ne!(asked, p);
    let answer = reidentify(&re, "patients", "research", std::slice::from_ref(&asked))
        .await
        .unwrap();
    assert_eq!(answer[0].0, pb::Verdict::Released);

    let doc = officer
        .subjects()
        .export_subject(pb::ExportSubjectRequest {
            subject: Some(pb::SubjectRef {
                domain: "patients".into(),
                by: Some(pb::subject_ref::By::Identifier("P-7".into())),
            }),
        })
        .await
        .unwrap()
        .into_inner()
        .document;
    let doc: serde_json::Value = serde_json::from_str(&doc).unwrap();
    let handle = doc["subject_ref"]
        .as_str()
        .and_then(|r| r.strip_prefix("subject:"))
        .unwrap()
        .to_owned();

    // The entry names the pseudonym as the vault writes it, and the subject.
    let (found, _) = read_audit(
        &auditor,
        pb::ReadAuditRequest {
            action: "reidentify".into(),
            subject: handle.clone(),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].items.len(), 1);
    assert_eq!(
        (
            found[0].items[0].target.as_str(),
            found[0].items[0].outcome.as_str(),
            found[0].items[0].subject.as_str()
        ),
        (p.as_str(), "released", handle.as_str())
    );
    // The subject's access export lists it.
    let listed: Vec<&serde_json::Value> = doc["audit"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "reidentify")
        .collect();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["items"][0]["pseudonym"], p.as_str());
    // The chain with the new field still verifies.
    let verified = auditor
        .audit()
        .verify_audit(pb::VerifyAuditRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(verified.ok, "{verified:?}");
}
