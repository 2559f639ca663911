//! `valvctl audit witness`: keeps the chain's signed checkpoints in a file of the auditor's,
//! outside the vault (on another machine in production), so that whoever holds the vault's store
//! and root key cannot rewrite or cut the chain unseen. Each run pins the chain's public key at
//! first contact, checks the chain against every checkpoint kept so far, and appends the new
//! ones. `valvctl audit verify --witness FILE` checks a chain against the file without adding.
//!
//! File format, JSON lines, append-only: `{"type":"witness","chain":…,"public_key":…,
//! "pinned_unix_ms":…}` first, then one `{"type":"checkpoint",…}` per kept checkpoint (the
//! export's checkpoint form).

use std::{
    io::{BufRead, Write},
    path::Path,
    process::ExitCode,
};

use anyhow::{Context, bail};
use serde_json::{Value, json};
use valv_client::{Valv, pb};
use valv_proto::witness::{Witnessed, witness};

use crate::audit_file::{checkpoint_from, checkpoint_json};

/// A witness file's contents.
pub struct WitnessFile {
    /// The chain it witnesses.
    pub chain: u64,
    /// The key pinned at first contact.
    pub public_key: Vec<u8>,
    /// Checkpoints kept, in file order.
    pub kept: Vec<pb::AuditCheckpoint>,
}

fn hex(bytes: &[u8]) -> String {
    data_encoding::HEXLOWER.encode(bytes)
}

/// Reads a witness file; `None` if it does not exist yet.
pub fn load(path: &Path) -> anyhow::Result<Option<WitnessFile>> {
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("opening {}", path.display())),
    };
    let mut head: Option<(u64, Vec<u8>)> = None;
    let mut kept = Vec::new();
    for (n, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let v: Value = serde_json::from_str(&line)
            .with_context(|| format!("{} line {}: not JSON", path.display(), n + 1))?;
        match (v["type"].as_str(), &head) {
            (Some("witness"), None) => {
                let key = data_encoding::HEXLOWER_PERMISSIVE
                    .decode(v["public_key"].as_str().unwrap_or_default().as_bytes())
                    .context("witness file: public_key is not hex")?;
                head = Some((v["chain"].as_u64().context("witness file: chain")?, key));
            }
            (Some("checkpoint"), Some(_)) => kept.push(
                checkpoint_from(&v)
                    .with_context(|| format!("{} line {}", path.display(), n + 1))?,
            ),
            _ => bail!("{} line {}: not a witness file line", path.display(), n + 1),
        }
    }
    let Some((chain, public_key)) = head else {
        bail!("{}: empty witness file", path.display());
    };
    Ok(Some(WitnessFile {
        chain,
        public_key,
        kept,
    }))
}

fn append(path: &Path, lines: &[Value]) -> anyhow::Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))?;
    for line in lines {
        writeln!(f, "{line}")?;
    }
    f.sync_all()?;
    Ok(())
}

/// Reads a whole chain (entries and checkpoints) from the vault.
pub async fn read_chain(
    valv: &Valv,
    operator_chain: bool,
) -> anyhow::Result<(Vec<pb::AuditEntry>, Vec<pb::AuditCheckpoint>)> {
    let mut stream = valv
        .audit()
        .read_audit(pb::ReadAuditRequest {
            operator_chain,
            include_checkpoints: true,
            ..Default::default()
        })
        .await?
        .into_inner();
    let (mut entries, mut checkpoints) = (Vec::new(), Vec::new());
    while let Some(item) = stream.message().await? {
        match item.item {
            Some(pb::read_audit_response::Item::Entry(e)) => entries.push(e),
            Some(pb::read_audit_response::Item::Checkpoint(c)) => checkpoints.push(c),
            None => {}
        }
    }
    Ok((entries, checkpoints))
}

/// Prints a witness outcome; exit code 1 on any failure.
fn report(json: bool, chain: u64, w: &Witnessed, kept_now: usize) -> ExitCode {
    let head = w.new.last().map(|c| c.seq);
    match &w.verification.problem {
        None => {
            if json {
                println!(
                    "{}",
                    json!({"ok": true, "chain": chain, "entries": w.verification.entries,
                           "new_checkpoints": kept_now, "witnessed_head": head})
                );
            } else {
                println!(
                    "chain {chain} consistent with the witness: {} entries, {kept_now} new checkpoints kept",
                    w.verification.entries
                );
            }
            ExitCode::SUCCESS
        }
        Some((seq, problem)) => {
            if json {
                println!(
                    "{}",
                    json!({"ok": false, "chain": chain, "first_bad_seq": seq, "problem": problem})
                );
            } else {
                println!("WITNESS FAILURE at entry {seq}: {problem}");
            }
            ExitCode::FAILURE
        }
    }
}

/// `valvctl audit witness --file FILE`: check and append.
pub async fn run(
    valv: &Valv,
    json: bool,
    operator_chain: bool,
    path: &Path,
) -> anyhow::Result<ExitCode> {
    let key = valv
        .audit()
        .get_audit_key(pb::GetAuditKeyRequest { operator_chain })
        .await?
        .into_inner();
    let existing = load(path)?;
    if let Some(w) = &existing {
        if w.chain != key.chain {
            bail!(
                "{} witnesses chain {}, the vault answered for chain {}",
                path.display(),
                w.chain,
                key.chain
            );
        }
        if w.public_key != key.public_key {
            let problem = format!(
                "the chain's public key changed since the witness pinned it ({} then, {} now)",
                hex(&w.public_key),
                hex(&key.public_key)
            );
            if json {
                println!(
                    "{}",
                    json!({"ok": false, "chain": key.chain, "problem": problem})
                );
            } else {
                println!("WITNESS FAILURE: {problem}");
            }
            return Ok(ExitCode::FAILURE);
        }
    }
    let (entries, checkpoints) = read_chain(valv, operator_chain).await?;
    let kept = existing
        .as_ref()
        .map(|w| w.kept.as_slice())
        .unwrap_or_default();
    let w = witness(key.chain, &entries, &checkpoints, kept, &key.public_key);
    if w.verification.ok() {
        let mut lines = Vec::new();
        if existing.is_none() {
            let now = crate::output::now_ms();
            lines.push(json!({"type": "witness", "chain": key.chain,
                              "public_key": hex(&key.public_key), "pinned_unix_ms": now}));
        }
        lines.extend(w.new.iter().map(checkpoint_json));
        append(path, &lines)?;
    }
    Ok(report(json, key.chain, &w, w.new.len()))
}

/// Checks a chain against a witness file without adding to it.
pub fn check(
    json: bool,
    path: &Path,
    entries: &[pb::AuditEntry],
    checkpoints: &[pb::AuditCheckpoint],
    public_key: Option<&[u8]>,
) -> anyhow::Result<ExitCode> {
    let Some(file) = load(path)? else {
        bail!("{}: no such witness file", path.display());
    };
    if public_key.is_some_and(|k| k != file.public_key.as_slice()) {
        bail!("--public-key is not the key the witness pinned");
    }
    let w = witness(
        file.chain,
        entries,
        checkpoints,
        &file.kept,
        &file.public_key,
    );
    Ok(report(json, file.chain, &w, 0))
}
