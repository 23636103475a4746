//! One benchmark run of our index: build on a backend, then search at each ef_search.
//! The run's parameters are in [`crate::config`], what it measures in [`crate::figures`].

use std::path::Path;
use std::time::Instant;

use hannoy::{
    Database, KvStore, Metric, Phase, Progress, Reader, RoaringBitmap, Scheme, WriteTxn, Writer,
};
use indicatif::{ProgressBar, ProgressStyle};
use rand::SeedableRng;
use rand::rngs::StdRng;

use hannoy_conformance::dataset::{self, Dataset, exact_distance, recall_at};

use crate::cold::{self, Cache};
use crate::config::RunConfig;
use crate::figures::{SearchFigures, WalkFigures};
use crate::on_database;
use crate::report::Row;
use crate::stats::{self, median, quantile};
use crate::store::{Backend, Store};

/// The query our index runs at `ef`: with the run's rescore count and time budget, on the
/// codes if `codes`, restricted to `filter`'s candidates if any.
fn query<'r, 't, M: Metric, T: hannoy::ReadTxn>(
    reader: &'r Reader<'t, M, T>,
    config: &RunConfig,
    ef: usize,
    filter: Option<&'r Filter>,
    codes: bool,
) -> hannoy::QueryBuilder<'r, 't, M, T> {
    let builder = reader.nns(config.k).ef_search(ef).use_codes(codes);
    let builder = match config.rescore {
        Some(rescore) => builder.rescore(rescore),
        None => builder,
    };
    let builder = match config.time_budget {
        Some(budget) => builder.time_budget(budget),
        None => builder,
    };
    match filter {
        Some(f) => builder
            .candidates(&f.ids)
            .filter_strategy(config.filter_strategy),
        None => builder,
    }
}

/// A random set of candidate ids shared by every system of a run, with the exact top
/// neighbours of each query among them.
pub struct Filter {
    /// The share of items kept.
    pub ratio: f64,
    /// The kept ids.
    pub ids: RoaringBitmap,
    /// For each query, its nearest kept ids, nearest first.
    pub truth: Vec<Vec<u32>>,
}

impl Filter {
    /// Keeps a random `ratio` of the base items (seeded).
    pub fn new(
        data: &Dataset,
        ratio: f64,
        seed: u64,
        distance: impl Fn(&[f32], &[f32]) -> f32 + Sync,
    ) -> Filter {
        let mut rng = StdRng::seed_from_u64(seed ^ ratio.to_bits());
        let n = data.base.rows();
        let kept = ((n as f64 * ratio).round() as usize).clamp(1, n);
        let ids: RoaringBitmap = rand::seq::index::sample(&mut rng, n, kept)
            .into_iter()
            .map(|i| i as u32)
            .collect();
        let members: Vec<u32> = ids.iter().collect();
        let truth =
            dataset::exact_neighbours_among(&data.base, &members, &data.queries, 100, distance);
        Filter { ratio, ids, truth }
    }
}

/// Times `passes` single-threaded passes of `search` over every query (after a pass that
/// scores the results against `truth`).
pub fn measure_search(
    data: &Dataset,
    truth: &[Vec<u32>],
    k: usize,
    ef_search: usize,
    passes: usize,
    mut search: impl FnMut(&[f32]) -> Vec<u32>,
) -> SearchFigures {
    let queries = data.queries.rows();
    let found: Vec<Vec<u32>> = (0..queries).map(|q| search(data.queries.row(q))).collect();
    let recall = recall_at(k, &found, truth);
    let mut pass_qps = Vec::new();
    let mut latencies = Vec::with_capacity(queries * passes);
    let mut cpu_qps = Vec::new();
    for _ in 0..passes.max(1) {
        let cpu = thread_cpu_seconds();
        let started = Instant::now();
        for q in 0..queries {
            let one = Instant::now();
            std::hint::black_box(search(data.queries.row(q)));
            latencies.push(one.elapsed().as_secs_f64() * 1e6);
        }
        pass_qps.push(queries as f64 / started.elapsed().as_secs_f64());
        cpu_qps.push(queries as f64 / (thread_cpu_seconds() - cpu));
    }
    // Queries per second of this thread's CPU time: on a shared machine, robust to the
    // thread being descheduled, so same-run A/B comparisons hold where wall time does not.
    eprintln!("CPUQPS ef {ef_search}: {:.0}", median(&cpu_qps));
    SearchFigures {
        ef_search,
        recall,
        qps: median(&pass_qps),
        p50_us: quantile(&latencies, 0.5),
        p99_us: quantile(&latencies, 0.99),
    }
}

