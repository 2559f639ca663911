//! A store that opens a span around every call of the store it wraps — one span per family
//! method (`store.insert_mappings`, `store.append_audit`, …), a child of the RPC's span, with
//! its duration and, on failure, the kind of error. The vault wraps its store in it only while
//! it exports traces (`--otlp-endpoint`), so without a collector nothing is added to a call.
//!
//! The family impls are generated from the family traits by `tools/gen_traced_store.py` (CI
//! checks they match): a changed trait needs the script run again. A span carries no argument
//! and no result: the store never sees an identifier in the clear, and even its pseudonyms and
//! subject handles stay out of traces.

use std::{future::Future, sync::Arc};

use async_trait::async_trait;
use tracing::{Instrument, Span};

use super::{Durability, Store, StoreError, StoreResult, operation::Operation};

/// The span of one store call (target `valv::store`, level debug).
macro_rules! span {
    ($name:literal) => {
        tracing::debug_span!(
            target: "valv::store",
            $name,
            otel.status_code = tracing::field::Empty,
            error = tracing::field::Empty,
        )
    };
}

mod audit;
mod consents;
mod jobs;
mod keys;
mod mappings;
mod registry;
mod subjects;

/// The wrapped store.
pub struct Traced {
    inner: Arc<dyn Store>,
}

impl Traced {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn Store>) -> Self {
        Self { inner }
    }
}

/// Runs `call` inside `span`, marking the span when the call fails.
async fn watched<T>(span: Span, call: impl Future<Output = StoreResult<T>>) -> StoreResult<T> {
    let result = call.instrument(span.clone()).await;
    if let Err(e) = &result {
        span.record("otel.status_code", "ERROR");
        span.record("error", kind(e));
    }
    result
}

/// The variant's name: the message stays in the log.
fn kind(e: &StoreError) -> &'static str {
    match e {
        StoreError::AlreadyExists(_) => "already_exists",
        StoreError::Backend(_) => "backend",
        StoreError::Unavailable(_) => "unavailable",
        StoreError::Corrupt(_) => "corrupt",
        StoreError::Durability(_) => "durability",
    }
}

#[async_trait]
impl Durability for Traced {
    async fn sync(&self) -> StoreResult<()> {
        watched(span!("store.sync"), self.inner.sync()).await
    }
    async fn sync_all(&self) -> StoreResult<()> {
        watched(span!("store.sync_all"), self.inner.sync_all()).await
    }
    async fn request_compaction(&self) -> StoreResult<()> {
        watched(
            span!("store.request_compaction"),
            self.inner.request_compaction(),
        )
        .await
    }
    async fn size_on_disk(&self) -> StoreResult<u64> {
        watched(span!("store.size_on_disk"), self.inner.size_on_disk()).await
    }
    async fn ping(&self) -> StoreResult<()> {
        watched(span!("store.ping"), self.inner.ping()).await
    }
    fn operation(&self) -> Operation {
        self.inner.operation()
    }
    fn commit_stats(&self) -> Option<super::CommitStats> {
        self.inner.commit_stats()
    }
}
