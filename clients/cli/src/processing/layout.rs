//! The record of processing laid out as blocks — headings, paragraphs, tables, lists, quoted
//! text — once, so the Markdown and the HTML page say the same in the same order.

use super::Document;

/// A table, or "None." when it has no rows.
fn table(head: Vec<&'static str>, rows: Vec<Vec<String>>) -> Block {
    if rows.is_empty() {
        Block::Para("None.".into())
    } else {
        Block::Table(head, rows)
    }
}

/// One block of the page (text only: each renderer escapes it its own way).
#[derive(Debug, PartialEq, Eq)]
pub enum Block {
    /// A heading of level 1 to 3.
    Heading(u8, String),
    /// A paragraph.
    Para(String),
    /// A table: header and rows.
    Table(Vec<&'static str>, Vec<Vec<String>>),
    /// A bulleted list.
    List(Vec<String>),
    /// Quoted text (a consent text), line by line.
    Quote(Vec<String>),
}

fn yes(b: bool) -> String {
    if b { "yes" } else { "no" }.to_owned()
}

fn list(items: &[String]) -> String {
    if items.is_empty() {
        "—".to_owned()
    } else {
        items.join(", ")
    }
}

fn purposes(doc: &Document, out: &mut Vec<Block>) {
    out.push(Block::Heading(2, "Purposes and legal bases".into()));
    out.push(table(
        vec![
            "purpose",
            "legal basis",
            "special categories",
            "domains",
            "may re-identify",
        ],
        doc.purposes
            .iter()
            .map(|p| {
                vec![
                    p.name.clone(),
                    p.legal_basis.clone(),
                    yes(p.special_categories),
                    list(&p.domains),
                    list(&p.reidentifiers),
                ]
            })
            .collect(),
    ));
    for p in &doc.purposes {
        out.push(Block::Heading(3, p.name.clone()));
        if !p.description.is_empty() {
            out.push(Block::Para(p.description.clone()));
        }
        let Some(c) = &p.consent else {
            out.push(Block::Para(format!("Legal basis: {}.", p.legal_basis)));
            continue;
        };
        let minimum = match c.minimum_text_version {
            0 | 1 => String::new(),
            v => format!(" Consents to text versions below {v} do not count."),
        };
        out.push(Block::Para(format!(
            "Legal basis: {}. Consents now: {} granted, {} withdrawn, {} expired. A consent \
             lasts {}; its evidence is kept {}.{minimum} Withdrawal erases the subject's \
             mappings: {}.",
            p.legal_basis,
            c.granted,
            c.withdrawn,
            c.expired,
            c.validity,
            c.evidence_kept,
            yes(c.erase_on_withdrawal)
        )));
        match &c.text {
            Some(t) => {
                out.push(Block::Para(format!(
                    "Consent text, version {} (added {}, SHA-256 {}):",
                    t.version, t.added, t.sha256
                )));
                out.push(Block::Quote(t.text.lines().map(str::to_owned).collect()));
            }
            None => out.push(Block::Para("No consent text has been added.".into())),
        }
    }
}

fn domains_and_policies(doc: &Document, out: &mut Vec<Block>) {
    out.push(Block::Heading(2, "Identifiers held (domains)".into()));
    out.push(table(
        vec![
            "domain",
            "identifiers",
            "pseudonyms",
            "identifier kept",
            "retention",
            "mappings",
            "purposes",
        ],
        doc.domains
            .iter()
            .map(|d| {
                vec![
                    d.name.clone(),
                    d.identifiers.clone(),
                    d.scheme.clone(),
                    if d.reversible {
                        "encrypted"
                    } else {
                        "no (one-way)"
                    }
                    .to_owned(),
                    d.retention.clone(),
                    d.mappings.to_string(),
                    list(&d.purposes),
                ]
            })
            .collect(),
    ));
    out.push(Block::Heading(2, "Record policies".into()));
    if doc.record_policies.is_empty() {
        out.push(Block::Para("None.".into()));
        return;
    }
    out.push(Block::List(
        doc.record_policies
            .iter()
            .map(|p| {
                let fields: Vec<String> = p
                    .fields
                    .iter()
                    .map(|f| {
                        let required = if f.required { " (required)" } else { "" };
                        format!("{} → {}{required}", f.pointer, f.domain)
                    })
                    .collect();
                format!(
                    "{}: pseudonymised {}; dropped {}",
                    p.name,
                    list(&fields),
                    list(&p.dropped)
                )
            })
            .collect(),
    ));
}

fn recipients(doc: &Document, out: &mut Vec<Block>) {
    out.push(Block::Heading(2, "Recipients (sharing agreements)".into()));
    if doc.recipients.is_empty() {
        out.push(Block::Para("None.".into()));
        return;
    }
    out.push(Block::Para(
        "Each recipient receives pseudonyms of its own domain, translated by the vault; no \
         identifier leaves it."
            .into(),
    ));
    out.push(table(
        vec![
            "agreement",
            "recipient",
            "purpose",
            "legal basis",
            "from → to",
            "valid until",
        ],
        doc.recipients
            .iter()
            .map(|r| {
                vec![
                    r.agreement.clone(),
                    r.recipient.clone(),
                    r.purpose.clone(),
                    r.legal_basis.clone(),
                    format!("{} → {}", r.from_domain, r.to_domain),
                    r.valid_until.clone(),
                ]
            })
            .collect(),
    ));
}

fn keys_measures_access(doc: &Document, out: &mut Vec<Block>) {
    out.push(Block::Heading(2, "Keys".into()));
    let unseal = doc
        .keys
        .unseal
        .as_ref()
        .map(|u| format!(" ({u} unseal it)"))
        .unwrap_or_default();
    out.push(Block::Para(format!(
        "Root key: {}{unseal}; fit for production: {}.",
        doc.keys.root_provider,
        yes(doc.keys.root_fit_for_production)
    )));
    out.push(table(
        vec![
            "tenant key version",
            "state",
            "created",
            "records",
            "encryptions",
        ],
        doc.keys
            .versions
            .iter()
            .map(|v| {
                vec![
                    v.version.to_string(),
                    v.state.clone(),
                    v.created.clone(),
                    v.records.to_string(),
                    v.encryptions.to_string(),
                ]
            })
            .collect(),
    ));
    out.push(Block::Heading(
        2,
        "Technical and organisational measures".into(),
    ));
    out.push(Block::List(
        doc.measures
            .iter()
            .map(|m| format!("{}: {}", m.name, m.description))
            .collect(),
    ));
    out.push(Block::Heading(2, "Access and audit".into()));
    let roles: Vec<String> = doc
        .principals
        .iter()
        .map(|r| format!("{} {}", r.principals, r.role))
        .collect();
    out.push(Block::Para(format!("Principals: {}.", list(&roles))));
    out.push(Block::Para(format!(
        "Settings: age of consent {}; new identifiers per principal and hour: {}; calls per \
         principal and second: {}.",
        doc.settings.age_of_consent,
        doc.settings.new_identifiers_per_hour,
        doc.settings.requests_per_second
    )));
    out.push(Block::Para(format!(
        "Audit: {} entries, {} signed checkpoints, the newest {}.",
        doc.audit.entries, doc.audit.checkpoints, doc.audit.last_checkpoint
    )));
}

/// The page's blocks (pure).
pub fn blocks(doc: &Document) -> Vec<Block> {
    let mut out = vec![
        Block::Heading(1, format!("Record of processing: {}", doc.tenant)),
        Block::Para(format!(
            "What the Valv vault knows of the tenant {} (created {}), generated {}. It covers \
             the identifiers the vault holds and the measures it applies (GDPR Art. 30(1)); the \
             controller completes the rest (see the end).",
            doc.tenant, doc.tenant_created, doc.generated
        )),
    ];
    purposes(doc, &mut out);
    domains_and_policies(doc, &mut out);
    recipients(doc, &mut out);
    keys_measures_access(doc, &mut out);
    out.push(Block::Heading(2, "For the controller to complete".into()));
    out.push(Block::List(doc.to_complete.clone()));
    out
}
