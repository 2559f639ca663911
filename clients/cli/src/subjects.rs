//! `valvctl subject …` for subject officers: access requests (export to a file), erasure, and
//! restriction of processing.

use std::{path::PathBuf, process::ExitCode};

use anyhow::Context;
use clap::Subcommand;
use serde_json::json;
use valv_client::{Valv, pb};

use crate::args::{SubjectArgs, subject_ref};

/// `valvctl subject …`.
#[derive(Debug, Subcommand)]
pub enum SubjectCmd {
    /// Access request (GDPR Art. 15): every pseudonym, consent and audit entry about the subject,
    /// as one JSON document.
    Export {
        #[command(flatten)]
        subject: SubjectArgs,
        /// Write the document here (mode 0600) instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Erasure (Art. 17): mappings in every domain, consents and evidence; a tombstone remains.
    Erase {
        #[command(flatten)]
        subject: SubjectArgs,
    },
    /// Restriction (Art. 18): every re-identification of the subject is refused.
    Restrict {
        #[command(flatten)]
        subject: SubjectArgs,
        /// Why (no identifiers).
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// Lift a restriction.
    Lift {
        #[command(flatten)]
        subject: SubjectArgs,
    },
    /// Subject events for downstream systems (one JSON line each): consent granted / withdrawn /
    /// expired, restriction, erasure — by domain and pseudonym.
    Events {
        /// Only events after this sequence number (the last one you processed).
        #[arg(long, default_value_t = 0)]
        after: u64,
        /// Keep running and print new events as they happen.
        #[arg(long)]
        follow: bool,
    },
}

/// Runs `valvctl subject …`.
pub async fn run(valv: &Valv, json: bool, cmd: SubjectCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        SubjectCmd::Export { subject, out } => {
            let doc = valv
                .subjects()
                .export_subject(pb::ExportSubjectRequest {
                    subject: Some(subject_ref(subject)),
                })
                .await?
                .into_inner()
                .document;
            match out {
                Some(path) => {
                    use std::{io::Write, os::unix::fs::OpenOptionsExt};
                    let mut f = std::fs::OpenOptions::new()
                        .write(true)
                        .create(true)
                        .truncate(true)
                        .mode(0o600)
                        .open(&path)
                        .with_context(|| format!("writing {}", path.display()))?;
                    f.write_all(doc.as_bytes())?;
                    f.write_all(b"\n")?;
                    eprintln!("access-request document written to {}", path.display());
                }
                None => println!("{doc}"),
            }
        }
        SubjectCmd::Erase { subject } => {
            let t = valv
                .subjects()
                .erase_subject(pb::EraseSubjectRequest {
                    subject: Some(subject_ref(subject)),
                })
                .await?
                .into_inner()
                .tombstone
                .unwrap_or_default();
            if json {
                println!(
                    "{}",
                    json!({"subject_ref": t.subject_ref, "erased_unix_ms": t.erased_unix_ms,
                           "mappings": t.mappings, "consent_events": t.consent_events,
                           "evidence": t.evidence})
                );
            } else {
                println!(
                    "{} erased: {} mappings, {} consent events, {} evidence records",
                    t.subject_ref, t.mappings, t.consent_events, t.evidence
                );
            }
        }
        SubjectCmd::Restrict { subject, reason } => {
            let r = valv
                .subjects()
                .restrict_subject(pb::RestrictSubjectRequest {
                    subject: Some(subject_ref(subject)),
                    reason,
                })
                .await?
                .into_inner();
            if json {
                println!(
                    "{}",
                    json!({"subject_ref": r.subject_ref, "restricted": true})
                );
            } else {
                println!("{} restricted", r.subject_ref);
            }
        }
        SubjectCmd::Events { after, follow } => {
            let mut stream = valv
                .subjects()
                .watch_subject_events(pb::WatchSubjectEventsRequest {
                    after_seq: after,
                    follow,
                })
                .await?
                .into_inner();
            while let Some(e) = stream.message().await? {
                let kind = e
                    .kind()
                    .as_str_name()
                    .trim_start_matches("SUBJECT_EVENT_KIND_")
                    .to_lowercase();
                if json {
                    println!(
                        "{}",
                        json!({"seq": e.seq, "at_unix_ms": e.at_unix_ms, "kind": kind,
                               "subject_ref": e.subject_ref, "purpose": e.purpose,
                               "domain": e.domain, "pseudonym": e.pseudonym})
                    );
                } else {
                    println!(
                        "{}\t{}\t{}\t{}\t{}",
                        e.seq, kind, e.domain, e.pseudonym, e.purpose
                    );
                }
            }
        }
        SubjectCmd::Lift { subject } => {
            let r = valv
                .subjects()
                .lift_restriction(pb::LiftRestrictionRequest {
                    subject: Some(subject_ref(subject)),
                })
                .await?
                .into_inner();
            if json {
                println!("{}", json!({"lifted": r.lifted}));
            } else {
                println!(
                    "{}",
                    if r.lifted {
                        "restriction lifted"
                    } else {
                        "was not restricted"
                    }
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
