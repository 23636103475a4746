//! One benchmark run of our index: build on a backend, then search at each ef_search.

use std::path::PathBuf;
use std::time::Instant;

use hannoy::storage::{LmdbStore, MemoryStore, RedbStore};
use hannoy::{Database, KvStore, Metric, Phase, Progress, Reader, WriteTxn, Writer};
use indicatif::{ProgressBar, ProgressStyle};
use rand::SeedableRng;
use rand::rngs::StdRng;

use crate::dataset::{Dataset, recall_at};
use crate::report::Row;
use crate::stats::{self, median, quantile};

/// A store backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Backend {
    /// LMDB through heed.
    Lmdb,
    /// redb.
    Redb,
    /// The in-memory store.
    Memory,
}

impl Backend {
    /// The backend's name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Lmdb => "lmdb",
            Backend::Redb => "redb",
            Backend::Memory => "memory",
        }
    }
}

/// Parameters of a run.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// Links per node above layer 0.
    pub m: u16,
    /// Links per node on layer 0.
    pub m0: u16,
    /// Candidate list size while building.
    pub ef_construction: u32,
    /// The ef_search values to measure.
    pub ef_search: Vec<usize>,
    /// Neighbours asked for.
    pub k: usize,
    /// Build threads.
    pub threads: usize,
    /// Seed of the build and of generated data.
    pub seed: u64,
    /// Where stores go; a temporary directory when `None`.
    pub db_dir: Option<PathBuf>,
    /// Measured passes over the queries per ef_search (after one warm-up pass).
    pub passes: usize,
    /// Show a progress bar during the build.
    pub progress: bool,
    /// Run the graph validity check after the build.
    pub check: bool,
}

/// Search measurements at one ef_search.
pub struct SearchFigures {
    /// The ef_search measured.
    pub ef_search: usize,
    /// Mean recall@k.
    pub recall: f64,
    /// Queries per second (median of the passes).
    pub qps: f64,
    /// Median latency, microseconds.
    pub p50_us: f64,
    /// 99th-percentile latency, microseconds.
    pub p99_us: f64,
}

/// Times `passes` single-threaded passes of `search` over every query (after a warm-up
/// pass) and scores the results.
pub fn measure_search(
    data: &Dataset,
    k: usize,
    ef_search: usize,
    passes: usize,
    mut search: impl FnMut(&[f32]) -> Vec<u32>,
) -> SearchFigures {
    let queries = data.queries.rows();
    let found: Vec<Vec<u32>> = (0..queries).map(|q| search(data.queries.row(q))).collect();
    let recall = recall_at(k, &found, &data.ground_truth);
    let mut pass_qps = Vec::new();
    let mut latencies = Vec::with_capacity(queries * passes);
    for _ in 0..passes.max(1) {
        let started = Instant::now();
        for q in 0..queries {
            let one = Instant::now();
            std::hint::black_box(search(data.queries.row(q)));
            latencies.push(one.elapsed().as_secs_f64() * 1e6);
        }
        pass_qps.push(queries as f64 / started.elapsed().as_secs_f64());
    }
    SearchFigures {
        ef_search,
        recall,
        qps: median(&pass_qps),
        p50_us: quantile(&latencies, 0.5),
        p99_us: quantile(&latencies, 0.99),
    }
}

/// A progress bar fed by the builder's reports.
pub fn progress_bar(enabled: bool, label: &str) -> ProgressBar {
    if !enabled {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(0);
    let style = ProgressStyle::with_template("{prefix} {msg:>10} [{bar:40}] {pos}/{len} ({eta})")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
    bar.set_style(style);
    bar.set_prefix(label.to_owned());
    bar
}

fn phase_name(phase: Phase) -> &'static str {
    match phase {
        Phase::Loading => "loading",
        Phase::Repairing => "repairing",
        Phase::Inserting => "inserting",
        Phase::Connecting => "connecting",
        Phase::Writing => "writing",
        _ => "working",
    }
}

