//! `valv store migrate`: one store copied into another, and the copy checked.

use std::{path::PathBuf, process::ExitCode, sync::Arc};

use super::{LogFormat, init_logging, runtime};
use crate::store::postgres::PgOptions;

#[derive(Debug, clap::Args)]
pub(super) struct MigrateArgs {
    /// The source: a data directory (its embedded store) or a postgres:// URL.
    #[arg(long)]
    from: String,
    /// The target: a data directory (created if needed) or a postgres:// URL.
    #[arg(long)]
    to: String,
    /// CA (PEM) of a database server's certificate.
    #[arg(long, env = "VALV_STORE_CA")]
    store_ca: Option<PathBuf>,
}

/// A store named on the command line: a postgres:// URL, or a data directory's embedded store.
async fn open_store(
    location: &str,
    ca: Option<&PathBuf>,
    create: bool,
) -> anyhow::Result<Arc<dyn crate::store::Store>> {
    use anyhow::Context;
    if crate::store::postgres::is_postgres_url(location) {
        let options = PgOptions {
            ca_file: ca.cloned(),
            pool_size: 4,
            ..PgOptions::new(location)
        };
        let pg = crate::store::postgres::PgStore::connect(&options)
            .await
            .context("opening the PostgreSQL store")?;
        return Ok(Arc::new(pg));
    }
    let dir = PathBuf::from(location).join("store");
    if !create && !dir.exists() {
        anyhow::bail!("{location} holds no store (expected {})", dir.display());
    }
    std::fs::create_dir_all(location).with_context(|| format!("creating {location}"))?;
    std::fs::set_permissions(
        location,
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )?;
    Ok(Arc::new(
        crate::store::sled::SledStore::open(&dir).with_context(|| {
            format!(
                "opening {} (is a vault still running on it?)",
                dir.display()
            )
        })?,
    ))
}

/// `valv store migrate`: progress on stderr, the comparison on stdout; exit 1 on any difference.
pub(super) fn store_migrate(args: &MigrateArgs) -> ExitCode {
    let _ = init_logging(LogFormat::Text, "warn", None);
    let _ = rustls::crypto::ring::default_provider().install_default();
    let run = async {
        let from = open_store(&args.from, args.store_ca.as_ref(), false).await?;
        let to = open_store(&args.to, args.store_ca.as_ref(), true).await?;
        let mut progress = |step: &str, n: u64| eprintln!("copied {n} {step}");
        let report =
            crate::store::migrate::migrate(from.as_ref(), to.as_ref(), &mut progress).await?;
        anyhow::Ok(report)
    };
    let Some(runtime) = runtime() else {
        return ExitCode::FAILURE;
    };
    match runtime.block_on(run) {
        Ok(report) => {
            print!("{}", report.table());
            println!("the target matches the source: every count and every audit chain");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("valv: {e:#}");
            eprintln!("nothing copied is lost: run the same command again to finish");
            ExitCode::FAILURE
        }
    }
}
