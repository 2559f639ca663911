//! `pseudonymise` and `reidentify`: identifiers or pseudonyms as arguments or stdin lines, or
//! whole CSV columns and JSON-lines records through the vault (`bulk`).

use std::process::ExitCode;

use anyhow::{Context, bail};
use serde_json::json;
use valv_client::{Valv, pb};

use crate::{
    bulk::{self, csv::Column},
    output::{print_tsv, stdin_lines, verdict_word},
};

/// What `pseudonymise` and `reidentify` work on: items given as arguments or on stdin, CSV
/// columns, or JSON-lines records under a policy.
#[derive(Debug, Clone, clap::Args)]
pub struct InputArgs {
    /// Domain (of the items, or the default of --column).
    #[arg(long)]
    domain: Option<String>,
    /// CSV column, COLUMN (domain from --domain) or COLUMN=DOMAIN. Repeat.
    #[arg(
        long = "column",
        value_name = "COLUMN[=DOMAIN]",
        conflicts_with = "policy"
    )]
    columns: Vec<String>,
    /// Record policy for JSON-lines input.
    #[arg(long)]
    policy: Option<String>,
    #[command(flatten)]
    bulk: bulk::BulkArgs,
    /// The items; or, with --column/--policy, the input file (none or `-`: stdin).
    args: Vec<String>,
}

impl InputArgs {
    /// A file of CSV rows or JSON lines rather than single items.
    fn is_file(&self) -> bool {
        self.policy.is_some() || !self.columns.is_empty()
    }
}

/// `pseudonymise`: one identifier per argument or stdin line, or a file (`--column`/`--policy`).
pub(crate) async fn pseudonymise(
    valv: &Valv,
    json: bool,
    input: InputArgs,
) -> anyhow::Result<ExitCode> {
    if input.is_file() {
        return run_file(valv, json, None, input).await;
    }
    {
        let InputArgs {
            domain,
            args: identifiers,
            ..
        } = input;
        let domain = domain.context("--domain is needed")?;
        let ids = stdin_lines(identifiers)?;
        let r = valv
            .pseudonyms()
            .pseudonymise(pb::PseudonymiseRequest {
                domain,
                identifiers: ids,
                batch_id: 0,
            })
            .await?
            .into_inner();
        let mut refused = 0;
        let mut out = Vec::new();
        for item in &r.results {
            match &item.outcome {
                Some(pb::pseudonymise_result::Outcome::Pseudonym(p)) => {
                    out.push(json!({"pseudonym": p}))
                }
                Some(pb::pseudonymise_result::Outcome::Error(e)) => {
                    refused += 1;
                    out.push(json!({"error": {"field": e.field, "rule": e.rule}}));
                }
                None => bail!("empty result from server"),
            }
        }
        print_tsv(json, json!(out), || {
            r.results
                .iter()
                .map(|i| match &i.outcome {
                    Some(pb::pseudonymise_result::Outcome::Pseudonym(p)) => p.clone(),
                    Some(pb::pseudonymise_result::Outcome::Error(e)) => {
                        format!("error\t{}\t{}", e.field, e.rule)
                    }
                    None => String::new(),
                })
                .collect::<Vec<_>>()
                .join("\n")
        });
        if refused > 0 {
            eprintln!("{refused} of {} identifiers refused", r.results.len());
            return Ok(ExitCode::from(2));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `reidentify`: pseudonyms for a purpose, as arguments, stdin lines or a file.
pub(crate) async fn reidentify(
    valv: &Valv,
    json: bool,
    purpose: String,
    input: InputArgs,
) -> anyhow::Result<ExitCode> {
    if input.is_file() {
        return run_file(valv, json, Some(purpose), input).await;
    }
    {
        let InputArgs {
            domain,
            args: pseudonyms,
            ..
        } = input;
        let domain = domain.context("--domain is needed")?;
        let ps = stdin_lines(pseudonyms)?;
        let r = valv
            .pseudonyms()
            .re_identify(pb::ReIdentifyRequest {
                domain,
                purpose,
                pseudonyms: ps.clone(),
            })
            .await?
            .into_inner();
        let refused = r
            .results
            .iter()
            .filter(|i| i.verdict() != pb::Verdict::Released)
            .count();
        let list: Vec<_> = r
                .results
                .iter()
                .zip(&ps)
                .map(|(i, p)| json!({"pseudonym": p, "verdict": i.verdict().as_str_name(), "identifier": i.identifier}))
                .collect();
        print_tsv(json, json!(list), || {
            r.results
                .iter()
                .zip(&ps)
                .map(|(i, p)| format!("{p}\t{}\t{}", verdict_word(i.verdict()), i.identifier))
                .collect::<Vec<_>>()
                .join("\n")
        });
        if refused > 0 {
            eprintln!("{refused} of {} pseudonyms not released", r.results.len());
            return Ok(ExitCode::from(2));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A CSV or JSON-lines file through the vault, to stdout; the summary on stderr.
async fn run_file(
    valv: &Valv,
    json: bool,
    purpose: Option<String>,
    input: InputArgs,
) -> anyhow::Result<ExitCode> {
    let InputArgs {
        domain,
        columns,
        policy,
        bulk,
        args,
    } = input;
    if args.len() > 1 {
        bail!("give one input file (or none for stdin)");
    }
    let input = args.first().map(String::as_str);
    let out = std::io::BufWriter::with_capacity(1 << 20, std::io::stdout().lock());
    let (summary, what) = match policy {
        Some(policy) => {
            let direction = match purpose {
                Some(p) => bulk::jsonl::Direction::ReIdentify(p),
                None => bulk::jsonl::Direction::Pseudonymise,
            };
            let what = match direction {
                bulk::jsonl::Direction::Pseudonymise => "refused",
                bulk::jsonl::Direction::ReIdentify(_) => "not released",
            };
            let s = bulk::jsonl::run(
                valv,
                &policy,
                direction,
                input,
                out,
                bulk.batch_rows,
                bulk.in_flight,
            )
            .await?;
            (s, what)
        }
        None => {
            let columns: Vec<Column> = bulk::csv::parse_columns(&columns, domain.as_deref())?;
            let (direction, what) = match purpose {
                Some(p) => (bulk::csv::Direction::ReIdentify(p), "not released"),
                None => (bulk::csv::Direction::Pseudonymise, "refused"),
            };
            let s = bulk::csv::run(
                valv,
                direction,
                columns,
                input,
                out,
                bulk.batch_rows,
                bulk.in_flight,
            )
            .await?;
            (s, what)
        }
    };
    summary.report(json, what);
    Ok(summary.exit_code())
}
