//! The rotation job on the in-memory store: a crash injected at a page's commit, moves lost to
//! concurrent changes, and records sealed again by requests while the job runs.

use crate::{
    ops,
    store::records::JobState,
    testkit::{Nodes, clinic},
    {app::App, config::Limits},
};

async fn wait_for_end(app: &App, id: u64) -> crate::store::records::JobRecord {
    for _ in 0..500 {
        let job = app.store.job(id).await.unwrap().unwrap();
        if job.state != JobState::Running {
            return job;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("job {id} did not end");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_cut_off_at_a_page_counts_every_record_once_when_it_resumes() {
    let nodes = Nodes::new();
    let (faults, clock) = (&nodes.faults, &nodes.clock);
    let app = nodes.node(Limits::default()).await;
    let (tenant_id, _) = clinic(&app, 1_600).await;
    clock.advance_ms(5_000);
    // The total is saved, pages 1 and 2 (500 records each) commit, and page 3's commit fails as
    // if the process died right there (so does the run's own "failed" save).
    faults.fail_after("save_job", 1);
    faults.fail_after("commit_rotation_page", 2);
    let (_, id) = ops::keys::rotate(&app, tenant_id, "key-officer", "req")
        .await
        .unwrap();
    let cut = {
        let mut job = app.store.job(id).await.unwrap().unwrap();
        for _ in 0..500 {
            if job.done == 1_000 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            job = app.store.job(id).await.unwrap().unwrap();
        }
        job
    };
    // Let the failing run end (its own "failed" save is refused too).
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let cut = app.store.job(id).await.unwrap().map_or(cut, |j| j);
    assert_eq!(
        (cut.state, cut.done, cut.total),
        (JobState::Running, 1_000, 1_600)
    );
    let by_version = ops::keys::records_by_version(app.store.as_ref(), tenant_id)
        .await
        .unwrap();
    // Page 3 is all or nothing: none of its moves was kept without the count.
    assert_eq!(by_version.get(&2).copied(), Some(1_000));

    faults.heal();
    assert_eq!(super::resume(&app, true).await.unwrap(), 1);
    let end = wait_for_end(&app, id).await;
    assert_eq!(end.state, JobState::Done, "{}", end.error);
    assert_eq!((end.done, end.total), (1_600, 1_600));
    let audit = app.store.read_audit(tenant_id, 1, 10_000).await.unwrap();
    let done = audit
        .iter()
        .find(|e| e.action == "key.rotate.done")
        .unwrap();
    let records = done.counts.iter().find(|c| c.name == "records").unwrap();
    assert_eq!(records.value, 1_600);
    let by_version = ops::keys::records_by_version(app.store.as_ref(), tenant_id)
        .await
        .unwrap();
    assert_eq!(by_version.get(&2).copied(), Some(1_600));
    assert_eq!(by_version.get(&1).copied().unwrap_or(0), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_swap_lost_to_a_concurrent_change_is_retried_and_nothing_is_left_behind() {
    let nodes = Nodes::new();
    let app = nodes.node(Limits::default()).await;
    let (tenant_id, pseudonyms) = clinic(&app, 700).await;
    // The first record changes between the job's page read and its swap (as when another
    // node moves its expiry), four times over: the fifth attempt, on the fresh row, wins.
    nodes.faults.conflict("commit_rotation_page", 4);
    let (_, id) = ops::keys::rotate(&app, tenant_id, "key-officer", "req")
        .await
        .unwrap();
    let end = wait_for_end(&app, id).await;
    assert_eq!(end.state, JobState::Done, "{}", end.error);
    assert_eq!((end.done, end.total), (700, 700));
    // The retry moved it within the first walk; no second pass was needed.
    assert_eq!(end.pass, 0);
    let by_version = ops::keys::records_by_version(app.store.as_ref(), tenant_id)
        .await
        .unwrap();
    assert_eq!(by_version.get(&2).copied(), Some(700));
    assert_eq!(by_version.get(&1).copied().unwrap_or(0), 0);
    // Every record still opens under the new version (the retired one's material is gone).
    let mut re = crate::testkit::caller(Some(tenant_id), crate::store::records::Role::Reidentifier);
    re.principal.purposes = vec!["care".into()];
    let purpose = ops::admin::PurposeSpec {
        name: "care".into(),
        legal_basis: Some(crate::store::records::LegalBasis::Contract),
        ..ops::admin::PurposeSpec::default()
    };
    ops::admin::define_purpose(
        &app,
        &crate::testkit::caller(Some(tenant_id), crate::store::records::Role::TenantAdmin),
        purpose,
    )
    .await
    .unwrap();
    let out = ops::reidentify::reidentify(&app, &re, "patients", "care", pseudonyms.clone())
        .await
        .unwrap();
    assert!(
        out.iter()
            .all(|r| r.verdict == crate::engine::consent::Verdict::Released)
    );
    assert_eq!(out[3].identifier.as_deref(), Some("patient-3"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_left_under_an_old_version_are_walked_again_before_it_is_retired() {
    let nodes = Nodes::new();
    let app = nodes.node(Limits::default()).await;
    let (tenant_id, _) = clinic(&app, 300).await;
    // More lost swaps in a row than one record is retried: that record is left behind by the
    // first walk, and the recount before retiring finds it.
    nodes.faults.conflict("commit_rotation_page", 5);
    let (_, id) = ops::keys::rotate(&app, tenant_id, "key-officer", "req")
        .await
        .unwrap();
    let end = wait_for_end(&app, id).await;
    assert_eq!(end.state, JobState::Done, "{}", end.error);
    assert_eq!(end.pass, 1);
    assert_eq!((end.done, end.total), (300, 300));
    let by_version = ops::keys::records_by_version(app.store.as_ref(), tenant_id)
        .await
        .unwrap();
    assert_eq!(by_version.get(&2).copied(), Some(300));
    assert_eq!(by_version.get(&1).copied().unwrap_or(0), 0);
}

/// Records that requests seal again under the new version (the fence below) while the job runs
/// were not moved by the job: `done` leaves them out, and with them it falls short of `total`
/// by exactly their number.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_sealed_again_by_requests_are_not_counted_as_moved_by_the_job() {
    let nodes = Nodes::new();
    let app = nodes.node(Limits::default()).await;
    let (tenant_id, _) = clinic(&app, 1_200).await;
    // The records are older than the job (so nothing tells them from records it moved).
    nodes.clock.advance_ms(5_000);
    let domain = app.domains(tenant_id).await.unwrap().remove(0);
    let hold = nodes.faults.hold("commit_rotation_page");
    let (_, id) = ops::keys::rotate(&app, tenant_id, "key-officer", "req")
        .await
        .unwrap();
    hold.reached().await;
    // The job holds page 1 (read, sealed, not committed). Seal ten records of page 1 and ten of
    // page 3 again under the new version, as a request's fence does.
    let rows = app
        .store
        .scan_mappings(domain.id, vec![], 1_200)
        .await
        .unwrap();
    let mut keys = app.keys.domain_data_keys(&domain).await.unwrap();
    let mut plain = Vec::new();
    for (pseudonym, row) in rows[..10].iter().chain(&rows[1_100..1_110]) {
        let identifier = keys.open(pseudonym, row).unwrap().unwrap();
        plain.push((pseudonym.clone(), identifier.expose_secret().to_vec()));
    }
    let items: Vec<(&[u8], &[u8])> = plain
        .iter()
        .map(|(p, i)| (p.as_slice(), i.as_slice()))
        .collect();
    app.reseal_mappings(&domain, &items).await.unwrap();
    hold.release();
    let end = wait_for_end(&app, id).await;
    assert_eq!(end.state, JobState::Done, "{}", end.error);
    assert_eq!((end.done, end.total), (1_180, 1_200));
    let by_version = ops::keys::records_by_version(app.store.as_ref(), tenant_id)
        .await
        .unwrap();
    assert_eq!(by_version.get(&2).copied(), Some(1_200));
    assert_eq!(by_version.get(&1).copied().unwrap_or(0), 0);
}

/// A request on one node chooses the active key version; before its insert lands, another
/// node rotates, moves every record, finds none left under the old version and retires it.
/// The request sees the tenant's key ring move once its records are stored and seals them
/// again under the active version before answering (`app::fence`): none is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_sealed_while_another_node_retires_their_version_are_sealed_again() {
    use crate::{engine::consent::Verdict, store::records::Role, testkit::caller};
    let nodes = Nodes::new();
    let a = nodes.node(Limits::default()).await;
    let b = nodes.node(Limits::default()).await;
    let (tenant_id, _) = clinic(&a, 20).await;
    b.observe(tenant_id).await.unwrap();
    let hold = nodes.faults.hold("insert_mappings");
    let late = vec!["late-1".to_owned(), "late-2".to_owned()];
    let request = tokio::spawn({
        let (b, late) = (std::sync::Arc::clone(&b), late.clone());
        async move {
            let tok = caller(Some(tenant_id), Role::Tokenizer);
            ops::pseudonymise::pseudonymise(&b, &tok, "patients", late).await
        }
    });
    hold.reached().await;
    let (_, id) = ops::keys::rotate(&a, tenant_id, "key-officer", "req")
        .await
        .unwrap();
    let end = wait_for_end(&a, id).await;
    assert_eq!(end.state, JobState::Done, "{}", end.error);
    hold.release();
    let done = request.await.unwrap().unwrap();
    let pseudonyms: Vec<String> = done.results.into_iter().map(Result::unwrap).collect();
    let by_version = ops::keys::records_by_version(a.store.as_ref(), tenant_id)
        .await
        .unwrap();
    assert_eq!(
        by_version.get(&1).copied().unwrap_or(0),
        0,
        "{by_version:?}"
    );
    assert_eq!(by_version.get(&2).copied(), Some(22));
    let purpose = ops::admin::PurposeSpec {
        name: "care".into(),
        legal_basis: Some(crate::store::records::LegalBasis::Contract),
        ..ops::admin::PurposeSpec::default()
    };
    ops::admin::define_purpose(&a, &caller(Some(tenant_id), Role::TenantAdmin), purpose)
        .await
        .unwrap();
    let mut re = caller(Some(tenant_id), Role::Reidentifier);
    re.principal.purposes = vec!["care".into()];
    let out = ops::reidentify::reidentify(&a, &re, "patients", "care", pseudonyms)
        .await
        .unwrap();
    let back: Vec<_> = out
        .iter()
        .map(|r| (r.verdict, r.identifier.clone()))
        .collect();
    assert_eq!(
        back,
        late.into_iter()
            .map(|id| (Verdict::Released, Some(id)))
            .collect::<Vec<_>>()
    );
}
