//! `valvctl bench`: a load generator that sets up its own tenant and measures the figures
//! recorded in BENCHMARKS.md (throughput by batch size, new vs repeated identifiers,
//! re-identification with the consent check, single-item latency, disk bytes per mapping).

use std::{
    path::{Path, PathBuf},
    time::Instant,
};

use anyhow::bail;
use valv_client::{Valv, pb};

use crate::bench_tenant::{Setup, all_released, ids, percentile, pseudonyms_of, setup};

/// Options of the load generator. Connect with an operator token.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Identifiers per throughput scenario at batch size 10,000 (smaller batches use a tenth).
    #[arg(long, default_value_t = 200_000)]
    total: usize,
    /// Concurrent requests in flight.
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
    /// Samples for single-item latency.
    #[arg(long, default_value_t = 2_000)]
    latency_samples: usize,
    /// The server's data directory, to measure disk bytes per stored mapping.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Run only one scenario (after inserting `--total` new identifiers, so the store is not
    /// empty); useful under a profiler.
    #[arg(long, value_enum)]
    only: Option<Only>,
    /// Instead of the scenarios: mixed load at a fixed rate for this many minutes, one line per
    /// minute (the soak in BENCHMARKS.md).
    #[arg(long)]
    soak_minutes: Option<u64>,
    /// Calls per second during the soak.
    #[arg(long, default_value_t = 200)]
    rate: u32,
    /// The server's process id, on this machine: the soak reports its resident memory and open
    /// files every minute.
    #[arg(long)]
    pid: Option<u32>,
    /// During the soak, also time the disk's own flushes (a 4 KiB write and fdatasync ten times
    /// a second) in this directory — the vault's data directory, so a slow disk shows beside
    /// the vault's latency.
    #[arg(long, requires = "soak_minutes")]
    disk_probe: Option<std::path::PathBuf>,
}

/// A scenario to run alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Only {
    /// Single-item latency, sequential.
    Latency,
    /// Repeated identifiers in batches of 10,000, five rounds.
    Repeated,
    /// One new identifier per request, `--concurrency` in flight, `--total` / 100 requests, three
    /// rounds, and nothing else (with `--metrics-listen` on the server, `valv_store_flushes_total`
    /// and `valv_store_flush_waits_total` tell how many requests one flush served).
    NewSingle,
    /// One repeated identifier per request, `--concurrency` in flight, `--total` / 100
    /// requests, three rounds after the identifiers were stored once: the per-request path
    /// without writes.
    RepeatedSingle,
}

/// Pseudonymises `total` identifiers starting at `from` in batches of `batch` with
/// `concurrency` requests in flight; returns identifiers per second.
async fn pseudonymise(
    s: &Setup,
    from: usize,
    total: usize,
    batch: usize,
    concurrency: usize,
) -> anyhow::Result<f64> {
    let batches: Vec<usize> = (0..total.div_ceil(batch)).collect();
    let start = Instant::now();
    let mut workers = Vec::new();
    for w in 0..concurrency {
        let mine: Vec<usize> = batches
            .iter()
            .copied()
            .filter(|b| b % concurrency == w)
            .collect();
        let client = s.tokenizer.clone();
        let run = s.run.clone();
        workers.push(tokio::spawn(async move {
            let mut client = client.pseudonyms();
            for b in mine {
                let n = batch.min(total - b * batch);
                let reply = client
                    .pseudonymise(pb::PseudonymiseRequest {
                        domain: "bench".into(),
                        identifiers: ids(&run, from + b * batch, n),
                        batch_id: b as u64,
                    })
                    .await?
                    .into_inner();
                if reply.results.len() != n {
                    bail!("short reply");
                }
            }
            anyhow::Ok(())
        }));
    }
    for w in workers {
        w.await??;
    }
    Ok(total as f64 / start.elapsed().as_secs_f64())
}

fn dir_size(path: &Path) -> u64 {
    std::fs::read_dir(path)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| {
            let p = e.path();
            if p.is_dir() {
                dir_size(&p)
            } else {
                e.metadata().map(|m| m.len()).unwrap_or(0)
            }
        })
        .sum()
}

