//! `valvctl purpose text …`, `valvctl tenant settings` and `valvctl receipt …`: consent texts,
//! the age of consent, and consent receipts (verified offline with the same code the server
//! uses, `valv_proto::receipt`).

use std::{io::Read, path::PathBuf, process::ExitCode};

use anyhow::Context;
use clap::Subcommand;
use serde_json::json;
use valv_client::{Valv, pb};

/// `valvctl purpose text …`.
#[derive(Debug, Subcommand)]
pub enum TextCmd {
    /// Add the next version of a purpose's consent text (from --file, else stdin).
    Add {
        /// Purpose.
        purpose: String,
        /// File holding the text (UTF-8).
        #[arg(long)]
        file: Option<PathBuf>,
    },
    /// Every version of a purpose's consent text, with its SHA-256.
    List {
        /// Purpose.
        purpose: String,
    },
}

/// `valvctl receipt …`.
#[derive(Debug, Subcommand)]
pub enum ReceiptCmd {
    /// Verify a consent receipt: offline against --public-key (hex, or a file from `receipt
    /// key`), else online (signature and the consent the vault holds).
    Verify {
        /// The receipt as issued (JSON).
        file: PathBuf,
        /// The tenant's receipt public key: hex, or a file holding it.
        #[arg(long)]
        public_key: Option<String>,
    },
    /// The tenant's receipt public key (hex), for offline verification.
    Key,
}

fn text_json(t: &pb::ConsentText) -> serde_json::Value {
    json!({"purpose": t.purpose, "version": t.version, "sha256": t.sha256, "text": t.text})
}

/// Runs `valvctl purpose text …`.
pub async fn run_text(valv: &Valv, json: bool, cmd: TextCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        TextCmd::Add { purpose, file } => {
            let text = match file {
                Some(path) => std::fs::read_to_string(&path)
                    .with_context(|| format!("reading {}", path.display()))?,
                None => {
                    let mut text = String::new();
                    std::io::stdin().read_to_string(&mut text)?;
                    text
                }
            };
            let t = valv
                .admin()
                .add_consent_text(pb::AddConsentTextRequest { purpose, text })
                .await?
                .into_inner()
                .text
                .unwrap_or_default();
            if json {
                println!("{}", text_json(&t));
            } else {
                println!(
                    "{} text version {} added (sha256 {})",
                    t.purpose, t.version, t.sha256
                );
            }
        }
        TextCmd::List { purpose } => {
            let texts = valv
                .admin()
                .list_consent_texts(pb::ListConsentTextsRequest { purpose })
                .await?
                .into_inner()
                .texts;
            for t in &texts {
                if json {
                    println!("{}", text_json(t));
                } else {
                    println!(
                        "v{}  {}  {}",
                        t.version,
                        t.sha256,
                        t.text.lines().next().unwrap_or("")
                    );
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs `valvctl tenant settings`.
pub async fn run_settings(
    valv: &Valv,
    json: bool,
    age_of_consent: Option<u32>,
) -> anyhow::Result<ExitCode> {
    let s = match age_of_consent {
        Some(age) => valv
            .admin()
            .set_tenant_settings(pb::SetTenantSettingsRequest {
                age_of_consent: age,
            })
            .await?
            .into_inner(),
        None => valv
            .admin()
            .get_tenant_settings(pb::GetTenantSettingsRequest {})
            .await?
            .into_inner(),
    };
    if json {
        println!("{}", json!({"age_of_consent": s.age_of_consent}));
    } else {
        println!("age of consent: {}", s.age_of_consent);
    }
    Ok(ExitCode::SUCCESS)
}

fn report(json: bool, valid: bool, receipt_id: &str, problem: &str, status: &str) -> ExitCode {
    if json {
        println!(
            "{}",
            json!({"valid": valid, "receipt_id": receipt_id, "problem": problem, "current_status": status})
        );
    } else if valid {
        println!(
            "receipt {receipt_id}: valid{}",
            if status.is_empty() {
                String::new()
            } else {
                format!(" (consent now: {status})")
            }
        );
    } else {
        println!("receipt NOT valid: {problem}");
    }
    if valid {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// Offline: the receipt's bytes and signature against a public key; no connection.
pub fn verify_offline(json: bool, file: &PathBuf, key: &str) -> anyhow::Result<ExitCode> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let key_text = if std::path::Path::new(key).is_file() {
        std::fs::read_to_string(key).with_context(|| format!("reading {key}"))?
    } else {
        key.to_owned()
    };
    let public_key = hex::decode(key_text.trim()).context("the public key is not hex")?;
    Ok(match valv_proto::receipt::verify(&text, &public_key) {
        Ok(r) => report(json, true, &r.body.receipt_id, "", ""),
        Err(problem) => report(json, false, "", &problem.to_string(), ""),
    })
}

/// Runs `valvctl receipt …` online.
pub async fn run_receipt(valv: &Valv, json: bool, cmd: ReceiptCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        ReceiptCmd::Key => {
            let k = valv
                .consents()
                .get_receipt_key(pb::GetReceiptKeyRequest {})
                .await?
                .into_inner();
            if json {
                println!(
                    "{}",
                    json!({"tenant": k.tenant, "public_key": hex::encode(&k.public_key), "key_id": k.key_id})
                );
            } else {
                println!("{}", hex::encode(&k.public_key));
            }
            Ok(ExitCode::SUCCESS)
        }
        ReceiptCmd::Verify { file, .. } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            let v = valv
                .consents()
                .verify_receipt(pb::VerifyReceiptRequest { receipt: text })
                .await?
                .into_inner();
            let status = match v.current_status() {
                pb::ConsentStatus::Granted => "granted",
                pb::ConsentStatus::Withdrawn => "withdrawn",
                pb::ConsentStatus::Expired => "expired",
                pb::ConsentStatus::None => "none",
                pb::ConsentStatus::Unspecified => "",
            };
            Ok(report(json, v.valid, &v.receipt_id, &v.problem, status))
        }
    }
}
