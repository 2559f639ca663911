//! The README's first session, run with the real `valvctl` against the real `valv` binary.

// A test file: helpers unwrap like the tests do; a failure is the test's message.
#![allow(clippy::unwrap_used)]

use std::process::{Command, Output};

use valv_e2e::*;

const VALV: &str = env!("CARGO_BIN_EXE_valv-under-test");
const VALVCTL: &str = env!("CARGO_BIN_EXE_valvctl-under-test");

struct Cli {
    addr: String,
    ca: std::path::PathBuf,
}

impl Cli {
    fn run(&self, token: &str, args: &[&str]) -> Output {
        Command::new(VALVCTL)
            .args(args)
            .env("VALV_ADDR", &self.addr)
            .env("VALV_CA", &self.ca)
            .env("VALV_TOKEN", token)
            .env_remove("VALV_TOKEN_FILE")
            .output()
            .unwrap_or_else(|e| panic!("valvctl: {e}"))
    }

    fn ok(&self, token: &str, args: &[&str]) -> String {
        let out = self.run(token, args);
        assert!(
            out.status.success(),
            "valvctl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn json(&self, token: &str, args: &[&str]) -> serde_json::Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        serde_json::from_str(&self.ok(token, &all)).unwrap_or(serde_json::Value::Null)
    }
}

#[test]
fn the_readme_session_with_valvctl() {
    init();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("valv-data");
    let server = spawn(VALV, &data, &dir.path().join("server.log"));
    let cli = Cli {
        addr: server.addr.clone(),
        ca: data.join("tls/ca.pem"),
    };

    let operator = server.operator_token.clone();
    let created = cli.json(&operator, &["tenant", "create", "region-north"]);
    let code = created["admins"][0]["code"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(code.starts_with("valvenrol_"), "{created}");
    let admin = cli.json(&operator, &["enrol", &code])["token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(admin.starts_with("valv_"));
    cli.ok(
        &admin,
        &[
            "domain",
            "create",
            "patients.research",
            "--kind",
            "se-personnummer",
            "--scheme",
            "keyed",
            "--reversible",
        ],
    );
    cli.ok(
        &admin,
        &[
            "purpose",
            "define",
            "research-export",
            "--legal-basis",
            "consent",
            "--min-text-version",
            "1",
        ],
    );
    let text_file = dir.path().join("consent-v1.txt");
    std::fs::write(
        &text_file,
        "I agree that Region North uses my records for research exports.\n",
    )
    .unwrap();
    let added = cli.json(
        &admin,
        &[
            "purpose",
            "text",
            "add",
            "research-export",
            "--file",
            text_file.to_str().unwrap_or_default(),
        ],
    );
    assert_eq!(added["version"], 1);
    let token = |args: &[&str]| {
        cli.json(&admin, args)["token"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    let ingest = token(&["principal", "create", "ingest", "--role", "tokenizer"]);
    let analyst = token(&[
        "principal",
        "create",
        "analyst",
        "--role",
        "reidentifier",
        "--purpose",
        "research-export",
    ]);
    let desk = token(&[
        "principal",
        "create",
        "consent-desk",
        "--role",
        "consent-manager",
    ]);
    let listed = cli.json(&admin, &["principal", "list"]);
    assert_eq!(listed.as_array().map(Vec::len), Some(4));

    let out = cli.ok(
        &ingest,
        &[
            "pseudonymise",
            "--domain",
            "patients.research",
            "19520903-5525",
            "200311161632",
        ],
    );
    let pseudonyms: Vec<&str> = out.lines().collect();
    assert_eq!(pseudonyms.len(), 2);
    assert!(pseudonyms.iter().all(|p| p.len() == 26));
    let p = pseudonyms[0];

    // A refused identifier: exit code 2, the rule, and no echo.
    let bad = cli.run(
        &ingest,
        &[
            "pseudonymise",
            "--domain",
            "patients.research",
            "19520903-5526",
        ],
    );
    assert_eq!(bad.status.code(), Some(2));
    let text = String::from_utf8_lossy(&bad.stdout);
    assert!(text.contains("se-personnummer: check digit") && !text.contains("5526"));

    let reid = |expect_code: i32| {
        let out = cli.run(
            &analyst,
            &[
                "reidentify",
                "--domain",
                "patients.research",
                "--purpose",
                "research-export",
                p,
            ],
        );
        assert_eq!(out.status.code(), Some(expect_code));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert_eq!(reid(2).trim_end(), format!("{p}\tno-consent"));
    let receipt = dir.path().join("receipt.json");
    cli.ok(
        &desk,
        &[
            "consent",
            "grant",
            "--domain",
            "patients.research",
            "--identifier",
            "19520903-5525",
            "--purpose",
            "research-export",
            "--method",
            "bankid",
            "--valid-days",
            "365",
            "--receipt-out",
            receipt.to_str().unwrap_or_default(),
        ],
    );
    let verified = cli.json(
        &desk,
        &["receipt", "verify", receipt.to_str().unwrap_or_default()],
    );
    assert_eq!(verified["valid"], true, "{verified}");
    assert_eq!(verified["current_status"], "granted");
    assert_eq!(reid(0).trim_end(), format!("{p}\treleased\t195209035525"));
    cli.ok(
        &desk,
        &[
            "consent",
            "withdraw",
            "--domain",
            "patients.research",
            "--identifier",
            "19520903-5525",
            "--purpose",
            "research-export",
        ],
    );
    assert_eq!(reid(2).trim_end(), format!("{p}\tconsent-withdrawn"));
    let history = cli.json(
        &desk,
        &[
            "consent",
            "history",
            "--domain",
            "patients.research",
            "--pseudonym",
            p,
        ],
    );
    assert_eq!(history[0]["status"], "CONSENT_STATUS_WITHDRAWN");
    assert_eq!(history[0]["events"].as_array().map(Vec::len), Some(2));
    // For people: words and times, not wire names and milliseconds.
    let text = cli.ok(
        &desk,
        &[
            "consent",
            "history",
            "--domain",
            "patients.research",
            "--pseudonym",
            p,
        ],
    );
    let lines: Vec<Vec<&str>> = text
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(lines[0], ["research-export", "withdrawn"], "{text}");
    assert_eq!(
        lines[1][..5],
        ["#1", "granted", "text", "v1", "bankid"],
        "{text}"
    );
    assert_eq!(lines[2][..2], ["#2", "withdrawn"], "{text}");
    for line in &lines[1..] {
        let at = line[5];
        assert!(
            at.len() == 20 && at.as_bytes()[10] == b'T' && at.ends_with('Z'),
            "{text}"
        );
    }

    // Roles hold on the command line too.
    let denied = cli.run(&analyst, &["domain", "list"]);
    assert!(!denied.status.success());
    assert!(
        String::from_utf8_lossy(&denied.stderr)
            .contains("PermissionDenied: role tenant-admin required")
    );
    server.terminate();
}
