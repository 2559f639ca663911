//! Cases of the job family.

use std::sync::Arc;

use crate::store::{
    Store,
    records::{JobKind, JobRecord, JobState, PendingOpRecord},
};

fn job(id: u64) -> JobRecord {
    JobRecord {
        id,
        tenant_id: 1,
        kind: JobKind::RotateTenantKey,
        state: JobState::Running,
        total: 100,
        ..JobRecord::default()
    }
}

/// Jobs are stored as given and listed by id.
pub(crate) async fn jobs_round_trip(shared: Arc<dyn Store>) {
    let store: &dyn Store = shared.as_ref();
    for id in [12, 3, 7] {
        store.put_job(&job(id)).await.unwrap();
    }
    let mut done = job(7);
    done.state = JobState::Done;
    done.done = 100;
    store.put_job(&done).await.unwrap();
    assert_eq!(store.job(7).await.unwrap(), Some(done));
    assert_eq!(store.job(8).await.unwrap(), None);
    let ids: Vec<u64> = store.jobs().await.unwrap().iter().map(|j| j.id).collect();
    assert_eq!(ids, vec![3, 7, 12]);
}

/// A lease is held by one owner until it runs out; then another may take the job over, and the
/// first owner's saves are refused from then on.
pub(crate) async fn a_lease_excludes_other_owners_until_it_runs_out(shared: Arc<dyn Store>) {
    let store: &dyn Store = shared.as_ref();
    store.put_job(&job(1)).await.unwrap();
    let mine = store
        .claim_job(1, "node-a", 1_000, 31_000)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (mine.lease_owner.as_str(), mine.lease_until_ms),
        ("node-a", 31_000)
    );
    assert_eq!(
        store.claim_job(1, "node-b", 2_000, 32_000).await.unwrap(),
        None
    );
    // The holder renews.
    let renewed = store
        .claim_job(1, "node-a", 20_000, 50_000)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(renewed.lease_until_ms, 50_000);
    let mut progress = renewed.clone();
    progress.done = 40;
    assert!(store.save_job(&progress).await.unwrap());
    assert_eq!(store.job(1).await.unwrap().unwrap().done, 40);
    // Run out: node-b takes over, keeping the progress.
    let theirs = store
        .claim_job(1, "node-b", 50_001, 80_000)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((theirs.lease_owner.as_str(), theirs.done), ("node-b", 40));
    let mut stale = progress.clone();
    stale.done = 41;
    assert!(!store.save_job(&stale).await.unwrap());
    assert_eq!(store.job(1).await.unwrap().unwrap().lease_owner, "node-b");
    assert_eq!(store.job(1).await.unwrap().unwrap().done, 40);
    // A finished job is claimed by nobody; an unknown one neither.
    let mut finished = theirs;
    finished.state = JobState::Done;
    assert!(store.save_job(&finished).await.unwrap());
    assert_eq!(
        store
            .claim_job(1, "node-c", 999_999, 1_000_000)
            .await
            .unwrap(),
        None
    );
    assert_eq!(store.claim_job(2, "node-c", 0, 1).await.unwrap(), None);
    assert!(!store.save_job(&job(2)).await.unwrap());
}

fn op(id: u64, state: &str) -> PendingOpRecord {
    PendingOpRecord {
        id,
        tenant_id: 1,
        kind: "destroy-key-version".into(),
        version: 1,
        force: false,
        requested_by: "a".into(),
        requested_ms: 1,
        expires_ms: 100,
        state: state.into(),
        approved_by: String::new(),
        target_tenant: 0,
        ..Default::default()
    }
}

/// A pending operation moves out of a state once: of two approvers, one wins.
pub(crate) async fn a_pending_operation_changes_state_once(shared: Arc<dyn Store>) {
    let store: &dyn Store = shared.as_ref();
    store.put_pending_op(&op(5, "pending")).await.unwrap();
    store.put_pending_op(&op(2, "pending")).await.unwrap();
    let approvers: Vec<_> = ["b", "c"]
        .into_iter()
        .map(|who| {
            let shared = Arc::clone(&shared);
            tokio::spawn(async move {
                let mut approved = op(5, "approved");
                approved.approved_by = who.into();
                shared
                    .transition_pending_op(&approved, "pending")
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut wins = 0;
    for a in approvers {
        wins += usize::from(a.await.unwrap());
    }
    assert_eq!(wins, 1);
    let all = store.pending_ops().await.unwrap();
    assert_eq!(all.iter().map(|o| o.id).collect::<Vec<_>>(), vec![2, 5]);
    assert_eq!(all[1].state, "approved");
    assert!(["b", "c"].contains(&all[1].approved_by.as_str()));
    assert!(
        !store
            .transition_pending_op(&op(9, "approved"), "pending")
            .await
            .unwrap()
    );
}
