//! Test harness: real Valv servers on loopback ports, spoken to over gRPC and TLS.
//!
//! Two ways to start one: in this process (with a manual clock the test moves), or as a child
//! process of the real binary (for `kill -9` and for reading its log output).

// The test harness: a set-up that cannot work is a failed test, and `unwrap` says why.
#![allow(clippy::unwrap_used)]

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::Arc,
    time::{Duration, Instant},
};

use tempfile::TempDir;
use valv::{
    config::Limits,
    config::{AuditSettings, RootConfig, ServeConfig, TlsMode},
    engine::clock::ManualClock,
    server::{self, Running},
};
pub use valv_client::{ClientConfig, Valv, pb};

pub mod cluster;
pub mod load;
pub mod proxy;
pub mod replication;

/// 2026-11-23T00:00:00Z, where in-process test clocks start.
pub const T0_MS: i64 = 1_795_392_000_000;

/// Everything logged at `trace` in this test process (in-process servers and clients).
static LOG: std::sync::OnceLock<Arc<std::sync::Mutex<Vec<u8>>>> = std::sync::OnceLock::new();

#[derive(Clone)]
struct LogWriter(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut log) = self.0.lock() {
            log.extend_from_slice(buf);
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Installs the rustls crypto provider and a `trace`-level log capture, once per test binary.
pub fn init() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    LOG.get_or_init(|| {
        let buffer = Arc::new(std::sync::Mutex::new(Vec::new()));
        let writer = LogWriter(Arc::clone(&buffer));
        // sled's own trace logs stay off: sled logs from epoch-reclamation destructors that run
        // during thread-local teardown, when tracing's thread-locals are already gone, and
        // that aborts the process (see valv::cli::init_logging).
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(
                valv::cli::LOG_FILTER_TRACE,
            ))
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .try_init();
        buffer
    });
}

/// Strings that must never appear in a log: every identifier of the shared test data (each
/// spelling and normal form, valid or not) and every test e-mail address.
fn forbidden() -> Vec<String> {
    fn collect(v: &serde_json::Value, out: &mut Vec<String>) {
        match v {
            serde_json::Value::String(s)
                if s.chars().filter(char::is_ascii_digit).count() >= 6 || s.contains('@') =>
            {
                out.push(s.trim().to_owned())
            }
            serde_json::Value::Array(a) => a.iter().for_each(|x| collect(x, out)),
            serde_json::Value::Object(o) => o
                .iter()
                .filter(|(k, _)| !k.starts_with('_') && *k != "rule" && *k != "note")
                .for_each(|(_, x)| collect(x, out)),
            _ => {}
        }
    }
    let mut out = vec!["@example.se".to_owned()];
    collect(&identifiers_json(), &mut out);
    out
}

/// How far [`assert_logs_clean`] has read the log: each check reads what came since (and a
/// little before, so an identifier split across two checks is still seen), so a suite of many
/// servers in one process does not rescan the whole log at every stop.
static CHECKED: std::sync::Mutex<usize> = std::sync::Mutex::new(0);

/// Fails if anything logged so far in this process holds a test identifier.
pub fn assert_logs_clean() {
    let Some(buffer) = LOG.get() else { return };
    let forbidden = forbidden();
    let overlap = forbidden.iter().map(String::len).max().unwrap_or(0);
    let mut checked = CHECKED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let text = buffer
        .lock()
        .map(|b| {
            let from = checked.saturating_sub(overlap).min(b.len());
            *checked = b.len();
            String::from_utf8_lossy(&b[from..]).into_owned()
        })
        .unwrap_or_default();
    for s in forbidden {
        assert!(
            !text.contains(&s),
            "an identifier reached the trace log ({} bytes of log checked)",
            text.len()
        );
    }
}