/// The CPU time this thread has used, in seconds.
fn thread_cpu_seconds() -> f64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    t.tv_sec as f64 + t.tv_nsec as f64 * 1e-9
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

/// Builds and measures our index on `backend`: unfiltered and with each filter, at each
/// ef_search. With `config.churn`, the measured index is an updated one (see
/// [`RunConfig::churn`]) and a fresh build over the same live items is measured beside it.
///
/// # Errors
/// Any index or I/O error, as text.
pub fn run_ours<M: Metric>(
    backend: Backend,
    data: &Dataset,
    filters: &[Filter],
    config: &RunConfig,
) -> Result<Vec<Row>, String> {
    let temp = tempfile::tempdir().map_err(|e| e.to_string())?;
    let root = config
        .db_dir
        .clone()
        .unwrap_or_else(|| temp.path().to_path_buf());
    let n = data.base.rows() as u32;
    if config.churn.is_none() {
        // One fresh build per configuration, codes encoded by the build itself: its time
        // and its store are what a user of that configuration gets.
        let mut rows = Vec::new();
        for (i, &quantization) in config.quantizations.iter().enumerate() {
            let name = quantization.map_or("hannoy".to_owned(), |s| {
                format!("hannoy-{}", code_label(s, config))
            });
            let fresh = Store::create(backend, &root, &name)?;
            let build_s = build::<M>(&fresh, data, 0..n, &[], config, quantization)?;
            let (fresh, mut measured) = if i == 0 && config.cold && fresh.path().is_some() {
                measure_cold::<M>(fresh, data, config, quantization)?
            } else {
                (fresh, Vec::new())
            };
            measured.extend(measure::<M>(
                &fresh,
                data,
                &data.ground_truth,
                filters,
                config,
                quantization,
            )?);
            for row in &mut measured {
                row.build_s = build_s;
            }
            rows.extend(measured);
            // In a temporary directory, the next configuration's store replaces this one.
            if let Some(path) = fresh.path().map(Path::to_path_buf)
                && config.db_dir.is_none()
            {
                drop(fresh);
                let dir = match backend {
                    Backend::Redb => path.parent().unwrap_or(&path),
                    _ => &path,
                };
                let _ = std::fs::remove_dir_all(dir);
            }
        }
        return Ok(rows);
    }
    let Some(churn) = config.churn else {
        unreachable!("handled above");
    };
    if config.quantizations.iter().any(Option::is_some) {
        return Err("--churn measures full vectors only (no --quantization)".into());
    }

    // Build on the first 1 - churn of the items, then add the rest and delete as many of
    // the first part, and build again.
    let first = ((f64::from(n) * (1.0 - churn)).round() as u32).min(n);
    let mut rng = StdRng::seed_from_u64(config.seed ^ 0xc4);
    let deleted: Vec<u32> =
        rand::seq::index::sample(&mut rng, first as usize, (n - first) as usize)
            .into_iter()
            .map(|i| i as u32)
            .collect();
    let fresh = Store::create(backend, &root, "hannoy")?;
    let updated = Store::create(backend, &root, "hannoy-churned")?;
    build::<M>(&updated, data, 0..first, &[], config, None)?;
    let rebuild_s = build::<M>(&updated, data, first..n, &deleted, config, None)?;

    let gone: RoaringBitmap = deleted.iter().copied().collect();
    let live: Vec<u32> = (0..n).filter(|id| !gone.contains(*id)).collect();
    let truth =
        dataset::exact_neighbours_among(&data.base, &live, &data.queries, 100, exact_distance::<M>);
    let live_set: RoaringBitmap = live.iter().copied().collect();
    let fresh_s = build::<M>(&fresh, data, 0..n, &deleted, config, None)?;
    let live_filters: Vec<Filter> = filters
        .iter()
        .map(|f| {
            let ids = &f.ids & &live_set;
            let members: Vec<u32> = ids.iter().collect();
            let truth = dataset::exact_neighbours_among(
                &data.base,
                &members,
                &data.queries,
                100,
                exact_distance::<M>,
            );
            Filter {
                ratio: f.ratio,
                ids,
                truth,
            }
        })
        .collect();
    let fresh_rows = measure::<M>(&fresh, data, &truth, &live_filters, config, None)?;
    let mut rows = measure::<M>(&updated, data, &truth, &live_filters, config, None)?;
    for (row, fresh) in rows.iter_mut().zip(&fresh_rows) {
        row.build_s = fresh_s;
        row.churn = Some(churn);
        row.rebuild_s = Some(rebuild_s);
        row.recall_fresh = Some(fresh.recall);
    }
    Ok(rows)
}

