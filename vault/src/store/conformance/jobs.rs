//! Cases of the job family.

use std::sync::Arc;

use super::fixture::{mapping, tenant};
use crate::store::{
    EvidenceMove, MappingMove, RotationPage, Store,
    records::{JobKind, JobRecord, JobState, NewMapping, PendingOpRecord},
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

/// A rotation page writes each move whose row is unchanged and the job's progress (raised by
/// the moves made) together, under the lease; a page of a job someone else holds writes
/// nothing at all.
pub(crate) async fn a_rotation_page_and_its_progress_are_one_unit(shared: Arc<dyn Store>) {
    let store: &dyn Store = shared.as_ref();
    let t = tenant(store, "acme").await;
    let rows = [1u8, 2, 3].map(|p| NewMapping {
        blind: None,
        pseudonym: vec![p; 16],
        record: mapping(p, Some(vec![p, 0])),
    });
    store
        .insert_mappings(t.id, 80, rows.to_vec())
        .await
        .unwrap();
    store.put_evidence(t.id, &[7; 16], vec![7]).await.unwrap();
    store.put_job(&job(5)).await.unwrap();
    let mut mine = store
        .claim_job(5, "node-a", 0, 10_000)
        .await
        .unwrap()
        .unwrap();
    mine.done = 10;
    mine.cursor_after_hex = "03".into();
    let moves = vec![
        // Unchanged since the job read it: moved.
        MappingMove {
            pseudonym: vec![1; 16],
            current: mapping(1, Some(vec![1, 0])),
            ciphertext: vec![1, 9],
        },
        // Read before a change (another ciphertext now): left as it is.
        MappingMove {
            pseudonym: vec![2; 16],
            current: mapping(2, Some(vec![2, 5])),
            ciphertext: vec![2, 9],
        },
        // Gone: nothing written.
        MappingMove {
            pseudonym: vec![4; 16],
            current: mapping(4, Some(vec![4, 0])),
            ciphertext: vec![4, 9],
        },
        MappingMove {
            pseudonym: vec![3; 16],
            current: mapping(3, Some(vec![3, 0])),
            ciphertext: vec![3, 9],
        },
    ];
    let page = RotationPage::Mappings {
        domain_id: 80,
        moves: moves.clone(),
    };
    let made = store.commit_rotation_page(&mine, page).await.unwrap();
    assert_eq!(made, Some(vec![true, false, false, true]));
    let saved = store.job(5).await.unwrap().unwrap();
    assert_eq!((saved.done, saved.cursor_after_hex.as_str()), (12, "03"));
    let cts = |rows: Vec<Option<crate::store::records::MappingRecord>>| {
        rows.into_iter()
            .map(|r| r.and_then(|r| r.ciphertext))
            .collect::<Vec<_>>()
    };
    let keys = vec![vec![1; 16], vec![2; 16], vec![3; 16], vec![4; 16]];
    let after = vec![Some(vec![1, 9]), Some(vec![2, 0]), Some(vec![3, 9]), None];
    assert_eq!(cts(store.mappings(80, keys.clone()).await.unwrap()), after);
    // Evidence pages work alike.
    let evidence = RotationPage::Evidence {
        tenant_id: t.id,
        moves: vec![EvidenceMove {
            id: vec![7; 16],
            current: vec![7],
            ciphertext: vec![7, 9],
        }],
    };
    let mut next = saved.clone();
    next.cursor_domain = 1;
    let made = store.commit_rotation_page(&next, evidence.clone()).await;
    assert_eq!(made.unwrap(), Some(vec![true]));
    assert_eq!(
        store.evidence(t.id, &[7; 16]).await.unwrap(),
        Some(vec![7, 9])
    );
    let saved = store.job(5).await.unwrap().unwrap();
    assert_eq!((saved.done, saved.cursor_domain), (13, 1));
    // Taken over: the old owner's page changes nothing, neither records nor progress.
    store
        .claim_job(5, "node-b", 20_000, 50_000)
        .await
        .unwrap()
        .unwrap();
    let mut stale = saved.clone();
    stale.cursor_after_hex = "ff".into();
    let retry = RotationPage::Mappings {
        domain_id: 80,
        moves: vec![MappingMove {
            pseudonym: vec![2; 16],
            current: mapping(2, Some(vec![2, 0])),
            ciphertext: vec![2, 9],
        }],
    };
    assert_eq!(
        store.commit_rotation_page(&stale, retry).await.unwrap(),
        None
    );
    assert_eq!(cts(store.mappings(80, keys).await.unwrap()), after);
    let now = store.job(5).await.unwrap().unwrap();
    assert_eq!(
        (
            now.done,
            now.cursor_after_hex.as_str(),
            now.lease_owner.as_str()
        ),
        (13, "03", "node-b")
    );
    // An unknown job neither.
    assert_eq!(
        store.commit_rotation_page(&job(6), evidence).await.unwrap(),
        None
    );
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
