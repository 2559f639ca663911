//! The commands: admin (tenants, domains, purposes, principals), pseudonymise, re-identify
//! (single items, CSV columns, JSON-lines records), consents, and the load generator.

use std::{io::BufRead, process::ExitCode};

use anyhow::{Context, bail};
use clap::{Subcommand, ValueEnum};
use serde_json::json;
use valv_client::{Valv, pb};

use crate::{
    Cli, audit, bench,
    bulk::{self, csv::Column},
    config, consent, keys, policy, retention, seal, subjects, table,
};

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Tenants (operator).
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
        /// Forget the shares given so far first.
        #[arg(long)]
        reset: bool,
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
    bulk: BulkArgs,
    /// The items; or, with --column/--policy, the input file (none or `-`: stdin).
    args: Vec<String>,
}

impl InputArgs {
    /// A file of CSV rows or JSON lines rather than single items.
    fn is_file(&self) -> bool {
        self.policy.is_some() || !self.columns.is_empty()
    }
}

/// Batching of file input.
#[derive(Debug, Clone, clap::Args)]
pub struct BulkArgs {
    /// Rows or records per batch.
    #[arg(long, default_value_t = 2000)]
    batch_rows: usize,
    /// Batches in flight at once.
    #[arg(long, default_value_t = 4)]
    in_flight: usize,
}

