//! Cases of the mapping family.

use std::sync::Arc;

use super::fixture::mapping;
use crate::store::{
    Store,
    records::{InsertOutcome, NewMapping},
};

fn row(pseudonym: u8, subject: u8, blind: Option<u8>) -> NewMapping {
    NewMapping {
        blind: blind.map(|b| [b; 16]),
        pseudonym: vec![pseudonym; 16],
        record: mapping(subject, Some(vec![pseudonym, subject])),
    }
}

/// A row is stored only if its pseudonym has none; a repeat in one batch gets the first row's.
pub(crate) async fn inserts_store_only_absent_rows(shared: Arc<dyn Store>) {
    let store: &dyn Store = shared.as_ref();
    let out = store
        .insert_mappings(
            1,
            10,
            vec![row(1, 1, None), row(1, 9, None), row(2, 2, None)],
        )
        .await
        .unwrap();
    assert_eq!(
        out,
        vec![
            InsertOutcome::Inserted,
            InsertOutcome::Existing(vec![1; 16]),
            InsertOutcome::Inserted
        ]
    );
    let again = store
        .insert_mappings(1, 10, vec![row(2, 7, None), row(3, 3, None)])
        .await
        .unwrap();
    assert_eq!(
        again,
        vec![
            InsertOutcome::Existing(vec![2; 16]),
            InsertOutcome::Inserted
        ]
    );
    // The first row's record stands.
    let stored = store
        .mappings(10, vec![vec![1; 16], vec![2; 16]])
        .await
        .unwrap();
    assert_eq!(stored[0].as_ref().map(|m| m.subject), Some([1; 16]));
    assert_eq!(stored[1].as_ref().map(|m| m.subject), Some([2; 16]));
}

/// A new blind-index row whose pseudonym another mapping holds (a format-preserving serial
/// handed out twice) is refused; the held mapping and its entry stand.
pub(crate) async fn a_blind_row_never_takes_a_held_pseudonym(shared: Arc<dyn Store>) {
    let store: &dyn Store = shared.as_ref();
    let first = store
        .insert_mappings(1, 21, vec![row(5, 5, Some(50))])
        .await
        .unwrap();
    assert_eq!(first, vec![InsertOutcome::Inserted]);
    let taken = store
        .insert_mappings(1, 21, vec![row(5, 6, Some(60))])
        .await;
    assert!(taken.is_err(), "{taken:?}");
    assert_eq!(store.blind_lookup(21, [60; 16]).await.unwrap(), None);
    assert_eq!(
        store.blind_lookup(21, [50; 16]).await.unwrap(),
        Some(vec![5; 16])
    );
    let held = store.mapping(21, &[5; 16]).await.unwrap();
    assert_eq!(held.map(|m| m.subject), Some([5; 16]));
}

/// Many blind-index entries are looked up at once, each answer in its place.
pub(crate) async fn blind_lookups_answer_in_order(shared: Arc<dyn Store>) {
    let store: &dyn Store = shared.as_ref();
    store
        .insert_mappings(1, 22, vec![row(1, 1, Some(10)), row(2, 2, Some(20))])
        .await
        .unwrap();
    assert_eq!(
        store
            .blind_lookups(22, vec![[20; 16], [30; 16], [10; 16], [20; 16]])
            .await
            .unwrap(),
        vec![
            Some(vec![2; 16]),
            None,
            Some(vec![1; 16]),
            Some(vec![2; 16])
        ]
    );
    assert_eq!(
        store.blind_lookups(23, vec![[10; 16]]).await.unwrap(),
        vec![None]
    );
}

/// `random` domains: the blind index finds the token already issued for an identifier.
pub(crate) async fn the_blind_index_finds_the_existing_token(shared: Arc<dyn Store>) {
    let store: &dyn Store = shared.as_ref();
    let out = store
        .insert_mappings(1, 20, vec![row(5, 5, Some(50)), row(6, 5, Some(50))])
        .await
        .unwrap();
    assert_eq!(
        out,
        vec![
            InsertOutcome::Inserted,
            InsertOutcome::Existing(vec![5; 16])
        ]
    );
    let later = store
        .insert_mappings(1, 20, vec![row(7, 5, Some(50)), row(8, 8, Some(80))])
        .await
        .unwrap();
    assert_eq!(
        later,
        vec![
            InsertOutcome::Existing(vec![5; 16]),
            InsertOutcome::Inserted
        ]
    );
    // The losing tokens were not stored.
    let found = store
        .contains_mappings(20, vec![vec![5; 16], vec![6; 16], vec![7; 16], vec![8; 16]])
        .await
        .unwrap();
    assert_eq!(found, vec![true, false, false, true]);
    assert_eq!(
        store.blind_lookup(20, [50; 16]).await.unwrap(),
        Some(vec![5; 16])
    );
    assert_eq!(store.blind_lookup(20, [51; 16]).await.unwrap(), None);
    assert_eq!(store.blind_lookup(21, [50; 16]).await.unwrap(), None);
    assert_eq!(
        store.blind_entries(20).await.unwrap(),
        vec![([50; 16], vec![5; 16]), ([80; 16], vec![8; 16])]
    );
    assert!(store.blind_entries(21).await.unwrap().is_empty());
}

