//! `valvctl pseudonymise|reidentify|translate --column …`: CSV in, CSV out, only the named
//! columns changed. The first row must name the columns.

use std::{
    io::{BufRead, Write},
    sync::Arc,
};

use anyhow::{Context, bail};
use valv_client::{Valv, pb};

use super::{Pipeline, Progress, Summary, open_input};
use crate::output::verdict_word;

/// A column and the domain of its identifiers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    /// Header name.
    pub name: String,
    /// Domain.
    pub domain: String,
}

/// Parses `--column C` (domain from `--domain`) and `--column C=D`.
pub fn parse_columns(specs: &[String], domain: Option<&str>) -> anyhow::Result<Vec<Column>> {
    specs
        .iter()
        .map(|spec| match spec.split_once('=') {
            Some((name, d)) if !name.is_empty() && !d.is_empty() => Ok(Column {
                name: name.into(),
                domain: d.into(),
            }),
            Some(_) => bail!("--column {spec}: expected COLUMN or COLUMN=DOMAIN"),
            None => match domain {
                Some(d) => Ok(Column {
                    name: spec.clone(),
                    domain: d.into(),
                }),
                None => bail!("--column {spec}: give --domain, or write it as {spec}=DOMAIN"),
            },
        })
        .collect()
}

/// Which way the cells go.
#[derive(Debug, Clone)]
pub enum Direction {
    /// Identifiers → pseudonyms.
    Pseudonymise,
    /// Pseudonyms → identifiers for this purpose.
    ReIdentify(String),
    /// Pseudonyms → the recipient's pseudonyms under this sharing agreement (the columns'
    /// domains are the agreement's).
    Translate(String),
}

/// One batch of rows: (line, cells) and, per row, why it was refused or not released.
type Batch = Vec<(u64, Vec<String>, Vec<String>)>;

/// Row indexes of `rows` whose cell `index` is not empty (and, when `skip_refused`, whose row
/// has not been refused).
fn cells(rows: &Batch, index: usize, skip_refused: bool) -> Vec<usize> {
    (0..rows.len())
        .filter(|&r| rows[r].1.get(index).is_some_and(|c| !c.is_empty()))
        .filter(|&r| !skip_refused || rows[r].2.is_empty())
        .collect()
}

/// Puts each released value into its cell (`index`, of `column`) of the rows `at`, or records
/// the verdict against the row.
fn settle(
    rows: &mut Batch,
    at: &[usize],
    (index, column): (usize, &str),
    out: impl Iterator<Item = (pb::Verdict, String)>,
) {
    for (&r, (verdict, value)) in at.iter().zip(out) {
        if verdict == pb::Verdict::Released {
            rows[r].1[index] = value;
        } else {
            rows[r]
                .2
                .push(format!("column {column}: {}", verdict_word(verdict)));
        }
    }
}

async fn process(
    valv: Valv,
    direction: Arc<Direction>,
    columns: Arc<Vec<(usize, Column)>>,
    mut rows: Batch,
) -> anyhow::Result<Batch> {
    if let Direction::Pseudonymise = direction.as_ref() {
        // Every cell of every column is checked first, so a refused row gets no mapping for
        // any of its identifiers.
        for (index, column) in columns.iter() {
            let at = cells(&rows, *index, false);
            if at.is_empty() {
                continue;
            }
            let values: Vec<&str> = at.iter().map(|&r| rows[r].1[*index].as_str()).collect();
            for (i, e) in valv.check_identifiers(&column.domain, &values).await? {
                let Some(&r) = at.get(i) else {
                    anyhow::bail!("the vault named an unknown item {}", e.field);
                };
                rows[r]
                    .2
                    .push(format!("column {}: {}", column.name, e.rule));
            }
        }
    }
    for (index, column) in columns.iter() {
        // A refused row's other cells are not pseudonymised (they are checked first); on the
        // way back every cell is tried.
        let skip_refused = matches!(direction.as_ref(), Direction::Pseudonymise);
        let at = cells(&rows, *index, skip_refused);
        if at.is_empty() {
            continue;
        }
        let values: Vec<&str> = at.iter().map(|&r| rows[r].1[*index].as_str()).collect();
        match direction.as_ref() {
            Direction::Pseudonymise => {
                let out = valv.pseudonymise(&column.domain, &values).await?;
                for (&r, result) in at.iter().zip(out.results) {
                    match result {
                        Ok(p) => rows[r].1[*index] = p,
                        Err(e) => rows[r]
                            .2
                            .push(format!("column {}: {}", column.name, e.rule)),
                    }
                }
            }
            Direction::Translate(agreement) => {
                let out = valv.translate(agreement, &values).await?;
                let out = out.into_iter().map(|r| (r.verdict(), r.pseudonym));
                settle(&mut rows, &at, (*index, &column.name), out);
            }
            Direction::ReIdentify(purpose) => {
                let out = valv.reidentify(&column.domain, purpose, &values).await?;
                let out = out.into_iter().map(|r| (r.verdict(), r.identifier));
                settle(&mut rows, &at, (*index, &column.name), out);
            }
        }
    }
    Ok(rows)
}

