//! `valv serve --config FILE` and `valv config check`, on the real binary: the file's settings
//! take effect, the environment wins over the file and a flag over both; a file with an unknown
//! key or a bad value stops the vault before it writes anything, naming the key and never the
//! value; the commented example in docs/ checks clean once its paths exist; the systemd unit
//! passes `systemd-analyze verify` and its security review.

// A test file: helpers unwrap like the tests do; a failure is the test's message.
#![allow(clippy::unwrap_used)]

use std::{path::Path, process::Command};

use valv_e2e::{pb, *};

const BIN: &str = env!("CARGO_BIN_EXE_valv-under-test");

/// The limits a running vault reports (any principal may ask).
async fn limits(server: &ChildServer) -> pb::ServerLimits {
    let operator = server.client(&server.operator_token).await;
    operator
        .pseudonyms()
        .get_limits(pb::GetLimitsRequest {})
        .await
        .unwrap()
        .into_inner()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_vault_takes_its_settings_from_the_file_and_the_environment_and_flags_win() {
    valv_e2e::init();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let log = dir.path().join("valv.log");
    let file = dir.path().join("valv.toml");
    std::fs::write(
        &file,
        format!(
            "# a test's settings\ndata-dir = \"{}\"\nlisten = \"127.0.0.1:0\"\nmax-batch = 5\n\
             max-identifier-bytes = 64\nmax-message-bytes = 65536\n",
            data.display()
        ),
    )
    .unwrap();
    let config = file.to_str().unwrap();

    // The file alone.
    let server = spawn_with(BIN, &data, &log, &["--config", config]);
    let l = limits(&server).await;
    assert_eq!((l.max_batch, l.max_identifier_bytes), (5, 64));
    // What the vault does with it, not only what it reports.
    let operator = server.client(&server.operator_token).await;
    let t = setup_tenant(
        &operator,
        "configured",
        &[("d", pb::IdentifierKind::Opaque, pb::Scheme::Keyed, true)],
        &[],
    )
    .await;
    let tok = server.client(&t.tokenizer).await;
    let six: Vec<String> = (0..6).map(|i| format!("id-{i}")).collect();
    let refused = tok
        .pseudonyms()
        .pseudonymise(pb::PseudonymiseRequest {
            domain: "d".into(),
            identifiers: six.clone(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(
        refused.code(),
        tonic::Code::ResourceExhausted,
        "{refused:?}"
    );
    assert!(
        refused.message().contains("batch limit of 5"),
        "{refused:?}"
    );
    server.terminate();

    // The environment wins over the file.
    let env = [("VALV_MAX_BATCH", "7")];
    let server = spawn_with_env(BIN, &data, &log, &["--config", config], &env);
    let l = limits(&server).await;
    assert_eq!((l.max_batch, l.max_identifier_bytes), (7, 64));
    let tok = server.client(&t.tokenizer).await;
    let refs: Vec<&str> = six.iter().map(String::as_str).collect();
    assert_eq!(pseudonymise_ok(&tok, "d", &refs).await.len(), 6);
    server.terminate();

    // A flag wins over both.
    let server = spawn_with_env(
        BIN,
        &data,
        &log,
        &["--config", config, "--max-batch", "3"],
        &env,
    );
    assert_eq!(limits(&server).await.max_batch, 3);
    server.terminate();

    // VALV_CONFIG names the file like --config does.
    let server = spawn_with_env(BIN, &data, &log, &[], &[("VALV_CONFIG", config)]);
    assert_eq!(limits(&server).await.max_batch, 5);
    server.terminate();
}

/// `valv serve` on a bad file: exit status, stderr; nothing is created in the data directory.
fn refused_start(dir: &Path, text: &str) -> String {
    let file = dir.join("bad.toml");
    std::fs::write(&file, text).unwrap();
    let data = dir.join("untouched");
    let out = Command::new(BIN)
        .args(["serve", "--config"])
        .arg(&file)
        .arg("--data-dir")
        .arg(&data)
        .args(["--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(!data.exists(), "the data directory was created");
    String::from_utf8(out.stderr).unwrap()
}

#[test]
fn a_file_with_an_unknown_key_or_a_bad_value_stops_the_vault_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let err = refused_start(dir.path(), "max-batch = 5\nmax-bacth = 6\n");
    assert!(err.contains("bad.toml: unknown key `max-bacth`"), "{err}");
    let err = refused_start(dir.path(), "max-batch = \"lots\"\n");
    assert!(err.contains("bad.toml: key `max-batch`: "), "{err}");
    assert!(!err.contains("lots"), "{err}");
    // A password in a refused URL is not repeated.
    let err = refused_start(dir.path(), "store = \"mysql://valv:s3cret-pw@db/valv\"\n");
    assert!(err.contains("key `store`: "), "{err}");
    assert!(err.contains("expected a postgres:// URL"), "{err}");
    assert!(!err.contains("s3cret-pw"), "{err}");
    // Nor a line that is not TOML.
    let err = refused_start(dir.path(), "store = postgres://valv:s3cret-pw@db\n");
    assert!(err.contains("bad.toml: not valid TOML: "), "{err}");
    assert!(err.contains("line 1"), "{err}");
    assert!(!err.contains("s3cret-pw"), "{err}");
    // A flag on the command line may need another that only the file gives: the two are parsed
    // as one (here the start goes on to ask for the HSM's PIN).
    let file = dir.path().join("hsm.toml");
    std::fs::write(&file, "pkcs11-module = \"/nonexistent/libhsm.so\"\n").unwrap();
    let out = Command::new(BIN)
        .args(["serve", "--config"])
        .arg(&file)
        .args([
            "--pkcs11-token",
            "valv",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(dir.path().join("hsm-data"))
        .env_remove("VALV_PKCS11_PIN")
        .env_remove("VALV_PKCS11_PIN_FILE")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("needs the token's user PIN"), "{err}");
    assert!(!err.contains("required"), "{err}");
    // A missing file.
    let out = Command::new(BIN)
        .args(["serve", "--config"])
        .arg(dir.path().join("absent.toml"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("cannot read the configuration file"),
        "{out:?}"
    );
}

fn check(file: &Path) -> std::process::Output {
    Command::new(BIN)
        .args(["config", "check"])
        .arg(file)
        .env_remove("VALV_PKCS11_PIN")
        .output()
        .unwrap()
}

#[test]
fn the_example_file_checks_clean_once_its_files_exist_and_check_finds_what_serve_refuses() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let example = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/valv.example.toml"),
    )
    .unwrap();
    // The example's paths, moved under the test's directory.
    let text = example
        .replace("/etc/valv/", &format!("{}/etc/", root.display()))
        .replace("/var/lib/valv", &format!("{}/data", root.display()))
        .replace(
            "/usr/lib/softhsm/libsofthsm2.so",
            &format!("{}/libhsm.so", root.display()),
        );
    std::fs::create_dir_all(root.join("etc/tls")).unwrap();
    for f in ["etc/tls/server.pem", "etc/tls/server.key", "libhsm.so"] {
        std::fs::write(root.join(f), b"").unwrap();
    }
    let pin = root.join("etc/pkcs11.pin");
    std::fs::write(&pin, b"1234\n").unwrap();
    std::fs::set_permissions(&pin, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let file = root.join("valv.toml");
    std::fs::write(&file, &text).unwrap();
    let out = check(&file);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(
        stdout.contains("ok (")
            && stdout.contains("listen 0.0.0.0:7443")
            && stdout.contains("store embedded"),
        "{stdout}"
    );

    // What serve would refuse, check refuses with exit status 2: a file it names is missing…
    std::fs::remove_file(root.join("etc/tls/server.key")).unwrap();
    let out = check(&file);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("server.key"),
        "{out:?}"
    );
    std::fs::write(root.join("etc/tls/server.key"), b"").unwrap();
    // …the PIN file is readable by others…
    std::fs::set_permissions(&pin, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    let out = check(&file);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("chmod 600"),
        "{out:?}"
    );
    std::fs::set_permissions(&pin, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    // …settings that cannot go together, or plaintext on a public address.
    std::fs::write(&file, format!("{text}\ninsecure-plaintext = true\n")).unwrap();
    let out = check(&file);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("cannot be used with"),
        "{out:?}"
    );
    std::fs::write(
        &file,
        "listen = \"0.0.0.0:7443\"\ninsecure-plaintext = true\n",
    )
    .unwrap();
    let out = check(&file);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("only on a loopback address"),
        "{out:?}"
    );
}

#[test]
fn the_systemd_unit_verifies_and_its_security_review_is_ok() {
    let Ok(version) = Command::new("systemd-analyze").arg("--version").output() else {
        eprintln!("SKIPPED: systemd-analyze is not installed here");
        return;
    };
    assert!(version.status.success());
    let unit = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../vault/dist/valv.service"),
    )
    .unwrap();
    for option in [
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
        "MemoryDenyWriteExecute=yes",
        "LimitCORE=0",
        "ReadWritePaths=/var/lib/valv",
        "User=valv",
        "ExecStart=/usr/local/bin/valv serve --config /etc/valv/valv.toml",
    ] {
        assert!(unit.lines().any(|l| l == option), "{option} missing");
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("valv.service");
    // verify wants the program to exist: the binary under test stands in for it.
    std::fs::write(&path, unit.replace("/usr/local/bin/valv", BIN)).unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new("systemd-analyze")
        .args(["security", "--offline=true", "--no-pager"])
        .arg(&path)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let level = text
        .lines()
        .find_map(|l| l.split("Overall exposure level for valv.service: ").nth(1))
        .unwrap_or_else(|| panic!("no exposure level in {out:?}"));
    let score: f64 = level.split_whitespace().next().unwrap().parse().unwrap();
    // systemd calls 0–2 "OK" (and 10 "UNSAFE").
    assert!(score <= 2.0, "exposure {level}");
    eprintln!("systemd-analyze security: exposure {level}");
}
