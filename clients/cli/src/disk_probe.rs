//! The disk's own flush latency during a soak: a small file in the vault's data directory,
//! rewritten and `fdatasync`ed ten times a second, each round timed. Beside the vault's latency
//! it tells a slow disk (its flushes slow too) from a slow vault (they do not).

use std::{
    fs::File,
    io::{Seek, SeekFrom, Write},
    path::Path,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

/// How often the probe flushes.
const EVERY: Duration = Duration::from_millis(100);

/// A running probe; stops (and removes its file) when dropped.
pub struct DiskProbe {
    samples: Arc<Mutex<Vec<Duration>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
    path: std::path::PathBuf,
}

impl DiskProbe {
    /// Starts probing in `dir` (which must exist).
    pub fn start(dir: &Path) -> anyhow::Result<Self> {
        let path = dir.join("valv-soak-disk-probe");
        let mut file = File::create(&path)?;
        let samples = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (out, halt) = (Arc::clone(&samples), Arc::clone(&stop));
        let thread = std::thread::spawn(move || {
            let block = [0x5au8; 4096];
            while !halt.load(Ordering::Relaxed) {
                let t = Instant::now();
                let flushed = file
                    .seek(SeekFrom::Start(0))
                    .and_then(|_| file.write_all(&block))
                    .and_then(|()| file.sync_data());
                if flushed.is_ok()
                    && let Ok(mut s) = out.lock()
                {
                    s.push(t.elapsed());
                }
                std::thread::sleep(EVERY);
            }
        });
        Ok(Self {
            samples,
            stop,
            thread: Some(thread),
            path,
        })
    }

    /// The flush times since the last call, sorted.
    pub fn take(&self) -> Vec<Duration> {
        let mut taken = self
            .samples
            .lock()
            .map(|mut s| std::mem::take(&mut *s))
            .unwrap_or_default();
        taken.sort();
        taken
    }
}

impl Drop for DiskProbe {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let _ = std::fs::remove_file(&self.path);
    }
}
