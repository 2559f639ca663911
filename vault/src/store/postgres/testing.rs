//! Test databases: each test gets a schema of its own in the database `VALV_TEST_POSTGRES_URL`
//! names, dropped when the test ends, so runs and tests cannot see each other's rows.

/// The variable that names the test database.
pub const URL_VAR: &str = "VALV_TEST_POSTGRES_URL";

/// A schema made for one test.
pub struct TestSchema {
    base: String,
    name: String,
}

impl TestSchema {
    /// A fresh schema, or `None` (with a line saying the test was skipped) when the variable is
    /// unset.
    pub async fn create(test: &str) -> Option<Self> {
        let Ok(base) = std::env::var(URL_VAR) else {
            skipped(test);
            return None;
        };
        let name = format!("valv_t_{}", hex::encode(rand::random::<[u8; 8]>()));
        let (client, conn) = tokio_postgres::connect(&base, tokio_postgres::NoTls)
            .await
            .unwrap_or_else(|e| panic!("{URL_VAR}: cannot connect: {e}"));
        tokio::spawn(conn);
        client
            .batch_execute(&format!("CREATE SCHEMA {name}"))
            .await
            .unwrap_or_else(|e| panic!("creating schema {name}: {e}"));
        Some(Self { base, name })
    }

    /// The connection string with this schema first on the search path.
    pub fn url(&self) -> String {
        let sep = if self.base.contains('?') { '&' } else { '?' };
        format!("{}{sep}options=-csearch_path%3D{}", self.base, self.name)
    }

    /// The schema's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// Says once per test binary, past the test harness's output capture (straight to the
/// process's stderr), that the PostgreSQL tests did not run.
fn skipped(test: &str) {
    use std::io::Write;
    static SAID: std::sync::Once = std::sync::Once::new();
    SAID.call_once(|| {
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED {test} (and every other PostgreSQL test in this binary): {URL_VAR} is not set"
        );
    });
}

impl Drop for TestSchema {
    fn drop(&mut self) {
        let (base, name) = (self.base.clone(), self.name.clone());
        // A thread of its own: the test's runtime may be the one dropping this.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                if let Ok((client, conn)) =
                    tokio_postgres::connect(&base, tokio_postgres::NoTls).await
                {
                    tokio::spawn(conn);
                    let _ = client
                        .batch_execute(&format!("DROP SCHEMA {name} CASCADE"))
                        .await;
                }
            });
        })
        .join();
    }
}
