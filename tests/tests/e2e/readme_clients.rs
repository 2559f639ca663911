//! The "Records" and "Use from the command line" blocks of docs/clients.md, run as written with `bash`
//! and the real `valvctl` against the real `valv` binary; then the files they wrote are checked.

// A test file: helpers unwrap like the tests do; a failure is the test's message.
#![allow(clippy::unwrap_used)]

use std::process::Command;

use valv_e2e::*;

const VALV: &str = env!("CARGO_BIN_EXE_valv-under-test");
const VALVCTL: &str = env!("CARGO_BIN_EXE_valvctl-under-test");

/// The first ```sh block after the heading `heading`.
fn block(readme: &str, heading: &str) -> String {
    let section = readme
        .split_once(&format!("\n{heading}\n"))
        .map(|(_, rest)| rest)
        .unwrap_or_else(|| panic!("README has no {heading}"));
    let code = section
        .split_once("```sh\n")
        .and_then(|(_, rest)| rest.split_once("```"))
        .map(|(code, _)| code)
        .unwrap_or_else(|| panic!("no sh block under {heading}"));
    code.to_owned()
}

#[test]
fn the_readme_client_blocks_run_as_written() {
    init();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("valv-data");
    let server = spawn(VALV, &data, &dir.path().join("server.log"));
    let ctl = |token: &str, args: &[&str]| {
        let out = server.valvctl(
            VALVCTL,
            token,
            &["--json"].iter().chain(args).copied().collect::<Vec<_>>(),
        );
        assert!(
            out.status.success(),
            "valvctl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap_or_default()
    };
    let code = ctl(
        &server.operator_token,
        &["tenant", "create", "region-north"],
    )["admins"][0]["code"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let admin = ctl(&server.operator_token, &["enrol", &code])["token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    ctl(
        &admin,
        &[
            "domain",
            "create",
            "patients.research",
            "--kind",
            "se-personnummer",
            "--reversible",
        ],
    );
    ctl(
        &admin,
        &[
            "domain",
            "create",
            "emails",
            "--kind",
            "email",
            "--reversible",
        ],
    );
    ctl(
        &admin,
        &[
            "purpose",
            "define",
            "treatment",
            "--legal-basis",
            "public-task",
        ],
    );
    let token = |v: serde_json::Value| v["token"].as_str().unwrap_or_default().to_owned();
    let ingest = token(ctl(
        &admin,
        &["principal", "create", "ingest", "--role", "tokenizer"],
    ));
    let analyst = token(ctl(
        &admin,
        &[
            "principal",
            "create",
            "analyst",
            "--role",
            "reidentifier",
            "--purpose",
            "treatment",
        ],
    ));

    let work = dir.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    let csv = "visit,ssn,email,ward\n1,195209035525,anna@example.org,7\n2,200311161632,,\"B, east\"\n3,197807241901,bo@example.org,7\n";
    std::fs::write(work.join("visits.csv"), csv).unwrap();
    let jsonl = "{\"visit\":1,\"patient\":{\"ssn\":\"195209035525\",\"contacts\":[{\"email\":\"anna@example.org\"}]},\"note\":\"fell on ice\"}\n{\"visit\": 2, \"patient\": {\"ssn\": \"200311161632\"}}\n";
    std::fs::write(work.join("visits.jsonl"), jsonl).unwrap();

    let readme = include_str!("../../../docs/clients.md");
    let script = format!(
        "valvctl() {{ \"$VALVCTL\" \"$@\"; }}\n{}\n{}",
        block(readme, "## Records: pseudonymising whole JSON documents"),
        block(readme, "## Use from the command line")
    );
    let out = Command::new("bash")
        .args(["-euo", "pipefail", "-c", &script])
        .current_dir(&work)
        .env("VALVCTL", VALVCTL)
        .env("VALV_ADDR", &server.addr)
        .env("VALV_CA", data.join("tls/ca.pem"))
        .env("ADMIN_TOKEN", &admin)
        .env("INGEST_TOKEN", &ingest)
        .env("ANALYST_TOKEN", &analyst)
        .env_remove("VALV_TOKEN")
        .env_remove("VALV_TOKEN_FILE")
        .env("XDG_CONFIG_HOME", dir.path().join("no-config"))
        .output()
        .unwrap_or_else(|e| panic!("bash: {e}"));
    assert!(
        out.status.success(),
        "README blocks failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let read = |name: &str| {
        std::fs::read_to_string(work.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
    };

    // CSV: identifier columns replaced, the rest as it was; and back again exactly.
    let pseudo = read("visits.pseudo.csv");
    let mut lines = pseudo.lines();
    assert_eq!(lines.next(), Some("visit,ssn,email,ward"));
    let rows: Vec<Vec<String>> = csv::Reader::from_reader(pseudo.as_bytes())
        .records()
        .map(|r| {
            r.map(|r| r.iter().map(str::to_owned).collect())
                .unwrap_or_default()
        })
        .collect();
    assert_eq!(rows.len(), 3);
    assert!(
        rows.iter()
            .all(|r| r[1].len() == 26 && !r[1].contains("19"))
    );
    assert_eq!((rows[1][2].as_str(), rows[1][3].as_str()), ("", "B, east"));
    assert!(!pseudo.contains("anna@example.org") && !pseudo.contains("195209035525"));
    assert_eq!(read("visits.again.csv"), csv);

    // JSON lines: pseudonymised under the policy, the note dropped; back again without it.
    let pseudo = read("visits.pseudo.jsonl");
    assert!(!pseudo.contains("fell on ice") && !pseudo.contains("195209035525"));
    assert_eq!(
        read("visits.again.jsonl"),
        "{\"visit\":1,\"patient\":{\"ssn\":\"195209035525\",\"contacts\":[{\"email\":\"anna@example.org\"}]}}\n{\"visit\": 2, \"patient\": {\"ssn\": \"200311161632\"}}\n"
    );
    let domains: serde_json::Value =
        serde_json::from_str(&read("domains.json")).unwrap_or_default();
    assert_eq!(domains.as_array().map(Vec::len), Some(2));
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.contains("visits  /patient/ssn"),
        "policy list table: {table}"
    );
    server.terminate();
}