/// Runs every scenario and prints a Markdown table.
pub async fn run(operator: &Valv, args: BenchArgs) -> anyhow::Result<()> {
    let s = setup(operator).await?;
    let c = args.concurrency.max(1);
    if let Some(minutes) = args.soak_minutes {
        let probe = args.disk_probe.as_deref();
        return crate::soak::run(s, minutes, args.rate, args.pid, c, probe).await;
    }
    let small = (args.total / 10).max(1000);
    if args.only == Some(Only::NewSingle) {
        // Nothing else runs, so the server's flush counts before and after are this scenario's.
        let n = small / 10;
        println!("| scenario | batch | requests | result |");
        println!("| --- | ---: | ---: | ---: |");
        for round in 0..3 {
            let r = pseudonymise(&s, 300_000_000 + round * n, n, 1, c).await?;
            println!("| Pseudonymise, new, {c} in flight | 1 | {n} | {r:.0} ids/s |");
        }
        return Ok(());
    }
    if args.only == Some(Only::RepeatedSingle) {
        let n = small / 10;
        pseudonymise(&s, 400_000_000, n, 1000, c).await?;
        println!("| scenario | batch | requests | result |");
        println!("| --- | ---: | ---: | ---: |");
        for _ in 0..3 {
            let r = pseudonymise(&s, 400_000_000, n, 1, c).await?;
            println!("| Pseudonymise, repeated, {c} in flight | 1 | {n} | {r:.0} ids/s |");
        }
        return Ok(());
    }
    let disk_before = args.data_dir.as_deref().map(|d| dir_size(&d.join("store")));
    println!("| scenario | batch | identifiers | result |");
    println!("| --- | ---: | ---: | ---: |");
    // New identifiers; the 10,000 range comes first and is reused for the repeated runs.
    let new_10k = pseudonymise(&s, 0, args.total, 10_000, c).await?;
    println!(
        "| Pseudonymise, new | 10000 | {} | {new_10k:.0} ids/s |",
        args.total
    );
    match args.only {
        Some(Only::Latency) => return latency(&s, args.latency_samples).await,
        Some(Only::Repeated) => {
            for _ in 0..5 {
                let r = pseudonymise(&s, 0, args.total, 10_000, c).await?;
                println!(
                    "| Pseudonymise, repeated | 10000 | {} | {r:.0} ids/s |",
                    args.total
                );
            }
            return Ok(());
        }
        Some(Only::NewSingle | Only::RepeatedSingle) | None => {}
    }
    let disk_after = args.data_dir.as_deref().map(|d| dir_size(&d.join("store")));
    let new_100 = pseudonymise(&s, 100_000_000, small, 100, c).await?;
    println!("| Pseudonymise, new | 100 | {small} | {new_100:.0} ids/s |");
    let n1 = small / 10;
    let new_1 = pseudonymise(&s, 200_000_000, n1, 1, c).await?;
    println!("| Pseudonymise, new | 1 | {n1} | {new_1:.0} ids/s |");
    let rep_10k = pseudonymise(&s, 0, args.total, 10_000, c).await?;
    println!(
        "| Pseudonymise, repeated | 10000 | {} | {rep_10k:.0} ids/s |",
        args.total
    );
    let rep_100 = pseudonymise(&s, 0, small, 100, c).await?;
    println!("| Pseudonymise, repeated | 100 | {small} | {rep_100:.0} ids/s |");
    let rep_1 = pseudonymise(&s, 0, n1, 1, c).await?;
    println!("| Pseudonymise, repeated | 1 | {n1} | {rep_1:.0} ids/s |");

    // Re-identification with the consent check: 10,000 subjects, all with a consent.
    let consent_ids = ids(&s.run, 0, 10_000);
    let mut grants = Vec::new();
    for chunk in consent_ids.chunks(10_000usize.div_ceil(16)) {
        let cm = s.consents.clone();
        let chunk = chunk.to_vec();
        grants.push(tokio::spawn(async move {
            for id in chunk {
                cm.consents()
                    .grant_consent(crate::bench_tenant::grant(id))
                    .await?;
            }
            anyhow::Ok(())
        }));
    }
    for g in grants {
        g.await??;
    }
    let reply = s
        .tokenizer
        .pseudonyms()
        .pseudonymise(pb::PseudonymiseRequest {
            domain: "bench".into(),
            identifiers: consent_ids,
            batch_id: 0,
        })
        .await?
        .into_inner();
    let pseudonyms = pseudonyms_of(reply);
    let rounds = (args.total / 10_000).max(1);
    let start = Instant::now();
    let mut workers = Vec::new();
    for w in 0..c {
        let client = s.reidentifier.clone();
        let ps = pseudonyms.clone();
        let mine = (0..rounds).filter(|r| r % c == w).count();
        workers.push(tokio::spawn(async move {
            let mut client = client.pseudonyms();
            for _ in 0..mine {
                let r = client
                    .re_identify(pb::ReIdentifyRequest {
                        domain: "bench".into(),
                        purpose: "study".into(),
                        pseudonyms: ps.clone(),
                    })
                    .await?
                    .into_inner();
                all_released(&r)?;
            }
            anyhow::Ok(())
        }));
    }
    for w in workers {
        w.await??;
    }
    let reid = (rounds * 10_000) as f64 / start.elapsed().as_secs_f64();
    println!(
        "| ReIdentify, consent check, all released | 10000 | {} | {reid:.0} pseudonyms/s |",
        rounds * 10_000
    );

    latency(&s, args.latency_samples).await?;
    if let (Some(before), Some(after)) = (disk_before, disk_after) {
        let per = after.saturating_sub(before) as f64 / args.total as f64;
        println!(
            "| Disk growth per new mapping (store dir, after {} inserts) | – | {} | {per:.0} bytes |",
            args.total, args.total
        );
    }
    Ok(())
}

/// Single-item latency, one request at a time, new identifiers.
async fn latency(s: &Setup, n: usize) -> anyhow::Result<()> {
    let mut client = s.tokenizer.pseudonyms();
    let mut samples = Vec::with_capacity(n);
    for id in ids(&s.run, 300_000_000, n) {
        let t = Instant::now();
        client
            .pseudonymise(pb::PseudonymiseRequest {
                domain: "bench".into(),
                identifiers: vec![id],
                batch_id: 0,
            })
            .await?;
        samples.push(t.elapsed());
    }
    samples.sort();
    println!(
        "| Pseudonymise latency, new, sequential | 1 | {} | p50 {:.2} ms, p99 {:.2} ms |",
        samples.len(),
        percentile(&samples, 0.5).as_secs_f64() * 1e3,
        percentile(&samples, 0.99).as_secs_f64() * 1e3
    );
    Ok(())
}
