//! A root-key rotation that replaces the unseal shares, so that old shares (and with them old
//! backups of the seal) stop opening the vault — without ever leaving a vault nobody can open:
//! until a threshold of the new shares is confirmed, the old shares keep working, across
//! restarts; after it, only the new ones do.

// A test file: helpers unwrap like the tests do; a failure is the test's message.
#![allow(clippy::unwrap_used)]

use std::{
    io::Write,
    process::{Command, Stdio},
};

use tonic::Code;
use valv_e2e::{ChildServer, pb, pseudonymise_ok, reidentify, setup_tenant};

use crate::sealed::{operator_init, seal_status, unseal};

const BIN: &str = env!("CARGO_BIN_EXE_valv-under-test");
const VALVCTL: &str = env!("CARGO_BIN_EXE_valvctl-under-test");

async fn open(server: &ChildServer, shares: &[String]) {
    for share in shares {
        unseal(server, share).await.unwrap();
    }
    assert!(!seal_status(server).await.sealed);
}

fn data_ca(server: &ChildServer) -> std::path::PathBuf {
    let path = server.log_path.with_file_name("ca-for-valvctl.pem");
    std::fs::write(&path, &server.ca_pem).unwrap();
    path
}

/// `valvctl unseal --confirm-new-share`, the share on stdin.
fn confirm(server: &ChildServer, share: &str) -> (bool, String) {
    let mut child = Command::new(VALVCTL)
        .args(["--json", "unseal", "--confirm-new-share"])
        .env("VALV_ADDR", &server.addr)
        .env("VALV_CA", data_ca(server))
        .env_remove("VALV_TOKEN")
        .env_remove("VALV_TOKEN_FILE")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "{share}").unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn new_shares_replace_the_old_ones_only_once_a_threshold_of_them_is_confirmed() {
    valv_e2e::init();
    let dir = tempfile::tempdir().unwrap();
    let (data, log) = (dir.path().join("data"), dir.path().join("valv.log"));
    let old = operator_init(&data, 3, 2);
    let server = valv_e2e::spawn(BIN, &data, &log);
    open(&server, &old[..2]).await;
    let token = std::fs::read_to_string(data.join("operator.token")).unwrap();
    let o1 = server.client(token.trim()).await;
    // Not development mode: the rule is on; the first operator enrols the second.
    let o2 = server
        .client(&valv_e2e::principal_token(&o1, "second-operator", pb::Role::Operator).await)
        .await;
    let t = setup_tenant(
        &o1,
        "clinic",
        &[(
            "patients",
            pb::IdentifierKind::Opaque,
            pb::Scheme::Keyed,
            true,
        )],
        &[("care", pb::LegalBasis::PublicTask)],
    )
    .await;
    let ps = pseudonymise_ok(&server.client(&t.tokenizer).await, "patients", &["p-1"]).await;
    let back = |server: &ChildServer| {
        let (token, ps) = (t.reidentifier.clone(), ps.clone());
        let server_addr = (server.addr.clone(), server.ca_pem.clone());
        async move {
            let c = valv_e2e::connect(&server_addr.0, &server_addr.1, Some(&token)).await;
            reidentify(&c, "patients", "care", &ps).await.unwrap()[0]
                .1
                .clone()
        }
    };
    assert_eq!(back(&server).await, "p-1");

    let bad = o1
        .keys()
        .rotate_root_key(pb::RotateRootKeyRequest {
            new_shares: 3,
            new_threshold: 4,
        })
        .await;
    assert_eq!(bad.err().map(|s| s.code()), Some(Code::InvalidArgument));
    let filed = o1
        .keys()
        .rotate_root_key(pb::RotateRootKeyRequest {
            new_shares: 3,
            new_threshold: 2,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!filed.rotated && filed.new_shares.is_empty());
    let done = o2
        .keys()
        .approve_operation(pb::ApproveOperationRequest {
            id: filed.pending_operation_id,
        })
        .await
        .unwrap()
        .into_inner();
    let new = done.new_shares;
    assert_eq!(new.len(), 3);
    let id = |s: &str| s.split(':').nth(1).unwrap().to_owned();
    assert!(
        new.iter()
            .all(|s| s.starts_with("valv-share:") && id(s) != id(&old[0]))
    );
    let status = seal_status(&server).await;
    assert_eq!(
        (status.new_shares_threshold, status.new_shares_confirmed),
        (2, 0)
    );
    assert_eq!(back(&server).await, "p-1");
    // Nothing else rotates while the new shares wait.
    let again = o1
        .keys()
        .rotate_root_key(pb::RotateRootKeyRequest::default())
        .await
        .unwrap()
        .into_inner();
    let waiting = o2
        .keys()
        .approve_operation(pb::ApproveOperationRequest {
            id: again.pending_operation_id,
        })
        .await;
    assert_eq!(
        waiting.err().map(|s| s.code()),
        Some(Code::FailedPrecondition)
    );

    // The answer with the new shares could have been lost: a restart still opens with the old.
    server.terminate();
    let server = valv_e2e::spawn(BIN, &data, &log);
    open(&server, &old[1..]).await;
    assert_eq!(back(&server).await, "p-1");
    assert_eq!(seal_status(&server).await.new_shares_threshold, 2);

    // Confirming: an old share does not count; two new ones finish it.
    let (ok, out) = confirm(&server, &old[0]);
    assert!(!ok && out.contains("replaced"), "{out}");
    let (ok, out) = confirm(&server, &new[2]);
    assert!(ok, "{out}");
    assert_eq!(seal_status(&server).await.new_shares_confirmed, 1);
    let (ok, out) = confirm(&server, &new[0]);
    assert!(ok, "{out}");
    assert_eq!(seal_status(&server).await.new_shares_threshold, 0);
    assert!(!data.join("root.sealed.next").exists());
    assert_eq!(back(&server).await, "p-1");
    server.terminate();

    // From now on only the new shares open the vault.
    let server = valv_e2e::spawn(BIN, &data, &log);
    let refused = unseal(&server, &old[0]).await.err().unwrap();
    assert_eq!(refused.code(), Code::InvalidArgument);
    assert!(refused.message().contains("replaced"), "{refused:?}");
    open(&server, &[new[1].clone(), new[2].clone()]).await;
    assert_eq!(back(&server).await, "p-1");
    server.terminate();
}