/// Adds `ids` (rows of the base), deletes `deleted`, builds and commits; returns the
/// seconds it took.
fn build<M: Metric>(
    store: &Store,
    data: &Dataset,
    ids: std::ops::Range<u32>,
    deleted: &[u32],
    config: &RunConfig,
    codes: Option<Scheme>,
) -> Result<f64, String> {
    let name = store.name();
    on_database!(store, |db| build_on::<M, _>(
        db, name, data, ids, deleted, config, codes
    ))
}

fn build_on<M: Metric, S: KvStore>(
    db: &Database<S>,
    name: &str,
    data: &Dataset,
    ids: std::ops::Range<u32>,
    deleted: &[u32],
    config: &RunConfig,
    codes: Option<Scheme>,
) -> Result<f64, String> {
    let err = |e: hannoy::Error| e.to_string();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(config.threads)
        .build()
        .map_err(|e| e.to_string())?;
    let writer = Writer::<M>::new(0, data.base.dim);
    let bar = progress_bar(config.progress, &format!("build {name}"));
    let report = |p: Progress| {
        bar.set_message(phase_name(p.phase));
        bar.set_length(p.total);
        bar.set_position(p.done);
    };
    let started = Instant::now();
    let mut wtxn = db.write_txn().map_err(|e| e.to_string())?;
    // One batch: the rows of `ids` are contiguous in the base matrix.
    let dim = data.base.dim;
    let rows = data
        .base
        .data
        .get(ids.start as usize * dim..ids.end as usize * dim)
        .ok_or("item ids past the base vectors")?;
    let ids: Vec<u32> = ids.collect();
    writer.add_items(&mut wtxn, &ids, rows).map_err(err)?;
    for &id in deleted {
        writer.del_item(&mut wtxn, id).map_err(err)?;
    }
    let mut rng = StdRng::seed_from_u64(config.seed);
    let builder = writer
        .builder(&mut rng)
        .m(config.m)
        .m0(config.m0)
        .ef_construction(config.ef_construction)
        .thread_pool(&pool)
        .progress(&report);
    let builder = match codes {
        Some(scheme) if config.codes_only => builder.codes_only(scheme),
        Some(scheme) => builder.codes(Some(scheme)),
        None => builder,
    };
    let stats = builder.build(&mut wtxn).map_err(err)?;
    wtxn.commit().map_err(|e| e.to_string())?;
    let seconds = started.elapsed().as_secs_f64();
    bar.finish_and_clear();
    if config.progress {
        eprintln!(
            "{name}{}: build of {} inserted, {} removed ({} repaired) in {seconds:.1} s (graph {:.1} s, write {:.1} s, {} links added for reachability)",
            codes.map_or(String::new(), |s| format!(" with {s} codes")),
            stats.inserted,
            stats.removed,
            stats.repaired,
            stats.compute_seconds,
            stats.write_seconds,
            stats.reconnected
        );
    }
    Ok(seconds)
}

