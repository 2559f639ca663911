//! The `sh` blocks of docs/ run as written with `bash` and the real `valvctl` (and `valv`)
//! against a real vault, page by page, each block with the token of the role it is for. What
//! the test changes in a block is listed in `ADAPTED` (placeholders and waiting forever); the
//! blocks it does not run are listed, with the reason, in `NOT_RUN`.

#![allow(clippy::unwrap_used)]

use std::{path::Path, process::Command};

use valv_e2e::*;

const VALV: &str = env!("CARGO_BIN_EXE_valv-under-test");
const VALVCTL: &str = env!("CARGO_BIN_EXE_valvctl-under-test");

/// Blocks left to other tests, by page and a line they contain: (page, line, why).
const NOT_RUN: &[(&str, &str, &str)] = &[
    (
        "configuration.md",
        "valv serve --config valv.toml",
        "serves until stopped; config_file::a_vault_takes_its_settings_from_the_file_and_the_environment_and_flags_win starts the vault with --config and VALV_CONFIG",
    ),
    (
        "several-nodes.md",
        "valv store migrate --from /var/lib/valv",
        "needs a replicated database with TLS; migrate::a_data_dir_moves_to_postgresql_and_back_and_serves_as_before runs both commands on the test database",
    ),
    (
        "several-nodes.md",
        "valv serve --data-dir /var/lib/valv --node-id",
        "starts a node on a replicated PostgreSQL; the cluster tests start three nodes with --store and --node-id on the test database",
    ),
    (
        "subject-requests.md",
        "valv operator compact",
        "needs the vault stopped; compaction has its own tests in vault/src/store/sled/compact.rs",
    ),
    (
        "keys.md",
        "valvctl keys destroy 1 ",
        "shows a refusal and a forced destruction side by side; keys::destroying_a_version_needs_its_records_moved_or_force_and_a_second_officer tests both",
    ),
    (
        "keys.md",
        "apt-get install softhsm2",
        "sets up an HSM for production paths; tests/with-softhsm runs the whole suite on SoftHSM2",
    ),
    (
        "keys.md",
        "valv operator init",
        "starts a sealed server and waits; sealed::a_sealed_vault_serves_nothing_until_enough_shares_arrive runs init, sealed start and unseal",
    ),
    (
        "keys.md",
        "valvctl keys rotate-root --new-shares",
        "needs a sealed vault, two operators and the new shares on stdin; new_shares::new_shares_replace_the_old_ones_only_once_a_threshold_of_them_is_confirmed runs the rotation, a restart with the old shares, and the confirmation",
    ),
    (
        "keys.md",
        "valvctl unseal",
        "needs a sealed vault and a share on stdin; sealed::a_sealed_vault_serves_nothing_until_enough_shares_arrive unseals with shares (valvctl unseal included)",
    ),
];

/// (placeholder or text in a block, what runs instead).
const ADAPTED: &[(&str, &str)] = &[
    ("<subject-officer token>", "$SUBJECT_OFFICER_TOKEN"),
    ("<auditor token>", "$AUDITOR_TOKEN"),
    ("<key-officer token>", "$KEY_OFFICER_TOKEN"),
    ("<tokenizer token of the data platform>", "$TOKENIZER_TOKEN"),
    ("<pseudonym>", "$PSEUDONYM"),
    // The enrolment code printed by the line before is what the next line claims.
    (
        "valvctl principal create night-auditor --role auditor --enrol     # prints an enrolment code",
        "code=$(\"$VALVCTL\" --json principal create night-auditor --role auditor --enrol | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"enrolment_code\"])')",
    ),
    (
        "valvctl principal create registry-export --role translator --purpose quality-registry --enrol",
        "code=$(\"$VALVCTL\" --json principal create registry-export --role translator --purpose quality-registry --enrol | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"enrolment_code\"])')",
    ),
    ("<enrolment code>", "\"$code\""),
    // A follower waits for events forever: it runs for two seconds and is cut off then.
    (
        "valvctl --json subject events --after 1041 --follow",
        "timeout 2 \"$VALVCTL\" --json subject events --after 0 --follow || [ $? -eq 124 ]",
    ),
];

