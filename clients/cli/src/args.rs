//! Argument types shared by several command families.

use valv_client::pb;

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
