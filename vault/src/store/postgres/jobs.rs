//! PostgreSQL: the job family. The lease columns of `jobs` are the single place that says which
//! node runs a job: a claim and a save are one conditional `UPDATE` each, so two nodes can never
//! both hold a lease or both save progress.

use async_trait::async_trait;

use super::{
    PgStore,
    sql::{db_error, from_json, to_i64, to_json},
};
use crate::store::{
    JobStore, StoreResult,
    records::{JobRecord, JobState, PendingOpRecord},
};

fn state_name(state: JobState) -> &'static str {
    match state {
        JobState::Running => "running",
        JobState::Done => "done",
        JobState::Failed => "failed",
    }
}

#[async_trait]
impl JobStore for PgStore {
    async fn put_job(&self, job: &JobRecord) -> StoreResult<()> {
        self.exec(
            "INSERT INTO jobs (id, tenant_id, state, lease_owner, lease_until_ms, record) \
             VALUES ($1, $2, $3, $4, $5, $6::text::jsonb) ON CONFLICT (id) DO UPDATE SET \
             tenant_id = EXCLUDED.tenant_id, state = EXCLUDED.state, \
             lease_owner = EXCLUDED.lease_owner, lease_until_ms = EXCLUDED.lease_until_ms, \
             record = EXCLUDED.record",
            &[
                &to_i64(job.id)?,
                &to_i64(job.tenant_id)?,
                &state_name(job.state),
                &job.lease_owner,
                &job.lease_until_ms,
                &to_json(job)?,
            ],
        )
        .await
        .map(|_| ())
    }

    async fn job(&self, id: u64) -> StoreResult<Option<JobRecord>> {
        self.json_row(
            "SELECT record::text FROM jobs WHERE id = $1",
            &[&to_i64(id)?],
        )
        .await
    }

    async fn jobs(&self) -> StoreResult<Vec<JobRecord>> {
        self.json_rows("SELECT record::text FROM jobs ORDER BY id", &[])
            .await
    }

    async fn claim_job(
        &self,
        id: u64,
        owner: &str,
        now_ms: i64,
        until_ms: i64,
    ) -> StoreResult<Option<JobRecord>> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "UPDATE jobs SET lease_owner = $2, lease_until_ms = $4, \
                 record = record || jsonb_build_object('lease_owner', $2::text, \
                                                       'lease_until_ms', $4::bigint) \
                 WHERE id = $1 AND state = 'running' \
                 AND (lease_owner = '' OR lease_owner = $2 OR lease_until_ms < $3) \
                 RETURNING record::text",
            )
            .await
            .map_err(db_error)?;
        let row = client
            .query_opt(&stmt, &[&to_i64(id)?, &owner, &now_ms, &until_ms])
            .await
            .map_err(db_error)?;
        row.map(|r| from_json(&r, 0)).transpose()
    }

    async fn save_job(&self, job: &JobRecord) -> StoreResult<bool> {
        let n = self
            .exec(
                "UPDATE jobs SET state = $3, lease_until_ms = $4, record = $5::text::jsonb \
                 WHERE id = $1 AND lease_owner = $2",
                &[
                    &to_i64(job.id)?,
                    &job.lease_owner,
                    &state_name(job.state),
                    &job.lease_until_ms,
                    &to_json(job)?,
                ],
            )
            .await?;
        Ok(n == 1)
    }

    async fn put_pending_op(&self, op: &PendingOpRecord) -> StoreResult<()> {
        self.exec(
            "INSERT INTO pending_ops (id, tenant_id, state, record) \
             VALUES ($1, $2, $3, $4::text::jsonb) ON CONFLICT (id) DO UPDATE SET \
             tenant_id = EXCLUDED.tenant_id, state = EXCLUDED.state, record = EXCLUDED.record",
            &[
                &to_i64(op.id)?,
                &to_i64(op.tenant_id)?,
                &op.state,
                &to_json(op)?,
            ],
        )
        .await
        .map(|_| ())
    }

    async fn transition_pending_op(
        &self,
        op: &PendingOpRecord,
        from_state: &str,
    ) -> StoreResult<bool> {
        let n = self
            .exec(
                "UPDATE pending_ops SET tenant_id = $2, state = $3, record = $4::text::jsonb \
                 WHERE id = $1 AND state = $5",
                &[
                    &to_i64(op.id)?,
                    &to_i64(op.tenant_id)?,
                    &op.state,
                    &to_json(op)?,
                    &from_state,
                ],
            )
            .await?;
        Ok(n == 1)
    }

    async fn pending_ops(&self) -> StoreResult<Vec<PendingOpRecord>> {
        self.json_rows("SELECT record::text FROM pending_ops ORDER BY id", &[])
            .await
    }
}
