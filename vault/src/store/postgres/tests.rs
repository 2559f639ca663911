//! The PostgreSQL back-end: the conformance suite, and what only a shared database has —
//! migrations applied once by nodes starting together, a schema from a newer build refused, a
//! database without durable commits refused, append-only tables enforced by the database.

#![allow(clippy::unwrap_used)]

use super::{PgOptions, PgStore, SCHEMA_VERSION, testing::TestSchema};

crate::conformance_suite!(crate::store::conformance::fixture::postgres().await);

/// Runs `statement` on the test schema: PostgreSQL's message when it refuses.
async fn sql(url: &str, statement: &str) -> Result<(), String> {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    client.batch_execute(statement).await.map_err(|e| {
        e.as_db_error()
            .map_or_else(|| e.to_string(), |db| db.message().to_owned())
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_starting_together_migrate_once_and_a_newer_schema_is_refused() {
    let Some(schema) = TestSchema::create("PostgreSQL schema versions").await else {
        return;
    };
    let options = PgOptions::new(schema.url());
    let starts: Vec<_> = (0..4)
        .map(|_| {
            let options = options.clone();
            tokio::spawn(async move { PgStore::connect(&options).await.map(drop) })
        })
        .collect();
    for s in starts {
        s.await.unwrap().unwrap();
    }
    let url = schema.url();
    let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    let version: i32 = client
        .query_one("SELECT version FROM valv_schema", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(version, SCHEMA_VERSION);
    // A later build moved the schema on: this one refuses to start on it and changes nothing.
    sql(&url, "UPDATE valv_schema SET version = 99")
        .await
        .unwrap();
    let refused = PgStore::connect(&options)
        .await
        .err()
        .map(|e| e.to_string());
    assert!(
        refused
            .as_deref()
            .is_some_and(|e| e.contains("version 99, newer")),
        "{refused:?}"
    );
}

#[tokio::test]
async fn a_database_that_does_not_make_commits_durable_is_refused() {
    let Some(schema) = TestSchema::create("PostgreSQL durability check").await else {
        return;
    };
    let url = format!("{}%20-csynchronous_commit%3Doff", schema.url());
    let refused = PgStore::connect(&PgOptions::new(url)).await.err();
    assert!(
        refused.is_some_and(|e| e.to_string().contains("synchronous_commit=off")),
        "a database with synchronous_commit=off must be refused"
    );
}

#[tokio::test]
async fn consent_histories_and_audit_entries_cannot_be_rewritten_in_the_database() {
    let Some(schema) = TestSchema::create("PostgreSQL append-only tables").await else {
        return;
    };
    use crate::store::{AuditStore, ConsentStore, SubjectStore, records::SubjectEventRecord};
    let store = PgStore::connect(&PgOptions::new(schema.url()))
        .await
        .unwrap();
    store
        .append_audit(7, vec![crate::audit::entry(1, "p", "x")])
        .await
        .unwrap();
    store
        .append_consent(
            7,
            [1; 16],
            "research",
            crate::model::ConsentEvent {
                seq: 1,
                ..crate::model::ConsentEvent::default()
            },
        )
        .await
        .unwrap();
    store
        .append_subject_events(7, vec![SubjectEventRecord::default()])
        .await
        .unwrap();
    let url = schema.url();
    for statement in [
        "UPDATE audit_entries SET entry = '\\x00'",
        "DELETE FROM audit_entries",
        "UPDATE consent_events SET event = '{}'",
        "UPDATE subject_events SET record = '{}'",
    ] {
        let e = sql(&url, statement).await.err();
        assert!(
            e.as_deref().is_some_and(|e| e.contains("append-only")),
            "{statement}: {e:?}"
        );
    }
    assert_eq!(store.read_audit(7, 1, 10).await.unwrap().len(), 1);
    let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    let triggers: i64 = client
        .query_one(
            "SELECT count(*) FROM information_schema.triggers WHERE trigger_schema = current_schema() \
             AND trigger_name LIKE '%append_only'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(triggers >= 4, "{triggers}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrating_to_the_subject_index_indexes_the_entries_already_stored() {
    use crate::store::AuditStore;
    let Some(schema) = TestSchema::create("PostgreSQL audit subject index backfill").await else {
        return;
    };
    let options = PgOptions::new(schema.url());
    let subject = "cd".repeat(16);
    {
        let store = PgStore::connect(&options).await.unwrap();
        let mut named = crate::audit::entry(1, "p", "reidentify");
        named.items.push(("x".into(), "released".into()));
        named.item_subjects.push(subject.clone());
        let plain = crate::audit::entry(1, "p", "pseudonymise");
        store
            .append_audit(3, vec![named.clone(), plain, named])
            .await
            .unwrap();
    }
    // The schema as version 2 left it: no index table.
    sql(
        &schema.url(),
        "DROP TABLE audit_subjects; UPDATE valv_schema SET version = 2",
    )
    .await
    .unwrap();
    let store = PgStore::connect(&options).await.unwrap();
    let found = store.subject_audit(3, &subject, 0, 10).await.unwrap();
    assert_eq!(found.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![1, 3]);
    // New entries are indexed as they are appended.
    let mut later = crate::audit::entry(1, "p", "consent.grant");
    later.subject = Some(subject.clone());
    store.append_audit(3, vec![later]).await.unwrap();
    let found = store.subject_audit(3, &subject, 1, 10).await.unwrap();
    assert_eq!(found.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![3, 4]);
}

/// The known-mappings table answers a repeated pseudonym without asking the database, and
/// never claims a mapping that another node deleted before the request began.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn known_mappings_follow_another_nodes_deletions() {
    use crate::store::{MappingStore, RegistryStore, conformance::fixture::mapping};
    let Some(schema) = TestSchema::create("PostgreSQL known mappings").await else {
        return;
    };
    let options = PgOptions::new(schema.url());
    let (a, b) = (
        PgStore::connect(&options).await.unwrap(),
        PgStore::connect(&options).await.unwrap(),
    );
    let row = |p: u8| crate::store::records::NewMapping {
        blind: None,
        pseudonym: vec![p; 16],
        record: mapping(p, Some(vec![p])),
    };
    // Node A: a request begins (reads the tenant's counters) and stores two mappings.
    a.tenant_generation(1).await.unwrap();
    a.insert_mappings(1, 10, vec![row(1), row(2)])
        .await
        .unwrap();
    // A row removed behind every node's back (no counter raised) is still claimed by A: the
    // answer came from memory, not from the database.
    sql(
        &schema.url(),
        "DELETE FROM mappings WHERE pseudonym = '\\x02020202020202020202020202020202'",
    )
    .await
    .unwrap();
    a.tenant_generation(1).await.unwrap();
    let ps = vec![vec![1u8; 16], vec![2u8; 16]];
    assert_eq!(
        a.contains_mappings(10, ps.clone()).await.unwrap(),
        [true, true]
    );
    // Node B deletes one (as the retention reaper does): A's next request asks the database.
    b.delete_mapping(10, &[1u8; 16], None).await.unwrap();
    a.tenant_generation(1).await.unwrap();
    assert_eq!(
        a.contains_mappings(10, ps.clone()).await.unwrap(),
        [false, false]
    );
    // Stored again (through B): A learns it from the database and remembers it.
    b.insert_mappings(1, 10, vec![row(1)]).await.unwrap();
    a.tenant_generation(1).await.unwrap();
    assert_eq!(a.contains_mappings(10, ps).await.unwrap(), [true, false]);
}
