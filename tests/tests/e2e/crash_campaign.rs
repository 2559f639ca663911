//! The crash campaign: kill -9 at random moments under mixed load, over and over — writers
//! pseudonymising in all three schemes, consents granted and withdrawn, re-identification,
//! key rotations, retention runs and erasures — and after every restart: every acknowledged
//! pseudonym re-identifies, every acknowledged consent change is in force, every erasure holds,
//! both audit chains verify; at the end every rotation has finished with exact counts.
//!
//! 20 cycles here (`VALV_CRASH_CYCLES` for longer runs); the seed of the random moments is
//! printed (`VALV_CRASH_SEED` repeats a run).

// A test file: helpers unwrap like the tests do; a failure is the test's message.
#![allow(clippy::unwrap_used)]

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use valv_e2e::{
    load::{Load, assert_all_released, cpr_number},
    pb, *,
};

const BIN: &str = env!("CARGO_BIN_EXE_valv-under-test");
const SUBJECTS: usize = 12;
const ERASABLE: usize = 24;

/// splitmix64: the campaign's random moments, repeatable from the printed seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn shape(domain: &str, id: String) -> String {
    if domain == "fpe" { cpr_number(&id) } else { id }
}

/// One consent subject: its pseudonym, the last acknowledged state (`Some(true)`: granted), and
/// whether a change was in flight when the vault died (then either state is right).
#[derive(Clone, Default)]
struct Subject {
    pseudonym: String,
    granted: Option<bool>,
    in_doubt: bool,
}

fn subject_id(k: usize) -> String {
    format!("consent-subject-{k}")
}

fn erasable_id(k: usize) -> String {
    format!("erasable-{k}")
}

/// Grants and withdraws in turn until stopped, keeping what was acknowledged.
fn consent_load(
    client: Valv,
    subjects: Arc<Mutex<Vec<Subject>>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
    mut rng: Rng,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while !stop.load(std::sync::atomic::Ordering::SeqCst) {
            let k = usize::try_from(rng.below(SUBJECTS as u64)).unwrap();
            let grant_now = {
                let mut all = subjects.lock().unwrap();
                all[k].in_doubt = true;
                all[k].granted != Some(true)
            };
            let done = if grant_now {
                client
                    .consents()
                    .grant_consent(grant("keyed", &subject_id(k), "research", 1, 0))
                    .await
                    .is_ok()
            } else {
                client
                    .consents()
                    .withdraw_consent(pb::WithdrawConsentRequest {
                        subject: Some(pb::SubjectRef {
                            domain: "keyed".into(),
                            by: Some(pb::subject_ref::By::Identifier(subject_id(k))),
                        }),
                        purpose: "research".into(),
                    })
                    .await
                    .is_ok()
            };
            if done {
                let mut all = subjects.lock().unwrap();
                all[k].granted = Some(grant_now);
                all[k].in_doubt = false;
            } else {
                // Refused or cut off: its outcome is unknown until the check after the restart.
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    })
}

/// Checks (and, for those in doubt, learns) every subject's consent through re-identification.
async fn check_consents(reid: &Valv, subjects: &Mutex<Vec<Subject>>) {
    let snapshot = subjects.lock().unwrap().clone();
    let pseudonyms: Vec<String> = snapshot.iter().map(|s| s.pseudonym.clone()).collect();
    let verdicts = reidentify(reid, "keyed", "research", &pseudonyms)
        .await
        .unwrap();
    let mut all = subjects.lock().unwrap();
    for (k, ((verdict, _), s)) in verdicts.into_iter().zip(snapshot).enumerate() {
        let now = match verdict {
            pb::Verdict::Released => Some(true),
            pb::Verdict::ConsentWithdrawn => Some(false),
            pb::Verdict::NoConsent => None,
            other => panic!("subject {k}: unexpected verdict {other:?}"),
        };
        if !s.in_doubt {
            assert_eq!(
                now, s.granted,
                "subject {k}: an acknowledged consent change was lost"
            );
        }
        all[k].granted = now;
        all[k].in_doubt = false;
    }
}

