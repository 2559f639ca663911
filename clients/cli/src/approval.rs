//! `valvctl approval …`: operations that wait under the two-person rule for an independent
//! second principal — list them with what they change, approve or refuse one.

use std::process::ExitCode;

use clap::Subcommand;
use serde_json::json;
use valv_client::{Valv, pb};

/// `valvctl approval …`.
#[derive(Debug, Subcommand)]
pub enum ApprovalCmd {
    /// Operations waiting for approval that your roles may approve, with what each changes.
    List,
    /// Approve another principal's pending operation; it takes effect at once. You must be
    /// independent of the requester (created before the request; neither of you created the
    /// other, and no one creator was handed both tokens).
    Approve {
        /// Operation id.
        id: u64,
    },
    /// Refuse a pending operation (or withdraw your own); it never takes effect.
    Refuse {
        /// Operation id.
        id: u64,
    },
}

fn change_text(c: &pb::AuditChange) -> String {
    let show = |s: &str| {
        if s.is_empty() {
            "—".to_owned()
        } else {
            s.to_owned()
        }
    };
    format!("{}: {} → {}", c.field, show(&c.before), show(&c.after))
}

/// Runs an approval command.
pub async fn run(valv: &Valv, json: bool, cmd: ApprovalCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        ApprovalCmd::Approve { id } => {
            let r = valv
                .keys()
                .approve_operation(pb::ApproveOperationRequest { id })
                .await?
                .into_inner();
            if json {
                println!(
                    "{}",
                    json!({"kind": r.kind, "summary": r.summary, "new_shares": r.new_shares})
                );
            } else {
                println!("approved and done: {}", r.summary);
                crate::seal::print_new_shares(&r.new_shares);
            }
        }
        ApprovalCmd::Refuse { id } => {
            let r = valv
                .keys()
                .refuse_operation(pb::RefuseOperationRequest { id })
                .await?
                .into_inner();
            if json {
                println!("{}", json!({"refused": id, "kind": r.kind}));
            } else {
                println!("refused: operation {id} ({})", r.kind);
            }
        }
        ApprovalCmd::List => {
            let ops = valv
                .keys()
                .list_pending_operations(pb::ListPendingOperationsRequest {})
                .await?
                .into_inner()
                .operations;
            if json {
                let list: Vec<_> = ops
                    .iter()
                    .map(|o| {
                        let changes: Vec<_> = o
                            .changes
                            .iter()
                            .map(
                                |c| json!({"field": c.field, "before": c.before, "after": c.after}),
                            )
                            .collect();
                        json!({"id": o.id, "kind": o.kind, "requested_by": o.requested_by,
                               "requested_unix_ms": o.requested_unix_ms,
                               "expires_unix_ms": o.expires_unix_ms, "summary": o.summary,
                               "changes": changes})
                    })
                    .collect();
                println!("{}", json!(list));
            } else {
                let mut lines = Vec::new();
                for o in &ops {
                    lines.push(format!(
                        "{}\t{}\trequested by {}",
                        o.id, o.kind, o.requested_by
                    ));
                    lines.extend(o.changes.iter().map(|c| format!("\t  {}", change_text(c))));
                }
                println!("{}", crate::table::align(&lines.join("\n")));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