/// Closes `store` and reopens it three times, first as it is, then after dropping its files
/// from the page cache, then after dropping them again with a prefetch of the whole index
/// before the first query, and measures the first pass over the queries (at
/// `config.cold_ef`) after each opening, the opening (and prefetch) included. Returns the
/// store, open again.
fn measure_cold<M: Metric>(
    mut store: Store,
    data: &Dataset,
    config: &RunConfig,
    quantization: Option<Scheme>,
) -> Result<(Store, Vec<Row>), String> {
    let mut rows = Vec::new();
    for cache in [Cache::Reopened, Cache::Cold, Cache::ColdPrefetched] {
        let backend = store.backend();
        let path = store
            .path()
            .ok_or("cold passes need an on-disk store")?
            .to_path_buf();
        drop(store);
        if cache != Cache::Reopened {
            cold::drop_from_page_cache(&path)?;
        }
        let started = Instant::now();
        store = Store::open(backend, path)?;
        let prefetch = cache == Cache::ColdPrefetched;
        let row = on_database!(&store, |db| first_pass_on::<M, _>(
            db, &store, data, config, started, prefetch
        ));
        let row = row.map(|mut row| {
            if let Some(scheme) = quantization {
                row.system = format!("{} {}", row.system, code_label(scheme, config));
                row.codes = Some(code_label(scheme, config));
            }
            row
        });
        let mut row = row?;
        row.cache = cache;
        rows.push(row);
    }
    Ok((store, rows))
}

/// Opens a reader on `db` (and reads the whole index ahead if `prefetch`) and measures the
/// first pass; the opening time counts from `started` (before the store was opened).
fn first_pass_on<M: Metric, S: KvStore>(
    db: &Database<S>,
    store: &Store,
    data: &Dataset,
    config: &RunConfig,
    started: Instant,
    prefetch: bool,
) -> Result<Row, String> {
    let rtxn = db.read_txn().map_err(|e| e.to_string())?;
    let reader = Reader::<M, _>::open(&rtxn, 0).map_err(|e| e.to_string())?;
    if prefetch {
        reader
            .prefetch(hannoy::Prefetch::All)
            .map_err(|e| e.to_string())?;
    }
    let open_ms = started.elapsed().as_secs_f64() * 1e3;
    let ef = config.cold_ef;
    let figures = cold::first_pass(data, &data.ground_truth, config.k, ef, |query| {
        search_ids(&reader, config, ef, None, true, query)
    });
    let mut row = our_row::<M>(store, data, config, store.size(), &figures);
    row.open_ms = Some(open_ms);
    Ok(row)
}

/// The ids our index returns for `query` at `ef`, restricted to `filter`'s candidates if
/// any (nothing on error: the recall shows it).
fn search_ids<M: Metric, T: hannoy::ReadTxn>(
    reader: &Reader<'_, M, T>,
    config: &RunConfig,
    ef: usize,
    filter: Option<&Filter>,
    codes: bool,
    query: &[f32],
) -> Vec<u32> {
    match self::query(reader, config, ef, filter, codes).by_vector(query) {
        Ok(found) => found.into_iter().map(|(id, _)| id).collect(),
        Err(_) => Vec::new(),
    }
}

/// A row of our index's figures (build time filled in by the caller).
fn our_row<M: Metric>(
    store: &Store,
    data: &Dataset,
    config: &RunConfig,
    size: u64,
    figures: &SearchFigures,
) -> Row {
    Row::new(
        "hannoy (this repo)",
        store.name(),
        data,
        M::NAME,
        config,
        0.0,
        size,
        stats::memory(),
        figures,
        false,
    )
}

