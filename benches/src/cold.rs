//! Cold-cache figures: the first pass over the queries right after the store is opened,
//! with its files still in the page cache ("reopened") and after dropping them from it
//! ("cold"), so users see what a freshly started process pays before the index is warm.

use std::fs::File;
use std::path::Path;
use std::time::Instant;

use rustix::fs::{Advice, fadvise};

use hannoy_conformance::dataset::{Dataset, recall_at};

use crate::figures::SearchFigures;
use crate::stats::quantile;

/// The state of the page cache when a store is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cache {
    /// The queries have run before in this process: the measured passes follow a warm-up.
    Warm,
    /// The store was closed and reopened; its files are still in the page cache.
    Reopened,
    /// The store was closed, its files dropped from the page cache, then reopened.
    Cold,
    /// As `Cold`, then `Reader::prefetch(Prefetch::All)` before the first query (its time
    /// counted in the opening's).
    ColdPrefetched,
}

impl Cache {
    /// The name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Cache::Warm => "warm",
            Cache::Reopened => "reopened",
            Cache::Cold => "cold",
            Cache::ColdPrefetched => "cold+prefetch",
        }
    }
}

/// Asks the kernel to drop every file under `path` from the page cache
/// (`posix_fadvise(DONTNEED)`). It drops only clean pages that no process maps, so the
/// store must be closed first and its last commit synced (both LMDB and redb sync on
/// commit). Returns the bytes of the files advised.
///
/// # Errors
/// I/O errors, as text.
pub fn drop_from_page_cache(path: &Path) -> Result<u64, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if meta.is_dir() {
        let mut total = 0;
        for entry in std::fs::read_dir(path).map_err(|e| e.to_string())? {
            total += drop_from_page_cache(&entry.map_err(|e| e.to_string())?.path())?;
        }
        return Ok(total);
    }
    let file = File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    file.sync_all().map_err(|e| e.to_string())?;
    fadvise(&file, 0, None, Advice::DontNeed).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(meta.len())
}

/// Times the first pass of `search` over every query (each query once, nothing before it)
/// and scores it against `truth`.
pub fn first_pass(
    data: &Dataset,
    truth: &[Vec<u32>],
    k: usize,
    ef_search: usize,
    mut search: impl FnMut(&[f32]) -> Vec<u32>,
) -> SearchFigures {
    let queries = data.queries.rows();
    let mut latencies = Vec::with_capacity(queries);
    let mut found = Vec::with_capacity(queries);
    let started = Instant::now();
    for q in 0..queries {
        let one = Instant::now();
        found.push(search(data.queries.row(q)));
        latencies.push(one.elapsed().as_secs_f64() * 1e6);
    }
    let seconds = started.elapsed().as_secs_f64();
    SearchFigures {
        ef_search,
        recall: recall_at(k, &found, truth),
        qps: queries as f64 / seconds,
        p50_us: quantile(&latencies, 0.5),
        p99_us: quantile(&latencies, 0.99),
    }
}
