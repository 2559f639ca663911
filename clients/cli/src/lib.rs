//! `valvctl`: the Valv command line for administrators, officers and data engineers (as a
//! library, so the end-to-end tests run the very same commands).
//!
//! Connection settings come from flags or the environment: `VALV_ADDR`, `VALV_TOKEN` (or
//! `VALV_TOKEN_FILE`) and `VALV_CA`.

mod audit;
mod bench;
mod commands;
mod consent;
mod keys;
mod retention;
mod seal;
mod subjects;

use std::{path::PathBuf, process::ExitCode};

use clap::Parser;

/// Talk to a Valv vault.
#[derive(Debug, Parser)]
#[command(name = "valvctl", version, about, long_about = None)]
pub struct Cli {
    /// Vault address.
    #[arg(
        long,
        global = true,
        env = "VALV_ADDR",
        default_value = "https://127.0.0.1:7443"
    )]
    addr: String,
    /// Bearer token.
    #[arg(long, global = true, env = "VALV_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// File holding the bearer token (e.g. <data-dir>/operator.token).
    #[arg(long, global = true, env = "VALV_TOKEN_FILE")]
    token_file: Option<PathBuf>,
    /// CA certificate (PEM) to trust, e.g. <data-dir>/tls/ca.pem.
    #[arg(long, global = true, env = "VALV_CA")]
    ca: Option<PathBuf>,
    /// Print JSON instead of text.
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