/// Measures every (filter, ef_search) point of a built store, walking on its codes of
/// `quantization` or (`None`) on the full vectors.
fn measure<M: Metric>(
    store: &Store,
    data: &Dataset,
    truth: &[Vec<u32>],
    filters: &[Filter],
    config: &RunConfig,
    quantization: Option<Scheme>,
) -> Result<Vec<Row>, String> {
    on_database!(store, |db| measure_on::<M, _>(
        db,
        store,
        data,
        truth,
        filters,
        config,
        quantization
    ))
}

/// The name of a code configuration in rows and store names: the scheme, `-only` when
/// the index keeps no full vectors.
fn code_label(scheme: Scheme, config: &RunConfig) -> String {
    match config.codes_only {
        true => format!("{}-only", scheme.name()),
        false => scheme.name().to_owned(),
    }
}

/// The mean [`hannoy::SearchStats`] over the queries at one point.
fn walk_figures<M: Metric, T: hannoy::ReadTxn>(
    reader: &Reader<'_, M, T>,
    data: &Dataset,
    config: &RunConfig,
    ef: usize,
    filter: Option<&Filter>,
    codes: bool,
) -> Result<WalkFigures, String> {
    let mut total = WalkFigures::default();
    let queries = data.queries.rows();
    for q in 0..queries {
        let (_, stats) = query(reader, config, ef, filter, codes)
            .by_vector_with_stats(data.queries.row(q))
            .map_err(|e| e.to_string())?;
        total.walk_distances += stats.walk_distances as f64;
        total.rescored += stats.rescored as f64;
        total.cut_short += f64::from(u8::from(stats.cut_short));
        total.bytes_per_distance = stats.bytes_per_distance;
    }
    let n = queries.max(1) as f64;
    total.walk_distances /= n;
    total.rescored /= n;
    total.cut_short /= n;
    Ok(total)
}

fn measure_on<M: Metric, S: KvStore>(
    db: &Database<S>,
    store: &Store,
    data: &Dataset,
    truth: &[Vec<u32>],
    filters: &[Filter],
    config: &RunConfig,
    quantization: Option<Scheme>,
) -> Result<Vec<Row>, String> {
    let codes = quantization.is_some();
    let err = |e: hannoy::Error| e.to_string();
    let rtxn = db.read_txn().map_err(|e| e.to_string())?;
    let mut reader = Reader::<M, _>::open(&rtxn, 0).map_err(err)?;
    if config.hold_in_memory {
        reader.hold_in_memory().map_err(err)?;
    }
    let reader = reader;
    if let Some(quantizer) = reader.quantizer() {
        eprintln!(
            "codes: {} from {} centre(s), {} bytes each",
            quantizer.scheme(),
            quantizer.centres(),
            quantizer.code_len()
        );
    }
    if config.check {
        let report = reader.check(&rtxn).map_err(err)?;
        if !report.is_valid() {
            return Err(format!(
                "the graph on {} is invalid: {report}",
                store.name()
            ));
        }
    }
    // A codes-only build frees the vectors it wrote in the same transaction: the live data
    // is what such a store holds once compacted (`Store::live_size`).
    let size = match config.codes_only && codes {
        true => store.live_size()?,
        false => store.size(),
    };
    let mut rows = Vec::new();
    let points = std::iter::once(None).chain(filters.iter().map(Some));
    for filter in points {
        for &ef in &config.ef_search {
            let truth = filter.map_or(truth, |f| &f.truth);
            let figures = measure_search(data, truth, config.k, ef, config.passes, |query| {
                search_ids(&reader, config, ef, filter, codes, query)
            });
            let mut row = our_row::<M>(store, data, config, size, &figures);
            row.filter_ratio = filter.map(|f| f.ratio);
            row.walk = Some(walk_figures(&reader, data, config, ef, filter, codes)?);
            if let Some(scheme) = quantization {
                row.system = format!("{} {}", row.system, code_label(scheme, config));
                row.codes = Some(code_label(scheme, config));
                row.rescore = config.rescore;
            }
            rows.push(row);
        }
    }
    Ok(rows)
}