/// Builds and measures our index on `backend`.
///
/// # Errors
/// Any index or I/O error, as text.
pub fn run_ours<M: Metric>(
    backend: Backend,
    data: &Dataset,
    config: &RunConfig,
) -> Result<Vec<Row>, String> {
    let temp = tempfile::tempdir().map_err(|e| e.to_string())?;
    let root = config
        .db_dir
        .clone()
        .unwrap_or_else(|| temp.path().to_path_buf());
    let dir = root.join(format!("hannoy-{}", backend.name()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    match backend {
        Backend::Lmdb => {
            let db = Database::<LmdbStore>::open(&dir).map_err(|e| e.to_string())?;
            run_on::<M, _>(&db, backend, data, config, || stats::disk_size(&dir))
        }
        Backend::Redb => {
            let file = dir.join("index.redb");
            let db = Database::<RedbStore>::open_redb(&file).map_err(|e| e.to_string())?;
            run_on::<M, _>(&db, backend, data, config, || stats::disk_size(&file))
        }
        Backend::Memory => {
            let db = Database::<MemoryStore>::in_memory();
            run_on::<M, _>(&db, backend, data, config, || db.store().committed_bytes())
        }
    }
}

fn run_on<M: Metric, S: KvStore>(
    db: &Database<S>,
    backend: Backend,
    data: &Dataset,
    config: &RunConfig,
    size: impl Fn() -> u64,
) -> Result<Vec<Row>, String> {
    let err = |e: hannoy::Error| e.to_string();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(config.threads)
        .build()
        .map_err(|e| e.to_string())?;
    let writer = Writer::<M>::new(0, data.base.dim);
    let bar = progress_bar(config.progress, &format!("build {}", backend.name()));
    let report = |p: Progress| {
        bar.set_message(phase_name(p.phase));
        bar.set_length(p.total);
        bar.set_position(p.done);
    };

    let started = Instant::now();
    let mut wtxn = db.write_txn().map_err(|e| e.to_string())?;
    for i in 0..data.base.rows() {
        writer
            .add_item(&mut wtxn, i as u32, data.base.row(i))
            .map_err(err)?;
    }
    let mut rng = StdRng::seed_from_u64(config.seed);
    let stats = writer
        .builder(&mut rng)
        .m(config.m)
        .m0(config.m0)
        .ef_construction(config.ef_construction)
        .thread_pool(&pool)
        .progress(&report)
        .build(&mut wtxn)
        .map_err(err)?;
    wtxn.commit().map_err(|e| e.to_string())?;
    let build_s = started.elapsed().as_secs_f64();
    bar.finish_and_clear();
    if config.progress {
        eprintln!(
            "built {} items on {} in {build_s:.1} s (insert {:.1} s, write {:.1} s, {} links added for reachability)",
            stats.inserted,
            backend.name(),
            stats.compute_seconds,
            stats.write_seconds,
            stats.reconnected
        );
    }

    let rtxn = db.read_txn().map_err(|e| e.to_string())?;
    let reader = Reader::<M, _>::open(&rtxn, 0).map_err(err)?;
    if config.check {
        let report = reader.check(&rtxn).map_err(err)?;
        if !report.is_valid() {
            return Err(format!(
                "the graph on {} is invalid: {report}",
                backend.name()
            ));
        }
    }
    let mut rows = Vec::new();
    for &ef in &config.ef_search {
        let figures = measure_search(data, config.k, ef, config.passes, |query| {
            match reader.nns(config.k).ef_search(ef).by_vector(query) {
                Ok(found) => found.into_iter().map(|(id, _)| id).collect(),
                Err(_) => Vec::new(),
            }
        });
        let memory = stats::memory();
        rows.push(Row::new(
            "hannoy (this repo)",
            backend.name(),
            data,
            M::NAME,
            config,
            build_s,
            size(),
            memory,
            &figures,
            false,
        ));
    }
    Ok(rows)
}
