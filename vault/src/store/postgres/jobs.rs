//! PostgreSQL: the job family. The lease columns of `jobs` are the single place that says which
//! node runs a job: a claim and a save are one conditional `UPDATE` each, so two nodes can never
//! both hold a lease or both save progress.

use async_trait::async_trait;

use std::collections::HashSet;

use super::{
    PgStore,
    sql::{db_error, from_json, to_i32, to_i64, to_json},
};
use crate::store::{
    JobStore, RotationPage, StoreResult,
    records::{JobRecord, JobState, PendingOpRecord},
};

/// A page's mapping moves, each row compared in full as `replace_ciphertext` does.
const MOVE_MAPPINGS: &str = "UPDATE mappings m SET ciphertext = u.next \
     FROM unnest($2::bytea[], $3::integer[], $4::bytea[], $5::bigint[], $6::bigint[], \
                 $7::bytea[], $8::bytea[]) \
          AS u(pseudonym, epoch, subject, created_ms, expires_ms, current, next) \
     WHERE m.domain_id = $1 AND m.pseudonym = u.pseudonym AND m.epoch = u.epoch \
     AND m.subject = u.subject AND m.created_ms = u.created_ms AND m.expires_ms = u.expires_ms \
     AND m.ciphertext IS NOT DISTINCT FROM u.current \
     RETURNING m.pseudonym";

const MOVE_EVIDENCE: &str = "UPDATE evidence e SET ciphertext = u.next \
     FROM unnest($2::bytea[], $3::bytea[], $4::bytea[]) AS u(id, current, next) \
     WHERE e.tenant_id = $1 AND e.id = u.id AND e.ciphertext = u.current \
     RETURNING e.id";

const SAVE_JOB: &str = "UPDATE jobs SET state = $3, lease_until_ms = $4, record = $5::text::jsonb \
     WHERE id = $1 AND lease_owner = $2";

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
                SAVE_JOB,
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

    async fn commit_rotation_page(
        &self,
        job: &JobRecord,
        page: RotationPage,
    ) -> StoreResult<Option<Vec<bool>>> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db_error)?;
        // The lease row is locked first: a take-over waits for this page, or this page sees it.
        let owner = tx
            .query_opt(
                "SELECT lease_owner FROM jobs WHERE id = $1 FOR UPDATE",
                &[&to_i64(job.id)?],
            )
            .await
            .map_err(db_error)?;
        let held = match owner {
            Some(row) => row.try_get::<_, String>(0).map_err(db_error)? == job.lease_owner,
            None => false,
        };
        if !held {
            return Ok(None);
        }
        let (keys, moved): (Vec<Vec<u8>>, HashSet<Vec<u8>>) = match page {
            RotationPage::Mappings { domain_id, moves } => {
                let keys: Vec<Vec<u8>> = moves.iter().map(|m| m.pseudonym.clone()).collect();
                let epochs = moves
                    .iter()
                    .map(|m| to_i32(m.current.epoch))
                    .collect::<StoreResult<Vec<i32>>>()?;
                let subjects: Vec<&[u8]> =
                    moves.iter().map(|m| m.current.subject.as_slice()).collect();
                let created: Vec<i64> = moves.iter().map(|m| m.current.created_ms).collect();
                let expires: Vec<i64> = moves.iter().map(|m| m.current.expires_ms).collect();
                let current: Vec<Option<&[u8]>> = moves
                    .iter()
                    .map(|m| m.current.ciphertext.as_deref())
                    .collect();
                let next: Vec<&[u8]> = moves.iter().map(|m| m.ciphertext.as_slice()).collect();
                let rows = tx
                    .query(
                        MOVE_MAPPINGS,
                        &[
                            &to_i64(domain_id)?,
                            &keys,
                            &epochs,
                            &subjects,
                            &created,
                            &expires,
                            &current,
                            &next,
                        ],
                    )
                    .await
                    .map_err(db_error)?;
                (keys, returned(&rows)?)
            }
            RotationPage::Evidence { tenant_id, moves } => {
                let keys: Vec<Vec<u8>> = moves.iter().map(|m| m.id.clone()).collect();
                let current: Vec<&[u8]> = moves.iter().map(|m| m.current.as_slice()).collect();
                let next: Vec<&[u8]> = moves.iter().map(|m| m.ciphertext.as_slice()).collect();
                let rows = tx
                    .query(
                        MOVE_EVIDENCE,
                        &[&to_i64(tenant_id)?, &keys, &current, &next],
                    )
                    .await
                    .map_err(db_error)?;
                (keys, returned(&rows)?)
            }
        };
        let made: Vec<bool> = keys.iter().map(|k| moved.contains(k)).collect();
        let mut saved = job.clone();
        saved.done += moved.len() as u64;
        tx.execute(
            SAVE_JOB,
            &[
                &to_i64(saved.id)?,
                &saved.lease_owner,
                &state_name(saved.state),
                &saved.lease_until_ms,
                &to_json(&saved)?,
            ],
        )
        .await
        .map_err(db_error)?;
        tx.commit().await.map_err(db_error)?;
        Ok(Some(made))
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

/// The keys a `RETURNING` gave back.
fn returned(rows: &[tokio_postgres::Row]) -> StoreResult<HashSet<Vec<u8>>> {
    rows.iter()
        .map(|r| r.try_get::<_, Vec<u8>>(0).map_err(db_error))
        .collect()
}