/// The token the suite runs against when `VALV_TEST_ROOT_PROVIDER=pkcs11` (set up by
/// `tests/with-softhsm`); `None` for the default development `file` root key.
fn pkcs11_token() -> Option<(String, String, String)> {
    if std::env::var("VALV_TEST_ROOT_PROVIDER").ok().as_deref() != Some("pkcs11") {
        return None;
    }
    let module = std::env::var("VALV_TEST_PKCS11_MODULE").unwrap_or_else(|_| {
        panic!(
            "VALV_TEST_ROOT_PROVIDER=pkcs11 needs VALV_TEST_PKCS11_MODULE (use tests/with-softhsm)"
        )
    });
    let token = std::env::var("VALV_TEST_PKCS11_TOKEN").unwrap_or_else(|_| "valv-test".into());
    let pin = std::env::var("VALV_TEST_PKCS11_PIN").unwrap_or_else(|_| "1234".into());
    Some((module, token, pin))
}

/// True when the suite runs on a PKCS#11 root key.
pub fn pkcs11_mode() -> bool {
    pkcs11_token().is_some()
}

/// One root key object per data directory, so parallel tests share the token but no key. The
/// label is kept in the data directory, so a copy of it (as tests make) uses the same key.
fn pkcs11_key_label(data_dir: &Path) -> String {
    use sha2::Digest;
    let file = data_dir.join("test-pkcs11-key-label");
    if let Ok(label) = std::fs::read_to_string(&file)
        && !label.trim().is_empty()
    {
        return label.trim().to_owned();
    }
    let digest = sha2::Sha256::digest(data_dir.as_os_str().as_encoded_bytes());
    let label = format!("valv-test-{}", hex::encode(&digest[..8]));
    std::fs::create_dir_all(data_dir).unwrap_or_else(|e| panic!("{}: {e}", data_dir.display()));
    // Durable like the vault's own files: the disk tests abort a file system under the vault,
    // and a label lost there would point the restarted vault at a new, empty key.
    let written = std::fs::File::create(&file)
        .and_then(|mut f| {
            std::io::Write::write_all(&mut f, label.as_bytes())?;
            f.sync_all()
        })
        .and_then(|()| std::fs::File::open(data_dir)?.sync_all());
    written.unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    label
}

/// The root key set-up of a test server on `data_dir`: the development file, or (in the
/// pkcs11 run) a key in the SoftHSM2 token.
pub fn root_config(data_dir: &Path) -> RootConfig {
    match pkcs11_token() {
        None => RootConfig::File(None),
        Some((module, token, pin)) => RootConfig::Pkcs11(valv_kms::Pkcs11Config {
            module: module.into(),
            token_label: token,
            pin: zeroize::Zeroizing::new(pin),
            key_label: pkcs11_key_label(data_dir),
        }),
    }
}

/// Where a test server's root key lives (to check rotations from outside the server).
pub fn root_slot(data_dir: &Path) -> Arc<dyn valv_kms::RootKeySlot> {
    match root_config(data_dir) {
        RootConfig::File(_) => Arc::new(valv_kms::FileRootSlot::new(data_dir.join("root.key"))),
        RootConfig::Pkcs11(config) => {
            Arc::new(valv_kms::Pkcs11Slot::open(config).unwrap_or_else(|e| panic!("pkcs11: {e}")))
        }
    }
}

