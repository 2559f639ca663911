//! `valvctl consent …`, `valvctl purpose text …`, `valvctl tenant settings` and
//! `valvctl receipt …`: consents, consent texts, the age of consent, and consent receipts
//! (verified offline with the same code the server uses, `valv_proto::receipt`).

use std::{io::Read, path::PathBuf, process::ExitCode};

use anyhow::Context;
use clap::{Subcommand, ValueEnum};
use serde_json::json;
use valv_client::{Valv, pb};

use crate::{
    args::{SubjectArgs, subject_ref},
    output::{enum_word, now_ms, print, time_text},
    table,
};

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

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Method {
    Bankid,
    SmsOtp,
    Signature,
    Oral,
    Paper,
    Web,
}

#[derive(Debug, Subcommand)]
pub enum ConsentCmd {
    /// Record a consent.
    Grant {
        #[command(flatten)]
        subject: SubjectArgs,
        /// Purpose.
        #[arg(long)]
        purpose: String,
        /// Consent text version agreed to.
        #[arg(long, default_value_t = 1)]
        text_version: u32,
        /// How the subject confirmed.
        #[arg(long, value_enum)]
        method: Method,
        /// Valid for this many days (default: the purpose's default validity).
        #[arg(long)]
        valid_days: Option<u64>,
        /// Where consent was collected, e.g. patient-portal.
        #[arg(long, default_value = "")]
        channel: String,
        /// File with the proof (signed document, BankID transaction id …); stored encrypted.
        #[arg(long)]
        evidence_file: Option<std::path::PathBuf>,
        /// Media type of the evidence file.
        #[arg(long, default_value = "")]
        evidence_media_type: String,
        /// For a subject under the age of consent: the guardian's identifier (same domain).
        #[arg(long, conflicts_with = "guardian_pseudonym")]
        guardian: Option<String>,
        /// … or the guardian's pseudonym in the domain.
        #[arg(long)]
        guardian_pseudonym: Option<String>,
        /// Write the signed receipt (JSON) to this file instead of standard output.
        #[arg(long)]
        receipt_out: Option<std::path::PathBuf>,
    },
    /// Withdraw a consent (effective for the very next re-identification).
    Withdraw {
        #[command(flatten)]
        subject: SubjectArgs,
        /// Purpose.
        #[arg(long)]
        purpose: String,
    },
    /// Current consents by pseudonym (one JSON line each with --json), filtered.
    List {
        /// Only this purpose.
        #[arg(long, default_value = "")]
        purpose: String,
        /// Only consents still granted that end within this many days (to ask again).
        #[arg(long)]
        expiring_within_days: Option<i64>,
        /// Only withdrawn consents.
        #[arg(long, conflicts_with = "expired")]
        withdrawn: bool,
        /// Only expired consents.
        #[arg(long)]
        expired: bool,
        /// Only consents to a text version below this.
        #[arg(long, default_value_t = 0)]
        text_version_below: u32,
    },
    /// Counts per purpose: granted, withdrawn, expired.
    Stats,
    /// Show a subject's consent history.
    History {
        #[command(flatten)]
        subject: SubjectArgs,
        /// Only this purpose.
        #[arg(long, default_value = "")]
        purpose: String,
    },
}

fn event_json(e: &pb::ConsentEvent) -> serde_json::Value {
    json!({"seq": e.seq, "purpose": e.purpose, "kind": e.kind().as_str_name(), "text_version": e.text_version,
           "method": e.method().as_str_name(), "at_unix_ms": e.at_unix_ms, "valid_until_unix_ms": e.valid_until_unix_ms,
           "recorded_by": e.recorded_by})
}

