//! `valvctl keys` and `valvctl jobs` for key officers: list versions, rotate the tenant key and
//! follow its re-encryption job (a progress bar on stderr when stderr is a terminal).

use std::{io::IsTerminal, process::ExitCode, time::Duration};

use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;
use valv_client::{Valv, pb};

/// `valvctl keys …`.
#[derive(Debug, Subcommand)]
pub enum KeysCmd {
    /// Every encryption key version: state, age, records under it, encryptions and budget.
    List,
    /// Rotate the tenant key: a new version at once, and a job that re-encrypts every record.
    Rotate {
        /// Follow the job until it ends.
        #[arg(long)]
        watch: bool,
    },
    /// Destroy a decrypt-only version after a suspected compromise (refused while records are
    /// under it unless --force; under the two-person rule a second key officer must approve).
    Destroy {
        /// Version number.
        version: u32,
        /// Destroy even though records are still under it: they become unreadable for good.
        #[arg(long)]
        force: bool,
    },
    /// Operator: re-wrap every key ring under a fresh root key; the old root key is erased.
    /// With a `sealed` root key, `--new-shares N --threshold T` also replaces the unseal shares
    /// (after a shred, or when a holder leaves): the new shares are printed once, and the old
    /// ones keep working until T of the new ones are confirmed (`valvctl unseal
    /// --confirm-new-share`).
    RotateRoot {
        /// How many new unseal shares to deal.
        #[arg(long, default_value_t = 0, requires = "threshold")]
        new_shares: u32,
        /// How many of the new shares unseal.
        #[arg(long, default_value_t = 0)]
        threshold: u32,
    },
    /// Operator: crypto-shred a tenant (its key ring is destroyed, the root key rotated).
    Shred {
        /// Tenant name.
        tenant: String,
    },
    /// Domain pseudonym epochs (after a suspected leak of a domain's MAC/FF1 key).
    #[command(subcommand)]
    Epoch(EpochCmd),
}

/// `valvctl keys epoch …`.
#[derive(Debug, Subcommand)]
pub enum EpochCmd {
    /// New pseudonyms from a new epoch at once; old ones re-identify until the grace period ends.
    Rotate {
        /// Domain.
        domain: String,
        /// Grace period in seconds (0: the server's default).
        #[arg(long, default_value_t = 0)]
        grace_seconds: u64,
    },
    /// Write old→new pseudonym pairs as CSV (`old,new`) to stdout, for migrating tables.
    Translate {
        /// Domain.
        domain: String,
    },
    /// End the grace period: old pseudonyms are not found from now on.
    Finalize {
        /// Domain.
        domain: String,
    },
}

/// `valvctl jobs …`.
#[derive(Debug, Subcommand)]
pub enum JobsCmd {
    /// The tenant's jobs, newest first.
    List,
    /// One job's progress.
    Get {
        /// Job id.
        id: u64,
    },
    /// Follow a job until it ends.
    Watch {
        /// Job id.
        id: u64,
    },
}

fn state_name(s: pb::KeyVersionState) -> &'static str {
    match s {
        pb::KeyVersionState::Active => "active",
        pb::KeyVersionState::DecryptOnly => "decrypt-only",
        pb::KeyVersionState::Retired => "retired",
        pb::KeyVersionState::Destroyed => "destroyed",
        pb::KeyVersionState::Unspecified => "unknown",
    }
}

fn job_state(s: pb::JobState) -> &'static str {
    match s {
        pb::JobState::Running => "running",
        pb::JobState::Done => "done",
        pb::JobState::Failed => "failed",
        pb::JobState::Unspecified => "unknown",
    }
}

fn job_json(j: &pb::Job) -> serde_json::Value {
    json!({"id": j.id, "kind": j.kind, "state": job_state(j.state()), "done": j.done, "total": j.total,
           "rate_per_second": j.rate_per_second, "estimated_end_unix_ms": j.estimated_end_unix_ms,
           "started_unix_ms": j.started_unix_ms, "finished_unix_ms": j.finished_unix_ms,
           "target_version": j.target_version, "error": j.error})
}

fn job_line(j: &pb::Job) -> String {
    let mut line = format!(
        "job {} {} {}: {}/{} records",
        j.id,
        j.kind,
        job_state(j.state()),
        j.done,
        j.total
    );
    if j.state() == pb::JobState::Running && j.rate_per_second > 0.0 {
        line.push_str(&format!(", {:.0}/s", j.rate_per_second));
    }
    if !j.error.is_empty() {
        line.push_str(&format!(", error: {}", j.error));
    }
    line
}

