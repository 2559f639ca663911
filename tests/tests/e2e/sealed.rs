//! Sealed start: `valv operator init --shares 3 --threshold 2`, a vault that answers nothing
//! but its seal status (health NOT_SERVING) until two shares arrive through `valvctl unseal`,
//! `valvctl seal` that drops every key at once, restarts that come up sealed again, and a
//! root-key rotation sealed under the same shares. Outside development mode the two-person rule
//! is on by default.

// A test file: helpers unwrap like the tests do; a failure is the test's message.
#![allow(clippy::unwrap_used)]

use std::{
    io::Write,
    path::Path,
    process::{Command, Stdio},
};

use tonic::Code;
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};
use valv_e2e::{ChildServer, connect, pb, pseudonymise_ok, read_audit, reidentify, setup_tenant};

const BIN: &str = env!("CARGO_BIN_EXE_valv-under-test");
const VALVCTL: &str = env!("CARGO_BIN_EXE_valvctl-under-test");

/// Runs `valv operator init` and returns the printed shares.
pub(crate) fn operator_init(data: &Path, shares: u8, threshold: u8) -> Vec<String> {
    let out = Command::new(BIN)
        .args(["operator", "init", "--data-dir"])
        .arg(data)
        .args([
            "--shares",
            &shares.to_string(),
            "--threshold",
            &threshold.to_string(),
        ])
        .output()
        .unwrap_or_else(|e| panic!("init: {e}"));
    assert!(out.status.success(), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("shown this once"), "{stderr}");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split(": ").nth(1).map(str::to_owned))
        .collect()
}

/// `valvctl unseal`, the share on stdin as a holder would paste it.
pub(crate) fn valvctl_unseal(server: &ChildServer, data: &Path, share: &str) -> serde_json::Value {
    let mut child = Command::new(VALVCTL)
        .args(["--json", "unseal"])
        .env("VALV_ADDR", &server.addr)
        .env("VALV_CA", data.join("tls/ca.pem"))
        .env_remove("VALV_TOKEN")
        .env_remove("VALV_TOKEN_FILE")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("valvctl: {e}"));
    if let Some(mut stdin) = child.stdin.take() {
        writeln!(stdin, "{share}").unwrap();
    }
    let out = child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("valvctl: {e}"));
    assert!(out.status.success(), "{out:?}");
    serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null)
}

pub(crate) async fn health(server: &ChildServer, service: &str) -> ServingStatus {
    let anonymous = connect(&server.addr, &server.ca_pem, None).await;
    HealthClient::new(anonymous.channel())
        .check(HealthCheckRequest {
            service: service.into(),
        })
        .await
        .unwrap()
        .into_inner()
        .status()
}

