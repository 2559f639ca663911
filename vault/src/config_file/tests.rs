//! The file against the real `valv serve` command.

use std::{ffi::OsString, path::Path};

use super::{ConfigFileError, blame, flags_from_file};

fn flags(text: &str) -> Result<Vec<String>, ConfigFileError> {
    flags_with_env(text, &[])
}

/// As `valv serve --config` takes a file: its flags, every value checked by the real command.
fn flags_with_env(text: &str, env: &[&str]) -> Result<Vec<String>, ConfigFileError> {
    let command = crate::cli::serve_command();
    let path = Path::new("valv.toml");
    let flags = flags_from_file(&command, path, text, &|name| env.contains(&name))?;
    if let Err(e) = command
        .no_binary_name(true)
        .try_get_matches_from(&flags.all)
        && let Some(bad) = blame(&e, path, &flags.keys, &[])
    {
        return Err(bad);
    }
    Ok(flags
        .effective
        .into_iter()
        .map(|s: OsString| s.into_string().unwrap())
        .collect())
}

fn bad_value(text: &str) -> (String, String) {
    match flags(text) {
        Err(ConfigFileError::BadValue { key, reason, .. }) => (key, reason),
        other => panic!("expected a bad value, got {other:?}"),
    }
}

#[test]
fn keys_are_the_long_flag_names_and_become_those_flags() {
    let out = flags(
        r#"
data-dir = "/var/lib/valv"
listen = "127.0.0.1:7443"
max-batch = 5000
insecure-plaintext = true
two-person-rule = false
"#,
    )
    .unwrap();
    assert_eq!(
        out,
        // In key order (the file's order does not matter: each key is given once).
        [
            "--data-dir=/var/lib/valv",
            "--insecure-plaintext",
            "--listen=127.0.0.1:7443",
            "--max-batch=5000",
            "--two-person-rule=off",
        ]
    );
    // A switch set to false is simply not given.
    assert_eq!(
        flags("insecure-plaintext = false").unwrap(),
        Vec::<String>::new()
    );
}

#[test]
fn an_unknown_key_is_refused_by_name() {
    let e = flags("max-batch = 5\nmax-bacth = 6\n").unwrap_err();
    assert_eq!(
        e,
        ConfigFileError::UnknownKey {
            path: "valv.toml".into(),
            key: "max-bacth".into()
        }
    );
    assert!(
        e.to_string()
            .starts_with("valv.toml: unknown key `max-bacth`"),
        "{e}"
    );
    // Not settings: refused like any unknown key.
    for key in ["config = \"x.toml\"", "help = true", "version = true"] {
        assert!(
            matches!(flags(key), Err(ConfigFileError::UnknownKey { .. })),
            "{key}"
        );
    }
    // Snake case is not the flag's name.
    assert!(matches!(
        flags("max_batch = 5"),
        Err(ConfigFileError::UnknownKey { key, .. }) if key == "max_batch"
    ));
}

#[test]
fn a_value_the_flag_refuses_is_refused_by_key_without_repeating_the_value() {
    let (key, reason) = bad_value("max-batch = \"lots\"");
    assert_eq!(key, "max-batch");
    assert!(reason.contains("--max-batch"), "{reason}");
    assert!(!reason.contains("lots"), "{reason}");
    // A store URL can hold a password: never echoed.
    let (key, reason) = bad_value("store = \"mysql://valv:s3cret@db/valv\"");
    assert_eq!(key, "store");
    assert!(reason.contains("expected a postgres:// URL"), "{reason}");
    assert!(!reason.contains("s3cret"), "{reason}");
    // Ranges and kinds are the command line's own.
    let (key, reason) = bad_value("store-cache-mib = 1");
    assert_eq!(key, "store-cache-mib");
    assert!(reason.contains("8..=1048576"), "{reason}");
    let (key, reason) = bad_value("listen = \"everywhere\"");
    assert_eq!(key, "listen");
    assert!(reason.contains("--listen"), "{reason}");
    assert!(!reason.contains("everywhere"), "{reason}");
    assert_eq!(
        bad_value("insecure-plaintext = \"yes\"").1,
        "expected true or false"
    );
    assert_eq!(
        bad_value("max-batch = [1, 2]").1,
        "expected one value (a string, number or true/false)"
    );
    assert_eq!(
        bad_value("data-dir = { path = \"/var/lib/valv\" }").1,
        "expected one value (a string, number or true/false)"
    );
    // A section is no flag.
    assert!(matches!(
        flags("[limits]\nmax-batch = 1"),
        Err(ConfigFileError::UnknownKey { key, .. }) if key == "limits"
    ));
}

#[test]
fn a_key_whose_environment_variable_is_set_is_left_to_the_environment() {
    let out = flags_with_env("max-batch = 5\nmax-calls = 9", &["VALV_MAX_BATCH"]).unwrap();
    assert_eq!(out, ["--max-calls=9"]);
    // The value is still checked: a broken file is refused whatever the environment says.
    assert!(flags_with_env("max-batch = \"x\"", &["VALV_MAX_BATCH"]).is_err());
}

#[test]
fn a_file_that_is_not_toml_is_refused_with_its_position_only() {
    let e = flags("max-batch = 5\nstore = postgres://valv:s3cret@db\n").unwrap_err();
    let ConfigFileError::Syntax { path, reason } = &e else {
        panic!("{e:?}");
    };
    assert_eq!(path, "valv.toml");
    assert!(reason.contains("line 2"), "{reason}");
    assert!(!e.to_string().contains("s3cret"), "{e}");
}

#[test]
fn a_refusal_of_a_flag_given_on_the_command_line_is_not_the_files() {
    let command = crate::cli::serve_command();
    let path = Path::new("valv.toml");
    let keys = vec!["max-batch".to_owned()];
    let cli: Vec<OsString> = vec!["--max-batch=x".into()];
    let e = command
        .no_binary_name(true)
        .try_get_matches_from(&cli)
        .unwrap_err();
    assert_eq!(blame(&e, path, &keys, &cli), None);
    assert!(matches!(
        blame(&e, path, &keys, &[]),
        Some(ConfigFileError::BadValue { key, .. }) if key == "max-batch"
    ));
}

#[test]
fn settings_that_cannot_go_together_are_refused_naming_a_key() {
    let command = crate::cli::serve_command();
    let path = Path::new("valv.toml");
    let flags = flags_from_file(
        &command,
        path,
        "insecure-plaintext = true\ntls-cert = \"c.pem\"\ntls-key = \"k.pem\"\n",
        &|_| false,
    )
    .unwrap();
    let e = command
        .no_binary_name(true)
        .try_get_matches_from(&flags.effective)
        .unwrap_err();
    let bad = blame(&e, path, &flags.keys, &[]).unwrap();
    let ConfigFileError::BadValue { key, reason, .. } = &bad else {
        panic!("{bad:?}");
    };
    assert!(
        ["insecure-plaintext", "tls-cert", "tls-key"].contains(&key.as_str()),
        "{bad}"
    );
    assert!(reason.contains("cannot be used with"), "{reason}");
}
