//! Trying a call again when the server answers `UNAVAILABLE` (restarting, connection lost, a
//! key rotation still running), with the backoff of [`RetryPolicy`].

use std::{
    future::Future,
    hash::{BuildHasher, Hasher},
};

use tonic::{Code, Response, Status};

use crate::{ClientError, RetryPolicy};

/// A number in `[0, 1)` that differs between calls (jitter, not cryptography).
fn jitter() -> f64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    (h.finish() >> 11) as f64 / (1u64 << 53) as f64
}

/// Waits before attempt `attempt` (2, 3, …).
pub(crate) async fn pause(policy: &RetryPolicy, attempt: u32) {
    tokio::time::sleep(policy.backoff(attempt, jitter())).await;
}

/// Runs `call` until it succeeds, fails with a code other than `UNAVAILABLE`, or the policy's
/// attempts are spent; returns the response's message.
pub async fn retry<T, F, Fut>(policy: &RetryPolicy, mut call: F) -> Result<T, ClientError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Response<T>, Status>>,
{
    let mut attempt = 1;
    loop {
        match call().await {
            Ok(r) => return Ok(r.into_inner()),
            Err(s) if s.code() == Code::Unavailable && attempt < policy.max_attempts => {
                attempt += 1;
                pause(policy, attempt).await;
            }
            Err(s) => return Err(s.into()),
        }
    }
}
