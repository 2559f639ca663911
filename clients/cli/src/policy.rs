//! `valvctl policy`: record policies (tenant-admin) — which JSON fields hold identifiers of which
//! domain, and which fields are dropped — used by `valvctl pseudonymise --policy` and by services
//! calling PseudonymiseRecords.

use std::process::ExitCode;

use anyhow::bail;
use clap::Subcommand;
use serde_json::json;
use valv_client::{Valv, pb};

use crate::output::print;

/// Record policy commands.
#[derive(Debug, Subcommand)]
pub enum PolicyCmd {
    /// Create or replace a record policy.
    ///
    /// Example:
    ///   valvctl policy define visits --required-field /patient/ssn=patients \
    ///       --field '/patient/contacts/*/phone=phones' --drop /note
    #[command(verbatim_doc_comment)]
    Define {
        /// Policy name.
        name: String,
        /// POINTER=DOMAIN: a JSON pointer (`*` = every array element) whose value is an
        /// identifier of DOMAIN; absent or null values are left alone. Repeat.
        #[arg(long = "field", value_name = "POINTER=DOMAIN")]
        fields: Vec<String>,
        /// Like --field, but a record without it is refused.
        #[arg(long = "required-field", value_name = "POINTER=DOMAIN")]
        required: Vec<String>,
        /// JSON pointer of a field removed from every record (e.g. free text). Repeat.
        #[arg(long = "drop", value_name = "POINTER")]
        drops: Vec<String>,
    },
    /// List the tenant's record policies.
    List,
    /// Delete a record policy.
    Delete {
        /// Policy name.
        name: String,
    },
}

fn field(spec: &str, required: bool) -> anyhow::Result<pb::RecordField> {
    match spec.rsplit_once('=') {
        Some((pointer, domain)) if !pointer.is_empty() && !domain.is_empty() => {
            Ok(pb::RecordField {
                pointer: pointer.into(),
                domain: domain.into(),
                required,
            })
        }
        _ => bail!("{spec}: expected POINTER=DOMAIN, e.g. /patient/ssn=patients"),
    }
}

fn policy_json(p: &pb::RecordPolicy) -> serde_json::Value {
    json!({"name": p.name, "drop": p.drop, "updated_unix_ms": p.updated_unix_ms,
           "fields": p.fields.iter().map(|f| json!({"pointer": f.pointer, "domain": f.domain, "required": f.required})).collect::<Vec<_>>()})
}

/// Runs a policy command.
pub async fn run(valv: &Valv, json: bool, cmd: PolicyCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        PolicyCmd::Define {
            name,
            fields,
            required,
            drops,
        } => {
            let mut list = Vec::new();
            for f in &required {
                list.push(field(f, true)?);
            }
            for f in &fields {
                list.push(field(f, false)?);
            }
            let r = valv
                .admin()
                .define_record_policy(pb::DefineRecordPolicyRequest {
                    policy: Some(pb::RecordPolicy {
                        name: name.clone(),
                        fields: list,
                        drop: drops,
                        updated_unix_ms: 0,
                    }),
                })
                .await?
                .into_inner();
            let p = r.policy.unwrap_or_default();
            let mut out = policy_json(&p);
            out["changes"] = crate::output::changes_json(&r.changes);
            out["pending_operation_id"] = json!(r.pending_operation_id);
            print(json, out, || {
                if r.pending_operation_id > 0 {
                    return format!(
                        "record policy {name}: {}{}",
                        crate::output::pending_text("it protects less", r.pending_operation_id),
                        crate::output::changes_text(&r.changes)
                    );
                }
                format!(
                    "record policy {} {} ({} fields, {} dropped)",
                    p.name,
                    if r.created { "defined" } else { "replaced" },
                    p.fields.len(),
                    p.drop.len()
                )
            });
        }
        PolicyCmd::List => {
            let r = valv
                .admin()
                .list_record_policies(pb::ListRecordPoliciesRequest {})
                .await?
                .into_inner();
            let list: Vec<_> = r.policies.iter().map(policy_json).collect();
            print(json, json!(list), || {
                let mut lines = vec!["POLICY\tPOINTER\tDOMAIN\tREQUIRED".to_owned()];
                for p in &r.policies {
                    for f in &p.fields {
                        lines.push(format!(
                            "{}\t{}\t{}\t{}",
                            p.name,
                            f.pointer,
                            f.domain,
                            if f.required { "yes" } else { "no" }
                        ));
                    }
                    for d in &p.drop {
                        lines.push(format!("{}\t{d}\t(dropped)\t", p.name));
                    }
                }
                lines.join("\n")
            });
        }
        PolicyCmd::Delete { name } => {
            let r = valv
                .admin()
                .delete_record_policy(pb::DeleteRecordPolicyRequest { name: name.clone() })
                .await?
                .into_inner();
            print(
                json,
                json!({"name": name, "deleted": r.deleted, "pending_operation_id": r.pending_operation_id}),
                || {
                    if r.deleted {
                        format!("record policy {name} deleted")
                    } else {
                        format!(
                            "record policy {name}: deletion {}",
                            crate::output::pending_text(
                                "needs a second person",
                                r.pending_operation_id
                            )
                        )
                    }
                },
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