/// `consent …`.
pub(crate) async fn run_consent(
    valv: &Valv,
    json: bool,
    cmd: ConsentCmd,
) -> anyhow::Result<ExitCode> {
    match cmd {
        ConsentCmd::Grant {
            subject,
            purpose,
            text_version,
            method,
            valid_days,
            channel,
            evidence_file,
            evidence_media_type,
            guardian,
            guardian_pseudonym,
            receipt_out,
        } => {
            let method = match method {
                Method::Bankid => pb::ConsentMethod::Bankid,
                Method::SmsOtp => pb::ConsentMethod::SmsOtp,
                Method::Signature => pb::ConsentMethod::Signature,
                Method::Oral => pb::ConsentMethod::Oral,
                Method::Paper => pb::ConsentMethod::Paper,
                Method::Web => pb::ConsentMethod::Web,
            };
            let valid_until_unix_ms = match valid_days {
                Some(days) => {
                    now_ms() + i64::try_from(days).unwrap_or(i64::MAX / 86_400_000) * 86_400_000
                }
                None => 0,
            };
            let evidence = match &evidence_file {
                Some(path) => {
                    std::fs::read(path).with_context(|| format!("reading {}", path.display()))?
                }
                None => Vec::new(),
            };
            let guardian = match (guardian, guardian_pseudonym) {
                (Some(i), _) => Some(pb::subject_ref::By::Identifier(i)),
                (None, Some(p)) => Some(pb::subject_ref::By::Pseudonym(p)),
                (None, None) => None,
            }
            .map(|by| pb::SubjectRef {
                domain: String::new(),
                by: Some(by),
            });
            let r = valv
                .consents()
                .grant_consent(pb::GrantConsentRequest {
                    subject: Some(subject_ref(subject)),
                    purpose,
                    text_version,
                    method: method.into(),
                    valid_until_unix_ms,
                    channel,
                    evidence,
                    evidence_media_type,
                    guardian,
                })
                .await?
                .into_inner();
            let e = r.event.unwrap_or_default();
            if let Some(path) = &receipt_out {
                std::fs::write(path, format!("{}\n", r.receipt))
                    .with_context(|| format!("writing {}", path.display()))?;
            }
            let mut value = event_json(&e);
            value["receipt_id"] = json!(e.receipt_id);
            if receipt_out.is_none() {
                value["receipt"] = json!(r.receipt);
            }
            print(json, value, || {
                let mut text = format!(
                    "consent granted for {} (event {}, receipt {})",
                    e.purpose, e.seq, e.receipt_id
                );
                if receipt_out.is_none() {
                    text.push('\n');
                    text.push_str(&r.receipt);
                }
                text
            });
        }
        ConsentCmd::List {
            purpose,
            expiring_within_days,
            withdrawn,
            expired,
            text_version_below,
        } => {
            let status = if withdrawn {
                pb::ConsentStatus::Withdrawn
            } else if expired {
                pb::ConsentStatus::Expired
            } else {
                pb::ConsentStatus::Unspecified
            };
            let (expiring_after_unix_ms, expiring_before_unix_ms) = match expiring_within_days {
                Some(days) => (now_ms(), now_ms() + days.saturating_mul(86_400_000)),
                None => (0, 0),
            };
            let mut page_token = String::new();
            let mut lines = vec!["SUBJECT\tPURPOSE\tSTATUS\tVALID UNTIL (unix ms)".to_owned()];
            loop {
                let r = valv
                    .consents()
                    .list_consents(pb::ListConsentsRequest {
                        purpose: purpose.clone(),
                        status: status.into(),
                        expiring_after_unix_ms,
                        expiring_before_unix_ms,
                        text_version_below,
                        page_size: 1000,
                        page_token,
                        ..Default::default()
                    })
                    .await?
                    .into_inner();
                for c in &r.consents {
                    let e = c.latest.clone().unwrap_or_default();
                    if json {
                        println!(
                            "{}",
                            json!({"subject_ref": c.subject_ref, "purpose": c.purpose,
                               "status": c.status().as_str_name(), "domain": e.subject_domain,
                               "pseudonym": e.subject_pseudonym, "text_version": e.text_version,
                               "valid_until_unix_ms": e.valid_until_unix_ms})
                        );
                    } else {
                        lines.push(format!(
                            "{}\t{}\t{}\t{}",
                            if e.subject_pseudonym.is_empty() {
                                &c.subject_ref
                            } else {
                                &e.subject_pseudonym
                            },
                            c.purpose,
                            c.status()
                                .as_str_name()
                                .trim_start_matches("CONSENT_STATUS_")
                                .to_lowercase(),
                            e.valid_until_unix_ms
                        ));
                    }
                }
                if r.next_page_token.is_empty() {
                    break;
                }
                page_token = r.next_page_token;
            }
            if !json {
                println!("{}", table::align(&lines.join("\n")));
            }
        }
        ConsentCmd::Stats => {
            let r = valv
                .consents()
                .consent_stats(pb::ConsentStatsRequest {})
                .await?
                .into_inner();
            for p in &r.purposes {
                print(
                    json,
                    json!({"purpose": p.purpose, "granted": p.granted, "withdrawn": p.withdrawn, "expired": p.expired}),
                    || {
                        format!(
                            "{}\tgranted {}\twithdrawn {}\texpired {}",
                            p.purpose, p.granted, p.withdrawn, p.expired
                        )
                    },
                );
            }
        }
        ConsentCmd::Withdraw { subject, purpose } => {
            let r = valv
                .consents()
                .withdraw_consent(pb::WithdrawConsentRequest {
                    subject: Some(subject_ref(subject)),
                    purpose,
                })
                .await?
                .into_inner();
            let e = r.event.unwrap_or_default();
            print(json, event_json(&e), || {
                format!("consent withdrawn for {} (event {})", e.purpose, e.seq)
            });
        }
        ConsentCmd::History { subject, purpose } => {
            let r = valv
                .consents()
                .get_consent_history(pb::GetConsentHistoryRequest {
                    subject: Some(subject_ref(subject)),
                    purpose,
                })
                .await?
                .into_inner();
            let list: Vec<_> = r
                .purposes
                .iter()
                .map(|p| json!({"purpose": p.purpose, "status": p.status().as_str_name(), "events": p.events.iter().map(event_json).collect::<Vec<_>>()}))
                .collect();
            print(json, json!(list), || {
                let mut lines = Vec::new();
                for p in &r.purposes {
                    lines.push(format!(
                        "{}\t{}",
                        p.purpose,
                        enum_word(p.status().as_str_name(), "CONSENT_STATUS_")
                    ));
                    for e in &p.events {
                        lines.push(format!(
                            "  #{}\t{}\ttext v{}\t{}\t{}\tuntil {}",
                            e.seq,
                            enum_word(e.kind().as_str_name(), "CONSENT_EVENT_KIND_"),
                            e.text_version,
                            enum_word(e.method().as_str_name(), "CONSENT_METHOD_"),
                            time_text(e.at_unix_ms),
                            time_text(e.valid_until_unix_ms)
                        ));
                    }
                }
                lines.join("\n")
            });
        }
    }
    Ok(ExitCode::SUCCESS)
}
