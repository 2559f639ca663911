//! The `valv` command line: `valv serve …`, `valv config check`, `valv operator …` and
//! `valv store migrate`.

mod serve_args;
mod store_cmd;

use std::{path::PathBuf, process::ExitCode, sync::Arc};

use clap::{Parser, Subcommand};

pub use self::serve_args::serve_command;
use self::{
    serve_args::{LogFormat, ServeArgs},
    store_cmd::{MigrateArgs, store_migrate},
};
use crate::{
    config::ServeConfig,
    engine::clock::SystemClock,
    observe::traces::{TraceSettings, Traces},
    server,
};

/// Valv: pseudonymisation and identifier vault.
#[derive(Debug, Parser)]
#[command(name = "valv", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the vault.
    ///
    /// With no certificate given, a development CA and server certificate are created in
    /// <data-dir>/tls (trust <data-dir>/tls/ca.pem); the first start writes the operator's
    /// bearer token to <data-dir>/operator.token (mode 0600).
    Serve(Box<ServeArgs>),
    /// Set-up steps for operators.
    #[command(subcommand)]
    Operator(OperatorCommand),
    /// Moving the store between back-ends.
    #[command(subcommand)]
    Store(StoreCommand),
    /// Configuration files (`valv serve --config FILE`).
    #[command(subcommand)]
    Config(ConfigCommand),
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Checks a configuration file as `valv serve --config FILE` would take it in this
    /// environment — unknown keys, values the flags refuse, settings that cannot go together,
    /// files it names that cannot be read — without starting anything. Exit status 0 when the
    /// vault would start with it, 2 when not.
    Check {
        /// The TOML file.
        file: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum StoreCommand {
    /// Copies everything in one store into another — the embedded store of a data directory or a
    /// PostgreSQL database, either way — and checks the copy: every count and every audit chain.
    ///
    /// Stop the vault first. The target must be empty or hold an earlier, cut-off run of the
    /// same migration (run it again: it copies only what is missing). Key rings stay wrapped by
    /// the same root key: give the target's nodes the source's root key (file, HSM or seal file).
    ///
    /// Example: valv store migrate --from /var/lib/valv --to postgres://valv@db/valv
    Migrate(MigrateArgs),
}

#[derive(Debug, Subcommand)]
enum OperatorCommand {
    /// Sets up a new data directory for a sealed start: a fresh root key, sealed under an unseal
    /// key that is split into N shares (Shamir), any T of which unseal the vault.
    ///
    /// The shares are printed once, here, and kept nowhere: hand each to a different person.
    /// `valv serve` on this data directory then starts sealed until T shares arrive
    /// (`valvctl unseal`).
    Init(InitArgs),
    /// Removes deleted data (erased subjects, expired mappings) from the store files for good,
    /// while the vault is stopped. The vault also does this at start when an erasure or a
    /// retention run asked for it.
    Compact {
        /// Data directory of a stopped vault.
        #[arg(long, env = "VALV_DATA_DIR", default_value = "valv-data")]
        data_dir: PathBuf,
    },
}

#[derive(Debug, clap::Args)]
struct InitArgs {
    /// Data directory to set up (must not hold a root key or a store yet).
    #[arg(long, env = "VALV_DATA_DIR", default_value = "valv-data")]
    data_dir: PathBuf,
    /// Number of key shares to deal (1–255).
    #[arg(long, value_parser = clap::value_parser!(u8).range(1..))]
    shares: u8,
    /// Number of shares that unseal (1–shares).
    #[arg(long, value_parser = clap::value_parser!(u8).range(1..))]
    threshold: u8,
}

/// Everything at `trace` except sled's own logs (see [`quiet_sled`]).
pub const LOG_FILTER_TRACE: &str = "trace,sled=info";

/// sled 0.34 logs (through `log`) from epoch-reclamation destructors that can run while a
/// thread's thread-locals are torn down; if tracing's thread-locals are gone by then, the
/// logging call panics inside a thread-local destructor and the process aborts. Seen in the
/// test suite at `trace`; sled below `info` is therefore always filtered out.
fn quiet_sled(filter: tracing_subscriber::EnvFilter) -> tracing_subscriber::EnvFilter {
    match "sled=info".parse() {
        Ok(directive) => filter.add_directive(directive),
        Err(_) => filter,
    }
}

/// The log on stderr, and with `traces` the exporter that sends spans to a collector (`None`
/// when there is none to start; why it could not start is an error).
fn init_logging(
    format: LogFormat,
    level: &str,
    traces: Option<&TraceSettings>,
) -> Result<Option<Traces>, String> {
    use tracing_subscriber::{Layer, layer::SubscriberExt, util::SubscriberInitExt};
    // RUST_LOG (full filter syntax) wins over --log-level.
    let filter = quiet_sled(
        tracing_subscriber::EnvFilter::try_from_default_env()
            .or_else(|_| tracing_subscriber::EnvFilter::try_new(level))
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
    );
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let log = match format {
        LogFormat::Text => tracing_subscriber::fmt::layer()
            .with_ansi(ansi)
            .with_writer(std::io::stderr)
            .boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .with_writer(std::io::stderr)
            .boxed(),
    }
    .with_filter(filter);
    let (traces, export) = match traces {
        Some(settings) => {
            let (traces, layer) = Traces::start(settings)?;
            (Some(traces), Some(layer))
        }
        None => (None, None),
    };
    let _ = tracing_subscriber::registry()
        .with(log)
        .with(export)
        .try_init();
    Ok(traces)
}

/// Entry point of the `valv` binary.
pub fn run() -> ExitCode {
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    // `valv serve` with a configuration file: its settings and the command line are parsed as
    // one (a flag may need another that only the file gives).
    if let Some(rest) = argv
        .get(2..)
        .filter(|_| argv.get(1).is_some_and(|a| a == "serve"))
        && let Some(path) = serve_args::config_path(rest)
    {
        return match serve_args::parse_with_file(&path, rest) {
            Ok(args) => serve_main(args),
            Err(e) => {
                eprintln!("valv: {e}");
                ExitCode::from(2)
            }
        };
    }
    let cli = Cli::parse_from(argv);
    let args = match cli.command {
        Command::Serve(args) => *args,
        Command::Operator(OperatorCommand::Init(args)) => return operator_init(&args),
        Command::Store(StoreCommand::Migrate(args)) => return store_migrate(&args),
        Command::Config(ConfigCommand::Check { file }) => {
            return match serve_args::check_file(&file) {
                Ok(summary) => {
                    println!("{summary}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("valv: {e}");
                    ExitCode::from(2)
                }
            };
        }
        Command::Operator(OperatorCommand::Compact { data_dir }) => {
            return match crate::store::sled::compact::compact(&data_dir.join("store")) {
                Ok((before, after)) => {
                    println!("store compacted: {before} → {after} bytes");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("valv: {e} (is the vault still running?)");
                    ExitCode::FAILURE
                }
            };
        }
    };
    serve_main(args)
}

/// How long a stopping vault waits for its blocking threads after the drain.
const RUNTIME_STOP: std::time::Duration = std::time::Duration::from_secs(5);

/// The runtime of a command that does I/O (`None`, after saying why, when it cannot start).
fn runtime() -> Option<tokio::runtime::Runtime> {
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => Some(rt),
        Err(e) => {
            eprintln!("valv: cannot start the runtime: {e}");
            None
        }
    }
}

/// `valv serve`: logging, the settings, the runtime, serving until a signal.
fn serve_main(args: ServeArgs) -> ExitCode {
    let (format, level) = (args.log_format, args.log_level.clone());
    let _ = rustls::crypto::ring::default_provider().install_default();
    let config = match args.into_config() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("valv: {e}");
            return ExitCode::FAILURE;
        }
    };
    let traces = match init_logging(format, &level, config.traces.as_ref()) {
        Ok(traces) => traces,
        Err(e) => {
            eprintln!("valv: {e}");
            return ExitCode::FAILURE;
        }
    };
    let Some(runtime) = runtime() else {
        return ExitCode::FAILURE;
    };
    let served = runtime.block_on(serve(config));
    // Work still running on the blocking pool (a store call cut off by the drain) must not keep
    // the process from ending; what it wrote was never acknowledged.
    runtime.shutdown_timeout(RUNTIME_STOP);
    // The spans of the last calls leave after the server has stopped.
    if let Some(traces) = traces {
        traces.shutdown();
    }
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "valv stopped");
            eprintln!("valv: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(config: ServeConfig) -> anyhow::Result<()> {
    let running = server::start(config, Arc::new(SystemClock)).await?;
    if let Some(ca) = &running.dev_ca {
        tracing::info!(ca = %ca.display(), addr = %running.addr, "clients: export VALV_CA={} VALV_ADDR=https://{}", ca.display(), running.addr);
    }
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    tracing::info!("shutting down: draining in-flight requests");
    running.drain(server::DRAIN_GRACE).await
}

/// `valv operator init`: prints the shares once.
fn operator_init(args: &InitArgs) -> ExitCode {
    if args.threshold > args.shares {
        eprintln!(
            "valv: --threshold ({}) must not exceed --shares ({})",
            args.threshold, args.shares
        );
        return ExitCode::FAILURE;
    }
    let shares = match crate::bootstrap::init_sealed(&args.data_dir, args.shares, args.threshold) {
        Ok(shares) => shares,
        Err(e) => {
            eprintln!("valv: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    eprintln!(
        "Sealed data directory {} set up. Below are its {} unseal key shares; any {} of them unseal it.\n\
         They are shown this once and stored nowhere: give each to a different person now.\n\
         Start the vault with `valv serve --data-dir {}`; it starts sealed.\n\
         Each holder then runs `valvctl unseal` and pastes their share.",
        args.data_dir.display(),
        args.shares,
        args.threshold,
        args.data_dir.display()
    );
    for (i, share) in shares.iter().enumerate() {
        println!("share {}: {}", i + 1, share.as_str());
    }
    ExitCode::SUCCESS
}
