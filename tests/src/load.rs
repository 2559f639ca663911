//! Background load for fault tests: writers that pseudonymise new identifiers until stopped,
//! keeping every pseudonym the server acknowledged and every refusal's gRPC code, so a test can
//! check afterwards that nothing acknowledged was lost and that failures had the promised code.

use std::{
    collections::BTreeMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};

use tokio::task::JoinHandle;
use valv_client::{Valv, pb};

/// What the writers saw.
#[derive(Default, Debug)]
pub struct Tally {
    /// (domain, identifier, pseudonym) for every item of every acknowledged call.
    pub acked: Vec<(String, String, String)>,
    /// Refused calls per gRPC code.
    pub refused: BTreeMap<String, u64>,
    /// One message per code (the first seen).
    pub messages: BTreeMap<String, String>,
}

/// Writers running in the background.
pub struct Load {
    stop: Arc<AtomicBool>,
    tally: Arc<Mutex<Tally>>,
    acked_calls: Arc<AtomicU64>,
    refused_calls: Arc<AtomicU64>,
    tasks: Vec<JoinHandle<()>>,
}

impl Load {
    /// `writers` tasks, each sending calls of `batch` new identifiers (prefixed `prefix`) to the
    /// domains in turn. A call that takes longer than `deadline` counts as refused with
    /// `DeadlineExceeded` (it may or may not have been stored; it was not acknowledged).
    pub fn start(
        client: &Valv,
        domains: &[&str],
        writers: usize,
        batch: usize,
        prefix: &str,
        deadline: Duration,
    ) -> Self {
        Self::start_shaped(
            client,
            domains,
            writers,
            batch,
            prefix,
            deadline,
            |_, id| id,
        )
    }

    /// Like [`Load::start`], with `shape(domain, id)` turning each opaque test id into an
    /// identifier of the domain's kind (the same id always into the same identifier).
    pub fn start_shaped(
        client: &Valv,
        domains: &[&str],
        writers: usize,
        batch: usize,
        prefix: &str,
        deadline: Duration,
        shape: fn(&str, String) -> String,
    ) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let tally = Arc::new(Mutex::new(Tally::default()));
        let acked_calls = Arc::new(AtomicU64::new(0));
        let refused_calls = Arc::new(AtomicU64::new(0));
        let domains: Arc<Vec<String>> = Arc::new(domains.iter().map(|d| (*d).to_owned()).collect());
        let tasks = (0..writers)
            .map(|w| {
                let (client, stop, tally) = (client.clone(), Arc::clone(&stop), Arc::clone(&tally));
                let (acked_calls, refused_calls) =
                    (Arc::clone(&acked_calls), Arc::clone(&refused_calls));
                let domains = Arc::clone(&domains);
                let prefix = format!("{prefix}-{w}");
                tokio::spawn(async move {
                    let mut n = 0usize;
                    while !stop.load(Ordering::SeqCst) {
                        let domain = &domains[n % domains.len()];
                        let ids: Vec<String> = (0..batch)
                            .map(|i| shape(domain, format!("{prefix}-{n}-{i}")))
                            .collect();
                        n += 1;
                        let mut pseudonyms = client.pseudonyms();
                        let call = pseudonyms.pseudonymise(pb::PseudonymiseRequest {
                            domain: domain.clone(),
                            identifiers: ids.clone(),
                            batch_id: 0,
                        });
                        let outcome = match tokio::time::timeout(deadline, call).await {
                            Ok(Ok(reply)) => Ok(reply.into_inner()),
                            Ok(Err(status)) => {
                                Err((format!("{:?}", status.code()), status.message().to_owned()))
                            }
                            Err(_) => Err(("DeadlineExceeded".into(), "client deadline".into())),
                        };
                        let refused = {
                            let mut t = tally
                                .lock()
                                .unwrap_or_else(std::sync::PoisonError::into_inner);
                            match outcome {
                                Ok(reply) => {
                                    for (id, r) in ids.into_iter().zip(reply.results) {
                                        match r.outcome {
                                            Some(pb::pseudonymise_result::Outcome::Pseudonym(
                                                p,
                                            )) => t.acked.push((domain.clone(), id, p)),
                                            other => panic!(
                                                "an item failed in an answered call: {other:?}"
                                            ),
                                        }
                                    }
                                    acked_calls.fetch_add(1, Ordering::SeqCst);
                                    false
                                }
                                Err((code, message)) => {
                                    *t.refused.entry(code.clone()).or_default() += 1;
                                    t.messages.entry(code).or_insert(message);
                                    refused_calls.fetch_add(1, Ordering::SeqCst);
                                    true
                                }
                            }
                        };
                        if refused {
                            // A refused writer backs off a little, like a client would.
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                    }
                })
            })
            .collect();
        Self {
            stop,
            tally,
            acked_calls,
            refused_calls,
            tasks,
        }
    }