/// Runs a whole CSV input through the vault and writes the result to `out`.
pub async fn run(
    valv: &Valv,
    direction: Direction,
    columns: Vec<Column>,
    input: Option<&str>,
    out: impl Write,
    batch_rows: usize,
    depth: usize,
) -> anyhow::Result<Summary> {
    let (reader, total) = open_input(input)?;
    // Spreadsheet exports often start with a byte-order mark: the CSV reader skips it when
    // matching column names, and the output starts with it again.
    let mut reader = std::io::BufReader::new(reader);
    let bom = reader.fill_buf()?.starts_with(b"\xEF\xBB\xBF");
    let mut out = out;
    if bom {
        out.write_all(b"\xEF\xBB\xBF")?;
    }
    let mut reader = csv::ReaderBuilder::new()
        .flexible(false)
        .from_reader(reader);
    let headers = reader.headers().context("reading the header row")?.clone();
    let mut indexed = Vec::new();
    for column in columns {
        let Some(i) = headers.iter().position(|h| h == column.name) else {
            bail!(
                "no column {:?} in the header row (columns: {})",
                column.name,
                headers.iter().collect::<Vec<_>>().join(", ")
            );
        };
        indexed.push((i, column));
    }
    let columns = Arc::new(indexed);
    let direction = Arc::new(direction);
    let mut writer = csv::Writer::from_writer(out);
    writer.write_record(&headers)?;
    let progress = Progress::new(total);
    let mut summary = Summary::default();
    let mut pipeline = Pipeline::new(depth);
    let mut record = csv::StringRecord::new();
    loop {
        let mut batch: Batch = Vec::with_capacity(batch_rows);
        while batch.len() < batch_rows {
            let more = reader
                .read_record(&mut record)
                .with_context(|| format!("reading CSV after line {}", reader.position().line()))?;
            if !more {
                break;
            }
            let line = record.position().map_or(0, |p| p.line());
            batch.push((line, record.iter().map(str::to_owned).collect(), Vec::new()));
        }
        let last = batch.len() < batch_rows;
        summary.rows += batch.len() as u64;
        progress.update(summary.rows, reader.position().byte());
        if !batch.is_empty() {
            let task = process(
                valv.clone(),
                Arc::clone(&direction),
                Arc::clone(&columns),
                batch,
            );
            if let Some(done) = pipeline.push(task).await? {
                write(&mut writer, &direction, done, &mut summary)?;
            }
        }
        if last {
            break;
        }
    }
    while let Some(done) = pipeline.next().await? {
        write(&mut writer, &direction, done, &mut summary)?;
    }
    writer.flush()?;
    progress.finish();
    Ok(summary)
}

fn write<W: Write>(
    writer: &mut csv::Writer<W>,
    direction: &Direction,
    rows: Batch,
    summary: &mut Summary,
) -> anyhow::Result<()> {
    for (line, cells, refused) in rows {
        let keep = refused.is_empty() || matches!(direction, Direction::ReIdentify(_));
        for reason in refused {
            summary.refuse(line, reason);
        }
        // A refused row would carry its identifier (or, translating, a pseudonym of the
        // sender's domain, which the recipient must not get): it is left out.
        if keep {
            writer.write_record(&cells)?;
            summary.written += 1;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_take_the_default_domain_or_their_own() {
        let c = parse_columns(&["ssn".into(), "phone=phones".into()], Some("patients"));
        assert_eq!(
            c.ok(),
            Some(vec![
                Column {
                    name: "ssn".into(),
                    domain: "patients".into()
                },
                Column {
                    name: "phone".into(),
                    domain: "phones".into()
                },
            ])
        );
        assert!(parse_columns(&["ssn".into()], None).is_err());
        assert!(parse_columns(&["=x".into()], None).is_err());
    }
}
