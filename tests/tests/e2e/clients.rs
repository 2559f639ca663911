//! The clients against real servers: the Rust client's splitting, renumbering and retries, and
//! `valvctl` streaming CSV and JSON-lines files both ways, with profiles and completion.

// A test file: helpers unwrap like the tests do; a failure is the test's message.
#![allow(clippy::unwrap_used)]

use std::{
    io::Write,
    process::{Command, Output, Stdio},
};

use valv::config::{Limits, TlsMode};
use valv_client::{ClientConfig, RetryPolicy};
use valv_e2e::{pb, *};

const VALVCTL: &str = env!("CARGO_BIN_EXE_valvctl-under-test");

async fn tenant(server: &InProcess) -> Tenant {
    let operator = server.client(&server.operator_token).await;
    setup_tenant(
        &operator,
        "acme",
        &[
            ("emails", pb::IdentifierKind::Email, pb::Scheme::Keyed, true),
            ("phones", pb::IdentifierKind::Phone, pb::Scheme::Keyed, true),
        ],
        &[("care", pb::LegalBasis::PublicTask)],
    )
    .await
}

fn email(i: usize) -> String {
    format!("user{i}@example.org")
}

#[tokio::test]
async fn the_rust_client_splits_within_the_server_limits_and_keeps_order() {
    let server = start_with(
        Limits {
            max_batch: 100,
            ..Limits::default()
        },
        None,
    )
    .await;
    let t = tenant(&server).await;
    let tok = server.client(&t.tokenizer).await;
    assert_eq!(tok.limits().await.map(|l| l.max_batch).ok(), Some(100));

    let mut ids: Vec<String> = (0..1050).map(email).collect();
    ids[517] = "no-at-sign".into();
    let out = tok.pseudonymise("emails", &ids).await.unwrap();
    assert_eq!(out.results.len(), 1050);
    assert_eq!(out.created, 1049);
    let err = out.results[517].clone().err().unwrap_or_default();
    assert_eq!(err.field, "identifiers[517]");
    // Checking stores nothing and names the same item.
    let mut unseen: Vec<String> = (5000..5250).map(email).collect();
    unseen[201] = "also-no-at".into();
    let checked = tok.check_identifiers("emails", &unseen).await.unwrap();
    assert_eq!(checked.len(), 1);
    assert_eq!(checked[0].0, 201);
    assert_eq!(checked[0].1.field, "identifiers[201]");
    assert_eq!(checked[0].1.rule, err.rule);
    let after = tok.pseudonymise("emails", &unseen[..200]).await.unwrap();
    assert_eq!(after.created, 200, "checking made no mapping");
    // Order kept: item 1000 (in the eleventh request) is the pseudonym of email(1000).
    let single = pseudonymise_ok(&tok, "emails", &[&email(1000)]).await;
    assert_eq!(out.results[1000].as_ref().ok(), Some(&single[0]));

    let pseudonyms: Vec<String> = out
        .results
        .iter()
        .map(|r| r.clone().unwrap_or_default())
        .collect();
    let reid = server.client(&t.reidentifier).await;
    let back = reid
        .reidentify("emails", "care", &pseudonyms)
        .await
        .unwrap();
    assert_eq!(back.len(), 1050);
    for (i, r) in back.iter().enumerate() {
        if i == 517 {
            assert_eq!(r.verdict(), pb::Verdict::NotFound);
        } else {
            assert_eq!(
                (r.verdict(), r.identifier.as_str()),
                (pb::Verdict::Released, ids[i].as_str())
            );
        }
    }

    // Records: split too, and a refused record is named by its index in the caller's input.
    let admin = server.client(&t.admin).await;
    admin
        .admin()
        .define_record_policy(pb::DefineRecordPolicyRequest {
            policy: Some(pb::RecordPolicy {
                name: "people".into(),
                fields: vec![pb::RecordField {
                    pointer: "/e".into(),
                    domain: "emails".into(),
                    required: true,
                }],
                drop: vec![],
                updated_unix_ms: 0,
            }),
        })
        .await
        .unwrap();
    let mut records: Vec<String> = (0..250)
        .map(|i| format!(r#"{{"n":{i},"e":"{}"}}"#, email(i)))
        .collect();
    records[201] = r#"{"n":201}"#.into();
    let out = tok.pseudonymise_records("people", &records).await.unwrap();
    assert_eq!(out.results.len(), 250);
    let error = out.results[201].clone().err().unwrap_or_default();
    assert_eq!(error.errors[0].field, "records[201]/e");
    let r249 = String::from_utf8(out.results[249].clone().unwrap_or_default()).unwrap_or_default();
    let p249 = pseudonymise_ok(&tok, "emails", &[&email(249)]).await;
    assert_eq!(r249, format!(r#"{{"n":249,"e":"{}"}}"#, p249[0]));
    let ok: Vec<Vec<u8>> = out.results.into_iter().filter_map(Result::ok).collect();
    let back = reid
        .reidentify_records("people", "care", &ok)
        .await
        .unwrap();
    assert_eq!(back.len(), 249);
    assert_eq!(
        String::from_utf8(back[248].record.clone()).unwrap_or_default(),
        records[249]
    );
    server.stop().await;
}

#[tokio::test]
async fn the_rust_client_retries_while_the_server_restarts() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
    drop(listener);
    let plaintext = move |c: &mut valv::config::ServeConfig| {
        c.tls = TlsMode::InsecurePlaintext;
        c.listen = format!("127.0.0.1:{port}").parse().unwrap();
    };
    let first = start_configured(plaintext, Some(Vec::new())).await;
    let t = tenant(&first).await;
    let config = ClientConfig::new(first.addr.clone())
        .with_token(t.tokenizer.clone())
        .with_retry(RetryPolicy {
            max_attempts: 30,
            initial_backoff: std::time::Duration::from_millis(50),
            max_backoff: std::time::Duration::from_millis(200),
        });
    let valv = valv_client::Valv::connect(config).await.unwrap();
    let before = valv
        .pseudonymise("emails", &["anna@example.org"])
        .await
        .unwrap();

    // Down for a while, then back on the same port with the same data.
    let data = first.stop_keeping_data().await;
    let data_dir = data.path().join("data");
    let restart = tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_millis(800)).await;
        start_configured(
            move |c| {
                plaintext(c);
                c.root = root_config(&data_dir);
                c.data_dir = data_dir;
            },
            Some(Vec::new()),
        )
        .await
    });
    let after = valv
        .pseudonymise("emails", &["anna@example.org"])
        .await
        .unwrap_or_else(|e| panic!("no retry through the restart: {e}"));
    assert_eq!(after.results, before.results);
    let second = restart.await.unwrap();

    // Without retries, the same outage is an UNAVAILABLE error at once.
    let data = second.stop_keeping_data().await;
    let once = valv_client::Valv::connect(
        ClientConfig::new(format!("http://127.0.0.1:{port}")).with_retry(RetryPolicy::none()),
    )
    .await;
    assert!(once.is_err());
    drop(data);
}

