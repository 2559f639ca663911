//! Batches in flight, answered in the order they were sent: a bounded queue of tasks.

use std::{collections::VecDeque, future::Future};

use anyhow::anyhow;
use tokio::task::JoinHandle;

/// Up to `depth` batches in flight; the oldest is awaited before a new one is started.
pub struct Pipeline<T> {
    depth: usize,
    tasks: VecDeque<JoinHandle<anyhow::Result<T>>>,
}

impl<T: Send + 'static> Pipeline<T> {
    /// A pipeline keeping `depth` (at least 1) batches in flight.
    pub fn new(depth: usize) -> Self {
        Self {
            depth: depth.max(1),
            tasks: VecDeque::new(),
        }
    }

    /// Starts `batch`; when the pipeline was full, first returns the oldest batch's outcome.
    pub async fn push(
        &mut self,
        batch: impl Future<Output = anyhow::Result<T>> + Send + 'static,
    ) -> anyhow::Result<Option<T>> {
        let done = if self.tasks.len() >= self.depth {
            self.next().await?
        } else {
            None
        };
        self.tasks.push_back(tokio::spawn(batch));
        Ok(done)
    }

    /// The oldest batch's outcome, or `None` when nothing is in flight.
    pub async fn next(&mut self) -> anyhow::Result<Option<T>> {
        match self.tasks.pop_front() {
            Some(task) => Ok(Some(task.await.map_err(|e| anyhow!("batch task: {e}"))??)),
            None => Ok(None),
        }
    }
}
