//! Job leases: which process runs a job, and until when.

use crate::{app::App, error::VaultResult, store::records::JobRecord};

/// Takes the job's lease for this process: the job as stored with the lease, or `None` when
/// another process holds it (or it ended).
pub async fn claim(app: &App, id: u64) -> VaultResult<Option<JobRecord>> {
    let now = app.now_ms();
    Ok(app
        .store
        .claim_job(
            id,
            &app.node_id,
            now,
            now.saturating_add(app.limits.job_lease_ms()),
        )
        .await?)
}