/// Writers racing for the same identifiers all get the one pseudonym that was stored.
pub(crate) async fn concurrent_inserts_agree_on_one_pseudonym(shared: Arc<dyn Store>) {
    let writers: Vec<_> = (0..4u8)
        .map(|w| {
            let shared = Arc::clone(&shared);
            tokio::spawn(async move {
                let mut seen = Vec::new();
                for i in 0..40u8 {
                    // Each writer proposes its own token for identifier i.
                    let token = 100 + w;
                    let mut r = row(token, i, Some(i));
                    r.pseudonym = vec![token, i];
                    let out = shared.insert_mappings(1, 30, vec![r]).await.unwrap();
                    seen.push(match &out[..] {
                        [InsertOutcome::Inserted] => vec![token, i],
                        [InsertOutcome::Existing(p)] => p.clone(),
                        other => panic!("unexpected outcome {other:?}"),
                    });
                }
                seen
            })
        })
        .collect();
    let mut answers = Vec::new();
    for w in writers {
        answers.push(w.await.unwrap());
    }
    for i in 0..40 {
        let first = &answers[0][i];
        assert!(answers.iter().all(|a| &a[i] == first), "identifier {i}");
        assert_eq!(
            shared
                .blind_lookup(30, [i as u8; 16])
                .await
                .unwrap()
                .as_ref(),
            Some(first)
        );
    }
    assert_eq!(
        shared.scan_mappings(30, vec![], 1_000).await.unwrap().len(),
        40
    );
}

/// Lookups and membership answer per pseudonym, and only in their own domain.
pub(crate) async fn lookups_see_only_their_domain(shared: Arc<dyn Store>) {
    let store: &dyn Store = shared.as_ref();
    store
        .insert_mappings(1, 40, vec![row(1, 1, None), row(2, 2, None)])
        .await
        .unwrap();
    let found = store
        .mappings(40, vec![vec![2; 16], vec![3; 16], vec![1; 16]])
        .await
        .unwrap();
    assert_eq!(found[0], Some(mapping(2, Some(vec![2, 2]))));
    assert_eq!(found[1], None);
    assert_eq!(found[2], Some(mapping(1, Some(vec![1, 1]))));
    assert_eq!(
        store.mapping(40, &[2; 16]).await.unwrap(),
        Some(mapping(2, Some(vec![2, 2])))
    );
    assert_eq!(store.mapping(40, &[3; 16]).await.unwrap(), None);
    assert_eq!(
        store
            .contains_mappings(40, vec![vec![1; 16], vec![3; 16]])
            .await
            .unwrap(),
        vec![true, false]
    );
    assert_eq!(
        store.mappings(41, vec![vec![1; 16]]).await.unwrap(),
        vec![None]
    );
    assert_eq!(
        store
            .contains_mappings(41, vec![vec![1; 16]])
            .await
            .unwrap(),
        vec![false]
    );
}

/// Scans walk a domain in pseudonym order, a page at a time after a cursor.
pub(crate) async fn scans_page_in_pseudonym_order(shared: Arc<dyn Store>) {
    let store: &dyn Store = shared.as_ref();
    let rows = [9u8, 3, 7, 1, 5].map(|p| row(p, p, None)).to_vec();
    store.insert_mappings(1, 50, rows).await.unwrap();
    store
        .insert_mappings(1, 51, vec![row(2, 2, None)])
        .await
        .unwrap();
    store
        .insert_mappings(1, 49, vec![row(4, 4, None)])
        .await
        .unwrap();
    let first = store.scan_mappings(50, vec![], 2).await.unwrap();
    let keys = |page: &[(Vec<u8>, crate::store::records::MappingRecord)]| {
        page.iter().map(|(p, _)| p[0]).collect::<Vec<u8>>()
    };
    assert_eq!(keys(&first), vec![1, 3]);
    assert_eq!(first[0].1, mapping(1, Some(vec![1, 1])));
    let next = store.scan_mappings(50, vec![3; 16], 2).await.unwrap();
    assert_eq!(keys(&next), vec![5, 7]);
    let last = store.scan_mappings(50, vec![7; 16], 10).await.unwrap();
    assert_eq!(keys(&last), vec![9]);
    assert!(
        store
            .scan_mappings(50, vec![9; 16], 10)
            .await
            .unwrap()
            .is_empty()
    );
    // A cursor that is not a stored pseudonym starts after where it would sort.
    assert_eq!(
        keys(&store.scan_mappings(50, vec![4], 10).await.unwrap()),
        vec![5, 7, 9]
    );
}

