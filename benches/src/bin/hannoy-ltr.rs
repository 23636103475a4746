//! `hannoy-ltr`: the larger-than-RAM run of issue 12. One directory holds generated data
//! (`base.fvecs`, `queries.fvecs`, `groundtruth.ivecs`, `warmup.fvecs`) and an LMDB store
//! (`db/`) built from it; each step is its own process, so `benches/larger_than_ram.sh` can
//! run the searches inside a memory-limited cgroup and read their page faults.
//!
//! ```text
//! cargo run --release -p hannoy-benches --bin hannoy-ltr -- build --dir /work/ltr-data
//! cargo run --release -p hannoy-benches --bin hannoy-ltr -- codes --dir D --quantization sq8
//! cargo run --release -p hannoy-benches --bin hannoy-ltr -- drop-cache --dir D
//! cargo run --release -p hannoy-benches --bin hannoy-ltr -- search --dir D --mode codes
//! ```

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use clap::{Parser, Subcommand, ValueEnum};
use hannoy::metrics::simd_level;
use hannoy::storage::LmdbStore;
use hannoy::storage::lmdb::LmdbOptions;
use hannoy::{Cosine, Database, Progress, ReadTxn, Reader, Scheme, SearchStats, WriteTxn, Writer};
use hannoy_benches::cold;
use hannoy_benches::stats::{self, quantile};
use hannoy_conformance::dataset::{self, Matrix, exact_distance, recall_at};
use hannoy_graph::format::key::{self, Tag};
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde_json::json;

/// The graph's parameters: fixed for this campaign (M = 16, M0 = 2M, as hnswlib).
const M: u16 = 16;
const M0: u16 = 32;
const EF_CONSTRUCTION: u32 = 100;
/// Neighbours asked for, and kept in the ground truth.
const K: usize = 10;

/// Generate data, build an LMDB index, and search it from a separate process.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Generate the data (seeded, unit vectors, cosine), write it as .fvecs/.ivecs with the
    /// exact top 10 of each query, and build the index in DIR/db (M 16, ef_construction 100).
    Build(BuildArgs),
    /// Re-encode the compact codes of the built index (a build with nothing pending).
    Codes(CodesArgs),
    /// Run the queries on one thread and print one JSON line of figures.
    Search(SearchArgs),
    /// Drop every file under DIR (the store included) from the page cache.
    DropCache(DirArgs),
}

#[derive(clap::Args, Debug)]
struct DirArgs {
    /// The campaign's directory.
    #[arg(long)]
    dir: PathBuf,
}

#[derive(clap::Args, Debug)]
struct BuildArgs {
    /// The campaign's directory (created if needed; its `db` must not exist yet).
    #[arg(long)]
    dir: PathBuf,
    /// Base vectors.
    #[arg(long, default_value_t = 1_000_000)]
    n: usize,
    /// Components per vector.
    #[arg(long, default_value_t = 384)]
    dim: usize,
    /// Measured queries (with ground truth).
    #[arg(long, default_value_t = 200)]
    queries: usize,
    /// Warm-up queries (no ground truth), drawn after the measured ones.
    #[arg(long, default_value_t = 2000)]
    warmup: usize,
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Build (and ground-truth) threads.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// LMDB map size, GiB: address space the store may grow into.
    #[arg(long, default_value_t = 16)]
    map_gib: usize,
}

#[derive(clap::Args, Debug)]
struct CodesArgs {
    /// The campaign's directory.
    #[arg(long)]
    dir: PathBuf,
    /// sq8, rabitq1, or none (remove the codes).
    #[arg(long)]
    quantization: String,
    #[arg(long, default_value_t = 7)]
    seed: u64,
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// LMDB map size, GiB.
    #[arg(long, default_value_t = 16)]
    map_gib: usize,
    /// Make a codes-only copy of the store instead (`Builder::codes_only`; sq8): the copy
    /// is built codes-only, then compacted into `DIR/<--out>`; DIR/db keeps its vectors.
    #[arg(long)]
    codes_only: bool,
    /// The codes-only copy's directory under DIR.
    #[arg(long, default_value = "db-sq8-only")]
    out: String,
}

/// What the graph walk reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Mode {
    /// The full f32 vectors (`use_codes(false)`).
    F32,
    /// The compact codes, then rescoring with the full vectors.
    Codes,
}

