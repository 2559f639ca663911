//! The `valv` command line: `valv serve …` and `valv operator init …`.

use std::{net::SocketAddr, path::PathBuf, process::ExitCode, sync::Arc};

use clap::{Parser, Subcommand, ValueEnum};
use zeroize::Zeroizing;

use crate::{
    config::Limits,
    config::{RootConfig, ServeConfig, TlsMode},
    engine::clock::SystemClock,
    server,
    store::postgres::PgOptions,
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

#[derive(Debug, clap::Args)]
struct MigrateArgs {
    /// The source: a data directory (its embedded store) or a postgres:// URL.
    #[arg(long)]
    from: String,
    /// The target: a data directory (created if needed) or a postgres:// URL.
    #[arg(long)]
    to: String,
    /// CA (PEM) of a database server's certificate.
    #[arg(long, env = "VALV_STORE_CA")]
    store_ca: Option<PathBuf>,
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

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, clap::Args)]
struct ServeArgs {
    /// Data directory (store, development root key and TLS material).
    #[arg(long, env = "VALV_DATA_DIR", default_value = "valv-data")]
    data_dir: PathBuf,
    /// Address to listen on.
    #[arg(long, env = "VALV_LISTEN", default_value = "127.0.0.1:7443")]
    listen: SocketAddr,
    /// Keep the store in PostgreSQL (`postgres://…`, several hosts and
    /// `target_session_attrs=read-write` for failover) instead of <data-dir>/store; several
    /// nodes may share one database. TLS (`sslmode=require`) unless every host is on loopback.
    #[arg(long, env = "VALV_STORE", value_parser = parse_store_url)]
    store: Option<String>,
    /// CA (PEM) that signed the database server's certificate.
    #[arg(long, env = "VALV_STORE_CA", requires = "store")]
    store_ca: Option<PathBuf>,
    /// Database connections this node keeps open.
    #[arg(
        long,
        env = "VALV_STORE_POOL_SIZE",
        default_value_t = 16,
        requires = "store"
    )]
    store_pool_size: usize,
    /// This node's name as a holder of job leases; unique among the nodes sharing a store
    /// [default: the host name and a digest of the data directory's path].
    #[arg(long, env = "VALV_NODE_ID")]
    node_id: Option<String>,
    /// Server certificate chain (PEM). Without it a development certificate is used.
    #[arg(long, env = "VALV_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// Server private key (PEM).
    #[arg(long, env = "VALV_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// CA (PEM) whose client certificates may authenticate principals (mTLS, optional per client).
    #[arg(long, env = "VALV_CLIENT_CA")]
    client_ca: Option<PathBuf>,
    /// Serve without TLS. Refused unless --listen is a loopback address.
    #[arg(long, conflicts_with_all = ["tls_cert", "tls_key"])]
    insecure_plaintext: bool,
    /// Root key file of the development `file` provider [default: <data-dir>/root.key].
    #[arg(long, env = "VALV_ROOT_KEY_FILE", conflicts_with = "pkcs11_module")]
    root_key_file: Option<PathBuf>,
    /// Keep the root key in an HSM: the PKCS#11 module (shared library) to load, e.g.
    /// /usr/lib/softhsm/libsofthsm2.so. The user PIN comes from VALV_PKCS11_PIN or
    /// --pkcs11-pin-file.
    #[arg(long, env = "VALV_PKCS11_MODULE", requires = "pkcs11_token")]
    pkcs11_module: Option<PathBuf>,
    /// Label of the PKCS#11 token that holds the root key.
    #[arg(long, env = "VALV_PKCS11_TOKEN", requires = "pkcs11_module")]
    pkcs11_token: Option<String>,
    /// Label of the root key object in the token (generated there, non-extractable, on first
    /// start).
    #[arg(long, env = "VALV_PKCS11_KEY_LABEL", default_value = "valv-root")]
    pkcs11_key_label: String,
    /// File holding the token's user PIN (mode 0600). Without it, VALV_PKCS11_PIN is read.
    #[arg(long, env = "VALV_PKCS11_PIN_FILE")]
    pkcs11_pin_file: Option<PathBuf>,
    /// Most identifiers or pseudonyms in one batch.
    #[arg(long, env = "VALV_MAX_BATCH", default_value_t = Limits::default().max_batch)]
    max_batch: usize,
    /// Longest accepted identifier, in bytes.
    #[arg(long, env = "VALV_MAX_IDENTIFIER_BYTES", default_value_t = Limits::default().max_identifier_bytes)]
    max_identifier_bytes: usize,
    /// Largest request message, in bytes; larger ones are refused before they are buffered.
    /// It must hold a full batch (--max-batch identifiers of --max-identifier-bytes).
    #[arg(long, env = "VALV_MAX_MESSAGE_BYTES", default_value_t = Limits::default().max_message_bytes)]
    max_message_bytes: usize,
    /// Most calls in flight in this process (an open stream counts); past it calls are
    /// answered RESOURCE_EXHAUSTED at once.
    #[arg(long, env = "VALV_MAX_CALLS", default_value_t = Limits::default().max_calls)]
    max_calls: usize,
    /// Most concurrent calls one connection may open (HTTP/2 streams).
    #[arg(long, env = "VALV_MAX_STREAMS_PER_CONNECTION", default_value_t = Limits::default().max_streams_per_connection)]
    max_streams_per_connection: u32,
    /// Failed authentications per source address and minute before that address is turned
    /// away (RESOURCE_EXHAUSTED) for the rest of the minute; 0 turns the throttle off.
    #[arg(long, env = "VALV_AUTH_FAILURES_PER_MINUTE", default_value_t = Limits::default().auth_failures_per_minute)]
    auth_failures_per_minute: u32,
    /// New identifiers one principal may pseudonymise per hour (0: no limit); a tenant can set
    /// its own (`valvctl tenant settings --new-identifiers-per-hour`).
    #[arg(long, env = "VALV_NEW_IDENTIFIERS_PER_HOUR", default_value_t = Limits::default().new_identifiers_per_hour)]
    new_identifiers_per_hour: u64,
    /// Crossing this many new identifiers in an hour is reported: a metric and an audit entry
    /// (0: never); a tenant can set its own.
    #[arg(long, env = "VALV_NEW_IDENTIFIERS_WARNING_PER_HOUR", default_value_t = Limits::default().new_identifiers_warning_per_hour)]
    new_identifiers_warning_per_hour: u64,
    /// Calls one principal may make per second on each node (0: no limit); a tenant can set
    /// its own.
    #[arg(long, env = "VALV_REQUESTS_PER_SECOND", default_value_t = Limits::default().requests_per_second)]
    requests_per_second: u64,
    /// Encryptions allowed under one key version before the vault rotates on its own.
    #[arg(long, env = "VALV_KEY_USE_BUDGET", default_value_t = crate::config::DEFAULT_KEY_USE_BUDGET)]
    key_use_budget: u64,
    /// Most records per second a key-rotation job re-encrypts (0 = no limit).
    #[arg(long, env = "VALV_ROTATION_RECORDS_PER_SECOND", default_value_t = 0)]
    rotation_records_per_second: u64,
    /// Destructive operations (destroying a key version, shredding a tenant, rotating the root
    /// key) and those that widen who can re-identify (principals that re-identify, approve or
    /// administer; purposes that release more; record policies that protect less) take effect
    /// only when an independent second principal approves them (`on`/`off`). Default: on,
    /// except in development mode (the plain `file` root key).
    #[arg(long, env = "VALV_TWO_PERSON_RULE", num_args = 0..=1, default_missing_value = "on",
          value_parser = clap::builder::BoolishValueParser::new())]
    two_person_rule: Option<bool>,
    /// How long an operation under the two-person rule waits for its approval, in seconds.
    #[arg(long, env = "VALV_APPROVAL_WINDOW_SECONDS", default_value_t = 3600)]
    approval_window_seconds: u64,
    /// How long an enrolment code (a new tenant-admin's or principal's) can be claimed, in
    /// seconds.
    #[arg(long, env = "VALV_ENROLMENT_SECONDS", default_value_t = 24 * 3600)]
    enrolment_seconds: u64,
    /// How long pseudonyms of an earlier epoch still re-identify after RotateDomainEpoch.
    #[arg(long, env = "VALV_EPOCH_GRACE_SECONDS", default_value_t = 30 * 24 * 3600)]
    epoch_grace_seconds: u64,
    /// How often the retention reaper deletes what is due, in seconds (0 = only when asked
    /// through RunRetention).
    #[arg(long, env = "VALV_RETENTION_INTERVAL_SECONDS", default_value_t = 3600)]
    retention_interval_seconds: u64,
    /// How long a background job's lease holds without renewal, in seconds: when its node
    /// dies, another node sharing the store takes the job over after this.
    #[arg(long, env = "VALV_JOB_LEASE_SECONDS", default_value_t = 60)]
    job_lease_seconds: u64,
    /// Serve Prometheus metrics (plain HTTP, `GET /metrics`) on this address; off when unset.
    #[arg(long, env = "VALV_METRICS_LISTEN")]
    metrics_listen: Option<std::net::SocketAddr>,
    /// Sign each audit chain's head after this many new entries.
    #[arg(long, env = "VALV_AUDIT_CHECKPOINT_ENTRIES", default_value_t = 1000)]
    audit_checkpoint_entries: u64,
    /// And at least this often (seconds) while a chain grows.
    #[arg(long, env = "VALV_AUDIT_CHECKPOINT_SECONDS", default_value_t = 60)]
    audit_checkpoint_seconds: u64,
    /// Log level (`error`, `warn`, `info`, `debug`, `trace`); `RUST_LOG` overrides it.
    #[arg(long, env = "VALV_LOG_LEVEL", default_value = "info")]
    log_level: String,
    /// Log format; the level comes from RUST_LOG (default `info`).
    #[arg(long, env = "VALV_LOG_FORMAT", value_enum, default_value = "text")]
    log_format: LogFormat,
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

