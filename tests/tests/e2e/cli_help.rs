//! `valvctl --help` for every command, and its exit codes, against snapshots in
//! `tests/snapshots/valvctl/` (help text is documentation: a change shows in review). Run with
//! `VALV_UPDATE_SNAPSHOTS=1` to write the snapshots anew after an intended change.

#![allow(clippy::unwrap_used)]

use std::{path::PathBuf, process::Command};

const VALVCTL: &str = env!("CARGO_BIN_EXE_valvctl-under-test");

const COMMANDS: &[&str] = &[
    "",
    "tenant",
    "domain",
    "purpose",
    "principal",
    "pseudonymise",
    "reidentify",
    "translate",
    "sharing",
    "limits",
    "policy",
    "completion",
    "consent",
    "audit",
    "keys",
    "approval",
    "enrol",
    "jobs",
    "unseal",
    "seal",
    "seal-status",
    "retention",
    "subject",
    "receipt",
    "bench",
];

fn snapshots() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("snapshots/valvctl")
}

/// Runs valvctl with no connection settings from the environment or a profile file.
fn valvctl(args: &[&str]) -> (i32, String, String) {
    let home = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(VALVCTL);
    cmd.args(args)
        .env("HOME", home.path())
        .env_remove("XDG_CONFIG_HOME");
    for (k, _) in std::env::vars() {
        if k.starts_with("VALV_") {
            cmd.env_remove(k);
        }
    }
    let out = cmd.output().unwrap();
    let clean = |b: &[u8]| String::from_utf8_lossy(b).replace("valvctl-under-test", "valvctl");
    (
        out.status.code().unwrap_or(-1),
        clean(&out.stdout),
        clean(&out.stderr),
    )
}

/// Compares `actual` with the snapshot `name` (or writes it when asked to).
fn check(name: &str, actual: &str, mismatches: &mut Vec<String>) {
    let path = snapshots().join(format!("{name}.txt"));
    if std::env::var_os("VALV_UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    match std::fs::read_to_string(&path) {
        Ok(expected) if expected == actual => {}
        Ok(_) => mismatches.push(format!("{name}: differs from {}", path.display())),
        Err(_) => mismatches.push(format!("{name}: no snapshot at {}", path.display())),
    }
}

#[test]
fn every_command_s_help_matches_its_snapshot() {
    let mut mismatches = Vec::new();
    for command in COMMANDS {
        let mut args: Vec<&str> = command.split_whitespace().collect();
        args.push("--help");
        let (code, stdout, stderr) = valvctl(&args);
        assert_eq!(code, 0, "valvctl {args:?} --help: {stderr}");
        let name = if command.is_empty() {
            "valvctl"
        } else {
            command
        };
        check(name, &stdout, &mut mismatches);
    }
    assert!(
        mismatches.is_empty(),
        "help text changed (VALV_UPDATE_SNAPSHOTS=1 writes it anew):\n{}",
        mismatches.join("\n")
    );
}

#[test]
fn exit_codes_match_their_snapshot() {
    // (arguments, what the case shows)
    let cases: &[(&[&str], &str)] = &[
        (&["--version"], "version"),
        (&["no-such-command"], "an unknown command is a usage error"),
        (&["domain", "create"], "a missing argument is a usage error"),
        (
            &[
                "--addr",
                "https://127.0.0.1:9",
                "--token-file",
                "/nonexistent/token",
                "limits",
            ],
            "an unreadable token file is an error before any connection",
        ),
        (
            &[
                "receipt",
                "verify",
                "/nonexistent/receipt.json",
                "--public-key",
                "00",
            ],
            "offline receipt verification of a missing file",
        ),
    ];
    let mut table = String::new();
    for (args, what) in cases {
        let (code, stdout, stderr) = valvctl(args);
        let first = |s: &str| s.lines().next().unwrap_or("").trim().to_owned();
        table.push_str(&format!(
            "# {what}\nvalvctl {}\nexit {code}\nstdout: {}\nstderr: {}\n\n",
            args.join(" "),
            first(&stdout),
            first(&stderr)
        ));
    }
    let mut mismatches = Vec::new();
    check("exit-codes", &table, &mut mismatches);
    assert!(mismatches.is_empty(), "{}\n{table}", mismatches.join("\n"));
}
