//! Result rows: a readable table, or one JSON object per line.

use hannoy_conformance::dataset::Dataset;
use serde_json::json;

use crate::cold::Cache;
use crate::config::RunConfig;
use crate::figures::{SearchFigures, WalkFigures};
use crate::stats::Memory;

/// One measured point: a system on a backend at one ef_search.
#[derive(Debug, Clone)]
pub struct Row {
    /// The system measured ("hannoy (this repo)" or a peer).
    pub system: String,
    /// The store backend.
    pub backend: String,
    /// The dataset's name.
    pub dataset: String,
    /// Base vectors indexed.
    pub n: usize,
    /// Components per vector.
    pub dim: usize,
    /// The metric's name.
    pub metric: String,
    /// Links per node above layer 0.
    pub m: u16,
    /// Links per node on layer 0.
    pub m0: u16,
    /// Candidate list size while building.
    pub ef_construction: u32,
    /// Build threads.
    pub threads: usize,
    /// Seconds to add every item, build and commit.
    pub build_s: f64,
    /// Bytes the store takes on disk (in memory for the memory backend).
    pub size_bytes: u64,
    /// Resident memory after the searches.
    pub memory: Memory,
    /// Candidate list size while searching.
    pub ef_search: usize,
    /// Neighbours asked for.
    pub k: usize,
    /// Mean recall@k against the ground truth.
    pub recall: f64,
    /// Queries per second, one thread, one query per call (median of the passes).
    pub qps: f64,
    /// Median query latency, microseconds.
    pub p50_us: f64,
    /// 99th-percentile query latency, microseconds.
    pub p99_us: f64,
    /// Whether the system is a peer rather than this repository's index.
    pub peer: bool,
    /// The share of items the query's candidate filter keeps (`None`: no filter).
    pub filter_ratio: Option<f64>,
    /// The churn of an updated index (`None`: a fresh build).
    pub churn: Option<f64>,
    /// With churn: recall of a fresh build over the same live items, at the same point.
    pub recall_fresh: Option<f64>,
    /// With churn: seconds of the second (updating) build; `build_s` is then the fresh
    /// build's.
    pub rebuild_s: Option<f64>,
    /// The page cache's state: warm (measured passes after a warm-up), or the first pass
    /// after reopening the store, with its files cached or dropped from the cache.
    pub cache: Cache,
    /// For reopened and cold rows: milliseconds to open the store and the index.
    pub open_ms: Option<f64>,
    /// Our rows: the compact-code scheme the walk ran on (`None`: full vectors).
    pub codes: Option<String>,
    /// Our rows on codes: the candidates asked to be rescored (`None`: the default, ef).
    pub rescore: Option<usize>,
    /// Our rows: what the walk did per query.
    pub walk: Option<WalkFigures>,
}

impl Row {
    /// A row from a run's figures.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        system: &str,
        backend: &str,
        data: &Dataset,
        metric: &str,
        config: &RunConfig,
        build_s: f64,
        size_bytes: u64,
        memory: Memory,
        figures: &SearchFigures,
        peer: bool,
    ) -> Row {
        Row {
            system: system.to_owned(),
            backend: backend.to_owned(),
            dataset: data.name.clone(),
            n: data.base.rows(),
            dim: data.base.dim,
            metric: metric.to_owned(),
            m: config.m,
            m0: config.m0,
            ef_construction: config.ef_construction,
            threads: config.threads,
            build_s,
            size_bytes,
            memory,
            ef_search: figures.ef_search,
            k: config.k,
            recall: figures.recall,
            qps: figures.qps,
            p50_us: figures.p50_us,
            p99_us: figures.p99_us,
            peer,
            filter_ratio: None,
            churn: None,
            recall_fresh: None,
            rebuild_s: None,
            cache: Cache::Warm,
            open_ms: None,
            codes: None,
            rescore: None,
            walk: None,
        }
    }

    /// The row as one JSON object.
    pub fn to_json(&self) -> String {
        json!({
            "system": self.system,
            "backend": self.backend,
            "dataset": self.dataset,
            "n": self.n,
            "dim": self.dim,
            "metric": self.metric,
            "m": self.m,
            "m0": self.m0,
            "ef_construction": self.ef_construction,
            "threads": self.threads,
            "build_s": self.build_s,
            "size_bytes": self.size_bytes,
            "peak_rss_bytes": self.memory.peak_rss,
            "rss_anon_bytes": self.memory.anon,
            "rss_file_bytes": self.memory.file,
            "ef_search": self.ef_search,
            "k": self.k,
            "recall": self.recall,
            "qps": self.qps,
            "p50_us": self.p50_us,
            "p99_us": self.p99_us,
            "peer": self.peer,
            "filter_ratio": self.filter_ratio,
            "churn": self.churn,
            "recall_fresh": self.recall_fresh,
            "rebuild_s": self.rebuild_s,
            "cache": self.cache.name(),
            "open_ms": self.open_ms,
            "codes": self.codes,
            "rescore": self.rescore,
            "walk_distances": self.walk.map(|w| w.walk_distances),
            "bytes_per_distance": self.walk.map(|w| w.bytes_per_distance),
            "rescored": self.walk.map(|w| w.rescored),
            "cut_short": self.walk.map(|w| w.cut_short),
        })
        .to_string()
    }
}

