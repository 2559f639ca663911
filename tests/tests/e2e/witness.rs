//! An audit anchored outside the vault: `valvctl audit witness` keeps the signed checkpoints in a
//! file of the auditor's. Whoever holds the vault's store and root key can put back an older
//! copy of the store (a cut tail) or continue it differently (a rewritten, re-signed chain): the
//! vault's own verification passes both, the witness catches both and names the entry.

// A test file: helpers unwrap like the tests do; a failure is the test's message.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use valv_e2e::ChildServer;

use crate::audit::{copy_dir, start, tenant, wait_for_checkpoint_of_head, workload};

const VALVCTL: &str = env!("CARGO_BIN_EXE_valvctl-under-test");

fn ctl(server: &ChildServer, token: &str, args: &[&str]) -> (bool, String) {
    let out = server.valvctl(VALVCTL, token, args);
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn witness(server: &ChildServer, token: &str, file: &Path) -> (bool, String) {
    ctl(
        server,
        token,
        &["audit", "witness", "--file", file.to_str().unwrap()],
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn the_witness_catches_a_cut_tail_and_a_rewritten_chain_the_vault_itself_does_not() {
    valv_e2e::init();
    let dir = tempfile::tempdir().unwrap();
    let (live, log) = (dir.path().join("live"), dir.path().join("valv.log"));
    let file = dir.path().join("witness.jsonl");
    let server = start(&live, &log);
    let (t, _) = tenant(&server, "anchored").await;
    workload(&server, &t, "first").await;
    wait_for_checkpoint_of_head(&server, &t).await;
    let (ok, out) = witness(&server, &t.auditor, &file);
    assert!(ok, "{out}");
    server.terminate();
    // An old copy of the store, as a backup would hold it.
    let old = dir.path().join("old");
    copy_dir(&live, &old);

    // The chain grows; the witness keeps up.
    let server = start(&live, &log);
    workload(&server, &t, "second").await;
    let grown = wait_for_checkpoint_of_head(&server, &t).await;
    let (ok, out) = witness(&server, &t.auditor, &file);
    assert!(ok, "{out}");
    assert!(!out.contains(" 0 new checkpoints"), "{out}");
    let kept = std::fs::read_to_string(&file).unwrap().lines().count();
    server.terminate();

    // The tail cut off with its checkpoints: the old copy put back. The vault sees nothing.
    let cut = dir.path().join("cut");
    copy_dir(&old, &cut);
    let server = start(&cut, &log);
    let (ok, out) = ctl(&server, &t.auditor, &["audit", "verify"]);
    assert!(ok, "the vault alone cannot tell: {out}");
    let (ok, out) = witness(&server, &t.auditor, &file);
    assert!(!ok, "{out}");
    assert!(
        out.contains("WITNESS FAILURE at entry") && out.contains("truncated"),
        "{out}"
    );
    let (ok, out) = ctl(
        &server,
        &t.auditor,
        &["audit", "verify", "--witness", file.to_str().unwrap()],
    );
    assert!(!ok && out.contains("truncated"), "{out}");
    server.terminate();

    // The old copy continued differently: re-signed with the vault's own key, so the vault
    // verifies it; the witness finds it differs at a witnessed head.
    let rewritten = dir.path().join("rewritten");
    copy_dir(&old, &rewritten);
    let server = start(&rewritten, &log);
    workload(&server, &t, "other").await;
    workload(&server, &t, "more").await;
    let v = wait_for_checkpoint_of_head(&server, &t).await;
    assert!(v.entries >= grown.entries, "{v:?} {grown:?}");
    let (ok, out) = ctl(&server, &t.auditor, &["audit", "verify"]);
    assert!(ok, "{out}");
    let (ok, out) = witness(&server, &t.auditor, &file);
    assert!(!ok && out.contains("rewritten"), "{out}");
    // Nothing was added to the witness file by failed runs.
    assert_eq!(
        std::fs::read_to_string(&file).unwrap().lines().count(),
        kept
    );

    // A changed public key is reported before anything else.
    let text = std::fs::read_to_string(&file).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let mut head: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
    head["public_key"] = serde_json::json!("00".repeat(32));
    lines[0] = head.to_string();
    let forged = dir.path().join("forged.jsonl");
    std::fs::write(&forged, lines.join("\n") + "\n").unwrap();
    let (ok, out) = witness(&server, &t.auditor, &forged);
    assert!(!ok && out.contains("public key changed"), "{out}");
    server.terminate();
}