/// Runs valvctl with the server's address, CA file and `token`; `stdin` is fed to it.
fn valvctl(
    server: &InProcess,
    ca: &std::path::Path,
    token: &str,
    args: &[&str],
    stdin: &[u8],
) -> Output {
    let mut child = Command::new(VALVCTL)
        .args(args)
        .env("VALV_ADDR", &server.addr)
        .env("VALV_CA", ca)
        .env("VALV_TOKEN", token)
        .env_remove("VALV_TOKEN_FILE")
        .env_remove("VALV_PROFILE")
        .env_remove("VALV_CONFIG")
        .env("XDG_CONFIG_HOME", ca.with_file_name("no-config-here"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("valvctl: {e}"));
    if let Some(mut input) = child.stdin.take() {
        input.write_all(stdin).unwrap();
    }
    child.wait_with_output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

// valvctl runs as a child process that the test waits for; the in-process server needs
// worker threads of its own meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn valvctl_streams_csv_columns_both_ways() {
    let server = start().await;
    let t = tenant(&server).await;
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, &server.ca_pem).unwrap();

    // 5,000 rows; rows 1000, 2500 and 4999 (lines 1002, 2502, 5001) have a bad email.
    let mut csv = String::from("id,email,phone,\"note, free\"\n");
    let bad = [1000, 2500, 4999];
    for i in 0..5000 {
        let e = if bad.contains(&i) {
            format!("bad{i}-no-at")
        } else {
            email(i)
        };
        let phone = if i % 3 == 0 {
            String::new()
        } else {
            format!("+4670{:07}", i)
        };
        csv.push_str(&format!("{i},{e},{phone},\"say \"\"hi\"\", {i}\"\n"));
    }
    let input = dir.path().join("in.csv");
    std::fs::write(&input, &csv).unwrap();
    let out = valvctl(
        &server,
        &ca,
        &t.tokenizer,
        &[
            "pseudonymise",
            "--domain",
            "emails",
            "--column",
            "email",
            "--column",
            "phone=phones",
            "--batch-rows",
            "700",
            input.to_str().unwrap_or_default(),
        ],
        b"",
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("5000 rows read, 4997 written, 3 refused"),
        "{stderr}"
    );
    for line in [
        "line 1002: column email",
        "line 2502: column email",
        "line 5001: column email",
    ] {
        assert!(stderr.contains(line), "{line} missing: {stderr}");
    }
    assert!(!stderr.contains("-no-at"), "a refused value was echoed");
    // A refused row's valid phone got no mapping (every column is checked before any is sent).
    let tok_check = server.client(&t.tokenizer).await;
    let phone_of_refused_row = tok_check
        .pseudonyms()
        .pseudonymise(pb::PseudonymiseRequest {
            domain: "phones".into(),
            identifiers: vec!["+46700001000".into()],
            batch_id: 0,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(phone_of_refused_row.created, 1);

    // The output: same header and other columns; identifiers replaced by their pseudonyms.
    let tok = server.client(&t.tokenizer).await;
    let mut reader = csv::Reader::from_reader(out.stdout.as_slice());
    let header: Vec<String> = reader
        .headers()
        .map(|h| h.iter().map(str::to_owned).collect())
        .unwrap_or_default();
    assert_eq!(header, ["id", "email", "phone", "note, free"]);
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap_or_default()).collect();
    assert_eq!(rows.len(), 4997);
    let expect_email = pseudonymise_ok(&tok, "emails", &[&email(4997)]).await;
    let expect_phone = pseudonymise_ok(&tok, "phones", &["+46700004997"]).await;
    // Id 4997 is the 4996th row written (ids 1000 and 2500 were refused before it).
    let row = &rows[4995];
    assert_eq!(row.get(0), Some("4997"));
    assert_eq!(row.get(1), Some(expect_email[0].as_str()));
    assert_eq!(row.get(2), Some(expect_phone[0].as_str()));
    assert_eq!(row.get(3), Some("say \"hi\", 4997"));
    assert_eq!(rows[0].get(2), Some(""), "an empty cell stays empty");

    // And back, for a purpose: the input again without the refused rows.
    let back = valvctl(
        &server,
        &ca,
        &t.reidentifier,
        &[
            "reidentify",
            "--purpose",
            "care",
            "--domain",
            "emails",
            "--column",
            "email",
            "--column",
            "phone=phones",
            "-",
        ],
        &out.stdout,
    );
    assert_eq!(back.status.code(), Some(0), "{}", text(&back.stderr));
    let expected: String = csv
        .lines()
        .enumerate()
        .filter(|(n, _)| !bad.iter().any(|b| b + 1 == *n))
        .map(|(_, l)| format!("{l}\n"))
        .collect();
    assert_eq!(text(&back.stdout), expected);

    // Not released: cells keep their pseudonym, exit code 2, counted by verdict.
    let unknown = "id,email\n1,nobody-pseudonym\n";
    let refused = valvctl(
        &server,
        &ca,
        &t.reidentifier,
        &[
            "--json",
            "reidentify",
            "--purpose",
            "care",
            "--column",
            "email=emails",
        ],
        unknown.as_bytes(),
    );
    assert_eq!(refused.status.code(), Some(2));
    assert_eq!(text(&refused.stdout), unknown);
    let summary: serde_json::Value =
        serde_json::from_str(text(&refused.stderr).trim()).unwrap_or_default();
    assert_eq!(
        summary["by_reason"]["column email: not-found"], 1,
        "{summary}"
    );

    // A spreadsheet's byte-order mark before the first column name is kept and not in the way.
    let bom = valvctl(
        &server,
        &ca,
        &t.tokenizer,
        &["pseudonymise", "--column", "email=emails"],
        "\u{feff}email,n\nanna@example.org,1\n".as_bytes(),
    );
    assert_eq!(bom.status.code(), Some(0), "{}", text(&bom.stderr));
    let anna = pseudonymise_ok(&tok, "emails", &["anna@example.org"]).await;
    assert_eq!(
        text(&bom.stdout),
        format!("\u{feff}email,n\n{},1\n", anna[0])
    );

    // A column that is not there: a clear error naming the columns.
    let missing = valvctl(
        &server,
        &ca,
        &t.tokenizer,
        &["pseudonymise", "--column", "ssn=emails"],
        b"a,b\n1,2\n",
    );
    assert_eq!(missing.status.code(), Some(1));
    assert!(text(&missing.stderr).contains("no column \"ssn\" in the header row (columns: a, b)"));
    assert_logs_clean();
    server.stop().await;
}

// valvctl runs as a child process that the test waits for; the in-process server needs
// worker threads of its own meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn valvctl_runs_json_lines_under_a_stored_policy_and_reads_profiles() {
    let server = start().await;
    let t = tenant(&server).await;
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, &server.ca_pem).unwrap();

    let defined = valvctl(
        &server,
        &ca,
        &t.admin,
        &[
            "policy",
            "define",
            "people",
            "--required-field",
            "/e=emails",
            "--field",
            "/phones/*=phones",
            "--drop",
            "/note",
        ],
        b"",
    );
    assert!(defined.status.success(), "{}", text(&defined.stderr));
    let listed = text(&valvctl(&server, &ca, &t.admin, &["policy", "list"], b"").stdout);
    assert_eq!(
        listed
            .lines()
            .map(|l| l.split_whitespace().collect::<Vec<_>>())
            .collect::<Vec<_>>(),
        vec![
            vec!["POLICY", "POINTER", "DOMAIN", "REQUIRED"],
            vec!["people", "/e", "emails", "yes"],
            vec!["people", "/phones/*", "phones", "no"],
            vec!["people", "/note", "(dropped)"],
        ]
    );

    let input = format!(
        "{{\"e\":\"{}\",\"phones\":[\"+46701111111\"],\"note\":\"secret text\",\"k\":1}}\n\n{{\"k\":2}}\n{{\"e\":\"{}\", \"k\":3}}\n",
        email(1),
        email(3)
    );
    let out = valvctl(
        &server,
        &ca,
        &t.tokenizer,
        &["pseudonymise", "--policy", "people"],
        input.as_bytes(),
    );
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("3 rows read, 2 written, 1 refused"),
        "{stderr}"
    );
    assert!(
        stderr.contains("line 3: /e: required field is missing"),
        "{stderr}"
    );
    let tok = server.client(&t.tokenizer).await;
    let e1 = pseudonymise_ok(&tok, "emails", &[&email(1)]).await;
    let p1 = pseudonymise_ok(&tok, "phones", &["+46701111111"]).await;
    let e3 = pseudonymise_ok(&tok, "emails", &[&email(3)]).await;
    let lines: Vec<String> = text(&out.stdout).lines().map(str::to_owned).collect();
    assert_eq!(
        lines,
        [
            format!("{{\"e\":\"{}\",\"phones\":[\"{}\"],\"k\":1}}", e1[0], p1[0]),
            format!("{{\"e\":\"{}\", \"k\":3}}", e3[0]),
        ]
    );

    // Back through a profile file instead of the environment.
    let token_file = dir.path().join("reid.token");
    std::fs::write(&token_file, format!("{}\n", t.reidentifier)).unwrap();
    let profiles = dir.path().join("profiles.toml");
    std::fs::write(
        &profiles,
        format!(
            "[profiles.analysis]\naddr = \"{}\"\nca = \"{}\"\ntoken_file = \"{}\"\n",
            server.addr,
            ca.display(),
            token_file.display()
        ),
    )
    .unwrap();
    let mut child = Command::new(VALVCTL)
        .args([
            "--config",
            profiles.to_str().unwrap_or_default(),
            "--profile",
            "analysis",
        ])
        .args(["reidentify", "--purpose", "care", "--policy", "people"])
        .env_remove("VALV_ADDR")
        .env_remove("VALV_CA")
        .env_remove("VALV_TOKEN")
        .env_remove("VALV_TOKEN_FILE")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(mut i) = child.stdin.take() {
        i.write_all(&out.stdout).unwrap();
    }
    let back = child.wait_with_output().unwrap();
    assert_eq!(back.status.code(), Some(0), "{}", text(&back.stderr));
    assert_eq!(
        text(&back.stdout),
        format!(
            "{{\"e\":\"{}\",\"phones\":[\"+46701111111\"],\"k\":1}}\n{{\"e\":\"{}\", \"k\":3}}\n",
            email(1),
            email(3)
        )
    );
    // An unknown profile is an error that names it.
    let unknown = Command::new(VALVCTL)
        .args([
            "--config",
            profiles.to_str().unwrap_or_default(),
            "--profile",
            "prod",
            "domain",
            "list",
        ])
        .output()
        .unwrap();
    assert_eq!(unknown.status.code(), Some(1));
    assert!(text(&unknown.stderr).contains("no profile [profiles.prod]"));

    // Limits, for any principal, as a table or JSON.
    let limits = valvctl(&server, &ca, &t.tokenizer, &["limits"], b"");
    assert_eq!(
        text(&limits.stdout)
            .lines()
            .next()
            .map(|l| l.split_whitespace().collect::<Vec<_>>()),
        Some(vec!["items", "per", "request", "10000"])
    );
    let limits = valvctl(&server, &ca, &t.tokenizer, &["--json", "limits"], b"");
    let limits: serde_json::Value = serde_json::from_slice(&limits.stdout).unwrap_or_default();
    assert_eq!(limits["max_message_bytes"], 4 * 1024 * 1024);

    // Shell completion needs no server.
    let completion = Command::new(VALVCTL)
        .args(["completion", "bash"])
        .output()
        .unwrap();
    assert!(completion.status.success());
    let script = text(&completion.stdout);
    assert!(
        script.contains("_valvctl")
            && script.contains("pseudonymise")
            && script.contains("--column")
    );
    assert_log_lacks(&["secret text", "+46701111111"]);
    server.stop().await;
}