fn init_logging(format: LogFormat, level: &str) {
    // RUST_LOG (full filter syntax) wins over --log-level.
    let filter = quiet_sled(
        tracing_subscriber::EnvFilter::try_from_default_env()
            .or_else(|_| tracing_subscriber::EnvFilter::try_new(level))
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
    );
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// Entry point of the `valv` binary.
pub fn run() -> ExitCode {
    let cli = Cli::parse();
    let args = match cli.command {
        Command::Serve(args) => *args,
        Command::Operator(OperatorCommand::Init(args)) => return operator_init(&args),
        Command::Store(StoreCommand::Migrate(args)) => return store_migrate(&args),
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
    init_logging(args.log_format, &args.log_level);
    let _ = rustls::crypto::ring::default_provider().install_default();
    let root = match root_config(&args) {
        Ok(root) => root,
        Err(e) => {
            eprintln!("valv: {e}");
            return ExitCode::FAILURE;
        }
    };
    let two_person_rule = args
        .two_person_rule
        .unwrap_or_else(|| !root.is_development(&args.data_dir));
    let tls = match (args.insecure_plaintext, args.tls_cert, args.tls_key) {
        (true, _, _) => TlsMode::InsecurePlaintext,
        (false, Some(cert), Some(key)) => TlsMode::Files { cert, key },
        _ => TlsMode::Development,
    };
    let config = ServeConfig {
        listen: args.listen,
        data_dir: args.data_dir,
        tls,
        client_ca: args.client_ca,
        root,
        limits: Limits {
            max_batch: args.max_batch,
            max_identifier_bytes: args.max_identifier_bytes,
            max_message_bytes: args.max_message_bytes,
            max_calls: args.max_calls,
            max_streams_per_connection: args.max_streams_per_connection,
            auth_failures_per_minute: args.auth_failures_per_minute,
            new_identifiers_per_hour: args.new_identifiers_per_hour,
            new_identifiers_warning_per_hour: args.new_identifiers_warning_per_hour,
            requests_per_second: args.requests_per_second,
            key_use_budget: args.key_use_budget,
            rotation_records_per_second: args.rotation_records_per_second,
            two_person_rule,
            approval_window_seconds: args.approval_window_seconds,
            enrolment_seconds: args.enrolment_seconds,
            epoch_grace_seconds: args.epoch_grace_seconds,
            retention_interval_seconds: args.retention_interval_seconds,
            job_lease_seconds: args.job_lease_seconds,
        },
        audit: crate::config::AuditSettings {
            checkpoint_entries: args.audit_checkpoint_entries,
            checkpoint_interval: std::time::Duration::from_secs(
                args.audit_checkpoint_seconds.max(1),
            ),
        },
        metrics_listen: args.metrics_listen,
        store: None,
        postgres: args.store.map(|url| PgOptions {
            ca_file: args.store_ca,
            pool_size: args.store_pool_size,
            ..PgOptions::new(url)
        }),
        node_id: args.node_id,
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("valv: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "valv stopped");
            eprintln!("valv: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(config: ServeConfig) -> anyhow::Result<()> {
    let mut running = server::start(config, Arc::new(SystemClock)).await?;
    if let Some(ca) = &running.dev_ca {
        tracing::info!(ca = %ca.display(), addr = %running.addr, "clients: export VALV_CA={} VALV_ADDR=https://{}", ca.display(), running.addr);
    }
    let shutdown = running.take_shutdown();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    tracing::info!("shutting down: draining in-flight requests");
    if let Some(tx) = shutdown {
        let _ = tx.send(());
    }
    running.wait().await
}

/// `--store` takes a PostgreSQL URL; the embedded store needs no flag (it lives in the data
/// directory).
fn parse_store_url(url: &str) -> Result<String, String> {
    if crate::store::postgres::is_postgres_url(url) {
        Ok(url.to_owned())
    } else {
        Err("expected a postgres:// URL (the embedded store is the default and lives in --data-dir)".into())
    }
}

/// The root key set-up the flags ask for.
fn root_config(args: &ServeArgs) -> Result<RootConfig, String> {
    let (Some(module), Some(token)) = (&args.pkcs11_module, &args.pkcs11_token) else {
        return Ok(RootConfig::File(args.root_key_file.clone()));
    };
    let pin = match &args.pkcs11_pin_file {
        Some(path) => {
            let mode = std::os::unix::fs::PermissionsExt::mode(
                &std::fs::metadata(path)
                    .map_err(|e| format!("{}: {e}", path.display()))?
                    .permissions(),
            );
            if mode & 0o077 != 0 {
                return Err(format!(
                    "{} is readable by group or others; chmod 600 it",
                    path.display()
                ));
            }
            Zeroizing::new(
                std::fs::read_to_string(path)
                    .map_err(|e| format!("{}: {e}", path.display()))?
                    .trim_end_matches(['\r', '\n'])
                    .to_owned(),
            )
        }
        None => Zeroizing::new(std::env::var("VALV_PKCS11_PIN").map_err(|_| {
            "--pkcs11-module needs the token's user PIN: set VALV_PKCS11_PIN or --pkcs11-pin-file"
                .to_owned()
        })?),
    };
    Ok(RootConfig::Pkcs11(valv_kms::Pkcs11Config {
        module: module.clone(),
        token_label: token.clone(),
        pin,
        key_label: args.pkcs11_key_label.clone(),
    }))
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

/// A store named on the command line: a postgres:// URL, or a data directory's embedded store.
async fn open_store(
    location: &str,
    ca: Option<&PathBuf>,
    create: bool,
) -> anyhow::Result<Arc<dyn crate::store::Store>> {
    use anyhow::Context;
    if crate::store::postgres::is_postgres_url(location) {
        let options = PgOptions {
            ca_file: ca.cloned(),
            pool_size: 4,
            ..PgOptions::new(location)
        };
        let pg = crate::store::postgres::PgStore::connect(&options)
            .await
            .context("opening the PostgreSQL store")?;
        return Ok(Arc::new(pg));
    }
    let dir = PathBuf::from(location).join("store");
    if !create && !dir.exists() {
        anyhow::bail!("{location} holds no store (expected {})", dir.display());
    }
    std::fs::create_dir_all(location).with_context(|| format!("creating {location}"))?;
    std::fs::set_permissions(
        location,
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )?;
    Ok(Arc::new(
        crate::store::sled::SledStore::open(&dir).with_context(|| {
            format!(
                "opening {} (is a vault still running on it?)",
                dir.display()
            )
        })?,
    ))
}

/// `valv store migrate`: progress on stderr, the comparison on stdout; exit 1 on any difference.
fn store_migrate(args: &MigrateArgs) -> ExitCode {
    init_logging(LogFormat::Text, "warn");
    let _ = rustls::crypto::ring::default_provider().install_default();
    let run = async {
        let from = open_store(&args.from, args.store_ca.as_ref(), false).await?;
        let to = open_store(&args.to, args.store_ca.as_ref(), true).await?;
        let mut progress = |step: &str, n: u64| eprintln!("copied {n} {step}");
        let report =
            crate::store::migrate::migrate(from.as_ref(), to.as_ref(), &mut progress).await?;
        anyhow::Ok(report)
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("valv: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run) {
        Ok(report) => {
            print!("{}", report.table());
            println!("the target matches the source: every count and every audit chain");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("valv: {e:#}");
            eprintln!("nothing copied is lost: run the same command again to finish");
            ExitCode::FAILURE
        }
    }
}