/// `valv serve` arguments (and environment) that select the same root key as [`root_config`]
/// (none for a sealed data directory: its root key is in its seal file).
fn root_args(data_dir: &Path, extra: &[&str]) -> (Vec<String>, Vec<(&'static str, String)>) {
    let sealed = data_dir.join("root.sealed").exists();
    let Some((module, token, pin)) = pkcs11_token().filter(|_| !sealed) else {
        return (Vec::new(), Vec::new());
    };
    let mut args = vec![
        "--pkcs11-module".to_owned(),
        module,
        "--pkcs11-token".to_owned(),
        token,
        "--pkcs11-key-label".to_owned(),
        pkcs11_key_label(data_dir),
    ];
    // Outside development mode the two-person rule is on by default; tests that want it say so.
    if !extra.iter().any(|a| a.starts_with("--two-person-rule")) {
        args.push("--two-person-rule=off".to_owned());
    }
    (args, vec![("VALV_PKCS11_PIN", pin)])
}

/// Fails if anything logged so far in this process contains one of `secrets` (identifiers a
/// test made up itself, beyond the shared test data that [`assert_logs_clean`] checks).
pub fn assert_log_lacks(secrets: &[&str]) {
    let Some(buffer) = LOG.get() else { return };
    let text = buffer
        .lock()
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    for s in secrets {
        assert!(!text.contains(s), "a test identifier reached the trace log");
    }
}

/// A server running inside the test process.
pub struct InProcess {
    /// Data directory (kept until drop).
    pub dir: TempDir,
    /// The server's clock; move it instead of sleeping.
    pub clock: ManualClock,
    /// `https://127.0.0.1:<port>`.
    pub addr: String,
    /// The development CA (PEM).
    pub ca_pem: Vec<u8>,
    /// Operator token from the first start.
    pub operator_token: String,
    /// Where metrics are served, if asked for.
    pub metrics_addr: Option<std::net::SocketAddr>,
    running: Option<Running>,
}

/// Starts an in-process server with default limits.
pub async fn start() -> InProcess {
    start_with(Limits::default(), None).await
}

/// Starts an in-process server with these limits and optional client CA (mTLS).
pub async fn start_with(limits: Limits, client_ca: Option<PathBuf>) -> InProcess {
    start_tls(limits, client_ca, TlsMode::Development, None).await
}

/// Starts an in-process server with an explicit TLS mode. `ca_pem` is what clients trust
/// (`None`: the development CA the server creates).
pub async fn start_tls(
    limits: Limits,
    client_ca: Option<PathBuf>,
    tls: TlsMode,
    ca_pem: Option<Vec<u8>>,
) -> InProcess {
    start_configured(
        |c| {
            c.limits = limits;
            c.client_ca = client_ca;
            c.tls = tls;
        },
        ca_pem,
    )
    .await
}

/// Starts an in-process server on development TLS after `configure` has changed the defaults
/// (loopback port 0, a fresh data directory, default limits and audit schedule, no metrics).
pub async fn start_configured(
    configure: impl FnOnce(&mut ServeConfig),
    ca_pem: Option<Vec<u8>>,
) -> InProcess {
    init();
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let clock = ManualClock::new(T0_MS);
    let mut config = ServeConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.path().join("data"),
        tls: TlsMode::Development,
        client_ca: None,
        root: root_config(&dir.path().join("data")),
        limits: Limits::default(),
        audit: AuditSettings::default(),
        metrics_listen: None,
        store: None,
        postgres: None,
        sled: valv::store::sled::SledOptions::default(),
        node_id: None,
        traces: None,
    };
    configure(&mut config);
    let scheme = if matches!(config.tls, TlsMode::InsecurePlaintext) {
        "http"
    } else {
        "https"
    };
    let data_dir = config.data_dir.clone();
    let running = server::start(config, Arc::new(clock.clone()))
        .await
        .unwrap_or_else(|e| panic!("start: {e:#}"));
    let ca_pem =
        ca_pem.unwrap_or_else(|| std::fs::read(data_dir.join("tls/ca.pem")).unwrap_or_default());
    let operator_token = read_trimmed(&data_dir.join("operator.token"));
    InProcess {
        addr: format!("{scheme}://127.0.0.1:{}", running.addr.port()),
        metrics_addr: running.metrics_addr,
        dir,
        clock,
        ca_pem,
        operator_token,
        running: Some(running),
    }
}

impl InProcess {
    /// A client with `token`.
    pub async fn client(&self, token: &str) -> Valv {
        connect(&self.addr, &self.ca_pem, Some(token)).await
    }

    /// Stops the server, waits for it, and checks the trace log for identifiers.
    pub async fn stop(self) {
        drop(self.stop_keeping_data().await);
    }