/// The rows as a table, then the ratios of each of our rows against the peer row at the
/// same point (filter, ef_search).
pub fn table(rows: &[Row]) -> String {
    let mut out = format!(
        "{:<30} {:<7} {:>8} {:>9} {:>9} {:>7} {:>15} {:>5} {:>7} {:>9} {:>8} {:>8} {:>17} {:>22}\n",
        "system",
        "backend",
        "build_s",
        "size_MiB",
        "bytes/vec",
        "filter",
        "cache (open)",
        "ef",
        "recall",
        "qps",
        "p50_us",
        "p99_us",
        "dists x B, resc",
        "churn: fresh / rebuild"
    );
    for row in rows {
        let filter = row
            .filter_ratio
            .map_or("-".to_owned(), |r| format!("{:.1}%", r * 100.0));
        let churn = match (row.recall_fresh, row.rebuild_s) {
            (Some(recall), Some(rebuild)) => format!("{recall:.4} / {rebuild:.1}s"),
            _ => "-".to_owned(),
        };
        let cache = match row.open_ms {
            Some(ms) => format!("{} ({ms:.1}ms)", row.cache.name()),
            None => row.cache.name().to_owned(),
        };
        let walk = row.walk.map_or("-".to_owned(), |w| {
            let cut = match w.cut_short {
                0.0 => String::new(),
                share => format!(", cut {:.0}%", share * 100.0),
            };
            format!(
                "{:.0}x{}, {:.0}{cut}",
                w.walk_distances, w.bytes_per_distance, w.rescored
            )
        });
        out += &format!(
            "{:<30} {:<7} {:>8.1} {:>9.1} {:>9.0} {:>7} {:>15} {:>5} {:>7.4} {:>9.0} {:>8.1} {:>8.1} {:>17} {:>22}\n",
            row.system,
            row.backend,
            row.build_s,
            row.size_bytes as f64 / (1 << 20) as f64,
            row.size_bytes as f64 / row.n.max(1) as f64,
            filter,
            cache,
            row.ef_search,
            row.recall,
            row.qps,
            row.p50_us,
            row.p99_us,
            walk,
            churn
        );
    }
    let peers: Vec<&Row> = rows.iter().filter(|r| r.peer).collect();
    if !peers.is_empty() {
        out += "\nratios against the peer at the same point (qps: ours/peer, build: ours/peer):\n";
        for row in rows.iter().filter(|r| !r.peer && r.cache == Cache::Warm) {
            let same = |p: &&&Row| {
                p.ef_search == row.ef_search
                    && p.filter_ratio == row.filter_ratio
                    && p.cache == Cache::Warm
            };
            if let Some(peer) = peers.iter().find(same) {
                out += &format!(
                    "  {:<7} {:<8} filter {:>6} ef {:>4}: qps x{:.2} (recall {:.4} vs {:.4}), build x{:.2}, size x{:.2}\n",
                    row.backend,
                    row.codes.as_deref().unwrap_or("f32"),
                    row.filter_ratio
                        .map_or("-".to_owned(), |r| format!("{:.1}%", r * 100.0)),
                    row.ef_search,
                    row.qps / peer.qps.max(1e-9),
                    row.recall,
                    peer.recall,
                    row.build_s / peer.build_s.max(1e-9),
                    row.size_bytes as f64 / peer.size_bytes.max(1) as f64
                );
            }
        }
    }
    out
}
