//! `valv serve --config FILE`: a TOML file whose keys are the long names of `valv serve`'s
//! flags (`data-dir = "/var/lib/valv"`, `max-batch = 5000`, `insecure-plaintext = true`).
//!
//! Precedence, highest first: a flag on the command line, its environment variable, the file,
//! the built-in default. The file is turned into the flags it stands for, checked one by one
//! against the command's own arguments — so the file accepts exactly the keys the command line
//! does and refuses the values the command line refuses, and the two can never drift apart.
//! Each refusal names the file and the key; a value is never repeated in a message (a store URL
//! may carry a password).
//!
//! Pure: text in, arguments out; reading the file and the environment is the caller's.

use std::{ffi::OsString, path::Path};

use thiserror::Error;

/// Keys that are not settings (and so are refused in a file).
const NOT_IN_A_FILE: &[&str] = &["config", "help", "version"];

/// Why a configuration file was refused.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ConfigFileError {
    /// The text is not TOML.
    #[error("{path}: not valid TOML: {reason}")]
    Syntax {
        /// The file.
        path: String,
        /// Where and what (line and column).
        reason: String,
    },
    /// A key that is no flag of `valv serve`.
    #[error(
        "{path}: unknown key `{key}` (the keys are the long names of `valv serve`'s flags, e.g. `data-dir`; see `valv serve --help`)"
    )]
    UnknownKey {
        /// The file.
        path: String,
        /// The key as written.
        key: String,
    },
    /// A value the flag does not take.
    #[error("{path}: key `{key}`: {reason}")]
    BadValue {
        /// The file.
        path: String,
        /// The key.
        key: String,
        /// The rule it broke.
        reason: String,
    },
}

/// What a file stands for: the flags in it, in file order, each with its key.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct FileFlags {
    /// Every key's flags, the environment notwithstanding (to check every value).
    pub all: Vec<OsString>,
    /// The flags to use: those whose environment variable is not set (`env_set`), which wins.
    pub effective: Vec<OsString>,
    /// The keys, to tell a refusal of one of these flags as the file's.
    pub keys: Vec<String>,
}

/// The flags `text` stands for, to be placed before the command line's own (which win, the
/// command allowing a flag to be given again). Checks the keys and the shape of each value
/// here; the values themselves are the flags' to check (see [`blame`]).
pub fn flags_from_file(
    command: &clap::Command,
    path: &Path,
    text: &str,
    env_set: &dyn Fn(&str) -> bool,
) -> Result<FileFlags, ConfigFileError> {
    let path = path.display().to_string();
    let table: toml::Table = toml::from_str(text).map_err(|e: toml::de::Error| {
        ConfigFileError::Syntax {
            path: path.clone(),
            // The message may quote the offending line, which may hold a secret: position only.
            reason: e.span().map_or_else(
                || "cannot be read as TOML".to_owned(),
                |span| format!("cannot be read as TOML at {}", position(text, span.start)),
            ),
        }
    })?;
    let mut out = FileFlags::default();
    for (key, value) in &table {
        let arg = command
            .get_arguments()
            .find(|a| a.get_long() == Some(key.as_str()))
            .filter(|_| !NOT_IN_A_FILE.contains(&key.as_str()))
            .ok_or_else(|| ConfigFileError::UnknownKey {
                path: path.clone(),
                key: key.clone(),
            })?;
        let bad = |reason: String| ConfigFileError::BadValue {
            path: path.clone(),
            key: key.clone(),
            reason,
        };
        let values = scalars(value).ok_or_else(|| bad(expected(arg)))?;
        if values.len() != 1 && !matches!(arg.get_action(), clap::ArgAction::Append) {
            return Err(bad(expected(arg)));
        }
        let given: Vec<OsString> = if matches!(arg.get_action(), clap::ArgAction::SetTrue) {
            match value {
                toml::Value::Boolean(true) => vec![format!("--{key}").into()],
                toml::Value::Boolean(false) => Vec::new(),
                _ => return Err(bad("expected true or false".into())),
            }
        } else {
            values
                .into_iter()
                .map(|v| format!("--{key}={v}").into())
                .collect()
        };
        let env_wins = arg
            .get_env()
            .is_some_and(|env| env_set(&env.to_string_lossy()));
        out.all.extend(given.iter().cloned());
        if !env_wins {
            out.effective.extend(given);
        }
        out.keys.push(key.clone());
    }
    Ok(out)
}

/// A refusal by the command of a flag that came from the file (one of `keys`, and not given on
/// the command line, `cli`), told as the file's; `None` for any other refusal.
pub fn blame(
    error: &clap::Error,
    path: &Path,
    keys: &[String],
    cli: &[OsString],
) -> Option<ConfigFileError> {
    use clap::error::{ContextKind, ContextValue};
    let Some(ContextValue::String(arg)) = error.get(ContextKind::InvalidArg) else {
        return None;
    };
    let key: String = arg
        .strip_prefix("--")?
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect();
    let on_cli = cli.iter().any(|a| {
        a.to_str().is_some_and(|a| {
            a.strip_prefix("--")
                .is_some_and(|f| f == key || f.starts_with(&format!("{key}=")))
        })
    });
    if !keys.contains(&key) || on_cli {
        return None;
    }
    let value = match error.get(ContextKind::InvalidValue) {
        Some(ContextValue::String(v)) => v.clone(),
        _ => String::new(),
    };
    Some(ConfigFileError::BadValue {
        path: path.display().to_string(),
        key,
        reason: reason(error, &value),
    })
}

/// A value as the text a flag takes (`None`: a table, or a nested array).
fn scalars(value: &toml::Value) -> Option<Vec<String>> {
    match value {
        toml::Value::String(s) => Some(vec![s.clone()]),
        toml::Value::Integer(i) => Some(vec![i.to_string()]),
        toml::Value::Float(f) => Some(vec![f.to_string()]),
        toml::Value::Boolean(b) => Some(vec![if *b { "on" } else { "off" }.to_owned()]),
        toml::Value::Datetime(d) => Some(vec![d.to_string()]),
        toml::Value::Array(items) => items
            .iter()
            .map(|v| match scalars(v) {
                Some(mut one) if one.len() == 1 && !v.is_array() => one.pop(),
                _ => None,
            })
            .collect(),
        toml::Value::Table(_) => None,
    }
}

fn expected(arg: &clap::Arg) -> String {
    match arg.get_action() {
        clap::ArgAction::SetTrue => "expected true or false".into(),
        clap::ArgAction::Append => "expected a value or a list of values".into(),
        _ => "expected one value (a string, number or true/false)".into(),
    }
}

/// clap's reason without the value itself, and without its usage lines.
fn reason(e: &clap::Error, value: &str) -> String {
    let rendered = e.to_string();
    let first = rendered.lines().next().unwrap_or_default();
    let first = first.strip_prefix("error: ").unwrap_or(first);
    if value.is_empty() {
        first.to_owned()
    } else if value.len() >= 8 {
        // Long enough to be a secret (a URL with a password): nowhere in the message.
        first.replace(value, "…")
    } else {
        first.replace(&format!("'{value}'"), "'…'")
    }
}

/// Line and column (from 1) of a byte offset.
fn position(text: &str, offset: usize) -> String {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    format!("line {line}, column {column}")
}

#[cfg(test)]
mod tests;