/// A ciphertext is replaced only while the row is exactly what the caller read.
pub(crate) async fn replacing_a_ciphertext_is_compare_and_swap(shared: Arc<dyn Store>) {
    let store: &dyn Store = shared.as_ref();
    store
        .insert_mappings(1, 60, vec![row(1, 1, None)])
        .await
        .unwrap();
    let current = mapping(1, Some(vec![1, 1]));
    assert!(
        store
            .replace_ciphertext(60, &[1; 16], &current, vec![42])
            .await
            .unwrap()
    );
    let now = store
        .mappings(60, vec![vec![1; 16]])
        .await
        .unwrap()
        .remove(0)
        .unwrap();
    assert_eq!(now.ciphertext, Some(vec![42]));
    assert_eq!(now.subject, current.subject);
    // The stale read loses, and so does a row that is gone.
    assert!(
        !store
            .replace_ciphertext(60, &[1; 16], &current, vec![43])
            .await
            .unwrap()
    );
    assert!(
        !store
            .replace_ciphertext(60, &[2; 16], &current, vec![43])
            .await
            .unwrap()
    );
    let still = store
        .mappings(60, vec![vec![1; 16]])
        .await
        .unwrap()
        .remove(0)
        .unwrap();
    assert_eq!(still.ciphertext, Some(vec![42]));
}

/// An expiry moves (with its re-sealed ciphertext) only while the row is exactly what the
/// caller read.
pub(crate) async fn moving_an_expiry_is_compare_and_swap(shared: Arc<dyn Store>) {
    let store: &dyn Store = shared.as_ref();
    store
        .insert_mappings(1, 70, vec![row(1, 1, None)])
        .await
        .unwrap();
    let current = mapping(1, Some(vec![1, 1]));
    assert!(
        store
            .set_expiry(70, &[1; 16], &current, 86_400_000, Some(vec![7, 7]))
            .await
            .unwrap()
    );
    let now = store
        .mappings(70, vec![vec![1; 16]])
        .await
        .unwrap()
        .remove(0)
        .unwrap();
    assert_eq!(now.expires_ms, 86_400_000);
    assert_eq!(now.ciphertext, Some(vec![7, 7]));
    assert_eq!((now.epoch, now.subject), (current.epoch, current.subject));
    assert!(
        !store
            .set_expiry(70, &[1; 16], &current, 1_000, Some(vec![8]))
            .await
            .unwrap()
    );
    assert!(
        !store
            .set_expiry(70, &[9; 16], &current, 1_000, Some(vec![8]))
            .await
            .unwrap()
    );
    // A ciphertext swap after the expiry move must start from the new row.
    assert!(
        !store
            .replace_ciphertext(70, &[1; 16], &current, vec![1])
            .await
            .unwrap()
    );
    assert!(
        store
            .replace_ciphertext(70, &[1; 16], &now, vec![1])
            .await
            .unwrap()
    );
    // A one-way mapping (no ciphertext) moves its expiry alone.
    let one_way = mapping(2, None);
    let new = NewMapping {
        record: one_way.clone(),
        ..row(2, 2, None)
    };
    store.insert_mappings(1, 70, vec![new]).await.unwrap();
    assert!(
        store
            .set_expiry(70, &[2; 16], &one_way, 172_800_000, None)
            .await
            .unwrap()
    );
    let moved = store
        .mappings(70, vec![vec![2; 16]])
        .await
        .unwrap()
        .remove(0)
        .unwrap();
    assert_eq!((moved.expires_ms, moved.ciphertext), (172_800_000, None));
}

/// Deleting removes the mapping and its blind entry for good; the identifier may map anew.
pub(crate) async fn deleting_removes_the_row_and_its_blind_entry(shared: Arc<dyn Store>) {
    let store: &dyn Store = shared.as_ref();
    store
        .insert_mappings(1, 80, vec![row(1, 1, Some(11)), row(2, 2, None)])
        .await
        .unwrap();
    // Known to the store (and to any table in front of it) before the delete.
    assert_eq!(
        store
            .contains_mappings(80, vec![vec![1; 16], vec![2; 16]])
            .await
            .unwrap(),
        vec![true, true]
    );
    store
        .delete_mapping(80, &[1; 16], Some([11; 16]))
        .await
        .unwrap();
    store.delete_mapping(80, &[2; 16], None).await.unwrap();
    assert_eq!(
        store
            .contains_mappings(80, vec![vec![1; 16], vec![2; 16]])
            .await
            .unwrap(),
        vec![false, false]
    );
    assert_eq!(
        store.mappings(80, vec![vec![1; 16]]).await.unwrap(),
        vec![None]
    );
    assert_eq!(store.blind_lookup(80, [11; 16]).await.unwrap(), None);
    // Deleting what is gone is not an error.
    store
        .delete_mapping(80, &[1; 16], Some([11; 16]))
        .await
        .unwrap();
    let out = store
        .insert_mappings(1, 80, vec![row(3, 1, Some(11))])
        .await
        .unwrap();
    assert_eq!(out, vec![InsertOutcome::Inserted]);
}
