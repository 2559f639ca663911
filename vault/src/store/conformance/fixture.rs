//! Fresh stores for the suite, and the records the cases build on.

use std::sync::Arc;

use crate::{
    model::{IdentifierKind, Scheme},
    store::{
        Store,
        mem::MemStore,
        postgres::{PgOptions, PgStore, testing::TestSchema},
        records::{DomainRecord, MappingRecord, TenantRecord},
        sled::SledStore,
    },
};

/// A store opened for one case (and the directory it lives in, removed afterwards).
pub(crate) struct Fixture {
    /// `None`: the back-end is not available here (the case says it was skipped).
    store: Option<Arc<dyn Store>>,
    _dir: Option<tempfile::TempDir>,
    _schema: Option<TestSchema>,
}

impl Fixture {
    /// The store under test, to share between tasks (`None`: skipped).
    pub(crate) fn shared(&self) -> Option<Arc<dyn Store>> {
        self.store.clone()
    }
}

/// A sled store in a fresh directory.
pub(crate) fn sled() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    Fixture {
        store: Some(Arc::new(store)),
        _dir: Some(dir),
        _schema: None,
    }
}

/// An empty in-memory store.
pub(crate) fn mem() -> Fixture {
    Fixture {
        store: Some(Arc::new(MemStore::new())),
        _dir: None,
        _schema: None,
    }
}

/// A PostgreSQL store in a schema of its own (`VALV_TEST_POSTGRES_URL`), or a skipped case.
pub(crate) async fn postgres() -> Fixture {
    let Some(schema) = TestSchema::create("store conformance on PostgreSQL").await else {
        return Fixture {
            store: None,
            _dir: None,
            _schema: None,
        };
    };
    let options = PgOptions {
        pool_size: 4,
        ..PgOptions::new(schema.url())
    };
    let store = PgStore::connect(&options).await.unwrap();
    Fixture {
        store: Some(Arc::new(store)),
        _dir: None,
        _schema: Some(schema),
    }
}

/// A wrapped key ring with made-up bytes (the store never unwraps it).
pub(crate) fn keys(tenant_id: u64, tag: &str) -> valv_kms::WrappedTenantKeys {
    let wrapped = |hex: &str| valv_kms::WrappedKey {
        provider: "file".into(),
        root_key_id: tag.into(),
        wrapped_hex: hex.into(),
    };
    valv_kms::WrappedTenantKeys {
        tenant_id,
        encryption: vec![],
        pseudonym_epochs: vec![],
        subject: wrapped("00"),
        signing: wrapped("01"),
    }
}

/// Which ring a stored key ring is: (tenant id, the tag given to [`keys`]).
pub(crate) fn tag(keys: Option<valv_kms::WrappedTenantKeys>) -> Option<(u64, String)> {
    keys.map(|k| (k.tenant_id, k.subject.root_key_id))
}

/// A stored tenant named `name`.
pub(crate) async fn tenant(store: &dyn Store, name: &str) -> TenantRecord {
    let t = TenantRecord {
        id: store.next_id().await.unwrap(),
        name: name.into(),
        created_ms: 1,
        ..TenantRecord::default()
    };
    store.create_tenant(&t, &keys(t.id, "r1")).await.unwrap();
    t
}

/// A domain record of `tenant` (not stored).
pub(crate) fn domain(id: u64, tenant_id: u64, name: &str, scheme: Scheme) -> DomainRecord {
    DomainRecord {
        id,
        tenant_id,
        name: name.into(),
        kind: IdentifierKind::SePersonnummer,
        scheme,
        reversible: true,
        retention_seconds: 0,
        epoch: 1,
        created_ms: 1,
        old_epochs_until_ms: 0,
        retention_since_last_use: false,
        consent_purpose: String::new(),
        mac: String::new(),
    }
}

/// A mapping of subject `[subject; 16]` with ciphertext `ct`.
pub(crate) fn mapping(subject: u8, ct: Option<Vec<u8>>) -> MappingRecord {
    MappingRecord {
        epoch: 1,
        subject: [subject; 16],
        created_ms: 1_000,
        expires_ms: 0,
        ciphertext: ct,
    }
}
