//! `valvctl retention plan|run`: what retention will delete and when (dry run), and running the
//! reaper now.

use std::process::ExitCode;

use clap::Subcommand;
use serde_json::json;
use valv_client::{Valv, pb};

/// `valvctl retention …`.
#[derive(Debug, Subcommand)]
pub enum RetentionCmd {
    /// Dry run: everything due within --days (0 = due now), earliest first.
    Plan {
        /// Look this many days ahead.
        #[arg(long, default_value_t = 0)]
        days: i64,
        /// At most this many items (the total is always printed).
        #[arg(long, default_value_t = 1000)]
        limit: u32,
    },
    /// Delete everything due now (tenant-admin).
    Run,
}

/// Runs `valvctl retention …`.
pub async fn run(valv: &Valv, json: bool, cmd: RetentionCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        RetentionCmd::Plan { days, limit } => {
            let until_unix_ms = if days == 0 {
                0
            } else {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
                    .unwrap_or(0);
                now.saturating_add(days.saturating_mul(86_400_000))
            };
            let r = valv
                .retention()
                .plan_retention(pb::PlanRetentionRequest {
                    until_unix_ms,
                    limit,
                })
                .await?
                .into_inner();
            for i in &r.items {
                if json {
                    println!(
                        "{}",
                        json!({"kind": i.kind, "domain_or_purpose": i.domain_or_purpose,
                               "pseudonym_or_receipt": i.pseudonym_or_receipt,
                               "due_unix_ms": i.due_unix_ms, "reason": i.reason})
                    );
                } else {
                    println!(
                        "{}\t{}\t{}\t{}\t{}",
                        i.due_unix_ms,
                        i.kind,
                        i.domain_or_purpose,
                        i.pseudonym_or_receipt,
                        i.reason
                    );
                }
            }
            eprintln!("{} item(s) due", r.total);
        }
        RetentionCmd::Run => {
            let r = valv
                .retention()
                .run_retention(pb::RunRetentionRequest {})
                .await?
                .into_inner();
            if json {
                println!(
                    "{}",
                    json!({"mappings_deleted": r.mappings_deleted, "evidence_deleted": r.evidence_deleted})
                );
            } else {
                println!(
                    "deleted {} mappings and {} evidence records",
                    r.mappings_deleted, r.evidence_deleted
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
