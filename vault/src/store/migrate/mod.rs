//! Moving a vault's data from one back-end to another (`valv store migrate`), through the
//! storage contract only, so any pair of back-ends works in either direction.
//!
//! Every step is idempotent — inserts skip what is there, histories and chains continue from
//! where the target stands — so a migration cut off midway is simply run again. At the end the
//! target is compared with the source: every count, and every audit chain entry by entry (the
//! entries are copied exactly, so the hashes and the signed checkpoints still hold).
//!
//! Nothing is decrypted or re-encrypted: key rings stay wrapped by the same root key, so the
//! target serves with the root key (file, HSM or seal file) the source used.

mod copy;
mod verify;

use super::{Store, StoreError, StoreResult};

pub use self::verify::Report;

/// Copies everything in `from` that `to` lacks, then checks `to` against `from`. `progress`
/// hears each step's name and how many items it copied.
pub async fn migrate(
    from: &dyn Store,
    to: &dyn Store,
    progress: &mut (dyn FnMut(&str, u64) + Send),
) -> StoreResult<Report> {
    copy::check_target(from, to).await?;
    copy::registry(from, to, progress).await?;
    copy::mappings(from, to, progress).await?;
    copy::consents(from, to, progress).await?;
    copy::subjects(from, to, progress).await?;
    copy::audit(from, to, progress).await?;
    copy::jobs(from, to, progress).await?;
    to.sync_all().await?;
    let report = verify::compare(from, to).await?;
    if let Some(problem) = report.problems.first() {
        return Err(StoreError::Backend(format!(
            "the target differs from the source after copying: {problem}"
        )));
    }
    Ok(report)
}

#[cfg(test)]
mod tests;
