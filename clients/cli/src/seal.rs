//! `valvctl unseal`, `valvctl seal` and `valvctl seal-status`: the sealed start for operators
//! and share holders. A share is read from a file or stdin, never from the command line (where
//! `ps` and shell history would keep it).

use std::{io::IsTerminal, path::PathBuf, process::ExitCode};

use anyhow::Context;
use serde_json::json;
use valv_client::{Valv, pb};
use zeroize::Zeroizing;

/// Prints a seal status.
fn show(json: bool, s: &pb::SealStatus) {
    if json {
        println!(
            "{}",
            json!({
                "sealed": s.sealed,
                "threshold": s.threshold,
                "shares": s.shares,
                "progress": s.progress,
                "root_provider": s.root_provider,
                "new_shares_threshold": s.new_shares_threshold,
                "new_shares_confirmed": s.new_shares_confirmed,
            })
        );
    } else if s.sealed {
        println!(
            "sealed: {} of {} shares given, {} needed",
            s.progress, s.shares, s.threshold
        );
    } else if s.new_shares_threshold > 0 {
        println!(
            "unsealed (root key provider: {}); new shares confirmed: {} of {} needed — the old shares work until then",
            s.root_provider, s.new_shares_confirmed, s.new_shares_threshold
        );
    } else {
        println!("unsealed (root key provider: {})", s.root_provider);
    }
}

/// Prints new unseal shares once, as `valv operator init` does.
pub fn print_new_shares(shares: &[String]) {
    if shares.is_empty() {
        return;
    }
    eprintln!(
        "Below are the {} NEW unseal key shares. They are shown this once and stored nowhere: give each to a different person now.\n\
         The old shares keep working until enough new ones are confirmed: each holder runs `valvctl unseal --confirm-new-share` with theirs.",
        shares.len()
    );
    for (i, share) in shares.iter().enumerate() {
        println!("new share {}: {share}", i + 1);
    }
}

fn read_share(file: Option<&PathBuf>) -> anyhow::Result<Zeroizing<String>> {
    let text = match file {
        Some(path) => Zeroizing::new(
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?,
        ),
        None => {
            if std::io::stdin().is_terminal() {
                eprint!("unseal key share: ");
            }
            let mut line = Zeroizing::new(String::new());
            std::io::stdin().read_line(&mut line)?;
            line
        }
    };
    // The share may follow `share N: ` as `valv operator init` printed it.
    let share = text
        .trim()
        .rsplit(' ')
        .next()
        .unwrap_or_default()
        .to_owned();
    Ok(Zeroizing::new(share))
}

/// `valvctl unseal [--share-file F] [--reset | --confirm-new-share]`.
pub async fn unseal(
    valv: &Valv,
    json: bool,
    share_file: Option<&PathBuf>,
    reset: bool,
    confirm_new: bool,
) -> anyhow::Result<ExitCode> {
    let share = read_share(share_file)?;
    if confirm_new {
        let status = valv
            .seal()
            .confirm_new_share(pb::ConfirmNewShareRequest {
                share: share.to_string(),
            })
            .await?
            .into_inner();
        show(json, &status);
        return Ok(ExitCode::SUCCESS);
    }
    let status = valv
        .seal()
        .unseal(pb::UnsealRequest {
            share: share.to_string(),
            reset,
        })
        .await?
        .into_inner();
    show(json, &status);
    Ok(ExitCode::SUCCESS)
}

/// `valvctl seal` (operator).
pub async fn seal(valv: &Valv, json: bool) -> anyhow::Result<ExitCode> {
    let status = valv.seal().seal(pb::SealRequest {}).await?.into_inner();
    show(json, &status);
    Ok(ExitCode::SUCCESS)
}

/// `valvctl seal-status`.
pub async fn status(valv: &Valv, json: bool) -> anyhow::Result<ExitCode> {
    let status = valv
        .seal()
        .get_seal_status(pb::GetSealStatusRequest {})
        .await?
        .into_inner();
    show(json, &status);
    Ok(ExitCode::SUCCESS)
}