#[derive(clap::Args, Debug)]
struct SearchArgs {
    /// The campaign's directory.
    #[arg(long)]
    dir: PathBuf,
    #[arg(long, value_enum)]
    mode: Mode,
    /// The store's directory under DIR (`db`, or a codes-only copy made by `codes
    /// --codes-only`).
    #[arg(long, default_value = "db")]
    db: String,
    #[arg(long, default_value_t = 64)]
    ef: usize,
    /// Candidates rescored with full vectors in codes mode (default: all `ef`).
    #[arg(long)]
    rescore: Option<usize>,
    /// Measure at most this many queries.
    #[arg(long)]
    max_queries: Option<usize>,
    /// Stop the warm-up, and then the measured pass, after this many seconds each.
    #[arg(long)]
    max_seconds: Option<f64>,
    /// Warm-up queries run (untimed) before the measured ones, from `warmup.fvecs`: other
    /// queries than the measured ones, so they warm the codes and links the way a serving
    /// process's earlier traffic would, not the measured queries' own vectors.
    #[arg(long, default_value_t = 0)]
    warm_up: usize,
    /// Open LMDB with MDB_NORDAHEAD (`madvise(MADV_RANDOM)` on the map): a page fault
    /// reads one page instead of the kernel's read-around window.
    #[arg(long)]
    no_read_ahead: bool,
    /// Lock the link chunks, and in codes mode the code chunks, in memory (`mlock` on
    /// their pages of LMDB's map) before the warm-up, so page reclaim can evict only the
    /// full vectors: what keeping codes and links resident in the library would do.
    #[arg(long)]
    lock_codes: bool,
    /// Copy the link chunks, and the code chunks if the index has codes, into the reader's
    /// own memory at open (`Reader::hold_in_memory`): the library's way of keeping them
    /// resident, where `--lock-codes` pins the map's pages.
    #[arg(long)]
    hold_in_memory: bool,
    /// A label copied into the JSON line.
    #[arg(long, default_value = "")]
    label: String,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let result = match &args.command {
        Command::Build(a) => build(a),
        Command::Codes(a) => codes(a),
        Command::Search(a) => search(a),
        Command::DropCache(a) => cold::drop_from_page_cache(&a.dir).map(|bytes| {
            eprintln!(
                "dropped {:.0} MiB under {} from the page cache",
                mib(bytes),
                a.dir.display()
            );
        }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1u64 << 20) as f64
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// Opens the LMDB store in `path` (with `MDB_NORDAHEAD` unless `read_ahead`).
fn open_store(
    path: &Path,
    map_gib: usize,
    read_ahead: bool,
) -> Result<Database<LmdbStore>, String> {
    let options = LmdbOptions::default()
        .map_size(map_gib << 30)
        .read_ahead(read_ahead);
    Database::open_with(&options, path).map_err(err)
}

fn pool(threads: usize) -> Result<rayon::ThreadPool, String> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(err)
}

fn build(args: &BuildArgs) -> Result<(), String> {
    let db_dir = args.dir.join("db");
    if db_dir.join("data.mdb").exists() {
        return Err(format!(
            "{} exists already: remove it first",
            db_dir.display()
        ));
    }
    std::fs::create_dir_all(&args.dir).map_err(err)?;
    let pool = pool(args.threads)?;
    let started = Instant::now();
    let (base, mut queries) =
        dataset::generate_vectors(args.n, args.queries + args.warmup, args.dim, args.seed);
    let warmup = Matrix {
        dim: args.dim,
        data: queries.data.split_off(args.queries * args.dim),
    };
    eprintln!(
        "generated {} x {} (+{} queries, {} warm-up) in {:.1} s; computing the exact top {K}",
        args.n,
        args.dim,
        args.queries,
        args.warmup,
        started.elapsed().as_secs_f64()
    );
    let truth =
        pool.install(|| dataset::exact_neighbours(&base, &queries, K, exact_distance::<Cosine>));
    dataset::write_vectors(&args.dir.join("base.fvecs"), &base).map_err(err)?;
    dataset::write_vectors(&args.dir.join("queries.fvecs"), &queries).map_err(err)?;
    dataset::write_vectors(&args.dir.join("warmup.fvecs"), &warmup).map_err(err)?;
    dataset::write_ids(&args.dir.join("groundtruth.ivecs"), &truth).map_err(err)?;
    let data_seconds = started.elapsed().as_secs_f64();
    eprintln!(
        "data written in {data_seconds:.1} s; kernels: {}",
        simd_level()
    );

    let db = open_store(&args.dir.join("db"), args.map_gib, true)?;
    let writer = Writer::<Cosine>::new(0, args.dim);
    let started = Instant::now();
    let mut wtxn = db.write_txn().map_err(err)?;
    let ids: Vec<u32> = (0..args.n as u32).collect();
    writer.add_items(&mut wtxn, &ids, &base.data).map_err(err)?;
    drop(base);
    let added = started.elapsed().as_secs_f64();
    eprintln!("{} items added in {added:.1} s", args.n);
    let last = AtomicU64::new(u64::MAX);
    let report = |p: Progress| {
        // One line per phase and per tenth of it, for a log file.
        let step = (p.phase as u64) << 8 | (p.done * 10).checked_div(p.total).unwrap_or(0);
        if last.swap(step, Ordering::Relaxed) != step {
            eprintln!(
                "  {:?} {}/{} at {:.0} s",
                p.phase,
                p.done,
                p.total,
                started.elapsed().as_secs_f64()
            );
        }
    };
    let mut rng = StdRng::seed_from_u64(args.seed);
    let built = writer
        .builder(&mut rng)
        .m(M)
        .m0(M0)
        .ef_construction(EF_CONSTRUCTION)
        .thread_pool(&pool)
        .progress(&report)
        .build(&mut wtxn)
        .map_err(err)?;
    wtxn.commit().map_err(err)?;
    let seconds = started.elapsed().as_secs_f64();
    let size = stats::disk_size(&db_dir);
    println!(
        "{}",
        json!({
            "step": "build",
            "n": args.n,
            "dim": args.dim,
            "m": M,
            "m0": M0,
            "ef_construction": EF_CONSTRUCTION,
            "threads": args.threads,
            "seed": args.seed,
            "data_seconds": data_seconds,
            "build_seconds": seconds,
            "graph_seconds": built.compute_seconds,
            "write_seconds": built.write_seconds,
            "store_bytes": size,
            "store_mib": mib(size),
            "kernels": simd_level().to_string(),
        })
    );
    Ok(())
}

fn codes(args: &CodesArgs) -> Result<(), String> {
    let scheme = match args.quantization.as_str() {
        "none" | "f32" => None,
        other => Some(
            other
                .parse::<Scheme>()
                .map_err(|e| format!("--quantization: {e}"))?,
        ),
    };
    if args.codes_only {
        return codes_only_copy(args, scheme.ok_or("--codes-only needs a scheme (sq8)")?);
    }
    let db = open_store(&args.dir.join("db"), args.map_gib, true)?;
    let dims = {
        let rtxn = db.read_txn().map_err(err)?;
        let reader = Reader::<Cosine, _>::open(&rtxn, 0).map_err(err)?;
        reader.dimensions()
    };
    let pool = pool(args.threads)?;
    let started = Instant::now();
    let mut wtxn = db.write_txn().map_err(err)?;
    let mut rng = StdRng::seed_from_u64(args.seed);
    Writer::<Cosine>::new(0, dims)
        .builder(&mut rng)
        .m(M)
        .m0(M0)
        .ef_construction(EF_CONSTRUCTION)
        .thread_pool(&pool)
        .codes(scheme)
        .build(&mut wtxn)
        .map_err(err)?;
    wtxn.commit().map_err(err)?;
    let seconds = started.elapsed().as_secs_f64();
    let size = stats::disk_size(&args.dir.join("db"));
    println!(
        "{}",
        json!({
            "step": "codes",
            "scheme": scheme.map_or("none", |s| s.name()),
            "seconds": seconds,
            "store_bytes": size,
            "store_mib": mib(size),
        })
    );
    Ok(())
}

/// Copies DIR/db, makes the copy codes-only with `scheme` and writes it compacted to
/// `DIR/<out>` (the build frees the vectors in the transaction that held them, so the file
/// keeps its high-water mark until compacted).
fn codes_only_copy(args: &CodesArgs, scheme: Scheme) -> Result<(), String> {
    let scratch = args.dir.join(format!("{}.tmp", args.out));
    let out = args.dir.join(&args.out);
    std::fs::create_dir_all(&scratch).map_err(err)?;
    std::fs::copy(args.dir.join("db/data.mdb"), scratch.join("data.mdb")).map_err(err)?;
    let started = Instant::now();
    {
        let db = open_store(&scratch, args.map_gib, true)?;
        let dims = {
            let rtxn = db.read_txn().map_err(err)?;
            Reader::<Cosine, _>::open(&rtxn, 0)
                .map_err(err)?
                .dimensions()
        };
        let pool = pool(args.threads)?;
        let mut wtxn = db.write_txn().map_err(err)?;
        let mut rng = StdRng::seed_from_u64(args.seed);
        Writer::<Cosine>::new(0, dims)
            .builder(&mut rng)
            .m(M)
            .m0(M0)
            .ef_construction(EF_CONSTRUCTION)
            .thread_pool(&pool)
            .codes_only(scheme)
            .build(&mut wtxn)
            .map_err(err)?;
        wtxn.commit().map_err(err)?;
        std::fs::create_dir_all(&out).map_err(err)?;
        db.store()
            .env()
            .copy_to_path(out.join("data.mdb"), heed::CompactionOption::Enabled)
            .map_err(err)?;
    }
    std::fs::remove_dir_all(&scratch).map_err(err)?;
    let seconds = started.elapsed().as_secs_f64();
    let size = stats::disk_size(&out);
    println!(
        "{}",
        json!({
            "step": "codes-only",
            "scheme": scheme.name(),
            "seconds": seconds,
            "store_bytes": size,
            "store_mib": mib(size),
        })
    );
    Ok(())
}

/// Opens the store in `DIR/<db>` for searching; `no_read_ahead` opens LMDB with
/// `MDB_NORDAHEAD` (`LmdbOptions::read_ahead(false)`): a page fault then reads one page
/// instead of the kernel's read-around window.
fn open_for_search(args: &SearchArgs) -> Result<Database<LmdbStore>, String> {
    open_store(&args.dir.join(&args.db), 16, !args.no_read_ahead)
}

/// The memory limit of this process's cgroup (v1), if it has one below the kernel's
/// "unlimited" value.
fn cgroup_limit() -> Option<u64> {
    let groups = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let path = groups.lines().find_map(|line| {
        let mut fields = line.splitn(3, ':');
        let (_, controllers, path) = (fields.next()?, fields.next()?, fields.next()?);
        controllers
            .split(',')
            .any(|c| c == "memory")
            .then_some(path)
    })?;
    let limit =
        std::fs::read_to_string(format!("/sys/fs/cgroup/memory{path}/memory.limit_in_bytes"))
            .ok()?;
    let limit: u64 = limit.trim().parse().ok()?;
    (limit < 1 << 62).then_some(limit)
}

/// Locks every link chunk of index 0 in memory, and every code chunk if `codes`; returns
/// the bytes locked.
fn lock_chunks<T: ReadTxn>(rtxn: &T, codes: bool) -> Result<u64, String> {
    let mut bytes = 0;
    let tags: &[Tag] = if codes {
        &[Tag::Codes, Tag::Links]
    } else {
        &[Tag::Links]
    };
    for &tag in tags {
        for entry in rtxn.prefix(&key::prefix(0, tag)).map_err(err)? {
            let (_, value) = entry.map_err(err)?;
            let value: &[u8] = value.as_ref();
            // SAFETY: `value` is a slice of LMDB's read-only map, valid while `rtxn` is
            // open; mlock only pins the pages that hold it (rounded out to whole pages)
            // and writes nothing. The pins end with the process.
            unsafe { rustix::mm::mlock(value.as_ptr().cast_mut().cast(), value.len()) }
                .map_err(|e| format!("mlock: {e}"))?;
            bytes += value.len() as u64;
        }
    }
    Ok(bytes)
}

/// Queries run, their time and the major faults they took.
struct Pass {
    queries: usize,
    seconds: f64,
    faults: u64,
}

/// One search's results and figures.
type Found = (Vec<(u32, f32)>, SearchStats);

/// Runs the first `limit` rows of `rows` through `search` one after the other, for at most
/// `deadline` seconds, handing `each` the latency (µs) and the result of every query.
fn run_pass(
    rows: &Matrix,
    limit: usize,
    deadline: f64,
    search: impl Fn(&[f32]) -> Result<Found, String>,
    mut each: impl FnMut(f64, Found),
) -> Result<Pass, String> {
    let faults = stats::major_faults();
    let started = Instant::now();
    let mut done = 0;
    while done < limit.min(rows.rows()) && started.elapsed().as_secs_f64() < deadline {
        let one = Instant::now();
        let found = search(rows.row(done))?;
        each(one.elapsed().as_secs_f64() * 1e6, found);
        done += 1;
    }
    Ok(Pass {
        queries: done,
        seconds: started.elapsed().as_secs_f64(),
        faults: stats::major_faults() - faults,
    })
}

fn search(args: &SearchArgs) -> Result<(), String> {
    let queries = dataset::read_vectors(&args.dir.join("queries.fvecs")).map_err(err)?;
    let truth = dataset::read_ids(&args.dir.join("groundtruth.ivecs")).map_err(err)?;
    let warmup = if args.warm_up > 0 {
        dataset::read_vectors(&args.dir.join("warmup.fvecs")).map_err(err)?
    } else {
        Matrix {
            dim: queries.dim,
            data: Vec::new(),
        }
    };
    let faults_before_open = stats::major_faults();
    let opening = Instant::now();
    let db = open_for_search(args)?;
    let rtxn = db.read_txn().map_err(err)?;
    let mut reader = Reader::<Cosine, _>::open(&rtxn, 0).map_err(err)?;
    let held = match args.hold_in_memory {
        true => reader.hold_in_memory().map_err(err)? as u64,
        false => 0,
    };
    let reader = reader;
    let locked = if args.lock_codes {
        lock_chunks(&rtxn, args.mode == Mode::Codes)?
    } else {
        0
    };
    let open_ms = opening.elapsed().as_secs_f64() * 1e3;
    let open_faults = stats::major_faults() - faults_before_open;
    let scheme = reader.metadata().codes.as_ref().map(|c| c.scheme.clone());
    let codes = args.mode == Mode::Codes;
    if codes && scheme.is_none() {
        return Err("--mode codes on an index without codes (run `codes` first)".into());
    }
    let query_builder = reader.nns(K).ef_search(args.ef).use_codes(codes);
    let query_builder = match args.rescore {
        Some(r) => query_builder.rescore(r),
        None => query_builder,
    };
    let deadline = args.max_seconds.unwrap_or(f64::INFINITY);

    let search = |query: &[f32]| query_builder.by_vector_with_stats(query).map_err(err);

    let warm = run_pass(&warmup, args.warm_up, deadline, search, |_, _| {})?;
    let mut latencies = Vec::new();
    let mut found = Vec::new();
    let (mut walk, mut rescored, mut bytes_per_distance) = (0u64, 0u64, 0u64);
    let limit = args.max_queries.unwrap_or(usize::MAX);
    let measured = run_pass(
        &queries,
        limit,
        deadline,
        search,
        |micros, (result, stats)| {
            latencies.push(micros);
            found.push(result.into_iter().map(|(id, _)| id).collect::<Vec<_>>());
            walk += stats.walk_distances;
            rescored += stats.rescored;
            bytes_per_distance = stats.bytes_per_distance;
        },
    )?;
    let n = measured.queries.max(1) as f64;
    let memory = stats::memory();
    let per_second = |pass: &Pass| pass.queries as f64 / pass.seconds.max(1e-9);
    println!(
        "{}",
        json!({
            "label": args.label,
            "mode": match args.mode { Mode::F32 => "f32", Mode::Codes => "codes" },
            "scheme": if codes { scheme.as_deref() } else { None },
            "ef": args.ef,
            "rescore": if codes { Some(args.rescore.unwrap_or(args.ef)) } else { None },
            "read_ahead": !args.no_read_ahead,
            "items": reader.len(),
            "queries": measured.queries,
            "recall_at_10": recall_at(K, &found, &truth[..found.len()]),
            "qps": per_second(&measured),
            "p50_us": quantile(&latencies, 0.5),
            "p99_us": quantile(&latencies, 0.99),
            "walk_distances": walk as f64 / n,
            "bytes_per_distance": bytes_per_distance,
            "rescored": rescored as f64 / n,
            "major_faults": measured.faults,
            "major_faults_per_query": measured.faults as f64 / n,
            "open_ms": open_ms,
            "locked_mib": mib(locked),
            "held_mib": mib(held),
            "open_major_faults": open_faults,
            "warm_up_queries": warm.queries,
            "warm_up_qps": per_second(&warm),
            "warm_up_major_faults": warm.faults,
            "peak_rss_mib": mib(memory.peak_rss),
            "rss_anon_mib": mib(memory.anon),
            "rss_file_mib": mib(memory.file),
            "cgroup_limit_mib": cgroup_limit().map(mib),
            "kernels": simd_level().to_string(),
        })
    );
    Ok(())
}