/// Follows a job to its end; a bar on a terminal, otherwise the final line.
async fn watch(valv: &Valv, json: bool, id: u64) -> anyhow::Result<ExitCode> {
    let mut stream = valv
        .keys()
        .watch_job(pb::GetJobRequest { id })
        .await?
        .into_inner();
    let bar = (!json && std::io::stderr().is_terminal()).then(|| {
        let bar = ProgressBar::new(0);
        bar.set_style(
            ProgressStyle::with_template(
                "{msg} [{bar:40}] {pos}/{len} records, {per_sec}, ETA {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        bar.enable_steady_tick(Duration::from_millis(200));
        bar
    });
    let mut last = None;
    while let Some(j) = stream.message().await? {
        if let Some(bar) = &bar {
            bar.set_message(format!("job {}", j.id));
            bar.set_length(j.total.max(j.done));
            bar.set_position(j.done);
        }
        last = Some(j);
    }
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    let Some(j) = last else {
        anyhow::bail!("the job stream ended without a message");
    };
    if json {
        println!("{}", job_json(&j));
    } else {
        println!("{}", job_line(&j));
    }
    Ok(if j.state() == pb::JobState::Done {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Runs `valvctl keys …`.
pub async fn run_keys(valv: &Valv, json: bool, cmd: KeysCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        KeysCmd::List => {
            let versions = valv
                .keys()
                .list_key_versions(pb::ListKeyVersionsRequest {})
                .await?
                .into_inner()
                .versions;
            if json {
                let list: Vec<_> = versions
                    .iter()
                    .map(|v| {
                        json!({"version": v.version, "state": state_name(v.state()),
                                    "created_unix_ms": v.created_unix_ms, "records": v.records,
                                    "encryptions": v.encryptions, "budget": v.budget})
                    })
                    .collect();
                println!("{}", json!(list));
            } else {
                let mut lines = vec!["VERSION\tSTATE\tRECORDS\tENCRYPTIONS/BUDGET".to_owned()];
                for v in &versions {
                    lines.push(format!(
                        "v{}\t{}\t{}\t{}/{}",
                        v.version,
                        state_name(v.state()),
                        v.records,
                        v.encryptions,
                        v.budget
                    ));
                }
                println!("{}", crate::table::align(&lines.join("\n")));
            }
            Ok(ExitCode::SUCCESS)
        }
        KeysCmd::Rotate { watch: follow } => {
            let r = valv
                .keys()
                .rotate_tenant_key(pb::RotateTenantKeyRequest {})
                .await?
                .into_inner();
            if !json || !follow {
                let text = format!(
                    "key version v{} is active; re-encryption job {} started",
                    r.new_version, r.job_id
                );
                if json {
                    println!(
                        "{}",
                        json!({"new_version": r.new_version, "job_id": r.job_id})
                    );
                } else {
                    eprintln!("{text}");
                }
            }
            if follow {
                return watch(valv, json, r.job_id).await;
            }
            if !json {
                println!("{}", r.job_id);
            }
            Ok(ExitCode::SUCCESS)
        }
        KeysCmd::Destroy { version, force } => destroy(valv, json, version, force).await,
        KeysCmd::Shred { tenant } => {
            let r = valv
                .keys()
                .shred_tenant(pb::ShredTenantRequest {
                    tenant: tenant.clone(),
                })
                .await?
                .into_inner();
            if json {
                println!(
                    "{}",
                    json!({"shredded": r.shredded, "pending_operation_id": r.pending_operation_id,
                           "approve_before_unix_ms": r.approve_before_unix_ms})
                );
            } else if r.shredded {
                println!("tenant {tenant} shredded");
            } else {
                println!(
                    "shredding of {tenant} filed as operation {}; a second operator must run `valvctl approval approve {}`",
                    r.pending_operation_id, r.pending_operation_id
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        KeysCmd::Epoch(cmd) => epoch(valv, json, cmd).await,
        KeysCmd::RotateRoot {
            new_shares,
            threshold,
        } => {
            let r = valv
                .keys()
                .rotate_root_key(pb::RotateRootKeyRequest {
                    new_shares,
                    new_threshold: threshold,
                })
                .await?
                .into_inner();
            if json {
                println!(
                    "{}",
                    json!({"rotated": r.rotated, "root_key_id": r.root_key_id,
                           "pending_operation_id": r.pending_operation_id,
                           "approve_before_unix_ms": r.approve_before_unix_ms,
                           "new_shares": r.new_shares})
                );
            } else if r.rotated {
                println!("root key rotated; new root key id {}", r.root_key_id);
                crate::seal::print_new_shares(&r.new_shares);
            } else {
                println!(
                    "root-key rotation filed as operation {}; a second operator must run `valvctl approval approve {}`",
                    r.pending_operation_id, r.pending_operation_id
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn destroy(valv: &Valv, json: bool, version: u32, force: bool) -> anyhow::Result<ExitCode> {
    let r = valv
        .keys()
        .destroy_key_version(pb::DestroyKeyVersionRequest { version, force })
        .await?
        .into_inner();
    let records: Vec<_> = r
        .records
        .iter()
        .map(|d| json!({"domain": d.domain, "records": d.records}))
        .collect();
    if json {
        println!(
            "{}",
            json!({"destroyed": r.destroyed, "pending_operation_id": r.pending_operation_id,
                   "approve_before_unix_ms": r.approve_before_unix_ms, "records": records})
        );
    } else if r.destroyed {
        println!("key version v{version} destroyed");
    } else {
        println!(
            "destruction of v{version} filed as operation {}; a second key officer must run `valvctl approval approve {}`",
            r.pending_operation_id, r.pending_operation_id
        );
    }
    Ok(ExitCode::SUCCESS)
}

async fn epoch(valv: &Valv, json: bool, cmd: EpochCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        EpochCmd::Rotate {
            domain,
            grace_seconds,
        } => {
            let r = valv
                .keys()
                .rotate_domain_epoch(pb::RotateDomainEpochRequest {
                    domain,
                    grace_seconds,
                })
                .await?
                .into_inner();
            if json {
                println!(
                    "{}",
                    json!({"epoch": r.epoch, "old_epochs_until_unix_ms": r.old_epochs_until_unix_ms})
                );
            } else {
                println!(
                    "epoch {} is in use; old pseudonyms re-identify until {} (ms since the epoch)",
                    r.epoch, r.old_epochs_until_unix_ms
                );
            }
        }
        EpochCmd::Translate { domain } => {
            let mut stream = valv
                .keys()
                .translate_epoch(pb::TranslateEpochRequest { domain })
                .await?
                .into_inner();
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            use std::io::Write;
            if !json {
                writeln!(out, "old,new")?;
            }
            while let Some(p) = stream.message().await? {
                if json {
                    writeln!(
                        out,
                        "{}",
                        json!({"old": p.old_pseudonym, "new": p.new_pseudonym})
                    )?;
                } else {
                    writeln!(out, "{},{}", p.old_pseudonym, p.new_pseudonym)?;
                }
            }
            out.flush()?;
        }
        EpochCmd::Finalize { domain } => {
            let r = valv
                .keys()
                .finalize_epoch(pb::FinalizeEpochRequest { domain })
                .await?
                .into_inner();
            if json {
                println!("{}", json!({"epoch": r.epoch}));
            } else {
                println!("epoch {} only, from now on", r.epoch);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs `valvctl jobs …`.
pub async fn run_jobs(valv: &Valv, json: bool, cmd: JobsCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        JobsCmd::List => {
            let jobs = valv
                .keys()
                .list_jobs(pb::ListJobsRequest {})
                .await?
                .into_inner()
                .jobs;
            if json {
                println!("{}", json!(jobs.iter().map(job_json).collect::<Vec<_>>()));
            } else {
                let lines: Vec<String> = jobs.iter().map(job_line).collect();
                println!("{}", crate::table::align(&lines.join("\n")));
            }
            Ok(ExitCode::SUCCESS)
        }
        JobsCmd::Get { id } => {
            let j = valv
                .keys()
                .get_job(pb::GetJobRequest { id })
                .await?
                .into_inner();
            if json {
                println!("{}", job_json(&j));
            } else {
                println!("{}", job_line(&j));
            }
            Ok(ExitCode::SUCCESS)
        }
        JobsCmd::Watch { id } => watch(valv, json, id).await,
    }
}
