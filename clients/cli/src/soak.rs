//! `valvctl bench --soak-minutes N`: mixed load at a fixed rate for a long time, one line per
//! minute, so a run shows whether the server's memory, open files or latency creep.
//!
//! Open loop: a call is started every `1/rate` seconds whatever the server does (at most
//! `concurrency` in flight; a tick that finds them all busy is counted as skipped), so a server
//! that slows down shows it in the latency and the skips, not in a lower offered rate. The mix,
//! per 20 calls: 8 single new identifiers, 6 single repeated ones, one batch of 100 new, 3
//! re-identifications of 10 consented pseudonyms, 2 consent grants.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use tokio::sync::Semaphore;
use valv_client::pb;

use crate::{
    bench_tenant::{Setup, all_released, grant, ids, percentile, pseudonyms_of},
    disk_probe::DiskProbe,
};

/// Identifiers created before the soak, re-sent as repeated ones.
const POOL: usize = 10_000;
/// Of those, consented ones (re-identified with the consent check).
const CONSENTED: usize = 1_000;

#[derive(Default)]
struct Minute {
    latencies: Vec<Duration>,
    errors: u64,
    skipped: u64,
}

/// One call of the mix; `n` is its number, `next_new` hands out new identifiers.
async fn call(s: &Setup, n: u64, next_new: &AtomicU64, pool: &[String]) -> anyhow::Result<()> {
    let pick = |k: u64| pool[usize::try_from(k).unwrap_or(0) % pool.len()].clone();
    let pseudonymise = |identifiers: Vec<String>| pb::PseudonymiseRequest {
        domain: "bench".into(),
        identifiers,
        batch_id: 0,
    };
    let new = |count: usize| {
        let from = next_new.fetch_add(count as u64, Ordering::SeqCst);
        ids(
            &s.run,
            400_000_000 + usize::try_from(from).unwrap_or(0),
            count,
        )
    };
    match n % 20 {
        0..=7 => {
            s.tokenizer
                .pseudonyms()
                .pseudonymise(pseudonymise(new(1)))
                .await?;
        }
        8..=13 => {
            s.tokenizer
                .pseudonyms()
                .pseudonymise(pseudonymise(vec![pick(n.wrapping_mul(7919))]))
                .await?;
        }
        14 => {
            s.tokenizer
                .pseudonyms()
                .pseudonymise(pseudonymise(new(100)))
                .await?;
        }
        15..=17 => {
            let from = usize::try_from(n.wrapping_mul(31)).unwrap_or(0);
            let pseudonyms = (0..10).filter_map(|i| {
                let at = from.wrapping_add(i) % s.consented.len().max(1);
                s.consented.get(at).cloned()
            });
            let reply = s
                .reidentifier
                .pseudonyms()
                .re_identify(pb::ReIdentifyRequest {
                    domain: "bench".into(),
                    purpose: "study".into(),
                    pseudonyms: pseudonyms.collect(),
                })
                .await?
                .into_inner();
            all_released(&reply)?;
        }
        _ => {
            s.consents
                .consents()
                .grant_consent(grant(pick(n.wrapping_mul(104_729))))
                .await?;
        }
    }
    Ok(())
}

/// The server's resident memory (MiB) and open files, from `/proc` (same machine only).
fn process(pid: u32) -> Option<(f64, usize)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    let files = std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count();
    Some((kib / 1024.0, files))
}

/// Runs the soak and prints one Markdown row per minute.
pub async fn run(
    mut s: Setup,
    minutes: u64,
    rate: u32,
    pid: Option<u32>,
    concurrency: usize,
    disk_probe: Option<&std::path::Path>,
) -> anyhow::Result<()> {
    let pool = ids(&s.run, 500_000_000, POOL);
    for chunk in pool.chunks(5_000) {
        s.tokenizer
            .pseudonyms()
            .pseudonymise(pb::PseudonymiseRequest {
                domain: "bench".into(),
                identifiers: chunk.to_vec(),
                batch_id: 0,
            })
            .await?;
    }
    let reply = s
        .tokenizer
        .pseudonyms()
        .pseudonymise(pb::PseudonymiseRequest {
            domain: "bench".into(),
            identifiers: pool[..CONSENTED].to_vec(),
            batch_id: 0,
        })
        .await?
        .into_inner();
    s.consented = pseudonyms_of(reply);
    if s.consented.len() != CONSENTED {
        anyhow::bail!("the vault did not pseudonymise every identifier of the soak's pool");
    }
    for id in &pool[..CONSENTED] {
        s.consents
            .consents()
            .grant_consent(grant(id.clone()))
            .await?;
    }

    println!(
        "Soak: {rate} calls/s for {minutes} min, at most {concurrency} in flight (mix: 40 % one new id, 30 % one repeated, 5 % 100 new, 15 % re-identify 10 with consent, 10 % consent grant)"
    );
    println!();
    println!(
        "| minute | calls | errors | skipped | p50 ms | p99 ms | server RSS MiB | open files | disk flush p50 ms | disk flush p99 ms |"
    );
    println!("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    let probe = disk_probe.map(DiskProbe::start).transpose()?;
    let s = Arc::new(s);
    let pool = Arc::new(pool);
    let next_new = Arc::new(AtomicU64::new(0));
    let minute = Arc::new(Mutex::new(Minute::default()));
    let slots = Arc::new(Semaphore::new(concurrency.max(1)));
    let period = Duration::from_secs_f64(1.0 / f64::from(rate.max(1)));
    let mut ticker = tokio::time::interval(period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let started = Instant::now();
    let mut n = 0u64;
    for m in 1..=minutes {
        let end = started + Duration::from_secs(60 * m);
        while Instant::now() < end {
            ticker.tick().await;
            n += 1;
            let Ok(permit) = Arc::clone(&slots).try_acquire_owned() else {
                minute.lock().map(|mut m| m.skipped += 1).ok();
                continue;
            };
            let (s, pool, next_new, minute) = (
                Arc::clone(&s),
                Arc::clone(&pool),
                Arc::clone(&next_new),
                Arc::clone(&minute),
            );
            tokio::spawn(async move {
                let t = Instant::now();
                let ok = call(&s, n, &next_new, &pool).await.is_ok();
                let took = t.elapsed();
                if let Ok(mut m) = minute.lock() {
                    m.latencies.push(took);
                    m.errors += u64::from(!ok);
                }
                drop(permit);
            });
        }
        let mut done = std::mem::take(&mut *minute.lock().map_err(|_| anyhow::anyhow!("lock"))?);
        done.latencies.sort();
        let (rss, files) = pid
            .and_then(process)
            .map_or(("–".into(), "–".into()), |(r, f)| {
                (format!("{r:.0}"), f.to_string())
            });
        let flushes = probe.as_ref().map(DiskProbe::take).unwrap_or_default();
        let (flush50, flush99) = if flushes.is_empty() {
            ("–".to_owned(), "–".to_owned())
        } else {
            (
                format!("{:.2}", percentile(&flushes, 0.5).as_secs_f64() * 1e3),
                format!("{:.2}", percentile(&flushes, 0.99).as_secs_f64() * 1e3),
            )
        };
        println!(
            "| {m} | {} | {} | {} | {:.2} | {:.2} | {rss} | {files} | {flush50} | {flush99} |",
            done.latencies.len(),
            done.errors,
            done.skipped,
            percentile(&done.latencies, 0.5).as_secs_f64() * 1e3,
            percentile(&done.latencies, 0.99).as_secs_f64() * 1e3,
        );
    }
    Ok(())
}
