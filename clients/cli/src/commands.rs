//! The command tree and its dispatch: each command family runs in its own module (`admin`,
//! `pseudonym`, `consent`, `subjects`, `keys`, `audit`, …); shared helpers are in `output` and
//! `args`.

use std::process::ExitCode;

use clap::Subcommand;
use valv_client::Valv;

use crate::{
    Cli,
    admin::{self, DomainCmd, PrincipalCmd, PurposeCmd, TenantCmd},
    approval, audit, bench, config,
    consent::{self, ConsentCmd},
    keys,
    output::print,
    policy,
    pseudonym::{self, InputArgs},
    retention, seal, sharing, subjects,
};
use serde_json::json;

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Tenants: create one (operator), its settings (tenant-admin), its record of processing
    /// (tenant-admin, auditor).
    #[command(subcommand)]
    Tenant(TenantCmd),
    /// Pseudonymisation domains (tenant-admin).
    #[command(subcommand)]
    Domain(DomainCmd),
    /// Purposes of processing (tenant-admin).
    #[command(subcommand)]
    Purpose(PurposeCmd),
    /// Principals and their tokens (tenant-admin).
    #[command(subcommand)]
    Principal(PrincipalCmd),
    /// Pseudonymise (tokenizer): identifiers, CSV columns, or JSON-lines records.
    ///
    /// Identifiers (none given: one per line on stdin):
    ///   valvctl pseudonymise --domain patients 19520903-5525 200311161632
    ///
    /// CSV (the header row names the columns; other columns pass unchanged):
    ///   valvctl pseudonymise --domain patients --column ssn --column phone=phones in.csv > out.csv
    ///
    /// JSON lines, under a record policy (see `valvctl policy`):
    ///   valvctl pseudonymise --policy visits in.jsonl > out.jsonl
    ///
    /// Files stream in constant memory, with a progress bar when stderr is a terminal. Refused
    /// rows are left out of the output and listed on stderr by line and rule (never the value);
    /// the exit code is 2 when any was refused.
    #[command(verbatim_doc_comment)]
    Pseudonymise {
        #[command(flatten)]
        input: InputArgs,
    },
    /// Re-identify for a purpose (reidentifier): pseudonyms, CSV columns, or JSON-lines records.
    ///
    /// The same forms as `pseudonymise`, plus --purpose:
    ///   valvctl reidentify --purpose treatment --domain patients --column ssn out.csv > back.csv
    ///
    /// Cells and fields that are not released keep their pseudonym; the summary on stderr counts
    /// them by verdict (no-consent, not-found, …); the exit code is 2 when any was not released.
    #[command(verbatim_doc_comment)]
    Reidentify {
        /// Purpose the identifiers are needed for.
        #[arg(long)]
        purpose: String,
        #[command(flatten)]
        input: InputArgs,
    },
    /// Translate pseudonyms into a recipient's under a sharing agreement (translator).
    ///
    /// Pseudonyms as arguments or stdin lines, or CSV columns of a file; no identifier leaves
    /// the vault:
    ///   valvctl translate --agreement registry-study --column patient extract.csv > for-registry.csv
    ///
    /// Files stream in constant memory, with a progress bar when stderr is a terminal. Rows with
    /// a cell that is not translated are left out (they would carry the sender's pseudonym) and
    /// counted on stderr by verdict; the exit code is 2 when any was not translated.
    #[command(verbatim_doc_comment)]
    Translate(sharing::TranslateArgs),
    /// Sharing agreements: which domain's pseudonyms may be translated into which recipient's
    /// (tenant-admin).
    #[command(subcommand)]
    Sharing(sharing::SharingCmd),
    /// The vault's limits: items per request, request size, identifier length (any principal).
    Limits,
    /// Record policies for JSON records (tenant-admin).
    #[command(subcommand)]
    Policy(policy::PolicyCmd),
    /// Print a shell completion script, e.g. `valvctl completion bash > /etc/bash_completion.d/valvctl`.
    Completion {
        /// Shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Consents (consent-manager).
    #[command(subcommand)]
    Consent(ConsentCmd),
    /// The audit log: export, public key, verify (auditor; operators with --operator-chain).
    #[command(subcommand)]
    Audit(audit::AuditCmd),
    /// Operations waiting for a second person under the two-person rule: list, approve, refuse.
    #[command(subcommand)]
    Approval(approval::ApprovalCmd),
    /// Claim an enrolment code: prints the principal's bearer token (shown once). No token
    /// needed: the code is the credential, and it works once.
    Enrol {
        /// The code (`valvenrol_…`), else read from stdin.
        code: Option<String>,
        /// Write the token to this file (mode 0600) instead of printing it.
        #[arg(long)]
        token_out: Option<std::path::PathBuf>,
    },
    /// Encryption key versions and rotation (key-officer).
    #[command(subcommand)]
    Keys(keys::KeysCmd),
    /// Background jobs such as key rotation (key-officer).
    #[command(subcommand)]
    Jobs(keys::JobsCmd),
    /// Give one unseal key share to a sealed vault (no token needed). The share is read from
    /// --share-file, else from stdin; never pass it on the command line.
    Unseal {
        /// File holding the share (`valv-share:…`).
        #[arg(long)]
        share_file: Option<std::path::PathBuf>,
        /// Forget the shares given so far, then count this one (a reset needs a share of this
        /// vault).
        #[arg(long, conflicts_with = "confirm_new_share")]
        reset: bool,
        /// Give back one of the NEW shares of a root-key rotation that replaced them (on an
        /// unsealed vault); when enough are confirmed, only the new shares unseal.
        #[arg(long)]
        confirm_new_share: bool,
    },
    /// Operator: seal the vault now; every key leaves memory until the shares are given again.
    Seal,
    /// Whether the vault is sealed, and how many shares it has been given (no token needed).
    SealStatus,
    /// Retention: what is due for deletion (dry run) and running the reaper now.
    #[command(subcommand)]
    Retention(retention::RetentionCmd),
    /// Requests from data subjects: export, erase, restrict (subject-officer).
    #[command(subcommand)]
    Subject(subjects::SubjectCmd),
    /// Consent receipts: verify one (offline with --public-key, else online), export the key.
    #[command(subcommand)]
    Receipt(consent::ReceiptCmd),
    /// Load generator: throughput and latency figures for BENCHMARKS.md.
    Bench(bench::BenchArgs),
}