/// What the erasures did: per erasable subject, `Some(true)` once an erasure was acknowledged,
/// `None` while one is in doubt.
async fn check_erasures(
    reid: &Valv,
    erasable: &[(String, String)],
    erased: &mut HashMap<usize, Option<bool>>,
) {
    for (k, state) in erased.iter_mut() {
        let (keyed, random) = &erasable[*k];
        for (domain, p) in [("keyed", keyed), ("random", random)] {
            let (verdict, _) = reidentify(reid, domain, "ops", std::slice::from_ref(p))
                .await
                .unwrap()
                .remove(0);
            let gone = verdict == pb::Verdict::NotFound;
            match state {
                Some(true) => assert!(
                    gone,
                    "erasable {k}: an acknowledged erasure came back ({verdict:?})"
                ),
                _ => assert!(gone || verdict == pb::Verdict::Released, "{verdict:?}"),
            }
            match (domain, *state) {
                ("keyed", None) => *state = Some(gone),
                // One erasure takes the subject from every domain at once.
                ("random", Some(erased)) => {
                    assert_eq!(gone, erased, "erasable {k}: erased in one domain only")
                }
                _ => {}
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_kill_9s_at_random_moments_under_mixed_load_lose_nothing_acknowledged() {
    init();
    let cycles: usize = std::env::var("VALV_CRASH_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let seed = std::env::var("VALV_CRASH_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    eprintln!("crash campaign: {cycles} cycles, VALV_CRASH_SEED={seed}");
    let mut rng = Rng(seed);
    let dir = tempfile::tempdir().unwrap();
    let (data, log) = (dir.path().join("data"), dir.path().join("server.log"));

    let mut server = spawn(BIN, &data, &log);
    let operator = server.client(&server.operator_token).await;
    let t = setup_tenant(
        &operator,
        "crash-co",
        &[
            ("keyed", pb::IdentifierKind::Opaque, pb::Scheme::Keyed, true),
            (
                "random",
                pb::IdentifierKind::Opaque,
                pb::Scheme::Random,
                true,
            ),
            (
                "fpe",
                pb::IdentifierKind::DkCpr,
                pb::Scheme::FormatPreserving,
                true,
            ),
        ],
        &[
            ("ops", pb::LegalBasis::Contract),
            ("research", pb::LegalBasis::Consent),
        ],
    )
    .await;
    let admin = server.client(&t.admin).await;
    let subject_officer = principal_token(&admin, "so", pb::Role::SubjectOfficer).await;
    let tok = server.client(&t.tokenizer).await;
    let ids: Vec<String> = (0..SUBJECTS).map(subject_id).collect();
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let subjects = Arc::new(Mutex::new(
        pseudonymise_ok(&tok, "keyed", &refs)
            .await
            .into_iter()
            .map(|pseudonym| Subject {
                pseudonym,
                ..Subject::default()
            })
            .collect::<Vec<_>>(),
    ));
    let ids: Vec<String> = (0..ERASABLE).map(erasable_id).collect();
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let erasable: Vec<(String, String)> = pseudonymise_ok(&tok, "keyed", &refs)
        .await
        .into_iter()
        .zip(pseudonymise_ok(&tok, "random", &refs).await)
        .collect();
    let mut erased: HashMap<usize, Option<bool>> = HashMap::new();
    let mut acked = Vec::new();
    let mut rotations = 0;

    for cycle in 0..cycles {
        let tok = server.client(&t.tokenizer).await;
        let load = Load::start_shaped(
            &tok,
            &["keyed", "random", "fpe"],
            2,
            25,
            &format!("c{cycle}"),
            Duration::from_secs(20),
            shape,
        );
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let consents = consent_load(
            server.client(&t.consent_manager).await,
            Arc::clone(&subjects),
            Arc::clone(&stop),
            Rng(rng.next()),
        );
        // One of the acts that run as jobs or change much at once, at a random moment.
        tokio::time::sleep(Duration::from_millis(rng.below(400))).await;
        match rng.below(3) {
            0 => {
                let ko = server.client(&t.key_officer).await;
                if ko
                    .keys()
                    .rotate_tenant_key(pb::RotateTenantKeyRequest {})
                    .await
                    .is_ok()
                {
                    rotations += 1;
                }
            }
            1 => {
                let admin = server.client(&t.admin).await;
                let _ = admin
                    .retention()
                    .run_retention(pb::RunRetentionRequest {})
                    .await;
            }
            _ => {
                let k = usize::try_from(rng.below(ERASABLE as u64)).unwrap();
                if erased.get(&k) != Some(&Some(true)) {
                    erased.insert(k, None);
                    let so = server.client(&subject_officer).await;
                    let erasure = so
                        .subjects()
                        .erase_subject(pb::EraseSubjectRequest {
                            subject: Some(pb::SubjectRef {
                                domain: "keyed".into(),
                                by: Some(pb::subject_ref::By::Identifier(erasable_id(k))),
                            }),
                        })
                        .await;
                    if erasure.is_ok() {
                        erased.insert(k, Some(true));
                    }
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(100 + rng.below(900))).await;
        server.kill_9();
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        consents.await.unwrap();
        acked.extend(load.stop().await.acked);

        server = spawn(BIN, &data, &log);
        let reid = server.client(&t.reidentifier).await;
        assert_all_released(&reid, "ops", &acked).await;
        check_consents(&reid, &subjects).await;
        check_erasures(&reid, &erasable, &mut erased).await;
        chains_verify(&server, &t.auditor).await;
        // A rotation never fails from a crash; a retention run a crash cut off is marked so and
        // run again.
        let failed: Vec<_> = jobs(&server.client(&t.key_officer).await)
            .await
            .into_iter()
            .filter(|j| j.state() == pb::JobState::Failed)
            .filter(|j| !(j.kind == "retention" && j.error.contains("cut off by a restart")))
            .collect();
        assert!(failed.is_empty(), "cycle {cycle}: failed jobs {failed:?}");
    }

    // Every rotation resumes and ends with exact counts.
    let ko = server.client(&t.key_officer).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    let done = loop {
        let all = jobs(&ko).await;
        if all.iter().all(|j| j.state() != pb::JobState::Running) {
            break all;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "jobs still running: {all:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let rotation_jobs: Vec<_> = done
        .iter()
        .filter(|j| j.kind == "rotate-tenant-key")
        .collect();
    assert_eq!(rotation_jobs.len(), rotations, "{done:?}");
    let mut ids: Vec<u64> = done.iter().map(|j| j.id).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(
        ids.len(),
        done.len(),
        "a job id was handed out twice: {done:?}"
    );
    for j in &rotation_jobs {
        assert_eq!(j.state(), pb::JobState::Done, "{j:?}");
        // Each record counted once, across every crash; what erasures and retention took
        // before the job reached it is the gap (exact counts without them: `e2e keys::`).
        assert!(j.done <= j.total, "counted more than there was: {j:?}");
        eprintln!(
            "rotation job {}: {} of {} records moved",
            j.id, j.done, j.total
        );
    }
    // Every record ended under the active version: nothing is left under an older one.
    for v in key_versions(&ko).await {
        if v.state() != pb::KeyVersionState::Active {
            assert_eq!(
                v.records, 0,
                "records left under version {}: {v:?}",
                v.version
            );
        }
    }
    assert!(
        acked.len() > 1000,
        "the load did little: {} items",
        acked.len()
    );
    let reid = server.client(&t.reidentifier).await;
    assert_all_released(&reid, "ops", &acked).await;
    eprintln!(
        "crash campaign: {cycles} kill -9s, {} acknowledged items, {rotations} rotations, {} erasures",
        acked.len(),
        erased.values().filter(|e| **e == Some(true)).count()
    );
    server.terminate();
}
