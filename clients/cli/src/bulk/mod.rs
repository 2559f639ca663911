//! Bulk work over files of any size: CSV columns and JSON-lines records, pseudonymised or
//! re-identified in batches that are read, sent and written as a pipeline, so memory stays
//! bounded by the batches in flight and the network is never idle while the next batch is read.
//!
//! Rows the vault refuses are never written with their identifier: a pseudonymised output
//! leaves them out and the summary on stderr names their line numbers and rules (never the
//! values); the exit code is 2 when anything was refused.

pub mod csv;
pub mod jsonl;
mod pipeline;
mod progress;

use std::{
    fs::File,
    io::{BufReader, Read},
    path::Path,
};

use anyhow::Context;

pub use self::{pipeline::Pipeline, progress::Progress};

/// Most refused lines listed in the summary.
const LISTED: usize = 20;

/// Opens the input file, or stdin for none or `-`; also its size when known (for the ETA).
pub fn open_input(path: Option<&str>) -> anyhow::Result<(Box<dyn Read + Send>, Option<u64>)> {
    match path {
        None | Some("-") => Ok((Box::new(std::io::stdin()), None)),
        Some(p) => {
            let file = File::open(Path::new(p)).with_context(|| format!("opening {p}"))?;
            let len = file.metadata().ok().map(|m| m.len());
            Ok((Box::new(BufReader::with_capacity(1 << 20, file)), len))
        }
    }
}

/// What happened to a whole input.
#[derive(Debug, Default)]
pub struct Summary {
    /// Rows or records read.
    pub rows: u64,
    /// Rows or records written.
    pub written: u64,
    /// (line, reason) of every refusal: a refused row, or a field not released.
    pub refused: Vec<(u64, String)>,
    /// Refusals counted by reason (a verdict or a rule).
    pub by_reason: std::collections::BTreeMap<String, u64>,
}

impl Summary {
    /// Notes a refusal on `line`.
    pub fn refuse(&mut self, line: u64, reason: String) {
        *self.by_reason.entry(reason.clone()).or_default() += 1;
        if self.refused.len() < LISTED {
            self.refused.push((line, reason));
        }
    }

    /// Refusals in all.
    pub fn refusals(&self) -> u64 {
        self.by_reason.values().sum()
    }

    /// Prints the summary on stderr (text, or one JSON object).
    pub fn report(&self, json: bool, what: &str) {
        if json {
            let value = serde_json::json!({
                "rows": self.rows, "written": self.written, "refused": self.refusals(),
                "by_reason": self.by_reason,
                "first_refused": self.refused.iter().map(|(l, r)| serde_json::json!({"line": l, "reason": r})).collect::<Vec<_>>(),
            });
            eprintln!("{value}");
            return;
        }
        eprintln!(
            "valvctl: {} rows read, {} written, {} {what}",
            self.rows,
            self.written,
            self.refusals()
        );
        for (reason, n) in &self.by_reason {
            eprintln!("  {n}\t{reason}");
        }
        for (line, reason) in &self.refused {
            eprintln!("  line {line}: {reason}");
        }
        if self.refusals() > self.refused.len() as u64 {
            eprintln!("  (only the first {LISTED} lines are listed)");
        }
    }

    /// 0 when nothing was refused, else 2.
    pub fn exit_code(&self) -> std::process::ExitCode {
        if self.refusals() == 0 {
            std::process::ExitCode::SUCCESS
        } else {
            std::process::ExitCode::from(2)
        }
    }
}

/// Batching of file input.
#[derive(Debug, Clone, clap::Args)]
pub struct BulkArgs {
    /// Rows or records per batch.
    #[arg(long, default_value_t = 2000)]
    pub(crate) batch_rows: usize,
    /// Batches in flight at once.
    #[arg(long, default_value_t = 4)]
    pub(crate) in_flight: usize,
}