    /// Like [`InProcess::stop`], but hands back the data directory (to read the raw store).
    pub async fn stop_keeping_data(mut self) -> TempDir {
        if let Some(r) = self.running.take() {
            r.stop().await.unwrap_or_else(|e| panic!("stop: {e:#}"));
        }
        assert_logs_clean();
        self.dir
    }
}

/// Connects to `addr` trusting `ca_pem`.
pub async fn connect(addr: &str, ca_pem: &[u8], token: Option<&str>) -> Valv {
    // No retries: tests see every refusal as it happens.
    // A vault that hangs fails the test naming the call, instead of hanging the suite.
    let mut config = ClientConfig::new(addr)
        .with_ca_pem(ca_pem.to_vec())
        .with_retry(valv_client::RetryPolicy::none())
        .with_timeout(CALL_TIMEOUT);
    if let Some(t) = token {
        config = config.with_token(t);
    }
    Valv::connect(config)
        .await
        .unwrap_or_else(|e| panic!("connect: {e}"))
}

fn read_trimmed(path: &Path) -> String {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .trim()
        .to_owned()
}

/// Longer than any call of the suite takes on a loaded CI machine; a call still unanswered by
/// then means the vault hangs.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(300);

/// How long a vault may take to stop after SIGTERM (it drains for at most
/// `valv::server::DRAIN_GRACE`).
const STOP_TIMEOUT: Duration = Duration::from_secs(60);

/// The real binary running as a child process, logging at `trace` to a file.
pub struct ChildServer {
    /// `https://127.0.0.1:<port>`.
    pub addr: String,
    /// The development CA (PEM).
    pub ca_pem: Vec<u8>,
    /// Operator token.
    pub operator_token: String,
    /// Where its stderr goes.
    pub log_path: PathBuf,
    /// The metrics address, when started with `--metrics-listen`.
    pub metrics_addr: Option<std::net::SocketAddr>,
    data_dir: PathBuf,
    child: Child,
}

/// Starts the real binary on `data_dir` (created if needed), logging to `log_path` (appended).
/// `bin` is `env!("CARGO_BIN_EXE_valv-under-test")` (only integration tests see that variable).
pub fn spawn(bin: &str, data_dir: &Path, log_path: &Path) -> ChildServer {
    spawn_with(bin, data_dir, log_path, &[])
}

/// Like [`spawn`], with extra `valv serve` arguments.
pub fn spawn_with(bin: &str, data_dir: &Path, log_path: &Path, extra: &[&str]) -> ChildServer {
    spawn_with_env(bin, data_dir, log_path, extra, &[])
}

/// Like [`spawn_with`], with environment variables set for the server.
pub fn spawn_with_env(
    bin: &str,
    data_dir: &Path,
    log_path: &Path,
    extra: &[&str],
    env: &[(&str, &str)],
) -> ChildServer {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log_path)
        .unwrap_or_else(|e| panic!("log: {e}"));
    let start_len = std::fs::metadata(log_path).map(|m| m.len()).unwrap_or(0);
    let (root_args, root_env) = root_args(data_dir, extra);
    let child = Command::new(bin)
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .args(extra)
        .args(&root_args)
        .envs(root_env)
        .envs(env.iter().copied())
        .env("RUST_LOG", "trace")
        .env_remove("VALV_LISTEN")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("spawn: {e}"));
    // The address is in the "valv is serving" line.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut metrics_addr = None;
    let addr = loop {
        let text = std::fs::read(log_path).unwrap_or_default();
        let text = String::from_utf8_lossy(
            &text[usize::try_from(start_len).unwrap_or(0).min(text.len())..],
        )
        .into_owned();
        if let Some(line) = text.lines().find(|l| l.contains("serving metrics")) {
            metrics_addr = line
                .split("addr=")
                .nth(1)
                .and_then(|s| s.split_whitespace().next())
                .and_then(|s| s.parse().ok());
        }
        if let Some(line) = text.lines().find(|l| l.contains("valv is serving")) {
            let addr = line
                .split("addr=")
                .nth(1)
                .and_then(|s| s.split_whitespace().next())
                .unwrap_or_default();
            break addr.to_owned();
        }
        assert!(
            Instant::now() < deadline,
            "server did not start; log:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    ChildServer {
        addr: format!("https://{addr}"),
        ca_pem: std::fs::read(data_dir.join("tls/ca.pem")).unwrap_or_else(|e| panic!("ca: {e}")),
        // A sealed vault writes its first operator token at its first unseal.
        operator_token: std::fs::read_to_string(data_dir.join("operator.token"))
            .map(|t| t.trim().to_owned())
            .unwrap_or_default(),
        log_path: log_path.to_path_buf(),
        metrics_addr,
        data_dir: data_dir.to_path_buf(),
        child,
    }
}

