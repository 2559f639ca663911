//! No identifier (and no key byte) appears in the server's log at `trace`, in audit entries, in
//! metrics, in error messages, or in the clear anywhere in the data directory.

// A test file: helpers unwrap like the tests do; a failure is the test's message.
#![allow(clippy::unwrap_used)]

use valv::store::AuditStore;
use valv_e2e::{pb, *};

const BIN: &str = env!("CARGO_BIN_EXE_valv-under-test");

/// What a workload leaves to look through for identifiers.
pub(crate) struct Workload {
    /// Identifiers sent (valid and invalid), in the forms sent.
    pub(crate) secrets: Vec<String>,
    /// Error messages the vault answered with.
    messages: Vec<String>,
    /// The metrics page after the workload.
    metrics: String,
    /// Bearer tokens in use.
    pub(crate) tokens: Vec<String>,
}

/// Every kind of act that handles identifiers, against `server`.
pub(crate) async fn workload(server: &ChildServer) -> Workload {
    let operator = server.client(&server.operator_token).await;
    let t = setup_tenant(
        &operator,
        "acme",
        &[
            ("mail", pb::IdentifierKind::Email, pb::Scheme::Keyed, true),
            (
                "pnr",
                pb::IdentifierKind::SePersonnummer,
                pb::Scheme::Random,
                true,
            ),
            (
                "fpe",
                pb::IdentifierKind::NoFodselsnummer,
                pb::Scheme::FormatPreserving,
                true,
            ),
        ],
        &[
            ("research", pb::LegalBasis::Consent),
            ("ops", pb::LegalBasis::Contract),
        ],
    )
    .await;
    let tok = server.client(&t.tokenizer).await;
    let reid = server.client(&t.reidentifier).await;
    let cm = server.client(&t.consent_manager).await;

    let emails: Vec<String> = (0..50)
        .map(|i| format!("leakcanary{i:03}@example.se"))
        .collect();
    let pnrs = [
        "195209035525",
        "197807241901",
        "198112189876",
        "200311161632",
    ];
    let fnrs = ["04110657264", "02019713906", "02089628965", "01010101006"];
    let bad = ["leakcanarybad@@example.se", "leakcanary-no-at"];
    let mut secrets: Vec<String> = emails.clone();
    secrets.extend(pnrs.iter().map(|s| (*s).to_owned()));
    secrets.extend(fnrs.iter().map(|s| (*s).to_owned()));
    secrets.extend(bad.iter().map(|s| (*s).to_owned()));
    secrets.push("19520903-5525".into());

    let refs: Vec<&str> = emails.iter().map(String::as_str).collect();
    let mail = pseudonymise_ok(&tok, "mail", &refs).await;
    let p = pseudonymise_ok(&tok, "pnr", &pnrs).await;
    let f = pseudonymise_ok(&tok, "fpe", &fnrs).await;
    // Invalid items and errors.
    let reply = tok
        .pseudonyms()
        .pseudonymise(pb::PseudonymiseRequest {
            domain: "mail".into(),
            identifiers: bad.iter().map(|s| (*s).to_owned()).collect(),
            batch_id: 0,
        })
        .await
        .unwrap()
        .into_inner();
    let mut messages: Vec<String> = reply
        .results
        .iter()
        .filter_map(|r| match &r.outcome {
            Some(pb::pseudonymise_result::Outcome::Error(e)) => Some(e.rule.clone()),
            _ => None,
        })
        .collect();
    // An identifier sent where a pseudonym belongs, and as a consent subject that fails.
    let r = reidentify(&reid, "fpe", "ops", &["02019713906".into(), f[0].clone()])
        .await
        .unwrap_or_default();
    assert_eq!(r[0].0, pb::Verdict::NotFound);
    if let Err(s) = cm
        .consents()
        .grant_consent(grant("pnr", "19811318-9875", "research", 1, 0))
        .await
    {
        messages.push(s.message().to_owned());
    }
    secrets.push("19811318-9875".into());
    cm.consents()
        .grant_consent(grant("pnr", "19520903-5525", "research", 1, 0))
        .await
        .unwrap();
    cm.consents()
        .grant_consent(grant("mail", &emails[0], "research", 1, 0))
        .await
        .unwrap();
    let released = reidentify(&reid, "pnr", "research", &p)
        .await
        .unwrap_or_default();
    assert_eq!(released[0], (pb::Verdict::Released, "195209035525".into()));
    assert_eq!(
        reidentify(&reid, "mail", "research", &mail)
            .await
            .unwrap_or_default()[0]
            .0,
        pb::Verdict::Released
    );
    cm.consents()
        .withdraw_consent(pb::WithdrawConsentRequest {
            subject: Some(pb::SubjectRef {
                domain: "pnr".into(),
                by: Some(pb::subject_ref::By::Identifier("520903-5525".into())),
            }),
            purpose: "research".into(),
        })
        .await
        .unwrap();
    let metrics = http_get(
        server
            .metrics_addr
            .unwrap_or_else(|| panic!("metrics address in the log")),
        "/metrics",
    )
    .await;
    assert!(metrics.contains("valv_identifiers_pseudonymised_total"));
    let tokens = vec![
        server.operator_token.clone(),
        t.admin.clone(),
        t.tokenizer.clone(),
        t.reidentifier.clone(),
        t.consent_manager.clone(),
    ];
    Workload {
        secrets,
        messages,
        metrics,
        tokens,
    }
}