#[derive(Debug, Subcommand)]
pub enum TenantCmd {
    /// Show or change the caller's tenant settings (tenant-admin).
    Settings {
        /// Below this age (from the birth date in personnummer, fødselsnummer, CPR, HETU) a
        /// consent needs a guardian.
        #[arg(long)]
        age_of_consent: Option<u32>,
    },
    /// Create a tenant; prints its first tenant-admin token (shown once).
    Create {
        /// Tenant name.
        name: String,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Kind {
    Opaque,
    Email,
    Phone,
    SePersonnummer,
    NoFodselsnummer,
    DkCpr,
    FiHetu,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum SchemeArg {
    Keyed,
    Random,
    FormatPreserving,
}

#[derive(Debug, Subcommand)]
pub enum DomainCmd {
    /// Create a domain.
    Create {
        /// Domain name, e.g. patients.research.
        name: String,
        /// Identifier kind.
        #[arg(long, value_enum)]
        kind: Kind,
        /// Pseudonym scheme.
        #[arg(long, value_enum, default_value = "keyed")]
        scheme: SchemeArg,
        /// Keep identifiers (encrypted) so they can be re-identified.
        #[arg(long)]
        reversible: bool,
        /// Mappings expire after this many seconds (0 = never).
        #[arg(long, default_value_t = 0)]
        retention_seconds: u64,
        /// Count the retention from a mapping's last use instead of its creation.
        #[arg(long)]
        since_last_use: bool,
        /// A mapping lives no longer than the subject's consent for this purpose.
        #[arg(long, default_value = "")]
        consent_purpose: String,
    },
    /// List domains.
    List,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Basis {
    Consent,
    Contract,
    LegalObligation,
    VitalInterests,
    PublicTask,
    LegitimateInterests,
}

#[derive(Debug, Subcommand)]
pub enum PurposeCmd {
    /// Define (create or update) a purpose.
    Define {
        /// Purpose name, e.g. research-export.
        name: String,
        /// GDPR Art. 6 legal basis.
        #[arg(long, value_enum)]
        legal_basis: Basis,
        /// Consents to older text versions do not count.
        #[arg(long, default_value_t = 1)]
        min_text_version: u32,
        /// Validity of consents granted without an end, in days (0 = no end).
        #[arg(long, default_value_t = 0)]
        default_validity_days: u64,
        /// Description.
        #[arg(long, default_value = "")]
        description: String,
        /// GDPR Art. 9: special categories, explicit consent (receipts say so).
        #[arg(long)]
        explicit_consent: bool,
        /// A domain the purpose covers (repeat; none = every domain).
        #[arg(long = "domain")]
        domains: Vec<String>,
        /// Withdrawing consent erases the subject's mappings in the covered domains.
        #[arg(long)]
        erase_on_withdrawal: bool,
        /// Keep consent evidence this many days after withdrawal or expiry (0 = until erasure).
        #[arg(long, default_value_t = 0)]
        evidence_retention_days: u64,
    },
    /// List purposes.
    List,
    /// Consent texts of a purpose (versioned; grants name the version agreed to).
    #[command(subcommand)]
    Text(consent::TextCmd),
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum RoleArg {
    TenantAdmin,
    Tokenizer,
    Reidentifier,
    ConsentManager,
    SubjectOfficer,
    KeyOfficer,
    Auditor,
    /// Only an operator may create one (a second operator, for the two-person rule).
    Operator,
}

#[derive(Debug, Subcommand)]
pub enum PrincipalCmd {
    /// Create a principal; prints its bearer token (shown once).
    Create {
        /// Principal name.
        name: String,
        /// Role (repeat for several).
        #[arg(long = "role", value_enum, required = true)]
        roles: Vec<RoleArg>,
        /// Purpose a reidentifier may use (repeat for several).
        #[arg(long = "purpose")]
        purposes: Vec<String>,
        /// Bind an mTLS client certificate: SHA-256 of its DER, hex.
        #[arg(long, default_value = "")]
        client_cert_sha256: String,
    },
    /// List principals.
    List,
    /// Revoke a principal at once.
    Revoke {
        /// Principal id.
        id: String,
    },
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

#[derive(Debug, clap::Args)]
pub struct SubjectArgs {
    /// Domain that knows the subject.
    #[arg(long)]
    domain: String,
    /// The subject's identifier (never stored by the vault).
    #[arg(
        long,
        conflicts_with = "pseudonym",
        required_unless_present = "pseudonym"
    )]
    identifier: Option<String>,
    /// The subject's pseudonym in the domain.
    #[arg(long)]
    pseudonym: Option<String>,
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

/// Connects with the global flags, the environment and the profile file.
pub async fn connect(cli: &Cli) -> anyhow::Result<Valv> {
    Ok(Valv::connect(config::client_config(cli)?).await?)
}

/// Prints `value` as JSON, or `text` as tab-separated lines for `cut` and `awk` (item output).
fn print_tsv(json: bool, value: serde_json::Value, text: impl FnOnce() -> String) {
    if json {
        println!("{value}");
    } else {
        println!("{}", text());
    }
}

/// Prints `value` as JSON, or `text` with its tab-separated columns aligned.
pub(crate) fn print(json: bool, value: serde_json::Value, text: impl FnOnce() -> String) {
    if json {
        println!("{value}");
    } else {
        println!("{}", table::align(&text()));
    }
}

fn stdin_lines(given: Vec<String>) -> anyhow::Result<Vec<String>> {
    if !given.is_empty() {
        return Ok(given);
    }
    std::io::stdin()
        .lock()
        .lines()
        .map(|l| l.map_err(Into::into))
        .collect()
}

pub(crate) fn subject_ref(s: SubjectArgs) -> pb::SubjectRef {
    let by = match (s.identifier, s.pseudonym) {
        (Some(i), _) => pb::subject_ref::By::Identifier(i),
        (None, Some(p)) => pb::subject_ref::By::Pseudonym(p),
        (None, None) => pb::subject_ref::By::Identifier(String::new()),
    };
    pb::SubjectRef {
        domain: s.domain,
        by: Some(by),
    }
}

fn domain_json(d: &pb::Domain) -> serde_json::Value {
    json!({"name": d.name, "kind": d.kind().as_str_name(), "scheme": d.scheme().as_str_name(),
           "reversible": d.reversible, "retention_seconds": d.retention_seconds, "epoch": d.epoch})
}

fn principal_json(p: &pb::Principal) -> serde_json::Value {
    let roles: Vec<&str> = p.roles().map(|r| r.as_str_name()).collect();
    json!({"id": p.id, "name": p.name, "roles": roles, "purposes": p.purposes, "revoked": p.revoked})
}

fn event_json(e: &pb::ConsentEvent) -> serde_json::Value {
    json!({"seq": e.seq, "purpose": e.purpose, "kind": e.kind().as_str_name(), "text_version": e.text_version,
           "method": e.method().as_str_name(), "at_unix_ms": e.at_unix_ms, "valid_until_unix_ms": e.valid_until_unix_ms,
           "recorded_by": e.recorded_by})
}

/// Runs the command; the exit code is non-zero when items were refused.
pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    // Offline verification makes no connection.
    if let Command::Audit(audit::AuditCmd::Verify {
        file: Some(file),
        public_key,
        ..
    }) = &cli.command
    {
        return audit::verify_offline(cli.json, file, public_key.as_deref().unwrap_or_default());
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
        Command::Pseudonymise { input } if input.is_file() => {
            return run_file(&valv, json, None, input).await;
        }
        Command::Reidentify { purpose, input } if input.is_file() => {
            return run_file(&valv, json, Some(purpose), input).await;
        }
        Command::Receipt(cmd) => return consent::run_receipt(&valv, json, cmd).await,
        Command::Subject(cmd) => return subjects::run(&valv, json, cmd).await,
        Command::Retention(cmd) => return retention::run(&valv, json, cmd).await,
        Command::Purpose(PurposeCmd::Text(cmd)) => {
            return consent::run_text(&valv, json, cmd).await;
        }
        Command::Tenant(TenantCmd::Settings { age_of_consent }) => {
            return consent::run_settings(&valv, json, age_of_consent).await;
        }
        Command::Audit(cmd) => return audit::run(&valv, json, cmd).await,
        Command::Keys(cmd) => return keys::run_keys(&valv, json, cmd).await,
        Command::Jobs(cmd) => return keys::run_jobs(&valv, json, cmd).await,
        Command::Unseal { share_file, reset } => {
            return seal::unseal(&valv, json, share_file.as_ref(), reset).await;
        }
        Command::Seal => return seal::seal(&valv, json).await,
        Command::SealStatus => return seal::status(&valv, json).await,
        Command::Tenant(TenantCmd::Create { name }) => {
            let r = valv
                .admin()
                .create_tenant(pb::CreateTenantRequest {
                    name,
                    admin_name: String::new(),
                })
                .await?
                .into_inner();
            let tenant = r.tenant.map(|t| t.name).unwrap_or_default();
            print(
                json,
                json!({"tenant": tenant, "admin_token": r.admin_token}),
                || {
                    format!(
                        "tenant {tenant} created\nadmin token (shown once): {}",
                        r.admin_token
                    )
                },
            );
        }
        Command::Domain(DomainCmd::Create {
            name,
            kind,
            scheme,
            reversible,
            retention_seconds,
            since_last_use,
            consent_purpose,
        }) => {
            let kind = match kind {
                Kind::Opaque => pb::IdentifierKind::Opaque,
                Kind::Email => pb::IdentifierKind::Email,
                Kind::Phone => pb::IdentifierKind::Phone,
                Kind::SePersonnummer => pb::IdentifierKind::SePersonnummer,
                Kind::NoFodselsnummer => pb::IdentifierKind::NoFodselsnummer,
                Kind::DkCpr => pb::IdentifierKind::DkCpr,
                Kind::FiHetu => pb::IdentifierKind::FiHetu,
            };
            let scheme = match scheme {
                SchemeArg::Keyed => pb::Scheme::Keyed,
                SchemeArg::Random => pb::Scheme::Random,
                SchemeArg::FormatPreserving => pb::Scheme::FormatPreserving,
            };
            let r = valv
                .admin()
                .create_domain(pb::CreateDomainRequest {
                    name,
                    kind: kind.into(),
                    scheme: scheme.into(),
                    reversible,
                    retention_seconds,
                    retention_since_last_use: since_last_use,
                    consent_purpose,
                })
                .await?
                .into_inner();
            let d = r.domain.unwrap_or_default();
            print(json, domain_json(&d), || {
                format!("domain {} created", d.name)
            });
        }
        Command::Domain(DomainCmd::List) => {
            let r = valv
                .admin()
                .list_domains(pb::ListDomainsRequest {})
                .await?
                .into_inner();
            let list: Vec<_> = r.domains.iter().map(domain_json).collect();
            print(json, json!(list), || {
                r.domains
                    .iter()
                    .map(|d| {
                        format!(
                            "{}\t{}\t{}\t{}",
                            d.name,
                            d.kind().as_str_name(),
                            d.scheme().as_str_name(),
                            if d.reversible {
                                "reversible"
                            } else {
                                "one-way"
                            }
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        Command::Purpose(PurposeCmd::Define {
            name,
            legal_basis,
            min_text_version,
            default_validity_days,
            description,
            explicit_consent,
            domains,
            erase_on_withdrawal,
            evidence_retention_days,
        }) => {
            let basis = match legal_basis {
                Basis::Consent => pb::LegalBasis::Consent,
                Basis::Contract => pb::LegalBasis::Contract,
                Basis::LegalObligation => pb::LegalBasis::LegalObligation,
                Basis::VitalInterests => pb::LegalBasis::VitalInterests,
                Basis::PublicTask => pb::LegalBasis::PublicTask,
                Basis::LegitimateInterests => pb::LegalBasis::LegitimateInterests,
            };
            let r = valv
                .admin()
                .define_purpose(pb::DefinePurposeRequest {
                    name,
                    legal_basis: basis.into(),
                    min_text_version,
                    default_consent_validity_seconds: default_validity_days * 86_400,
                    description,
                    explicit_consent,
                    domains,
                    erase_on_withdrawal,
                    evidence_retention_seconds: evidence_retention_days * 86_400,
                })
                .await?
                .into_inner();
            let p = r.purpose.unwrap_or_default();
            print(json, json!({"name": p.name, "created": r.created}), || {
                format!(
                    "purpose {} {}",
                    p.name,
                    if r.created { "defined" } else { "updated" }
                )
            });
        }
        Command::Purpose(PurposeCmd::List) => {
            let r = valv
                .admin()
                .list_purposes(pb::ListPurposesRequest {})
                .await?
                .into_inner();
            let list: Vec<_> = r
                .purposes
                .iter()
                .map(|p| json!({"name": p.name, "legal_basis": p.legal_basis().as_str_name(), "min_text_version": p.min_text_version}))
                .collect();
            print(json, json!(list), || {
                r.purposes
                    .iter()
                    .map(|p| {
                        format!(
                            "{}\t{}\tmin text v{}",
                            p.name,
                            p.legal_basis().as_str_name(),
                            p.min_text_version
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        Command::Principal(PrincipalCmd::Create {
            name,
            roles,
            purposes,
            client_cert_sha256,
        }) => {
            let roles = roles
                .into_iter()
                .map(|r| {
                    match r {
                        RoleArg::TenantAdmin => pb::Role::TenantAdmin,
                        RoleArg::Tokenizer => pb::Role::Tokenizer,
                        RoleArg::Reidentifier => pb::Role::Reidentifier,
                        RoleArg::ConsentManager => pb::Role::ConsentManager,
                        RoleArg::SubjectOfficer => pb::Role::SubjectOfficer,
                        RoleArg::KeyOfficer => pb::Role::KeyOfficer,
                        RoleArg::Auditor => pb::Role::Auditor,
                        RoleArg::Operator => pb::Role::Operator,
                    }
                    .into()
                })
                .collect();
            let r = valv
                .admin()
                .create_principal(pb::CreatePrincipalRequest {
                    name,
                    roles,
                    purposes,
                    client_cert_sha256,
                })
                .await?
                .into_inner();
            let p = r.principal.unwrap_or_default();
            print(
                json,
                json!({"principal": principal_json(&p), "token": r.token}),
                || {
                    format!(
                        "principal {} ({}) created\ntoken (shown once): {}",
                        p.name, p.id, r.token
                    )
                },
            );
        }
        Command::Principal(PrincipalCmd::List) => {
            let r = valv
                .admin()
                .list_principals(pb::ListPrincipalsRequest {})
                .await?
                .into_inner();
            let list: Vec<_> = r.principals.iter().map(principal_json).collect();
            print(json, json!(list), || {
                r.principals
                    .iter()
                    .map(|p| {
                        let roles: Vec<&str> = p.roles().map(|r| r.as_str_name()).collect();
                        format!(
                            "{}\t{}\t{}\t{}",
                            p.id,
                            p.name,
                            roles.join(","),
                            if p.revoked { "revoked" } else { "active" }
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        Command::Principal(PrincipalCmd::Revoke { id }) => {
            valv.admin()
                .revoke_principal(pb::RevokePrincipalRequest { id: id.clone() })
                .await?;
            print(json, json!({"revoked": id}), || {
                format!("principal {id} revoked")
            });
        }
        Command::Pseudonymise {
            input:
                InputArgs {
                    domain,
                    args: identifiers,
                    ..
                },
        } => {
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
        Command::Reidentify {
            purpose,
            input:
                InputArgs {
                    domain,
                    args: pseudonyms,
                    ..
                },
        } => {
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
        Command::Consent(ConsentCmd::Grant {
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
        }) => {
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
        Command::Consent(ConsentCmd::List {
            purpose,
            expiring_within_days,
            withdrawn,
            expired,
            text_version_below,
        }) => {
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
        Command::Consent(ConsentCmd::Stats) => {
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
        Command::Consent(ConsentCmd::Withdraw { subject, purpose }) => {
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
        Command::Consent(ConsentCmd::History { subject, purpose }) => {
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
                    lines.push(format!("{}\t{}", p.purpose, p.status().as_str_name()));
                    for e in &p.events {
                        lines.push(format!(
                            "  #{}\t{}\tv{}\t{}\tat {}\tuntil {}",
                            e.seq,
                            e.kind().as_str_name(),
                            e.text_version,
                            e.method().as_str_name(),
                            e.at_unix_ms,
                            e.valid_until_unix_ms
                        ));
                    }
                }
                lines.join("\n")
            });
        }
        Command::Bench(args) => bench::run(&valv, args).await?,
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

/// A verdict as a word.
pub(crate) fn verdict_word(v: pb::Verdict) -> &'static str {
    match v {
        pb::Verdict::Released => "released",
        pb::Verdict::NoConsent => "no-consent",
        pb::Verdict::ConsentWithdrawn => "consent-withdrawn",
        pb::Verdict::ConsentExpired => "consent-expired",
        pb::Verdict::NotFound => "not-found",
        pb::Verdict::Denied => "denied",
        pb::Verdict::KeyDestroyed => "key-destroyed",
        pb::Verdict::Restricted => "restricted",
        pb::Verdict::Unspecified => "unspecified",
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
