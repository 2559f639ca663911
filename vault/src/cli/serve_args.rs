//! `valv serve`'s flags, the configuration file they can come from (`--config`, see
//! `config_file`), and how they become a [`ServeConfig`].

use std::{
    ffi::OsString,
    net::SocketAddr,
    path::{Path, PathBuf},
};

use clap::{CommandFactory, FromArgMatches, ValueEnum};
use zeroize::Zeroizing;

use crate::{
    config::Limits,
    config::{RootConfig, ServeConfig, TlsMode},
    config_file::{self, FileFlags},
    store::postgres::PgOptions,
};

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(super) enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, clap::Args)]
#[command(args_override_self = true)]
pub(super) struct ServeArgs {
    /// Read settings from this TOML file: its keys are the long names of these flags
    /// (`data-dir = "/var/lib/valv"`, `max-batch = 5000`); a flag or an environment variable
    /// wins over the file. `valv config check FILE` checks one without starting.
    #[arg(long, env = "VALV_CONFIG")]
    config: Option<PathBuf>,
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
    /// Memory the embedded store may keep of its pages, in MiB (resident memory settles at a
    /// multiple of it: see the benchmarks). Not with --store.
    #[arg(
        long,
        env = "VALV_STORE_CACHE_MIB",
        default_value_t = crate::store::sled::DEFAULT_CACHE_MIB,
        value_parser = clap::value_parser!(u64).range(8..=1_048_576),
        conflicts_with = "store"
    )]
    store_cache_mib: u64,
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
    /// Send OpenTelemetry traces (OTLP over gRPC) to this collector: `https://host:4317`, or
    /// `http://` to a collector on loopback. Off when unset.
    #[arg(long, env = "VALV_OTLP_ENDPOINT", value_parser = crate::observe::traces::check_endpoint)]
    otlp_endpoint: Option<String>,
    /// CA (PEM) that signed the collector's certificate (an https endpoint needs it).
    #[arg(long, env = "VALV_OTLP_CA", requires = "otlp_endpoint")]
    otlp_ca: Option<PathBuf>,
    /// Sign each audit chain's head after this many new entries.
    #[arg(long, env = "VALV_AUDIT_CHECKPOINT_ENTRIES", default_value_t = 1000)]
    audit_checkpoint_entries: u64,
    /// And at least this often (seconds) while a chain grows.
    #[arg(long, env = "VALV_AUDIT_CHECKPOINT_SECONDS", default_value_t = 60)]
    audit_checkpoint_seconds: u64,
    /// Log level (`error`, `warn`, `info`, `debug`, `trace`); `RUST_LOG` overrides it.
    #[arg(long, env = "VALV_LOG_LEVEL", default_value = "info")]
    pub(super) log_level: String,
    /// Log format; the level comes from RUST_LOG (default `info`).
    #[arg(long, env = "VALV_LOG_FORMAT", value_enum, default_value = "text")]
    pub(super) log_format: LogFormat,
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

/// `valv serve` as a clap command (its arguments are what a configuration file may set).
pub fn serve_command() -> clap::Command {
    super::Cli::command()
        .find_subcommand("serve")
        .cloned()
        .unwrap_or_else(|| clap::Command::new("serve"))
}

/// The flags a configuration file stands for, every value checked by its flag, or why the file
/// is refused.
fn file_flags(path: &Path) -> Result<FileFlags, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the configuration file {}: {e}", path.display()))?;
    let env_set = |name: &str| std::env::var_os(name).is_some_and(|v| !v.is_empty());
    let flags = config_file::flags_from_file(&serve_command(), path, &text, &env_set)
        .map_err(|e| e.to_string())?;
    // Every value, those the environment overrides too: a file is not valid by accident of
    // the environment it was checked in. Refusals of missing or conflicting flags wait for
    // the command line (which may supply or override them).
    if let Err(e) = serve_command()
        .no_binary_name(true)
        .try_get_matches_from(&flags.all)
        && let Some(bad) = config_file::blame(&e, path, &flags.keys, &[])
    {
        return Err(bad.to_string());
    }
    Ok(flags)
}

