//! `valvctl pseudonymise|reidentify --policy P`: JSON lines in, JSON lines out, under a record
//! policy stored in the vault (fields pseudonymised or restored, dropped fields removed).

use std::io::{BufRead, BufReader, Write};

use anyhow::Context;
use valv_client::{Valv, pb};

use super::{Pipeline, Progress, Summary, open_input};
use crate::output::verdict_word;

/// Which way the records go.
#[derive(Debug, Clone)]
pub enum Direction {
    /// Pseudonymise under the policy.
    Pseudonymise,
    /// Re-identify for this purpose.
    ReIdentify(String),
}

/// (line, output record or none, reasons).
type Done = Vec<(u64, Option<Vec<u8>>, Vec<String>)>;

/// Strips the `records[i]` prefix the vault puts before a field's pointer.
fn field_of(e: &pb::ItemError) -> String {
    let pointer = e.field.split_once(']').map_or("", |(_, p)| p);
    if pointer.is_empty() {
        format!("record: {}", e.rule)
    } else {
        format!("{pointer}: {}", e.rule)
    }
}

async fn process(
    valv: Valv,
    policy: String,
    direction: Direction,
    lines: Vec<u64>,
    records: Vec<Vec<u8>>,
) -> anyhow::Result<Done> {
    match direction {
        Direction::Pseudonymise => {
            let out = valv.pseudonymise_records(&policy, &records).await?;
            Ok(lines
                .into_iter()
                .zip(out.results)
                .map(|(line, r)| match r {
                    Ok(record) => (line, Some(record), Vec::new()),
                    Err(e) => (line, None, e.errors.iter().map(field_of).collect()),
                })
                .collect())
        }
        Direction::ReIdentify(purpose) => {
            let out = valv.reidentify_records(&policy, &purpose, &records).await?;
            Ok(lines
                .into_iter()
                .zip(out)
                .map(|(line, r)| match r.error {
                    Some(e) => (line, None, e.errors.iter().map(field_of).collect()),
                    None => {
                        let refused = r
                            .fields
                            .iter()
                            .filter(|f| f.verdict() != pb::Verdict::Released)
                            .map(|f| format!("{}: {}", f.pointer, verdict_word(f.verdict())))
                            .collect();
                        (line, Some(r.record), refused)
                    }
                })
                .collect())
        }
    }
}

/// Runs a whole JSON-lines input through the vault and writes the result to `out`.
pub async fn run(
    valv: &Valv,
    policy: &str,
    direction: Direction,
    input: Option<&str>,
    mut out: impl Write,
    batch_rows: usize,
    depth: usize,
) -> anyhow::Result<Summary> {
    let (reader, total) = open_input(input)?;
    let mut reader = BufReader::with_capacity(1 << 20, reader);
    let progress = Progress::new(total);
    let mut summary = Summary::default();
    let mut pipeline = Pipeline::new(depth);
    let (mut line_no, mut bytes) = (0u64, 0u64);
    loop {
        let (mut lines, mut records) = (Vec::new(), Vec::new());
        let mut eof = false;
        while records.len() < batch_rows {
            let mut buf = Vec::new();
            let n = reader
                .read_until(b'\n', &mut buf)
                .with_context(|| format!("reading line {}", line_no + 1))?;
            if n == 0 {
                eof = true;
                break;
            }
            line_no += 1;
            bytes += n as u64;
            while buf.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
                buf.pop();
            }
            if buf.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            lines.push(line_no);
            records.push(buf);
        }
        summary.rows += records.len() as u64;
        progress.update(summary.rows, bytes);
        if !records.is_empty() {
            let task = process(
                valv.clone(),
                policy.to_owned(),
                direction.clone(),
                lines,
                records,
            );
            if let Some(done) = pipeline.push(task).await? {
                write(&mut out, done, &mut summary)?;
            }
        }
        if eof {
            break;
        }
    }
    while let Some(done) = pipeline.next().await? {
        write(&mut out, done, &mut summary)?;
    }
    out.flush()?;
    progress.finish();
    Ok(summary)
}

fn write(out: &mut impl Write, done: Done, summary: &mut Summary) -> anyhow::Result<()> {
    for (line, record, reasons) in done {
        for reason in reasons {
            summary.refuse(line, reason);
        }
        if let Some(record) = record {
            out.write_all(&record)?;
            out.write_all(b"\n")?;
            summary.written += 1;
        }
    }
    Ok(())
}
