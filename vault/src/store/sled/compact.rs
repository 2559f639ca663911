//! Physical removal of deleted data from the sled store.
//!
//! sled's log is append-only: a deleted value (an erased subject's ciphertext, evidence past its
//! retention) stays in a log segment until sled reuses it. Compaction copies the *live* contents
//! into a fresh store (`Db::export` → `Db::import`), swaps the directories and deletes the old
//! one, so the bytes of deleted values are no longer in any store file. It runs while the store
//! is closed: at the next start after an erasure or a retention run asked for it (a marker file
//! beside the store), or offline with `valv operator compact`.
//!
//! Crash-safe: the copy is built in `<store>.compacting`, the old store is renamed to
//! `<store>.old` and the copy into place, then `<store>.old` is deleted. [`recover`] finishes or
//! undoes whatever a crash interrupted before the store is opened.

use std::{
    fs,
    path::{Path, PathBuf},
};

use crate::store::{StoreError, StoreResult};

fn sibling(dir: &Path, suffix: &str) -> PathBuf {
    let mut name = dir.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// The marker file that asks for a compaction at the next start.
pub fn marker(dir: &Path) -> PathBuf {
    sibling(dir, ".compact-wanted")
}

fn io(e: std::io::Error) -> StoreError {
    StoreError::Backend(format!("compaction: {e}"))
}

fn sync_parent(dir: &Path) -> StoreResult<()> {
    if let Some(parent) = dir.parent() {
        fs::File::open(parent)
            .and_then(|f| f.sync_all())
            .map_err(io)?;
    }
    Ok(())
}

/// Asks for a compaction at the next start (idempotent, durable).
pub fn request(dir: &Path) -> StoreResult<()> {
    let path = marker(dir);
    if !path.exists() {
        fs::File::create(&path)
            .and_then(|f| f.sync_all())
            .map_err(io)?;
        sync_parent(dir)?;
    }
    Ok(())
}

/// Finishes or undoes a compaction a crash interrupted. Call before opening the store.
pub fn recover(dir: &Path) -> StoreResult<()> {
    let old = sibling(dir, ".old");
    let copy = sibling(dir, ".compacting");
    if old.exists() {
        if dir.exists() {
            // The copy was moved into place: only the old store is left to delete.
            fs::remove_dir_all(&old).map_err(io)?;
        } else {
            // Cut off between the two renames: put the old store back, start again later.
            fs::rename(&old, dir).map_err(io)?;
        }
    }
    if copy.exists() {
        fs::remove_dir_all(&copy).map_err(io)?;
    }
    sync_parent(dir)
}

/// Compacts the (closed) store in `dir`; returns its size in bytes before and after.
pub fn compact(dir: &Path) -> StoreResult<(u64, u64)> {
    recover(dir)?;
    let backend = |e: sled::Error| StoreError::Backend(format!("compaction: {e}"));
    let copy = sibling(dir, ".compacting");
    let before;
    {
        let from = sled::Config::new().path(dir).open().map_err(backend)?;
        before = from.size_on_disk().map_err(backend)?;
        let to = sled::Config::new().path(&copy).open().map_err(backend)?;
        to.import(from.export());
        to.flush().map_err(backend)?;
    }
    let old = sibling(dir, ".old");
    fs::rename(dir, &old).map_err(io)?;
    fs::rename(&copy, dir).map_err(io)?;
    sync_parent(dir)?;
    fs::remove_dir_all(&old).map_err(io)?;
    let after = sled::Config::new()
        .path(dir)
        .open()
        .and_then(|db| db.size_on_disk())
        .map_err(backend)?;
    let _ = fs::remove_file(marker(dir));
    sync_parent(dir)?;
    Ok((before, after))
}

/// At start: compacts if an erasure or retention run asked for it.
pub fn compact_if_wanted(dir: &Path) -> StoreResult<Option<(u64, u64)>> {
    recover(dir)?;
    if !marker(dir).exists() || !dir.exists() {
        return Ok(None);
    }
    compact(dir).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store_with(dir: &Path, keep: &[u8], drop: &[u8]) {
        let db = sled::open(dir).unwrap();
        let tree = db.open_tree("data").unwrap();
        let _ = tree.insert(b"keep", keep);
        let _ = tree.insert(b"drop", drop);
        let _ = tree.remove(b"drop");
        let _ = db.flush();
    }

    fn bytes_under(dir: &Path) -> Vec<u8> {
        let mut out = Vec::new();
        for e in fs::read_dir(dir).into_iter().flatten().flatten() {
            if e.path().is_dir() {
                out.extend(bytes_under(&e.path()));
            } else {
                out.extend(fs::read(e.path()).unwrap_or_default());
            }
        }
        out
    }

    #[test]
    fn compaction_keeps_live_data_and_drops_deleted_bytes() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("store");
        let gone = [0xA5u8; 48];
        store_with(&dir, b"still here", &gone);
        let has = |b: &[u8]| b.windows(gone.len()).any(|w| w == gone);
        assert!(has(&bytes_under(&dir)));
        assert!(matches!(compact_if_wanted(&dir), Ok(None)));
        assert!(request(&dir).is_ok());
        assert!(matches!(compact_if_wanted(&dir), Ok(Some(_))));
        assert!(!has(&bytes_under(&dir)));
        assert!(!marker(&dir).exists());
        let db = sled::open(&dir).unwrap();
        let tree = db.open_tree("data").unwrap();
        assert_eq!(
            tree.get(b"keep").ok().flatten().map(|v| v.to_vec()),
            Some(b"still here".to_vec())
        );
        assert_eq!(tree.len(), 1);
    }

    #[test]
    fn recovery_undoes_or_finishes_a_cut_off_compaction() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("store");
        store_with(&dir, b"v", b"x");
        // Cut off between the renames: the old store is put back, the partial copy dropped.
        fs::rename(&dir, sibling(&dir, ".old")).unwrap();
        fs::create_dir(sibling(&dir, ".compacting")).unwrap();
        assert!(recover(&dir).is_ok());
        assert!(dir.exists() && !sibling(&dir, ".old").exists());
        assert!(!sibling(&dir, ".compacting").exists());
        // Cut off after the swap: only the old store is left to delete.
        fs::create_dir(sibling(&dir, ".old")).unwrap();
        assert!(recover(&dir).is_ok());
        assert!(dir.exists() && !sibling(&dir, ".old").exists());
        let db = sled::open(&dir).unwrap();
        let tree = db.open_tree("data").unwrap();
        assert_eq!(
            tree.get(b"keep").ok().flatten().map(|v| v.to_vec()),
            Some(b"v".to_vec())
        );
    }
}