/// The log and the metrics of a finished workload hold no identifier, key or token.
fn check_log_and_metrics(w: &Workload, log_text: &str, data: &std::path::Path) {
    assert!(
        log_text.contains("TRACE"),
        "the server must have logged at trace level"
    );
    // (On a PKCS#11 root key there are no root key bytes outside the token to look for.)
    if !valv_e2e::pkcs11_mode() {
        let root_key = std::fs::read_to_string(data.join("root.key"))
            .unwrap_or_default()
            .trim()
            .to_owned();
        assert_eq!(root_key.len(), 64);
        assert!(!log_text.contains(&root_key), "root key in the log");
        assert!(!w.metrics.contains(&root_key), "root key in the metrics");
    }
    // Bearer tokens are secrets too: neither whole nor their secret part may be logged.
    for token in &w.tokens {
        let secret = token.rsplit('_').next().unwrap_or_default();
        assert_eq!(secret.len(), 52);
        assert!(!log_text.contains(secret), "a bearer token in the log");
    }
    for s in &w.secrets {
        assert!(!log_text.contains(s.as_str()), "identifier in the log");
        assert!(!w.metrics.contains(s.as_str()), "identifier in the metrics");
        assert!(
            !w.messages.iter().any(|m| m.contains(s.as_str())),
            "identifier in an error message"
        );
    }
    assert!(!log_text.contains("leakcanary"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_workload_leaks_no_identifier() {
    init();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let log = dir.path().join("server.log");
    let server = spawn_with(BIN, &data, &log, &["--metrics-listen", "127.0.0.1:0"]);
    let w = workload(&server).await;
    server.terminate();

    let log_text = std::fs::read_to_string(&log).unwrap_or_default();
    check_log_and_metrics(&w, &log_text, &data);

    // Audit entries, read from the store itself.
    let store = valv::store::sled::SledStore::open(&data.join("store")).unwrap();
    let mut audit = String::new();
    for chain in 0..64 {
        for e in store
            .read_audit(chain, 1, usize::MAX)
            .await
            .unwrap_or_default()
        {
            audit.push_str(&format!("{e:?}"));
        }
    }
    assert!(
        audit.contains("reidentify") && audit.contains("consent.grant"),
        "audit must hold the acts"
    );
    drop(store);

    // Everything on disk, byte for byte (identifiers are stored only encrypted).
    let mut disk = Vec::new();
    for entry in walk(&data.join("store")) {
        disk.extend(std::fs::read(entry).unwrap_or_default());
    }
    assert!(disk.len() > 1000);
    for s in &w.secrets {
        assert!(!audit.contains(s.as_str()), "identifier in the audit log");
        assert!(
            !disk.windows(s.len()).any(|w| w == s.as_bytes()),
            "identifier in the clear on disk"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgresql_no_table_and_no_dump_holds_an_identifier() {
    init();
    let Some(schema) =
        valv::store::postgres::testing::TestSchema::create("no leak on PostgreSQL").await
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let log = dir.path().join("server.log");
    let url = schema.url();
    let server = spawn_with(
        BIN,
        &data,
        &log,
        &["--metrics-listen", "127.0.0.1:0", "--store", &url],
    );
    let w = workload(&server).await;
    server.terminate();
    let log_text = std::fs::read_to_string(&log).unwrap_or_default();
    check_log_and_metrics(&w, &log_text, &data);
    // The whole schema as pg_dump writes it: rows (bytea as hex, jsonb as text), and the
    // store's tables really hold the workload.
    let base = std::env::var(valv::store::postgres::testing::URL_VAR).unwrap();
    let dump = std::process::Command::new("pg_dump")
        .args(["--dbname", &base, "--schema", schema.name(), "--no-owner"])
        .output()
        .unwrap_or_else(|e| panic!("pg_dump: {e}"));
    assert!(
        dump.status.success(),
        "{}",
        String::from_utf8_lossy(&dump.stderr)
    );
    let dump = String::from_utf8_lossy(&dump.stdout).to_lowercase();
    assert!(
        dump.contains("copy") && dump.contains("mappings"),
        "a dump of the store"
    );
    assert!(dump.len() > 10_000, "{}", dump.len());
    for s in &w.secrets {
        assert!(!dump.contains(&s.to_lowercase()), "identifier in the dump");
        assert!(
            !dump.contains(&hex::encode(s)),
            "identifier (as bytea) in the dump"
        );
    }
    // No directory of the node holds one either (its store is the database).
    for entry in walk(&data) {
        let bytes = std::fs::read(&entry).unwrap_or_default();
        for s in &w.secrets {
            assert!(
                !bytes.windows(s.len()).any(|b| b == s.as_bytes()),
                "identifier in {}",
                entry.display()
            );
        }
    }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}
