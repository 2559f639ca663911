//! `valvctl`: the Valv command line for administrators, officers and data engineers (as a
//! library, so the end-to-end tests run the very same commands).
//!
//! Connection settings come from flags, the environment (`VALV_ADDR`, `VALV_TOKEN` or
//! `VALV_TOKEN_FILE`, `VALV_CA`) or a profile file (see `config`).

#![deny(missing_docs)]

mod admin;
mod approval;
mod args;
mod audit;
mod audit_file;
mod bench;
mod bench_tenant;
pub mod bulk;
mod commands;
pub mod config;
mod consent;
mod disk_probe;
mod keys;
mod output;
mod policy;
mod processing;
mod pseudonym;
mod retention;
mod seal;
mod settings;
mod sharing;
mod soak;
mod subjects;
mod table;
mod witness;

use std::{path::PathBuf, process::ExitCode};

use clap::Parser;

/// Parses an audit export as `valvctl audit export` writes it and `valvctl audit verify --file`
/// reads it (JSON lines of entries and checkpoints), for tools and the fuzz targets.
pub fn parse_audit_export(
    text: &str,
) -> anyhow::Result<(
    Vec<valv_client::pb::AuditEntry>,
    Vec<valv_client::pb::AuditCheckpoint>,
)> {
    audit_file::parse_export(text.as_bytes())
}

/// Renders entries and checkpoints as `valvctl audit export` writes them (the inverse of
/// [`parse_audit_export`]).
pub fn render_audit_export(
    entries: &[valv_client::pb::AuditEntry],
    checkpoints: &[valv_client::pb::AuditCheckpoint],
) -> String {
    let lines = entries
        .iter()
        .map(audit_file::entry_json)
        .chain(checkpoints.iter().map(audit_file::checkpoint_json));
    lines.map(|v| format!("{v}\n")).collect()
}

/// Talk to a Valv vault: set it up, pseudonymise and re-identify (also whole CSV and JSON-lines
/// files), manage consents, subject requests, keys and the audit log.
///
/// Connection: --addr/--ca/--token-file, or VALV_ADDR/VALV_CA/VALV_TOKEN(_FILE), or a profile in
/// ~/.config/valv/profiles.toml ([profiles.NAME] addr, ca, token_file; `default` is used when no
/// --profile is given). Each command's --help says which role it needs.
#[derive(Debug, Parser)]
#[command(name = "valvctl", version, about, long_about)]
pub struct Cli {
    /// Vault address [default: https://127.0.0.1:7443, or the profile's].
    #[arg(long, global = true, env = "VALV_ADDR")]
    addr: Option<String>,
    /// Profile of the profile file to use (default: `default`, when the file has it).
    #[arg(long, global = true, env = "VALV_PROFILE")]
    profile: Option<String>,
    /// Profile file [default: $XDG_CONFIG_HOME/valv/profiles.toml or ~/.config/valv/profiles.toml].
    #[arg(long, global = true, env = "VALV_CONFIG")]
    config: Option<PathBuf>,
    /// Bearer token.
    #[arg(long, global = true, env = "VALV_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// File holding the bearer token (e.g. <data-dir>/operator.token).
    #[arg(long, global = true, env = "VALV_TOKEN_FILE")]
    token_file: Option<PathBuf>,
    /// CA certificate (PEM) to trust, e.g. <data-dir>/tls/ca.pem.
    #[arg(long, global = true, env = "VALV_CA")]
    ca: Option<PathBuf>,
    /// Print JSON instead of tables (one document, or one per line for streams).
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: commands::Command,
}

/// Parses the process arguments and runs the command.
pub fn main() -> ExitCode {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("valvctl: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(code) => code,
        Err(e) => {
            match e.downcast_ref::<tonic::Status>() {
                Some(status) => eprintln!("valvctl: {:?}: {}", status.code(), status.message()),
                None => eprintln!("valvctl: {e:#}"),
            }
            ExitCode::FAILURE
        }
    }
}