impl ChildServer {
    /// A client with `token`.
    pub async fn client(&self, token: &str) -> Valv {
        connect(&self.addr, &self.ca_pem, Some(token)).await
    }

    /// Runs the real `valvctl` (`bin` = `env!("CARGO_BIN_EXE_valvctl-under-test")`) against this
    /// server with `token`, trusting its development CA.
    pub fn valvctl(&self, bin: &str, token: &str, args: &[&str]) -> std::process::Output {
        Command::new(bin)
            .args(args)
            .env("VALV_ADDR", &self.addr)
            .env("VALV_CA", self.data_dir.join("tls/ca.pem"))
            .env("VALV_TOKEN", token)
            .env_remove("VALV_TOKEN_FILE")
            .output()
            .unwrap_or_else(|e| panic!("valvctl: {e}"))
    }

    /// The process's resident memory now, in KiB (`VmRSS` of `/proc/<pid>/status`).
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_else(|e| panic!("/proc status: {e}"));
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or_else(|| panic!("no VmRSS in /proc status"))
    }

    /// SIGKILL: no shutdown, no flush.
    pub fn kill_9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM and wait; a vault that has not stopped within [`STOP_TIMEOUT`] fails the test
    /// with the stacks of its threads (when `gdb` is installed) and the end of its log.
    pub fn terminate(mut self) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + STOP_TIMEOUT;
        while Instant::now() < deadline {
            if !matches!(self.child.try_wait(), Ok(None)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let stacks = thread_stacks(&pid);
        let log = std::fs::read(&self.log_path).unwrap_or_default();
        let log = String::from_utf8_lossy(&log[log.len().saturating_sub(8000)..]).into_owned();
        panic!(
            "the vault (pid {pid}) did not stop within {STOP_TIMEOUT:?} of SIGTERM\n\
             --- its threads ---\n{stacks}\n--- the end of its log ---\n{log}"
        );
    }
}