/// The Rust example of docs/clients.md is `clients/rust/examples/quickstart.rs`, compiled into this test.
#[allow(dead_code)]
#[path = "../../../clients/rust/examples/quickstart.rs"]
mod quickstart;

#[tokio::test]
async fn the_readme_rust_example_runs_and_is_the_example_file() {
    let readme = include_str!("../../../docs/clients.md");
    let example = include_str!("../../../clients/rust/examples/quickstart.rs");
    let body = example
        .split_once("use valv_client")
        .map(|(_, rest)| format!("use valv_client{rest}"))
        .unwrap_or_default();
    assert!(
        readme.contains(&body),
        "docs/clients.md \"Use from Rust\" must show clients/rust/examples/quickstart.rs from its `use` line on"
    );

    let server = start().await;
    let operator = server.client(&server.operator_token).await;
    let t = setup_tenant(
        &operator,
        "region-north",
        &[(
            "patients.research",
            pb::IdentifierKind::SePersonnummer,
            pb::Scheme::Keyed,
            true,
        )],
        &[],
    )
    .await;
    let admin = server.client(&t.admin).await;
    admin
        .admin()
        .define_record_policy(pb::DefineRecordPolicyRequest {
            policy: Some(pb::RecordPolicy {
                name: "visits".into(),
                fields: vec![pb::RecordField {
                    pointer: "/patient/ssn".into(),
                    domain: "patients.research".into(),
                    required: true,
                }],
                drop: vec!["/note".into()],
                updated_unix_ms: 0,
            }),
        })
        .await
        .unwrap();
    let tok = server.client(&t.tokenizer).await;
    let pseudonyms = quickstart::pseudonymise(&tok).await.unwrap();
    assert_eq!(
        pseudonyms,
        pseudonymise_ok(&tok, "patients.research", &["195209035525", "200311161632"]).await
    );
    server.stop().await;
}
