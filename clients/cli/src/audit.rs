//! `valvctl audit`: export a chain as JSON lines (for a SIEM, and for offline checking), export the
//! chain's public key, and verify a chain — online through `VerifyAudit`, or offline on an
//! exported file with the public key, using the very hash and checkpoint definitions the server
//! uses (`valv_proto::audit`). The export format is in `audit_file`; the witness in `witness`.

use std::{
    io::Write,
    path::{Path, PathBuf},
    process::ExitCode,
};

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use serde_json::json;
use valv_client::{Valv, pb};
use valv_proto::audit::verify_chain;

use crate::audit_file::{checkpoint_json, entry_json, hex, read_export};

/// `valvctl audit …` (auditor: the tenant's chain; operator: `--operator-chain`).
#[derive(Debug, Subcommand)]
pub enum AuditCmd {
    /// Write the chain as JSON lines (entries, then signed checkpoints) to stdout or `--out`.
    Export {
        #[command(flatten)]
        chain: ChainArg,
        #[command(flatten)]
        filter: FilterArgs,
        /// Write here instead of stdout.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Print the chain's Ed25519 public key (hex), for checking exports offline.
    Key {
        #[command(flatten)]
        chain: ChainArg,
    },
    /// Verify the chain: online (the vault checks its store), or offline with `--file` and
    /// `--public-key`. With `--witness`, also against the checkpoints a witness kept: a chain
    /// shorter than the witnessed head, or different at one, fails. Exit code 1 and the first
    /// wrong entry when it does not verify.
    Verify {
        #[command(flatten)]
        chain: ChainArg,
        /// An unfiltered export to check offline (no connection is made).
        #[arg(long, requires = "public_key")]
        file: Option<PathBuf>,
        /// The chain's public key: hex, or a file holding it.
        #[arg(long)]
        public_key: Option<String>,
        /// A witness file (`valvctl audit witness`) to check the chain against.
        #[arg(long)]
        witness: Option<PathBuf>,
    },
    /// Keep the chain's signed checkpoints in FILE, outside the vault (run it on another
    /// machine, regularly): pins the chain's public key at first contact, checks that the chain
    /// still contains every checkpoint kept so far, and appends the new ones. Exit code 1 on a
    /// changed key, a rewritten chain or a cut tail, with the entry's sequence number.
    Witness {
        #[command(flatten)]
        chain: ChainArg,
        /// The witness file (created at the first run, appended to afterwards).
        #[arg(long)]
        file: PathBuf,
    },
}

/// Which chain.
#[derive(Debug, Args)]
pub struct ChainArg {
    /// The operator chain (operators) instead of the caller's tenant chain (auditors).
    #[arg(long)]
    operator_chain: bool,
}

/// Export filters; a filtered export cannot be verified offline.
#[derive(Debug, Args)]
pub struct FilterArgs {
    /// Earliest entry time, ms since the epoch.
    #[arg(long, default_value_t = 0)]
    from_ms: i64,
    /// Latest entry time, ms since the epoch.
    #[arg(long, default_value_t = 0)]
    to_ms: i64,
    /// Only this action (e.g. `reidentify`).
    #[arg(long, default_value = "")]
    action: String,
    /// Only this principal id.
    #[arg(long, default_value = "")]
    principal: String,
    /// Only this subject handle (hex).
    #[arg(long, default_value = "")]
    subject: String,
}

fn public_key_arg(arg: &str) -> anyhow::Result<Vec<u8>> {
    let text = if Path::new(arg).is_file() {
        std::fs::read_to_string(arg).with_context(|| format!("reading {arg}"))?
    } else {
        arg.to_owned()
    };
    let key = data_encoding::HEXLOWER_PERMISSIVE
        .decode(text.trim().as_bytes())
        .context("--public-key: not hex")?;
    if key.len() != 32 {
        bail!("--public-key: an Ed25519 public key is 32 bytes");
    }
    Ok(key)
}

fn report(json: bool, v: &pb::VerifyAuditResponse) -> ExitCode {
    if json {
        println!(
            "{}",
            json!({"ok": v.ok, "entries": v.entries, "checkpoints": v.checkpoints,
                   "last_checkpoint_seq": v.last_checkpoint_seq,
                   "first_bad_seq": v.first_bad_seq, "problem": v.problem})
        );
    } else if v.ok {
        println!(
            "audit chain verified: {} entries, {} signed checkpoints (last covers entry {})",
            v.entries, v.checkpoints, v.last_checkpoint_seq
        );
    } else {
        println!("audit chain does NOT verify: {}", v.problem);
    }
    if v.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Offline verification of an export.
pub fn verify_offline(
    json: bool,
    file: &Path,
    public_key: &str,
    witness: Option<&Path>,
) -> anyhow::Result<ExitCode> {
    let key = public_key_arg(public_key)?;
    let (entries, checkpoints) = read_export(file)?;
    if let Some(w) = witness {
        return crate::witness::check(json, w, &entries, &checkpoints, Some(&key));
    }
    let chain = entries
        .first()
        .map(|e| e.chain)
        .or_else(|| checkpoints.first().map(|c| c.chain))
        .unwrap_or(0);
    let v = verify_chain(chain, &entries, &checkpoints, &key);
    let (first_bad_seq, problem) = v.problem.clone().unwrap_or_default();
    Ok(report(
        json,
        &pb::VerifyAuditResponse {
            ok: v.ok(),
            entries: v.entries,
            checkpoints: v.checkpoints,
            last_checkpoint_seq: v.last_checkpoint_seq,
            first_bad_seq,
            problem,
        },
    ))
}

/// Runs an online `valvctl audit` command.
pub async fn run(valv: &Valv, json: bool, cmd: AuditCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        AuditCmd::Export { chain, filter, out } => {
            let mut stream = valv
                .audit()
                .read_audit(pb::ReadAuditRequest {
                    operator_chain: chain.operator_chain,
                    from_unix_ms: filter.from_ms,
                    to_unix_ms: filter.to_ms,
                    action: filter.action,
                    principal: filter.principal,
                    subject: filter.subject,
                    include_checkpoints: true,
                })
                .await?
                .into_inner();
            let mut sink: Box<dyn Write> = match &out {
                Some(path) => Box::new(std::io::BufWriter::new(
                    std::fs::File::create(path)
                        .with_context(|| format!("creating {}", path.display()))?,
                )),
                None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
            };
            let mut n = 0u64;
            while let Some(item) = stream.message().await? {
                let line = match item.item {
                    Some(pb::read_audit_response::Item::Entry(e)) => {
                        n += 1;
                        entry_json(&e)
                    }
                    Some(pb::read_audit_response::Item::Checkpoint(c)) => checkpoint_json(&c),
                    None => continue,
                };
                writeln!(sink, "{line}")?;
            }
            sink.flush()?;
            if out.is_some() {
                eprintln!("exported {n} entries");
            }
            Ok(ExitCode::SUCCESS)
        }
        AuditCmd::Key { chain } => {
            let k = valv
                .audit()
                .get_audit_key(pb::GetAuditKeyRequest {
                    operator_chain: chain.operator_chain,
                })
                .await?
                .into_inner();
            if json {
                println!(
                    "{}",
                    json!({"chain": k.chain, "public_key": hex(&k.public_key)})
                );
            } else {
                println!("{}", hex(&k.public_key));
            }
            Ok(ExitCode::SUCCESS)
        }
        AuditCmd::Witness { chain, file } => {
            crate::witness::run(valv, json, chain.operator_chain, &file).await
        }
        AuditCmd::Verify {
            chain,
            file: None,
            witness: Some(witness),
            ..
        } => {
            let (entries, checkpoints) =
                crate::witness::read_chain(valv, chain.operator_chain).await?;
            crate::witness::check(json, &witness, &entries, &checkpoints, None)
        }
        AuditCmd::Verify {
            chain,
            file: None,
            public_key: _,
            witness: None,
        } => {
            let v = valv
                .audit()
                .verify_audit(pb::VerifyAuditRequest {
                    operator_chain: chain.operator_chain,
                })
                .await?
                .into_inner();
            Ok(report(json, &v))
        }
        AuditCmd::Verify {
            file: Some(file),
            public_key,
            witness,
            ..
        } => verify_offline(
            json,
            &file,
            public_key.as_deref().unwrap_or_default(),
            witness.as_deref(),
        ),
    }
}