/// Every `sh` block of a page, in order.
fn blocks(page: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = page;
    while let Some((_, after)) = rest.split_once("```sh\n") {
        let Some((code, tail)) = after.split_once("```") else {
            break;
        };
        out.push(code.to_owned());
        rest = tail;
    }
    out
}

struct Vault {
    server: ChildServer,
    dir: tempfile::TempDir,
    env: Vec<(String, String)>,
}

impl Vault {
    fn ctl(&self, token: &str, args: &[&str]) -> serde_json::Value {
        let all: Vec<&str> = ["--json"].iter().chain(args).copied().collect();
        let out = self.server.valvctl(VALVCTL, token, &all);
        assert!(
            out.status.success(),
            "valvctl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap_or_default()
    }

    fn token(&self, admin: &str, name: &str, role: &str, purpose: Option<&str>) -> String {
        let mut args = vec!["principal", "create", name, "--role", role];
        if let Some(p) = purpose {
            args.extend(["--purpose", p]);
        }
        self.ctl(admin, &args)["token"].as_str().unwrap().to_owned()
    }

    /// Runs `block` with `token` as VALV_TOKEN in the vault's directory.
    fn run(&self, page: &str, block: &str, token: &str) {
        let mut script =
            String::from("valvctl() { \"$VALVCTL\" \"$@\"; }\nvalv() { \"$VALV\" \"$@\"; }\n");
        let mut code = block.to_owned();
        for (from, to) in ADAPTED {
            code = code.replace(from, to);
        }
        script.push_str(&code);
        let out = Command::new("bash")
            .args(["-euo", "pipefail", "-c", &script])
            .current_dir(self.dir.path())
            .env("VALVCTL", VALVCTL)
            .env("VALV", VALV)
            .env("VALV_ADDR", &self.server.addr)
            .env("VALV_CA", self.dir.path().join("valv-data/tls/ca.pem"))
            .env("VALV_TOKEN", token)
            .env_remove("VALV_TOKEN_FILE")
            .env("XDG_CONFIG_HOME", self.dir.path().join("no-config"))
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{page}: block failed:\n{block}\n--- stderr:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

fn page(name: &str) -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../docs")
            .join(name),
    )
    .unwrap()
}

fn skipped(name: &str, block: &str) -> bool {
    NOT_RUN
        .iter()
        .any(|(p, line, _)| *p == name && block.contains(line))
}

#[test]
fn the_docs_command_blocks_run_as_written() {
    init();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("valv-data");
    let server = spawn(VALV, &data, &dir.path().join("server.log"));
    let mut vault = Vault {
        server,
        dir,
        env: Vec::new(),
    };
    let operator = vault.server.operator_token.clone();
    let code = vault.ctl(&operator, &["tenant", "create", "clinic"])["admins"][0]["code"]
        .as_str()
        .unwrap()
        .to_owned();
    let admin = vault.ctl(&operator, &["enrol", &code])["token"]
        .as_str()
        .unwrap()
        .to_owned();
    vault.ctl(
        &admin,
        &[
            "domain",
            "create",
            "patients",
            "--kind",
            "se-personnummer",
            "--reversible",
        ],
    );
    let consent_desk = vault.token(&admin, "consent-desk", "consent-manager", None);
    let subject_officer = vault.token(&admin, "dpo", "subject-officer", None);
    let auditor = vault.token(&admin, "auditor", "auditor", None);
    let key_officer = vault.token(&admin, "keys", "key-officer", None);
    let tokenizer = vault.token(&admin, "platform", "tokenizer", None);
    let pseudonym = vault.ctl(
        &tokenizer,
        &["pseudonymise", "--domain", "patients", "19800101-1231"],
    )[0]["pseudonym"]
        .as_str()
        .unwrap()
        .to_owned();
    std::fs::write(
        vault.dir.path().join("research-consent-v1.txt"),
        "I agree that my records may be used for research.\n",
    )
    .unwrap();
    std::fs::write(
        vault.dir.path().join("valv.toml"),
        "data-dir = \"valv-data\"\nlisten = \"127.0.0.1:7443\"\nmax-batch = 5000\n",
    )
    .unwrap();
    // (Another person than the pseudonym's: subject-requests.md erases that one.)
    let in_extract = vault.ctl(
        &tokenizer,
        &["pseudonymise", "--domain", "patients", "19520903-5525"],
    )[0]["pseudonym"]
        .as_str()
        .unwrap()
        .to_owned();
    std::fs::write(
        vault.dir.path().join("extract.csv"),
        format!("patient,visit\n{in_extract},2026-11-03\n"),
    )
    .unwrap();
    std::fs::write(
        vault.dir.path().join("bankid-order.json"),
        "{\"orderRef\":\"131daac9-16c6-4618-beb0-365768f37288\"}\n",
    )
    .unwrap();
    vault.env = vec![
        ("SUBJECT_OFFICER_TOKEN".into(), subject_officer.clone()),
        ("AUDITOR_TOKEN".into(), auditor.clone()),
        ("KEY_OFFICER_TOKEN".into(), key_officer.clone()),
        ("TOKENIZER_TOKEN".into(), tokenizer.clone()),
        ("PSEUDONYM".into(), pseudonym.clone()),
    ];

    // Page by page, each block with the role it is written for.
    let pages: &[(&str, &[&str])] = &[
        (
            "consents.md",
            &[&admin, &consent_desk, &consent_desk, &consent_desk],
        ),
        // Before the pages that erase, expire and finalise epochs of the extract's person.
        ("sharing.md", &[&admin, ""]),
        ("subject-requests.md", &[&subject_officer, "", &tokenizer]),
        ("retention.md", &[&admin]),
        ("audit-and-monitoring.md", &[&auditor, &auditor]),
        (
            "keys.md",
            &[&key_officer, "", &operator, &key_officer, "", "", "", ""],
        ),
        ("dual-control.md", &[&admin, &admin]),
        ("configuration.md", &["", ""]),
        ("record-of-processing.md", &[&auditor]),
    ];
    let mut ran = 0;
    for (name, tokens) in pages {
        let text = page(name);
        let found = blocks(&text);
        assert_eq!(
            found.len(),
            tokens.len(),
            "{name}: blocks changed; say whose they are"
        );
        for (block, token) in found.iter().zip(tokens.iter()) {
            if skipped(name, block) {
                continue;
            }
            vault.run(name, block, token);
            ran += 1;
        }
    }
    assert_eq!(ran, 18);
    assert!(vault.dir.path().join("witness.jsonl").exists());
    assert!(vault.dir.path().join("night-auditor.token").exists());
    // What the blocks did is there.
    assert!(vault.dir.path().join("receipt.json").exists());
    assert!(vault.dir.path().join("access-request.json").exists());
    assert!(vault.dir.path().join("audit.jsonl").exists());
    assert!(vault.dir.path().join("patients-epoch.csv").exists());
    // The recipient's extract: the row is there, under the recipient's pseudonym.
    let shared = std::fs::read_to_string(vault.dir.path().join("for-registry.csv")).unwrap();
    let lines: Vec<&str> = shared.lines().collect();
    assert_eq!(lines.len(), 2, "{shared}");
    assert!(lines[1].ends_with(",2026-11-03"), "{shared}");
    assert!(
        !shared.contains(&pseudonym),
        "the platform's pseudonym reached the recipient"
    );
    let record =
        std::fs::read_to_string(vault.dir.path().join("record-of-processing.html")).unwrap();
    assert!(
        record.contains("<h2>Identifiers held (domains)</h2>"),
        "{record}"
    );
    vault.server.terminate();
}
