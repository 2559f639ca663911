//! A data directory whose disk fills up, or turns read-only, under load: calls fail with
//! `UNAVAILABLE` and a clear log line, health turns NOT_SERVING, nothing acknowledged is lost,
//! no file is corrupted (a kill -9 and a restart find it all), and the vault serves again once
//! the disk takes writes — without a restart.
//!
//! The data directory lives on a small tmpfs (full disk) or on an ext4 image on a loop device
//! that is made read-only the way a disk error does it (read-only disk); the test mounts them
//! (it needs root, as in CI; elsewhere it says it was skipped).

// A test file: helpers unwrap like the tests do; a failure is the test's message.
#![allow(clippy::unwrap_used)]

use std::{
    io::Write,
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

use tonic_health::pb::health_check_response::ServingStatus;
use valv_e2e::{
    load::{Load, Tally, assert_all_released},
    pb, *,
};

use super::sealed::health_becomes;

const BIN: &str = env!("CARGO_BIN_EXE_valv-under-test");

/// A tmpfs mounted for one test, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    /// Mounts `size_mib` MiB at `path`; `None` (and says why) where mounting is not allowed.
    fn mount(test: &str, path: &Path, size_mib: u32) -> Option<Self> {
        std::fs::create_dir_all(path).unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size_mib}m"), "tmpfs"])
            .arg(path)
            .output()
            .unwrap();
        if !out.status.success() {
            eprintln!(
                "SKIPPED {test}: cannot mount a tmpfs (needs root): {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
            return None;
        }
        Some(Self(path.to_path_buf()))
    }

    /// Fills the file system with `ballast` until it is full; returns the bytes written.
    fn fill(&self) -> (PathBuf, u64) {
        let path = self.0.join("ballast");
        let mut file = std::fs::File::create(&path).unwrap();
        let chunk = vec![0u8; 64 * 1024];
        let mut written = 0u64;
        while let Ok(n) = file.write(&chunk) {
            if n == 0 {
                break;
            }
            written += n as u64;
        }
        (path, written)
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// An ext4 file system in an image file on a loop device, mounted for one test: one that can be
/// made read-only under open files the way a disk error does (`errors=remount-ro`).
struct Ext4 {
    image: PathBuf,
    mount_point: PathBuf,
}

fn run(what: &str, command: &mut Command) -> std::process::Output {
    let out = command.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(out.status.success(), "{what}: {out:?}");
    out
}

impl Ext4 {
    /// `None` (and says why) where loop devices cannot be mounted.
    fn mount(test: &str, dir: &Path, size_mib: u32) -> Option<Self> {
        let image = dir.join("disk.ext4");
        let mount_point = dir.join("mnt");
        std::fs::create_dir_all(&mount_point).unwrap();
        std::fs::File::create(&image)
            .unwrap()
            .set_len(u64::from(size_mib) << 20)
            .unwrap();
        run(
            "mkfs.ext4",
            Command::new("mkfs.ext4").args(["-q", "-F"]).arg(&image),
        );
        let disk = Self { image, mount_point };
        let out = Command::new("mount")
            .args(["-o", "loop"])
            .arg(&disk.image)
            .arg(&disk.mount_point)
            .output()
            .unwrap();
        if !out.status.success() {
            eprintln!(
                "SKIPPED {test}: cannot mount an ext4 image on a loop device (needs root): {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
            return None;
        }
        Some(disk)
    }

    /// What ext4 does after a disk error with `errors=remount-ro`: every write fails with
    /// EROFS from now on, also through files that are open.
    fn turn_read_only(&self) {
        run(
            "remount,abort",
            Command::new("mount")
                .args(["-o", "remount,abort"])
                .arg(&self.mount_point),
        );
    }

    /// What an administrator does next: unmount (possible only once nothing holds a file on it),
    /// check the file system, mount it again at the same place.
    async fn repair(&self) {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let out = Command::new("umount")
                .arg(&self.mount_point)
                .output()
                .unwrap();
            if out.status.success() {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the vault still holds files on the failed disk: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        // 0: clean, 1: errors corrected.
        let fsck = Command::new("e2fsck")
            .args(["-f", "-y"])
            .arg(&self.image)
            .output()
            .unwrap();
        assert!(
            matches!(fsck.status.code(), Some(0 | 1)),
            "e2fsck: {fsck:?}"
        );
        run(
            "mount again",
            Command::new("mount")
                .args(["-o", "loop"])
                .arg(&self.image)
                .arg(&self.mount_point),
        );
    }
}

impl Drop for Ext4 {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(&self.mount_point)
            .status();
    }
}

fn log_text(server: &ChildServer) -> String {
    String::from_utf8_lossy(&std::fs::read(&server.log_path).unwrap()).into_owned()
}

async fn tenant(server: &ChildServer) -> Tenant {
    let operator = server.client(&server.operator_token).await;
    setup_tenant(
        &operator,
        "disk-co",
        &[
            ("keyed", pb::IdentifierKind::Opaque, pb::Scheme::Keyed, true),
            (
                "random",
                pb::IdentifierKind::Opaque,
                pb::Scheme::Random,
                true,
            ),
        ],
        &[("ops", pb::LegalBasis::Contract)],
    )
    .await
}

/// A vault on `data` under load, past its first acknowledged calls.
struct UnderLoad {
    server: ChildServer,
    t: Tenant,
    load: Load,
}

async fn under_load(data: &Path, log: &Path, prefix: &str) -> UnderLoad {
    let server = spawn(BIN, data, log);
    let t = tenant(&server).await;
    let tok = server.client(&t.tokenizer).await;
    let load = Load::start(
        &tok,
        &["keyed", "random"],
        3,
        50,
        prefix,
        Duration::from_secs(20),
    );
    load.until(
        "writes before the fault",
        Duration::from_secs(60),
        |ok, _| ok >= 30,
    )
    .await;
    UnderLoad { server, t, load }
}

impl UnderLoad {
    /// The fault was made: calls are refused, health says so, the log names the cause.
    async fn refusing(&self) {
        self.load
            .until(
                "a refusal after the fault",
                Duration::from_secs(60),
                |_, r| r >= 1,
            )
            .await;
        health_becomes(
            &self.server,
            "valv.v1.PseudonymService",
            ServingStatus::NotServing,
        )
        .await;
        assert!(
            log_text(&self.server).contains("the data directory cannot be written"),
            "no log line names the cause"
        );
    }

    /// The fault was cleared: the same process serves again by itself; nothing acknowledged
    /// was lost, before or after a kill -9 and a restart.
    async fn recovers(self, data: &Path, log: &Path) {
        let acked = self.load.acked_calls();
        self.load
            .until(
                "writes after the fault was cleared",
                Duration::from_secs(60),
                |ok, _| ok >= acked + 20,
            )
            .await;
        health_becomes(
            &self.server,
            "valv.v1.PseudonymService",
            ServingStatus::Serving,
        )
        .await;
        assert!(log_text(&self.server).contains("the data directory is writable again"));
        let tally = self.load.stop().await;
        refusals_were_unavailable(&tally);
        let reid = self.server.client(&self.t.reidentifier).await;
        assert_all_released(&reid, "ops", &tally.acked).await;
        chains_verify(&self.server, &self.t.auditor).await;
        survives_a_restart(self.server, data, log, &self.t, &tally.acked).await;
    }
}

/// Every refusal while the disk was failed was UNAVAILABLE (a call cut off by the client's own
/// deadline was not answered at all) and named the data directory.
fn refusals_were_unavailable(tally: &Tally) {
    assert!(tally.refused.contains_key("Unavailable"), "{tally:?}");
    for code in tally.refused.keys() {
        assert!(
            code == "Unavailable" || code == "DeadlineExceeded",
            "a call failed with {code}: {:?}",
            tally.messages
        );
    }
    let message = &tally.messages["Unavailable"];
    assert!(
        message.contains("data directory cannot be written") || message.contains("durable"),
        "{message}"
    );
}

/// After the disk recovered: a kill -9 and a restart find every acknowledged pseudonym and
/// verifying chains, so no file was corrupted.
async fn survives_a_restart(
    server: ChildServer,
    data: &Path,
    log: &Path,
    t: &Tenant,
    acked: &[(String, String, String)],
) {
    server.kill_9();
    let server = spawn(BIN, data, log);
    assert_all_released(&server.client(&t.reidentifier).await, "ops", acked).await;
    chains_verify(&server, &t.auditor).await;
    server.terminate();
    // Neither the failure nor the recovery wrote an identifier to the log.
    let text = String::from_utf8_lossy(&std::fs::read(log).unwrap()).into_owned();
    for (_, id, _) in acked.iter().step_by(37) {
        assert!(!text.contains(id.as_str()), "an identifier reached the log");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_fails_calls_with_unavailable_and_the_vault_serves_again_once_space_is_freed() {
    init();
    let dir = tempfile::tempdir().unwrap();
    let Some(disk) = Tmpfs::mount("disk::full", &dir.path().join("mnt"), 64) else {
        return;
    };
    let (data, log) = (disk.0.join("data"), dir.path().join("server.log"));
    let run = under_load(&data, &log, "full").await;
    let (ballast, filled) = disk.fill();
    assert!(filled > 0);
    run.refusing().await;
    // Still full: calls keep failing the same way.
    let refused = run.load.refused_calls();
    run.load
        .until(
            "refusals go on while the disk is full",
            Duration::from_secs(30),
            |_, r| r >= refused + 10,
        )
        .await;
    std::fs::remove_file(&ballast).unwrap();
    run.recovers(&data, &log).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disk_turned_read_only_fails_calls_with_unavailable_and_lets_go_of_its_files_until_it_is_repaired()
 {
    init();
    let dir = tempfile::tempdir().unwrap();
    let Some(disk) = Ext4::mount("disk::read_only", dir.path(), 256) else {
        return;
    };
    let (data, log) = (disk.mount_point.join("data"), dir.path().join("server.log"));
    let run = under_load(&data, &log, "ro").await;
    disk.turn_read_only();
    run.refusing().await;
    // The vault let go of the disk's files, so it can be unmounted, checked and mounted again
    // while it runs.
    disk.repair().await;
    run.recovers(&data, &log).await;
}