/// Every thread's backtrace of process `pid`, for a test that found it hanging.
fn thread_stacks(pid: &str) -> String {
    match Command::new("gdb")
        .args(["-p", pid, "-batch", "-ex", "thread apply all bt 30"])
        .stdin(Stdio::null())
        .output()
    {
        Ok(out) => String::from_utf8_lossy(&out.stdout).into_owned(),
        Err(e) => format!("(no gdb: {e})"),
    }
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Asserts that the tenant's chain (through `auditor_token`) and the operator chain both verify
/// on `server` and are not empty.
pub async fn chains_verify(server: &ChildServer, auditor_token: &str) {
    for (token, operator_chain) in [
        (auditor_token, false),
        (server.operator_token.as_str(), true),
    ] {
        let v = server
            .client(token)
            .await
            .audit()
            .verify_audit(pb::VerifyAuditRequest { operator_chain })
            .await
            .unwrap_or_else(|e| panic!("verify (operator chain: {operator_chain}): {e}"))
            .into_inner();
        assert!(v.ok, "operator chain {operator_chain}: {v:?}");
        assert!(v.entries > 0, "operator chain {operator_chain}: empty");
    }
}

/// Reads an audit chain through `ReadAudit`: (entries, checkpoints).
pub async fn read_audit(
    client: &Valv,
    filter: pb::ReadAuditRequest,
) -> (Vec<pb::AuditEntry>, Vec<pb::AuditCheckpoint>) {
    let mut stream = client
        .audit()
        .read_audit(filter)
        .await
        .unwrap_or_else(|e| panic!("read audit: {e}"))
        .into_inner();
    let mut entries = Vec::new();
    let mut checkpoints = Vec::new();
    while let Some(item) = stream
        .message()
        .await
        .unwrap_or_else(|e| panic!("read audit: {e}"))
    {
        match item.item {
            Some(pb::read_audit_response::Item::Entry(e)) => entries.push(e),
            Some(pb::read_audit_response::Item::Checkpoint(c)) => checkpoints.push(c),
            None => {}
        }
    }
    (entries, checkpoints)
}

/// The caller's tenant audit chain key (`GetAuditKey`): chain id (= tenant id) and public key.
pub async fn audit_key(auditor: &Valv) -> pb::GetAuditKeyResponse {
    auditor
        .audit()
        .get_audit_key(pb::GetAuditKeyRequest {
            operator_chain: false,
        })
        .await
        .unwrap_or_else(|e| panic!("audit key: {e}"))
        .into_inner()
}

/// The tenant's encryption key versions (`ListKeyVersions`, key officer).
pub async fn key_versions(key_officer: &Valv) -> Vec<pb::KeyVersionInfo> {
    key_officer
        .keys()
        .list_key_versions(pb::ListKeyVersionsRequest {})
        .await
        .unwrap_or_else(|e| panic!("list key versions: {e}"))
        .into_inner()
        .versions
}

/// The tenant's jobs, newest first (`ListJobs`, key officer).
pub async fn jobs(key_officer: &Valv) -> Vec<pb::Job> {
    key_officer
        .keys()
        .list_jobs(pb::ListJobsRequest {})
        .await
        .unwrap_or_else(|e| panic!("list jobs: {e}"))
        .into_inner()
        .jobs
}

/// `GET path` over plain HTTP/1.1; the whole response (status line, headers, body).
pub async fn http_get(addr: std::net::SocketAddr, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    let request = format!("GET {path} HTTP/1.1\r\nHost: valv\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    response
}

/// Tokens of a tenant set up with the usual principals.
pub struct Tenant {
    /// tenant-admin.
    pub admin: String,
    /// The second tenant-admin under the two-person rule (empty without it).
    pub admin2: String,
    /// tokenizer.
    pub tokenizer: String,
    /// reidentifier for every purpose passed to [`setup_tenant`].
    pub reidentifier: String,
    /// consent-manager.
    pub consent_manager: String,
    /// auditor.
    pub auditor: String,
    /// key-officer.
    pub key_officer: String,
}

/// Tenant `acme` with one keyed, reversible domain `d` of opaque identifiers and one purpose
/// `ops` on contract (no consent needed): for tests about the service rather than the data.
pub async fn plain_tenant(operator: &Valv) -> Tenant {
    setup_tenant(
        operator,
        "acme",
        &[("d", pb::IdentifierKind::Opaque, pb::Scheme::Keyed, true)],
        &[("ops", pb::LegalBasis::Contract)],
    )
    .await
}

/// Creates tenant `name` with the given domains (name, kind, scheme, reversible) and purposes
/// (name, legal basis), and one principal per role.
pub async fn setup_tenant(
    operator: &Valv,
    name: &str,
    domains: &[(&str, pb::IdentifierKind, pb::Scheme, bool)],
    purposes: &[(&str, pb::LegalBasis)],
) -> Tenant {
    let (admin_token, admin2_token) = create_tenant(operator, name).await;
    let admin = operator.with_token(&admin_token).unwrap();
    let second = (!admin2_token.is_empty()).then(|| operator.with_token(&admin2_token).unwrap());
    for (d, kind, scheme, reversible) in domains {
        create_domain(&admin, d, *kind, *scheme, *reversible, 0)
            .await
            .unwrap_or_else(|e| panic!("create domain: {e}"));
    }
    for (p, basis) in purposes {
        admin
            .admin()
            .define_purpose(pb::DefinePurposeRequest {
                name: (*p).into(),
                legal_basis: (*basis).into(),
                min_text_version: 1,
                default_consent_validity_seconds: 0,
                description: String::new(),
                ..Default::default()
            })
            .await
            .unwrap_or_else(|e| panic!("define purpose: {e}"));
        // Consent-based purposes get three text versions, so grants can name 1–3.
        if *basis == pb::LegalBasis::Consent {
            for v in 1..=3 {
                admin
                    .admin()
                    .add_consent_text(pb::AddConsentTextRequest {
                        purpose: (*p).into(),
                        text: format!("Consent text {v} of {p}: I agree that …"),
                    })
                    .await
                    .unwrap_or_else(|e| panic!("add consent text: {e}"));
            }
        }
    }
    let principal = |role: pb::Role, purposes: Vec<String>| {
        let admin = admin.clone();
        let second = second.clone();
        async move {
            let request = pb::CreatePrincipalRequest {
                name: format!("{}-p", role.as_str_name().to_lowercase().replace('_', "-")),
                roles: vec![role.into()],
                purposes,
                enrol: false,
            };
            admin
                .create_principal_token(request, second.as_ref())
                .await
                .unwrap_or_else(|e| panic!("create principal: {e}"))
        }
    };
    let all: Vec<String> = purposes.iter().map(|(p, _)| (*p).to_owned()).collect();
    Tenant {
        tokenizer: principal(pb::Role::Tokenizer, vec![]).await,
        reidentifier: principal(pb::Role::Reidentifier, all).await,
        consent_manager: principal(pb::Role::ConsentManager, vec![]).await,
        auditor: principal(pb::Role::Auditor, vec![]).await,
        key_officer: principal(pb::Role::KeyOfficer, vec![]).await,
        admin: admin_token,
        admin2: admin2_token,
    }
}

/// Creates tenant `name` as `operator` and claims its administrators' enrolment codes (as the
/// operator: tests hold every part); returns the first and the second admin token (empty
/// without the two-person rule).
pub async fn create_tenant(operator: &Valv, name: &str) -> (String, String) {
    let created = operator
        .admin()
        .create_tenant(pb::CreateTenantRequest {
            name: name.into(),
            admin_name: String::new(),
            admins: 0,
        })
        .await
        .unwrap_or_else(|e| panic!("create tenant: {e}"))
        .into_inner();
    let mut tokens = Vec::new();
    for e in &created.admins {
        let (_, token) = operator
            .enrol(&e.code)
            .await
            .unwrap_or_else(|e| panic!("claim admin code: {e}"));
        tokens.push(token);
    }
    let first = tokens.first().cloned().unwrap_or_default();
    (first, tokens.get(1).cloned().unwrap_or_default())
}

/// Creates a principal with one role (no purposes) as `creator` (a tenant-admin, or an operator
/// creating another operator) and returns its bearer token.
pub async fn principal_token(creator: &Valv, name: &str, role: pb::Role) -> String {
    principal_token_approved(creator, None, name, role).await
}

/// [`principal_token`], approved by `approver` where the two-person rule asks for a second
/// person (and an enrolment code claimed where the vault hands one out).
pub async fn principal_token_approved(
    creator: &Valv,
    approver: Option<&Valv>,
    name: &str,
    role: pb::Role,
) -> String {
    let request = pb::CreatePrincipalRequest {
        name: name.into(),
        roles: vec![role.into()],
        purposes: vec![],
        enrol: false,
    };
    creator
        .create_principal_token(request, approver)
        .await
        .unwrap_or_else(|e| panic!("create principal {name}: {e}"))
}

/// Creates a domain as the tenant-admin `admin`.
pub async fn create_domain(
    admin: &Valv,
    name: &str,
    kind: pb::IdentifierKind,
    scheme: pb::Scheme,
    reversible: bool,
    retention_seconds: u64,
) -> Result<pb::Domain, tonic::Status> {
    let reply = admin
        .admin()
        .create_domain(pb::CreateDomainRequest {
            name: name.into(),
            kind: kind.into(),
            scheme: scheme.into(),
            reversible,
            retention_seconds,
            ..Default::default()
        })
        .await?;
    Ok(reply.into_inner().domain.unwrap_or_default())
}

/// Pseudonymises and returns the pseudonyms, panicking on any per-item error.
pub async fn pseudonymise_ok(client: &Valv, domain: &str, ids: &[&str]) -> Vec<String> {
    let reply = client
        .pseudonyms()
        .pseudonymise(pb::PseudonymiseRequest {
            domain: domain.into(),
            identifiers: ids.iter().map(|s| (*s).to_owned()).collect(),
            batch_id: 0,
        })
        .await
        .unwrap_or_else(|e| panic!("pseudonymise: {e}"))
        .into_inner();
    reply
        .results
        .into_iter()
        .map(|r| match r.outcome {
            Some(pb::pseudonymise_result::Outcome::Pseudonym(p)) => p,
            other => panic!("item failed: {other:?}"),
        })
        .collect()
}

/// Re-identifies and returns (verdict, identifier) per item.
pub async fn reidentify(
    client: &Valv,
    domain: &str,
    purpose: &str,
    pseudonyms: &[String],
) -> Result<Vec<(pb::Verdict, String)>, tonic::Status> {
    let reply = client
        .pseudonyms()
        .re_identify(pb::ReIdentifyRequest {
            domain: domain.into(),
            purpose: purpose.into(),
            pseudonyms: pseudonyms.to_vec(),
        })
        .await?
        .into_inner();
    Ok(reply
        .results
        .into_iter()
        .map(|r| (r.verdict(), r.identifier))
        .collect())
}

/// A consent grant request for `identifier` in `domain`.
pub fn grant(
    domain: &str,
    identifier: &str,
    purpose: &str,
    text_version: u32,
    valid_until_unix_ms: i64,
) -> pb::GrantConsentRequest {
    pb::GrantConsentRequest {
        subject: Some(pb::SubjectRef {
            domain: domain.into(),
            by: Some(pb::subject_ref::By::Identifier(identifier.into())),
        }),
        purpose: purpose.into(),
        text_version,
        method: pb::ConsentMethod::Bankid.into(),
        valid_until_unix_ms,
        ..Default::default()
    }
}

/// The identifiers test data shipped with the repository.
pub fn identifiers_json() -> serde_json::Value {
    serde_json::from_str(include_str!("../testdata/identifiers.json"))
        .unwrap_or(serde_json::Value::Null)
}

/// A certificate authority made for one test (rcgen): for server certificates given as files
/// and for mTLS client certificates.
pub struct TestCa {
    params: rcgen::CertificateParams,
    key: rcgen::KeyPair,
    /// The CA certificate (PEM).
    pub pem: String,
}

/// A certificate issued by a [`TestCa`].
pub struct Issued {
    /// Certificate (PEM).
    pub cert_pem: String,
    /// Private key (PEM).
    pub key_pem: String,
    /// Certificate (DER), e.g. for its SHA-256 fingerprint.
    pub der: Vec<u8>,
}

impl TestCa {
    /// A fresh self-signed CA.
    pub fn new() -> Self {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let key = rcgen::KeyPair::generate().unwrap();
        let pem = params.self_signed(&key).unwrap().pem();
        Self { params, key, pem }
    }

    /// Issues a certificate for `name` (a DNS name or an IP address).
    pub fn issue(&self, name: &str) -> Issued {
        let key = rcgen::KeyPair::generate().unwrap();
        let issuer = rcgen::Issuer::from_params(&self.params, &self.key);
        let cert = rcgen::CertificateParams::new(vec![name.to_owned()])
            .and_then(|p| p.signed_by(&key, &issuer))
            .unwrap();
        Issued {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            der: cert.der().to_vec(),
        }
    }
}

impl Default for TestCa {
    fn default() -> Self {
        Self::new()
    }
}
