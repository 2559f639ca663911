//! Key state and facts shared by the use cases and the jobs: the seal of a sealed vault, and
//! the census of ciphertexts per key version.

pub mod census;
pub mod seal;

/// Domain id under which consent evidence is encrypted (no real domain has id 0).
pub const EVIDENCE_DOMAIN_ID: u64 = 0;