/// Connects with the global flags, the environment and the profile file.
pub async fn connect(cli: &Cli) -> anyhow::Result<Valv> {
    Ok(Valv::connect(config::client_config(cli)?).await?)
}

/// Runs the command; the exit code is non-zero when items were refused.
pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    // Offline verification makes no connection.
    if let Command::Audit(audit::AuditCmd::Verify {
        file: Some(file),
        public_key,
        witness,
        ..
    }) = &cli.command
    {
        return audit::verify_offline(
            cli.json,
            file,
            public_key.as_deref().unwrap_or_default(),
            witness.as_deref(),
        );
    }
    if let Command::Receipt(consent::ReceiptCmd::Verify {
        file,
        public_key: Some(key),
    }) = &cli.command
    {
        return consent::verify_offline(cli.json, file, key);
    }
    if let Command::Completion { shell } = &cli.command {
        use clap::CommandFactory;
        clap_complete::generate(
            *shell,
            &mut Cli::command(),
            "valvctl",
            &mut std::io::stdout(),
        );
        return Ok(ExitCode::SUCCESS);
    }
    let valv = connect(&cli).await?;
    let json = cli.json;
    match cli.command {
        Command::Completion { .. } => {}
        Command::Policy(cmd) => return policy::run(&valv, json, cmd).await,
        Command::Limits => {
            let l = valv.limits().await?;
            print(
                json,
                json!({"max_batch": l.max_batch, "max_message_bytes": l.max_message_bytes,
                       "max_identifier_bytes": l.max_identifier_bytes}),
                || {
                    format!(
                        "items per request\t{}\nrequest size (bytes)\t{}\nidentifier length (bytes)\t{}",
                        l.max_batch, l.max_message_bytes, l.max_identifier_bytes
                    )
                },
            );
        }
        Command::Receipt(cmd) => return consent::run_receipt(&valv, json, cmd).await,
        Command::Subject(cmd) => return subjects::run(&valv, json, cmd).await,
        Command::Retention(cmd) => return retention::run(&valv, json, cmd).await,
        Command::Audit(cmd) => return audit::run(&valv, json, cmd).await,
        Command::Keys(cmd) => return keys::run_keys(&valv, json, cmd).await,
        Command::Approval(cmd) => return approval::run(&valv, json, cmd).await,
        Command::Enrol { code, token_out } => {
            return admin::enrol(&valv, json, code, token_out).await;
        }
        Command::Jobs(cmd) => return keys::run_jobs(&valv, json, cmd).await,
        Command::Unseal {
            share_file,
            reset,
            confirm_new_share,
        } => {
            return seal::unseal(&valv, json, share_file.as_ref(), reset, confirm_new_share).await;
        }
        Command::Seal => return seal::seal(&valv, json).await,
        Command::SealStatus => return seal::status(&valv, json).await,
        Command::Tenant(cmd) => return admin::run_tenant(&valv, json, cmd).await,
        Command::Domain(cmd) => return admin::run_domain(&valv, json, cmd).await,
        Command::Purpose(cmd) => return admin::run_purpose(&valv, json, cmd).await,
        Command::Principal(cmd) => return admin::run_principal(&valv, json, cmd).await,
        Command::Pseudonymise { input } => {
            return pseudonym::pseudonymise(&valv, json, input).await;
        }
        Command::Reidentify { purpose, input } => {
            return pseudonym::reidentify(&valv, json, purpose, input).await;
        }
        Command::Consent(cmd) => return consent::run_consent(&valv, json, cmd).await,
        Command::Translate(input) => return sharing::translate(&valv, json, input).await,
        Command::Sharing(cmd) => return sharing::run(&valv, json, cmd).await,
        Command::Bench(args) => bench::run(&valv, args).await?,
    }
    Ok(ExitCode::SUCCESS)
}
