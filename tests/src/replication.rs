//! A PostgreSQL primary with a synchronous standby, built for one test from the PostgreSQL
//! binaries on this machine (`initdb`, `pg_basebackup`, `pg_ctl`), on loopback ports, in a
//! temporary directory; stopped and removed afterwards.
//!
//! PostgreSQL refuses to run as root: as root, every command runs as the `postgres` user.

use std::{
    net::TcpListener,
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

/// The two servers.
pub struct Replicated {
    dir: tempfile::TempDir,
    bin: PathBuf,
    /// Primary's port.
    pub primary_port: u16,
    /// Standby's port.
    pub standby_port: u16,
}

/// Where `initdb` and friends are (the newest PostgreSQL under /usr/lib/postgresql).
fn bin_dir() -> Option<PathBuf> {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|p| p.join("initdb").exists())
        .collect();
    versions.sort();
    versions.pop()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("port: {e}"))
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

impl Replicated {
    /// Builds and starts both servers, and waits until the standby is synchronous. `None` when
    /// the PostgreSQL server binaries are not installed.
    pub fn start() -> Option<Self> {
        let bin = bin_dir()?;
        let dir = tempfile::tempdir().unwrap();
        let me = Self {
            dir,
            bin,
            primary_port: free_port(),
            standby_port: free_port(),
        };
        me.prepare_dir();
        me.run(
            "initdb",
            &["-D", &me.path("primary"), "-U", "postgres", "--auth=trust"],
        );
        append(
            &me.dir.path().join("primary/postgresql.conf"),
            &format!(
                "port = {}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{}'\n\
                 wal_level = replica\nmax_wal_senders = 4\n\
                 synchronous_standby_names = 'standby1'\nsynchronous_commit = on\n",
                me.primary_port,
                me.dir.path().display()
            ),
        );
        me.pg_ctl(&[
            "-D",
            &me.path("primary"),
            "-l",
            &me.path("primary.log"),
            "-w",
            "start",
        ]);
        me.run(
            "pg_basebackup",
            &[
                "-d",
                &format!(
                    "host=127.0.0.1 port={} user=postgres application_name=standby1",
                    me.primary_port
                ),
                "-D",
                &me.path("standby"),
                "-R",
                "-X",
                "stream",
            ],
        );
        append(
            &me.dir.path().join("standby/postgresql.auto.conf"),
            &format!(
                "port = {}\nprimary_conninfo = 'host=127.0.0.1 port={} user=postgres \
                 application_name=standby1'\n\
                 # Promoted, it has no standby of its own: it must not wait for one.\n\
                 synchronous_standby_names = ''\n",
                me.standby_port, me.primary_port
            ),
        );
        me.pg_ctl(&[
            "-D",
            &me.path("standby"),
            "-l",
            &me.path("standby.log"),
            "-w",
            "start",
        ]);
        me.wait_for_sync();
        Some(me)
    }

    /// The vault's connection string: both hosts, the writable one wins.
    pub fn url(&self) -> String {
        format!(
            "postgres://postgres@127.0.0.1:{},127.0.0.1:{}/postgres?target_session_attrs=read-write",
            self.primary_port, self.standby_port
        )
    }

    /// Stops the primary at once (`immediate`: no shutdown checkpoint, as in a crash).
    pub fn crash_primary(&self) {
        self.pg_ctl(&["-D", &self.path("primary"), "-m", "immediate", "-w", "stop"]);
    }

    /// Promotes the standby to primary and waits until it accepts writes.
    pub fn promote_standby(&self) {
        self.pg_ctl(&["-D", &self.path("standby"), "-w", "promote"]);
    }

    /// What `sql` answers on the server at `port` (one value).
    pub fn query(&self, port: u16, sql: &str) -> String {
        let out = self.command(
            "psql",
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &port.to_string(),
                "-U",
                "postgres",
                "-d",
                "postgres",
                "-At",
                "-c",
                sql,
            ],
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    fn wait_for_sync(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let state = self.query(
                self.primary_port,
                "SELECT sync_state FROM pg_stat_replication WHERE application_name = 'standby1'",
            );
            if state == "sync" {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "standby not synchronous: {state:?}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }

    /// The directory must be the `postgres` user's when commands run as that user.
    fn prepare_dir(&self) {
        if is_root() {
            let ok = Command::new("chown")
                .args(["postgres:postgres"])
                .arg(self.dir.path())
                .status()
                .is_ok_and(|s| s.success());
            assert!(ok, "chown postgres {}", self.dir.path().display());
        }
    }

    fn command(&self, tool: &str, args: &[&str]) -> std::process::Output {
        let program = self.bin.join(tool);
        let mut cmd = if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&program);
            c
        } else {
            Command::new(&program)
        };
        cmd.args(args)
            .current_dir(self.dir.path())
            .output()
            .unwrap_or_else(|e| panic!("{tool}: {e}"))
    }

    fn run(&self, tool: &str, args: &[&str]) {
        let out = self.command(tool, args);
        assert!(
            out.status.success(),
            "{tool} {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn pg_ctl(&self, args: &[&str]) {
        self.run("pg_ctl", args);
    }
}

impl Drop for Replicated {
    fn drop(&mut self) {
        for name in ["standby", "primary"] {
            let _ = self.command(
                "pg_ctl",
                &["-D", &self.path(name), "-m", "immediate", "stop"],
            );
        }
    }
}

fn append(path: &Path, text: &str) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    f.write_all(text.as_bytes()).unwrap();
}