/// Parses `valv serve` with the file's flags first and the command line's own arguments after
/// `serve` (`rest`) last, so that the command line wins.
fn parse_with(path: &Path, flags: FileFlags, rest: &[OsString]) -> Result<ServeArgs, String> {
    let argv = flags.effective.iter().chain(rest);
    let matches = serve_command()
        .no_binary_name(true)
        .try_get_matches_from(argv)
        .map_err(|e| {
            if matches!(
                e.kind(),
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion
            ) {
                // `valv serve --config FILE --help`: the help, as without a file.
                e.exit();
            }
            config_file::blame(&e, path, &flags.keys, rest)
                .map_or_else(|| first_line(&e), |bad| bad.to_string())
        })?;
    ServeArgs::from_arg_matches(&matches).map_err(|e| first_line(&e))
}

/// The configuration file `valv serve`'s arguments (`rest`, after `serve`) or `VALV_CONFIG`
/// name, read leniently: what the file adds may be just what the arguments alone lack (a flag
/// that requires another, given in the file).
pub(super) fn config_path(rest: &[OsString]) -> Option<PathBuf> {
    serve_command()
        .no_binary_name(true)
        .ignore_errors(true)
        .try_get_matches_from(rest)
        .ok()?
        .get_one::<PathBuf>("config")
        .cloned()
}

/// `valv serve …` with a configuration file: the file's settings under the command line's
/// (`rest`, the arguments after `serve`), parsed as one (see `config_file` for the precedence).
pub(super) fn parse_with_file(path: &Path, rest: &[OsString]) -> Result<ServeArgs, String> {
    let flags = file_flags(path)?;
    parse_with(path, flags, rest)
}

fn first_line(e: &clap::Error) -> String {
    let text = e.to_string();
    let line = text.lines().next().unwrap_or_default();
    line.strip_prefix("error: ").unwrap_or(line).to_owned()
}

/// `valv config check FILE`: what `valv serve --config FILE` would refuse before starting, in
/// this environment; `Ok` with a summary when it would start.
pub(super) fn check_file(path: &Path) -> Result<String, String> {
    let flags = file_flags(path)?;
    let n = flags.keys.len();
    let args = parse_with(path, flags, &[])?;
    let config = args.into_config()?;
    config.validate()?;
    for file in config.named_files() {
        std::fs::File::open(file).map_err(|e| format!("{}: {e}", file.display()))?;
    }
    Ok(format!(
        "{}: ok ({n} settings; listen {}, data directory {}, store {})",
        path.display(),
        config.listen,
        config.data_dir.display(),
        if config.postgres.is_some() {
            "PostgreSQL"
        } else {
            "embedded"
        }
    ))
}

impl ServeArgs {
    /// The configuration these flags ask for.
    pub(super) fn into_config(self) -> Result<ServeConfig, String> {
        let args = self;
        let root = root_config(&args)?;
        let two_person_rule = args
            .two_person_rule
            .unwrap_or_else(|| !root.is_development(&args.data_dir));
        let tls = match (args.insecure_plaintext, args.tls_cert, args.tls_key) {
            (true, _, _) => TlsMode::InsecurePlaintext,
            (false, Some(cert), Some(key)) => TlsMode::Files { cert, key },
            _ => TlsMode::Development,
        };
        let traces = args
            .otlp_endpoint
            .map(|endpoint| crate::observe::traces::TraceSettings {
                endpoint,
                ca: args.otlp_ca,
                node: args
                    .node_id
                    .clone()
                    .unwrap_or_else(|| crate::app::default_node_id(&args.data_dir)),
            });
        Ok(ServeConfig {
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
            sled: crate::store::sled::SledOptions {
                cache_bytes: args.store_cache_mib * 1024 * 1024,
            },
            traces,
            node_id: args.node_id,
        })
    }
}