    /// Calls acknowledged so far.
    pub fn acked_calls(&self) -> u64 {
        self.acked_calls.load(Ordering::SeqCst)
    }

    /// Calls refused so far.
    pub fn refused_calls(&self) -> u64 {
        self.refused_calls.load(Ordering::SeqCst)
    }

    /// Waits until `done(acked, refused)` holds (counts of calls), or panics after `within`.
    pub async fn until(&self, what: &str, within: Duration, done: impl Fn(u64, u64) -> bool) {
        let deadline = tokio::time::Instant::now() + within;
        while !done(self.acked_calls(), self.refused_calls()) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{what}: not within {within:?} ({} acknowledged, {} refused calls; refusals {:?})",
                self.acked_calls(),
                self.refused_calls(),
                self.tally
                    .lock()
                    .map(|t| t.messages.clone())
                    .unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Stops the writers and returns what they saw.
    pub async fn stop(self) -> Tally {
        self.stop.store(true, Ordering::SeqCst);
        for task in self.tasks {
            if let Err(e) = task.await
                && e.is_panic()
            {
                std::panic::resume_unwind(e.into_panic());
            }
        }
        std::mem::take(
            &mut *self
                .tally
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }
}

/// Asserts that every acknowledged item re-identifies to its identifier (`purpose` must release
/// without consent), in calls of at most 5,000.
pub async fn assert_all_released(
    reidentifier: &Valv,
    purpose: &str,
    acked: &[(String, String, String)],
) {
    let mut by_domain: BTreeMap<&str, Vec<&(String, String, String)>> = BTreeMap::new();
    for item in acked {
        by_domain.entry(item.0.as_str()).or_default().push(item);
    }
    for (domain, items) in by_domain {
        for chunk in items.chunks(5000) {
            let pseudonyms: Vec<String> = chunk.iter().map(|(_, _, p)| p.clone()).collect();
            let back = crate::reidentify(reidentifier, domain, purpose, &pseudonyms)
                .await
                .unwrap_or_else(|e| panic!("re-identify in {domain}: {e}"));
            assert_eq!(back.len(), chunk.len());
            for ((_, id, p), (verdict, got)) in chunk.iter().zip(back) {
                assert_eq!(
                    (verdict, got.as_str()),
                    (pb::Verdict::Released, id.as_str()),
                    "{domain}: acknowledged pseudonym {p} does not re-identify"
                );
            }
        }
    }
}

/// A valid Danish CPR number (10 digits) made from `id`: a birth date in 1950–1999 and a
/// sequence number of that century from its hash. The same `id` gives the same number.
pub fn cpr_number(id: &str) -> String {
    let h = id.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    let (dd, mm, yy, seq) = (
        1 + h % 28,
        1 + (h >> 8) % 12,
        50 + (h >> 16) % 50,
        (h >> 24) % 4000,
    );
    format!("{dd:02}{mm:02}{yy:02}{seq:04}")
}
