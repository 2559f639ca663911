//! `valvctl audit`: export a chain as JSON lines (for a SIEM, and for offline checking), export the
//! chain's public key, and verify a chain — online through `VerifyAudit`, or offline on an
//! exported file with the public key, using the very hash and checkpoint definitions the server
//! uses (`valv_proto::audit`).
//!
//! Export format, one JSON object per line: `{"type":"entry", …every AuditEntry field…}` in chain
//! order, then `{"type":"checkpoint", …}`. Hashes, signatures and keys are lowercase hex; counts
//! and items are arrays (their order is part of the hash).

use std::{
    io::{BufRead, Write},
    path::{Path, PathBuf},
    process::ExitCode,
};

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use serde_json::{Value, json};
use valv_client::{Valv, pb};
use valv_proto::audit::verify_chain;

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

/// An entry as one JSON object.
pub fn entry_json(e: &pb::AuditEntry) -> Value {
    json!({
        "type": "entry",
        "chain": e.chain,
        "seq": e.seq,
        "at_unix_ms": e.at_unix_ms,
        "principal": e.principal,
        "action": e.action,
        "domain": e.domain,
        "purpose": e.purpose,
        "subject": e.subject,
        "verdict": e.verdict,
        "request_id": e.request_id,
        "counts": e.counts.iter().map(|c| json!({"name": c.name, "value": c.value})).collect::<Vec<_>>(),
        "items": e.items.iter().map(|i| json!({"target": i.target, "outcome": i.outcome})).collect::<Vec<_>>(),
        "changes": e.changes.iter().map(|c| json!({"field": c.field, "before": c.before, "after": c.after})).collect::<Vec<_>>(),
        "prev_hash": hex(&e.prev_hash),
        "hash": hex(&e.hash),
    })
}

/// A checkpoint as one JSON object.
pub fn checkpoint_json(c: &pb::AuditCheckpoint) -> Value {
    json!({
        "type": "checkpoint",
        "chain": c.chain,
        "seq": c.seq,
        "head_hash": hex(&c.head_hash),
        "at_unix_ms": c.at_unix_ms,
        "signature": hex(&c.signature),
    })
}

fn hex(bytes: &[u8]) -> String {
    data_encoding::HEXLOWER.encode(bytes)
}

fn unhex(v: &Value, field: &str) -> anyhow::Result<Vec<u8>> {
    let text = v[field]
        .as_str()
        .with_context(|| format!("{field}: missing"))?;
    data_encoding::HEXLOWER_PERMISSIVE
        .decode(text.as_bytes())
        .with_context(|| format!("{field}: not hex"))
}

fn text(v: &Value, field: &str) -> String {
    v[field].as_str().unwrap_or_default().to_owned()
}

fn num(v: &Value, field: &str) -> anyhow::Result<u64> {
    v[field]
        .as_u64()
        .with_context(|| format!("{field}: missing or not a number"))
}

fn entry_from(v: &Value) -> anyhow::Result<pb::AuditEntry> {
    let list = |field: &str| v[field].as_array().cloned().unwrap_or_default();
    Ok(pb::AuditEntry {
        chain: num(v, "chain")?,
        seq: num(v, "seq")?,
        at_unix_ms: v["at_unix_ms"].as_i64().context("at_unix_ms")?,
        principal: text(v, "principal"),
        action: text(v, "action"),
        domain: text(v, "domain"),
        purpose: text(v, "purpose"),
        subject: text(v, "subject"),
        verdict: text(v, "verdict"),
        request_id: text(v, "request_id"),
        counts: list("counts")
            .iter()
            .map(|c| {
                Ok(pb::AuditCount {
                    name: text(c, "name"),
                    value: num(c, "value")?,
                })
            })
            .collect::<anyhow::Result<_>>()?,
        items: list("items")
            .iter()
            .map(|i| pb::AuditItem {
                target: text(i, "target"),
                outcome: text(i, "outcome"),
            })
            .collect(),
        changes: list("changes")
            .iter()
            .map(|c| pb::AuditChange {
                field: text(c, "field"),
                before: text(c, "before"),
                after: text(c, "after"),
            })
            .collect(),
        prev_hash: unhex(v, "prev_hash")?,
        hash: unhex(v, "hash")?,
    })
}

pub(crate) fn checkpoint_from(v: &Value) -> anyhow::Result<pb::AuditCheckpoint> {
    Ok(pb::AuditCheckpoint {
        chain: num(v, "chain")?,
        seq: num(v, "seq")?,
        head_hash: unhex(v, "head_hash")?,
        at_unix_ms: v["at_unix_ms"].as_i64().context("at_unix_ms")?,
        signature: unhex(v, "signature")?,
    })
}

/// Reads an export: entries and checkpoints.
pub fn read_export(path: &Path) -> anyhow::Result<(Vec<pb::AuditEntry>, Vec<pb::AuditCheckpoint>)> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut entries = Vec::new();
    let mut checkpoints = Vec::new();
    for (n, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let v: Value =
            serde_json::from_str(&line).with_context(|| format!("line {}: not JSON", n + 1))?;
        match v["type"].as_str() {
            Some("entry") => {
                entries.push(entry_from(&v).with_context(|| format!("line {}", n + 1))?)
            }
            Some("checkpoint") => {
                checkpoints.push(checkpoint_from(&v).with_context(|| format!("line {}", n + 1))?);
            }
            _ => bail!("line {}: unknown type", n + 1),
        }
    }
    Ok((entries, checkpoints))
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
