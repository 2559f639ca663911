//! `valvctl sharing` (tenant-admin: sharing agreements) and `valvctl translate` (translator: a
//! sender's pseudonyms into a recipient's, as arguments or whole CSV columns streamed in constant
//! memory).

use std::process::ExitCode;

use anyhow::bail;
use clap::Subcommand;
use serde_json::json;
use valv_client::{Valv, pb};

use crate::{
    bulk::BulkArgs,
    bulk::{self, csv::Column},
    output::{now_ms, print, print_tsv, stdin_lines, time_text, verdict_word},
};

/// Sharing agreement commands.
#[derive(Debug, Subcommand)]
pub enum SharingCmd {
    /// Define a sharing agreement: pseudonyms of --from may be translated into those of --to
    /// for --purpose, for --valid-days days. Under the two-person rule a second tenant-admin
    /// approves it (`valvctl approval`).
    ///
    /// Example:
    ///   valvctl sharing define registry-study --from patients --to registry-study \
    ///       --purpose research --recipient "Quality registry centre" \
    ///       --legal-basis "Art. 9(2)(j); ethics approval 2026-1234" --valid-days 365
    #[command(verbatim_doc_comment)]
    Define {
        /// Agreement name.
        name: String,
        /// Domain whose pseudonyms are translated (reversible).
        #[arg(long)]
        from: String,
        /// Domain of the recipient's pseudonyms (the same kind of identifier).
        #[arg(long)]
        to: String,
        /// Purpose the sharing serves (it must cover --from).
        #[arg(long)]
        purpose: String,
        /// Who receives the data.
        #[arg(long)]
        recipient: String,
        /// Why the sharing is lawful.
        #[arg(long)]
        legal_basis: String,
        /// Days from now until translations are refused.
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=36_600))]
        valid_days: u32,
    },
    /// List the tenant's sharing agreements.
    List,
    /// Revoke an agreement: translations under it are refused from now on.
    Revoke {
        /// Agreement name.
        name: String,
    },
}

fn agreement_json(a: &pb::SharingAgreement) -> serde_json::Value {
    json!({"name": a.name, "from_domain": a.from_domain, "to_domain": a.to_domain,
           "purpose": a.purpose, "recipient": a.recipient, "legal_basis": a.legal_basis,
           "valid_until_unix_ms": a.valid_until_unix_ms, "created_unix_ms": a.created_unix_ms,
           "created_by": a.created_by, "approved_by": a.approved_by})
}

/// Runs a sharing command.
pub async fn run(valv: &Valv, json: bool, cmd: SharingCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        SharingCmd::Define {
            name,
            from,
            to,
            purpose,
            recipient,
            legal_basis,
            valid_days,
        } => {
            let r = valv
                .admin()
                .define_sharing_agreement(pb::DefineSharingAgreementRequest {
                    agreement: Some(pb::SharingAgreement {
                        name: name.clone(),
                        from_domain: from,
                        to_domain: to,
                        purpose,
                        recipient,
                        legal_basis,
                        valid_until_unix_ms: now_ms() + i64::from(valid_days) * 86_400_000,
                        ..Default::default()
                    }),
                })
                .await?
                .into_inner();
            let out = match &r.agreement {
                Some(a) => agreement_json(a),
                None => json!({"name": name, "pending_operation_id": r.pending_operation_id,
                               "approve_before_unix_ms": r.approve_before_unix_ms}),
            };
            print(json, out, || match &r.agreement {
                Some(a) => format!(
                    "sharing agreement {} defined: {} → {} for {}, until {}",
                    a.name,
                    a.from_domain,
                    a.to_domain,
                    a.purpose,
                    time_text(a.valid_until_unix_ms)
                ),
                None => format!(
                    "sharing agreement {name}: {}",
                    crate::output::pending_text(
                        "it widens who can link data",
                        r.pending_operation_id
                    )
                ),
            });
        }
        SharingCmd::List => {
            let r = valv
                .admin()
                .list_sharing_agreements(pb::ListSharingAgreementsRequest {})
                .await?
                .into_inner();
            let list: Vec<_> = r.agreements.iter().map(agreement_json).collect();
            print(json, json!(list), || {
                let mut lines =
                    vec!["AGREEMENT\tFROM\tTO\tPURPOSE\tRECIPIENT\tVALID UNTIL".to_owned()];
                for a in &r.agreements {
                    lines.push(format!(
                        "{}\t{}\t{}\t{}\t{}\t{}",
                        a.name,
                        a.from_domain,
                        a.to_domain,
                        a.purpose,
                        a.recipient,
                        time_text(a.valid_until_unix_ms)
                    ));
                }
                lines.join("\n")
            });
        }
        SharingCmd::Revoke { name } => {
            valv.admin()
                .revoke_sharing_agreement(pb::RevokeSharingAgreementRequest { name: name.clone() })
                .await?;
            print(json, json!({"name": name, "revoked": true}), || {
                format!("sharing agreement {name} revoked")
            });
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// What `translate` works on.
#[derive(Debug, Clone, clap::Args)]
pub struct TranslateArgs {
    /// The sharing agreement.
    #[arg(long)]
    agreement: String,
    /// CSV column of the sender's pseudonyms. Repeat.
    #[arg(long = "column", value_name = "COLUMN")]
    columns: Vec<String>,
    #[command(flatten)]
    bulk: BulkArgs,
    /// Pseudonyms (none: one per line on stdin); with --column, the input file (none or `-`:
    /// stdin).
    args: Vec<String>,
}

/// `translate`: pseudonyms as arguments or stdin lines, or CSV columns of a file.
pub async fn translate(valv: &Valv, json: bool, input: TranslateArgs) -> anyhow::Result<ExitCode> {
    let TranslateArgs {
        agreement,
        columns,
        bulk,
        args,
    } = input;
    if !columns.is_empty() {
        if args.len() > 1 {
            bail!("give one input file (or none for stdin)");
        }
        let columns = columns
            .into_iter()
            .map(|name| Column {
                name,
                domain: String::new(),
            })
            .collect();
        let out = std::io::BufWriter::with_capacity(1 << 20, std::io::stdout().lock());
        let summary = bulk::csv::run(
            valv,
            bulk::csv::Direction::Translate(agreement),
            columns,
            args.first().map(String::as_str),
            out,
            bulk.batch_rows,
            bulk.in_flight,
        )
        .await?;
        summary.report(json, "not translated");
        return Ok(summary.exit_code());
    }
    let pseudonyms = stdin_lines(args)?;
    let results = valv.translate(&agreement, &pseudonyms).await?;
    let refused = results
        .iter()
        .filter(|r| r.verdict() != pb::Verdict::Released)
        .count();
    let out: Vec<_> = results
        .iter()
        .map(|r| json!({"verdict": verdict_word(r.verdict()), "pseudonym": r.pseudonym}))
        .collect();
    print_tsv(json, json!(out), || {
        results
            .iter()
            .map(|r| match r.verdict() {
                pb::Verdict::Released => r.pseudonym.clone(),
                v => format!("not translated\t{}", verdict_word(v)),
            })
            .collect::<Vec<_>>()
            .join("\n")
    });
    if refused > 0 {
        eprintln!("{refused} of {} pseudonyms not translated", results.len());
        return Ok(ExitCode::from(2));
    }
    Ok(ExitCode::SUCCESS)
}