/// Health follows the seal (and the store) within one health interval, not within the call
/// that changed it: waits up to 30 s for `want`.
pub(crate) async fn health_becomes(server: &ChildServer, service: &str, want: ServingStatus) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let now = health(server, service).await;
        if now == want {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{service}: health stayed {now:?}, want {want:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

pub(crate) async fn seal_status(server: &ChildServer) -> pb::SealStatus {
    connect(&server.addr, &server.ca_pem, None)
        .await
        .seal()
        .get_seal_status(pb::GetSealStatusRequest {})
        .await
        .unwrap()
        .into_inner()
}

pub(crate) async fn unseal(
    server: &ChildServer,
    share: &str,
) -> Result<pb::SealStatus, tonic::Status> {
    connect(&server.addr, &server.ca_pem, None)
        .await
        .seal()
        .unseal(pb::UnsealRequest {
            share: share.into(),
            reset: false,
        })
        .await
        .map(tonic::Response::into_inner)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sealed_vault_serves_nothing_until_enough_shares_arrive() {
    valv_e2e::init();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let log = dir.path().join("valv.log");
    let shares = operator_init(&data, 3, 2);
    assert_eq!(shares.len(), 3);
    assert!(shares.iter().all(|s| s.starts_with("valv-share:")));
    assert!(data.join("root.sealed").exists());
    assert!(!data.join("root.key").exists());
    // A second init of the same directory is refused.
    let again = Command::new(BIN)
        .args([
            "operator",
            "init",
            "--shares",
            "3",
            "--threshold",
            "2",
            "--data-dir",
        ])
        .arg(&data)
        .output()
        .unwrap();
    assert!(!again.status.success());

    let server = valv_e2e::spawn(BIN, &data, &log);
    // Sealed: no operator token written yet, health NOT_SERVING, every data call refused.
    assert!(server.operator_token.is_empty());
    let status = seal_status(&server).await;
    assert_eq!(
        (
            status.sealed,
            status.threshold,
            status.shares,
            status.progress
        ),
        (true, 2, 3, 0)
    );
    assert_eq!(status.root_provider, "sealed");
    for service in ["", "valv.v1.PseudonymService", "valv.v1.KeyService"] {
        assert_eq!(
            health(&server, service).await,
            ServingStatus::NotServing,
            "{service}"
        );
    }
    assert_eq!(
        health(&server, "valv.v1.SealService").await,
        ServingStatus::Serving
    );
    let anyone = connect(&server.addr, &server.ca_pem, Some("nobody.token")).await;
    let refused = anyone
        .admin()
        .list_domains(pb::ListDomainsRequest {})
        .await
        .err()
        .map(|s| (s.code(), s.message().contains("sealed")));
    assert_eq!(refused, Some((Code::FailedPrecondition, true)));

    // A share of another vault and a malformed share do not count.
    let other = tempfile::tempdir().unwrap();
    let foreign = operator_init(&other.path().join("data"), 2, 2);
    for bad in [foreign[0].as_str(), "valv-share:00:zz", ""] {
        let code = unseal(&server, bad).await.err().map(|s| s.code());
        assert_eq!(code, Some(Code::InvalidArgument), "{bad}");
    }
    assert_eq!(seal_status(&server).await.progress, 0);

    // Two holders unseal through valvctl (the share on stdin).
    let first = valvctl_unseal(&server, &data, &shares[0]);
    assert_eq!(
        (first["sealed"].as_bool(), first["progress"].as_u64()),
        (Some(true), Some(1))
    );
    let second = valvctl_unseal(&server, &data, &format!("share 3: {}", shares[2]));
    assert_eq!(second["sealed"].as_bool(), Some(false), "{second}");
    for service in ["", "valv.v1.PseudonymService", "valv.v1.KeyService"] {
        health_becomes(&server, service, ServingStatus::Serving).await;
    }
    // The first unseal finished setting up the data directory: the operator token exists now.
    let operator_token = std::fs::read_to_string(data.join("operator.token"))
        .map(|t| t.trim().to_owned())
        .unwrap_or_default();
    assert!(!operator_token.is_empty());
    let operator = server.client(&operator_token).await;
    let t = setup_tenant(
        &operator,
        "sealed-co",
        &[(
            "patients",
            pb::IdentifierKind::Opaque,
            pb::Scheme::Keyed,
            true,
        )],
        &[("care", pb::LegalBasis::Contract)],
    )
    .await;
    let tok = server.client(&t.tokenizer).await;
    let re = server.client(&t.reidentifier).await;
    let ps = pseudonymise_ok(&tok, "patients", &["sealed-1", "sealed-2"]).await;
    let back = reidentify(&re, "patients", "care", &ps).await.unwrap();
    assert_eq!(back[0].1, "sealed-1");

    // Seal at once (operator only): every call is refused again.
    let out = server.valvctl(VALVCTL, &t.admin, &["seal"]);
    assert!(!out.status.success(), "a tenant admin may not seal");
    let out = server.valvctl(VALVCTL, &operator_token, &["--json", "seal"]);
    assert!(out.status.success(), "{out:?}");
    let sealed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    assert_eq!(sealed["sealed"].as_bool(), Some(true));
    let refused = reidentify(&re, "patients", "care", &ps)
        .await
        .err()
        .map(|s| s.code());
    assert_eq!(refused, Some(Code::FailedPrecondition));
    assert_eq!(
        health(&server, "valv.v1.PseudonymService").await,
        ServingStatus::NotServing
    );
    let out = server.valvctl(VALVCTL, "", &["--json", "seal-status"]);
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    assert_eq!(
        (status["sealed"].as_bool(), status["progress"].as_u64()),
        (Some(true), Some(0))
    );
    // Any two shares unseal it again.
    assert!(unseal(&server, &shares[1]).await.is_ok_and(|s| s.sealed));
    assert!(unseal(&server, &shares[2]).await.is_ok_and(|s| !s.sealed));
    let back = reidentify(&re, "patients", "care", &ps).await.unwrap();
    assert_eq!(back[1].1, "sealed-2");
    server.terminate();

    // A restart comes up sealed; the same shares open it; nothing was lost.
    let server = valv_e2e::spawn(BIN, &data, &log);
    assert!(seal_status(&server).await.sealed);
    assert!(unseal(&server, &shares[0]).await.is_ok_and(|s| s.sealed));
    assert!(unseal(&server, &shares[1]).await.is_ok_and(|s| !s.sealed));
    let re = server.client(&t.reidentifier).await;
    let back = reidentify(&re, "patients", "care", &ps).await.unwrap();
    assert_eq!(back[0].1, "sealed-1");

    // Not development mode: the two-person rule is on by default. A root-key rotation is filed,
    // a second operator approves it, and the new root key is sealed under the same shares.
    let operator = server.client(&operator_token).await;
    // The approver must exist before the request is filed.
    let second_token =
        valv_e2e::principal_token(&operator, "second-operator", pb::Role::Operator).await;
    let filed = operator
        .keys()
        .rotate_root_key(pb::RotateRootKeyRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(
        !filed.rotated,
        "the two-person rule must be on by default here"
    );
    let root_before = std::fs::read_to_string(data.join("root.sealed")).unwrap_or_default();
    server
        .client(&second_token)
        .await
        .keys()
        .approve_operation(pb::ApproveOperationRequest {
            id: filed.pending_operation_id,
        })
        .await
        .unwrap();
    let root_after = std::fs::read_to_string(data.join("root.sealed")).unwrap_or_default();
    assert_ne!(root_before, root_after);
    assert!(!data.join("root.sealed.next").exists());
    server.terminate();
    let server = valv_e2e::spawn(BIN, &data, &log);
    assert!(unseal(&server, &shares[2]).await.is_ok_and(|s| s.sealed));
    assert!(unseal(&server, &shares[0]).await.is_ok_and(|s| !s.sealed));
    let back = reidentify(
        &server.client(&t.reidentifier).await,
        "patients",
        "care",
        &ps,
    )
    .await
    .unwrap();
    assert_eq!(back[1].1, "sealed-2");

    // Every unseal and seal is in the operator chain.
    let (entries, _) = read_audit(
        &server.client(&operator_token).await,
        pb::ReadAuditRequest {
            operator_chain: true,
            ..Default::default()
        },
    )
    .await;
    let count = |action: &str| entries.iter().filter(|e| e.action == action).count();
    assert_eq!((count("vault.unseal"), count("vault.seal")), (4, 1));
    server.terminate();

    // No share ever reached the log.
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    for share in &shares {
        let secret = share.rsplit(':').next().unwrap_or_default();
        assert!(!text.contains(secret), "a share reached the log");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn seal_is_refused_for_a_vault_without_shares() {
    let server = valv_e2e::start().await;
    let operator = server.client(&server.operator_token).await;
    let code = operator
        .seal()
        .seal(pb::SealRequest {})
        .await
        .err()
        .map(|s| s.code());
    assert_eq!(code, Some(Code::FailedPrecondition));
    let status = operator
        .seal()
        .get_seal_status(pb::GetSealStatusRequest {})
        .await
        .unwrap()
        .into_inner();
    assert!(!status.sealed);
    let expected = if valv_e2e::pkcs11_mode() {
        "pkcs11"
    } else {
        "file"
    };
    assert_eq!(status.root_provider, expected);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn each_node_on_a_shared_database_is_unsealed_by_itself() {
    valv_e2e::init();
    let mut shares = Vec::new();
    let Some(cluster) = valv_e2e::cluster::Cluster::start_prepared(
        "sealed nodes on PostgreSQL",
        BIN,
        2,
        &[],
        None,
        |dir| shares = operator_init(dir, 3, 2),
    )
    .await
    else {
        return;
    };
    let service = "valv.v1.PseudonymService";
    for i in 0..2 {
        assert!(seal_status(cluster.node(i)).await.sealed);
        assert_eq!(
            health(cluster.node(i), service).await,
            ServingStatus::NotServing
        );
    }
    // Node 0 unsealed with two shares (one through valvctl); node 1 is still sealed.
    valvctl_unseal(cluster.node(0), &cluster.data_dir(0), &shares[0]);
    let status = unseal(cluster.node(0), &shares[2]).await.unwrap();
    assert!(!status.sealed, "{status:?}");
    health_becomes(cluster.node(0), service, ServingStatus::Serving).await;
    assert!(seal_status(cluster.node(1)).await.sealed);
    assert_eq!(
        health(cluster.node(1), service).await,
        ServingStatus::NotServing
    );
    // The first unseal on an empty database made the first operator, in node 0's directory.
    let token = std::fs::read_to_string(cluster.data_dir(0).join("operator.token"))
        .unwrap()
        .trim()
        .to_owned();
    let operator = cluster.node(0).client(&token).await;
    let t = setup_tenant(
        &operator,
        "sealed-shared",
        &[("p", pb::IdentifierKind::Opaque, pb::Scheme::Keyed, true)],
        &[("care", pb::LegalBasis::Contract)],
    )
    .await;
    let ps = pseudonymise_ok(&cluster.node(0).client(&t.tokenizer).await, "p", &["x"]).await;
    // Node 1 serves nothing until it has its own shares; then it re-identifies node 0's work.
    let early = reidentify(
        &cluster.node(1).client(&t.reidentifier).await,
        "p",
        "care",
        &ps,
    )
    .await;
    assert_eq!(
        early.err().map(|s| s.code()),
        Some(Code::FailedPrecondition)
    );
    unseal(cluster.node(1), &shares[1]).await.unwrap();
    let status = unseal(cluster.node(1), &shares[2]).await.unwrap();
    assert!(!status.sealed, "{status:?}");
    health_becomes(cluster.node(1), service, ServingStatus::Serving).await;
    let back = reidentify(
        &cluster.node(1).client(&t.reidentifier).await,
        "p",
        "care",
        &ps,
    )
    .await
    .unwrap();
    assert_eq!(back, vec![(pb::Verdict::Released, "x".to_owned())]);
    // Only one operator was made, although both nodes were unsealed on an empty database.
    assert_eq!(
        cluster
            .count("SELECT count(*) FROM principals WHERE tenant_id IS NULL")
            .await,
        1
    );
    assert!(!cluster.data_dir(1).join("operator.token").exists());

    // A root-key rotation through node 0 (a second operator approves: the two-person rule is on
    // with a sealed root key) re-wraps the key rings; node 1 still holds the old root key and
    // says so instead of serving with it.
    let second = valv_e2e::principal_token(&operator, "second-op", pb::Role::Operator).await;
    let filed = operator
        .keys()
        .rotate_root_key(pb::RotateRootKeyRequest::default())
        .await
        .unwrap()
        .into_inner();
    cluster
        .node(0)
        .client(&second)
        .await
        .keys()
        .approve_operation(pb::ApproveOperationRequest {
            id: filed.pending_operation_id,
        })
        .await
        .unwrap();
    let re_1 = cluster.node(1).client(&t.reidentifier).await;
    let stale = reidentify(&re_1, "p", "care", &ps).await.err().unwrap();
    assert_eq!(stale.code(), Code::FailedPrecondition, "{stale:?}");
    assert!(
        stale
            .message()
            .contains("another node rotated the root key")
    );
    // The operator copies node 0's seal file (the same unseal key seals the new root key):
    // node 1 opens it with the unseal key it holds, on its next call, without a restart.
    std::fs::copy(
        cluster.data_dir(0).join("root.sealed"),
        cluster.data_dir(1).join("root.sealed"),
    )
    .unwrap();
    let back = reidentify(&re_1, "p", "care", &ps).await.unwrap();
    assert_eq!(back, vec![(pb::Verdict::Released, "x".to_owned())]);
}

/// Nobody who reaches the port can undo what the share holders gave: a reset needs a share of
/// this vault, and an address that keeps sending wrong shares is refused for a while — without
/// touching the shares given so far.
#[tokio::test(flavor = "multi_thread")]
async fn strangers_cannot_reset_or_flood_the_unseal() {
    valv_e2e::init();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let shares = operator_init(&data, 3, 3);
    let foreign = operator_init(&dir.path().join("other"), 3, 2);
    let server = valv_e2e::spawn(BIN, &data, &dir.path().join("valv.log"));
    assert_eq!(unseal(&server, &shares[0]).await.unwrap().progress, 1);
    let reset = |share: &str| {
        let share = share.to_owned();
        let (addr, ca) = (server.addr.clone(), server.ca_pem.clone());
        async move {
            connect(&addr, &ca, None)
                .await
                .seal()
                .unseal(pb::UnsealRequest { share, reset: true })
                .await
        }
    };
    // A reset without a share, or with another vault's, is refused and forgets nothing.
    let empty = reset("").await.err().unwrap();
    assert_eq!(empty.code(), Code::InvalidArgument);
    assert!(
        empty.message().contains("a reset needs a share"),
        "{empty:?}"
    );
    assert_eq!(
        reset(&foreign[0]).await.err().map(|s| s.code()),
        Some(Code::InvalidArgument)
    );
    assert_eq!(seal_status(&server).await.progress, 1);
    // Wrong shares from one address: refused, counted, and after ten the address is refused
    // without being looked at.
    for _ in 0..9 {
        let wrong = unseal(&server, "valv-share:nope:00").await.err().unwrap();
        assert_eq!(wrong.code(), Code::InvalidArgument);
    }
    let throttled = unseal(&server, &shares[1]).await.err().unwrap();
    assert_eq!(throttled.code(), Code::ResourceExhausted, "{throttled:?}");
    assert_eq!(seal_status(&server).await.progress, 1, "nothing was wiped");
    // A holder's reset with a share of this vault works (it replaces the shares given so far).
    server.terminate();
    let server = valv_e2e::spawn(BIN, &data, &dir.path().join("valv.log"));
    assert_eq!(unseal(&server, &shares[0]).await.unwrap().progress, 1);
    let replaced = connect(&server.addr, &server.ca_pem, None)
        .await
        .seal()
        .unseal(pb::UnsealRequest {
            share: shares[1].clone(),
            reset: true,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(replaced.progress, 1);
    unseal(&server, &shares[0]).await.unwrap();
    assert!(!unseal(&server, &shares[2]).await.unwrap().sealed);
    server.terminate();
}
