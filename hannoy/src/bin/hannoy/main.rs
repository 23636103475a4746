//! `hannoy`: build, search, import, check and describe an index from the command line
//! (feature `cli`). Any backend: an LMDB directory (default) or a redb file.
//!
//!     hannoy build  --db DIR --metric cosine --input base.fvecs
//!     hannoy search --db DIR --metric cosine --queries queries.npy -k 10 --ef 64
//!     hannoy import --db DIR --metric euclidean --from OLD_DIR --source hannoy --dimensions 128
//!     hannoy check  --db DIR --metric cosine
//!     hannoy stats  --db DIR --metric cosine
#![forbid(unsafe_code)]

mod vectors;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::{Args, Parser, Subcommand, ValueEnum};
use hannoy::storage::lmdb::{LmdbOptions, LmdbStore};
use hannoy::storage::redb::RedbStore;
use hannoy::{Database, KvStore, Metric, Progress, ReadTxn, Reader, Scheme, WriteTxn, Writer};
use hannoy_graph::format::key::{self, Tag};
use rand::SeedableRng;
use rand::rngs::StdRng;

#[derive(Parser)]
#[command(name = "hannoy", about = "An HNSW index in a key-value store", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Adds the vectors of an .fvecs or .npy file (ids from --first-id on) and builds.
    Build(BuildArgs),
    /// Searches the index with every vector of an .fvecs or .npy file; prints one line per
    /// query: `id:distance` pairs, nearest first.
    Search(SearchArgs),
    /// Imports an index written by hannoy 0.3 or arroy 0.9, then builds.
    Import(ImportArgs),
    /// Checks the index's structure and every checksum; exits 1 if anything is wrong.
    Check(IndexArgs),
    /// Items, layers, links and the bytes each part of the index takes.
    Stats(IndexArgs),
}

#[derive(Clone, Copy, ValueEnum)]
enum Backend {
    /// An LMDB environment in the directory --db.
    Lmdb,
    /// A redb file --db.
    Redb,
}

#[derive(Args)]
struct IndexArgs {
    /// The store: an LMDB directory, or a redb file with --backend redb.
    #[arg(long)]
    db: PathBuf,
    #[arg(long, value_enum, default_value_t = Backend::Lmdb)]
    backend: Backend,
    /// The index number in the store.
    #[arg(long, default_value_t = 0)]
    index: u16,
    /// cosine, euclidean, manhattan, dot, hamming, bq_cosine, bq_euclidean or bq_manhattan.
    #[arg(long)]
    metric: String,
    /// The LMDB map size in GiB (the most the store may hold).
    #[arg(long, default_value_t = 64)]
    map_gib: usize,
}

#[derive(Args)]
struct BuildArgs {
    #[command(flatten)]
    index: IndexArgs,
    /// The vectors: .fvecs or .npy (2-D float32).
    #[arg(long)]
    input: PathBuf,
    /// The id of the first row; row i gets id first_id + i.
    #[arg(long, default_value_t = 0)]
    first_id: u32,
    #[arg(long, default_value_t = 16)]
    m: u16,
    #[arg(long, default_value_t = 32)]
    m0: u16,
    #[arg(long, default_value_t = 100)]
    ef_construction: u32,
    /// Compact codes to keep beside the vectors: sq8, rabitq1, rabitq2 or rabitq4.
    #[arg(long)]
    codes: Option<String>,
    /// Build threads (default: one per CPU).
    #[arg(long)]
    threads: Option<usize>,
    #[arg(long, default_value_t = 42)]
    seed: u64,
}

#[derive(Args)]
struct SearchArgs {
    #[command(flatten)]
    index: IndexArgs,
    /// The queries: .fvecs or .npy (2-D float32).
    #[arg(long)]
    queries: PathBuf,
    #[arg(short, default_value_t = 10)]
    k: usize,
    #[arg(long, default_value_t = hannoy::DEFAULT_EF_SEARCH)]
    ef: usize,
}

#[derive(Clone, Copy, ValueEnum)]
enum SourceCrate {
    /// hannoy 0.3 (euclidean, cosine, manhattan, hamming).
    Hannoy,
    /// arroy 0.9 (euclidean, cosine, manhattan).
    Arroy,
}

#[derive(Args)]
struct ImportArgs {
    #[command(flatten)]
    index: IndexArgs,
    /// The LMDB directory the source crate wrote (its unnamed database).
    #[arg(long)]
    from: PathBuf,
    #[arg(long, value_enum)]
    source: SourceCrate,
    /// The source's index number.
    #[arg(long, default_value_t = 0)]
    from_index: u16,
    /// Components per vector.
    #[arg(long)]
    dimensions: usize,
    #[arg(long, default_value_t = 42)]
    seed: u64,
}

/// Runs `$body` with `$m` the metric type named `$name`.
macro_rules! with_metric {
    ($name:expr, $m:ident => $body:expr) => {
        match $name {
            "cosine" => {
                type $m = hannoy::Cosine;
                $body
            }
            "euclidean" => {
                type $m = hannoy::Euclidean;
                $body
            }
            "manhattan" => {
                type $m = hannoy::Manhattan;
                $body
            }
            "dot" => {
                type $m = hannoy::DotProduct;
                $body
            }
            "hamming" => {
                type $m = hannoy::Hamming;
                $body
            }
            "bq_cosine" => {
                type $m = hannoy::BinaryQuantizedCosine;
                $body
            }
            "bq_euclidean" => {
                type $m = hannoy::BinaryQuantizedEuclidean;
                $body
            }
            "bq_manhattan" => {
                type $m = hannoy::BinaryQuantizedManhattan;
                $body
            }
            other => Err(format!("unknown metric {other:?}")),
        }
    };
}

/// Runs `$body` with `$db` the store `$args` names, opened on its backend.
macro_rules! with_store {
    ($args:expr, $db:ident => $body:expr) => {
        match $args.backend {
            Backend::Lmdb => {
                let options = LmdbOptions::default().map_size($args.map_gib << 30);
                let $db = Database::from_store(options.open(&$args.db).map_err(text)?);
                $body
            }
            Backend::Redb => {
                let $db = Database::from_store(RedbStore::open(&$args.db).map_err(text)?);
                $body
            }
        }
    };
}

fn text(error: impl std::fmt::Display) -> String {
    error.to_string()
}

fn main() -> ExitCode {
    match run(Cli::parse().command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("hannoy: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(command: Command) -> Result<(), String> {
    match command {
        Command::Build(args) => {
            let metric = args.index.metric.clone();
            with_metric!(metric.as_str(), M => with_store!(args.index, db => build::<M, _>(&db, &args)))
        }
        Command::Search(args) => {
            let metric = args.index.metric.clone();
            with_metric!(metric.as_str(), M => with_store!(args.index, db => search::<M, _>(&db, &args)))
        }
        Command::Import(args) => import(&args),
        Command::Check(args) => {
            with_metric!(args.metric.as_str(), M => with_store!(args, db => check::<M, _>(&db, &args)))
        }
        Command::Stats(args) => {
            with_metric!(args.metric.as_str(), M => with_store!(args, db => stats::<M, _>(&db, &args)))
        }
    }
}

/// A progress line on stderr, rewritten in place.
fn progress_line(progress: Progress) {
    let share = match progress.total {
        0 => 100.0,
        total => 100.0 * progress.done as f64 / total as f64,
    };
    let width = 30;
    let filled = (share / 100.0 * width as f64) as usize;
    let bar = format!(
        "{}{}",
        "#".repeat(filled),
        " ".repeat(width - filled.min(width))
    );
    let phase = format!("{:?}", progress.phase).to_lowercase();
    let mut err = std::io::stderr().lock();
    let _ = write!(
        err,
        "\r{phase:<12} [{bar}] {share:5.1}% ({}/{})",
        progress.done, progress.total
    );
    let _ = err.flush();
}

fn scheme(name: &str) -> Result<Scheme, String> {
    match name {
        "sq8" => Ok(Scheme::Sq8),
        "rabitq1" => Ok(Scheme::RaBitQ1),
        "rabitq2" => Ok(Scheme::RaBitQ2),
        "rabitq4" => Ok(Scheme::RaBitQ4),
        other => Err(format!(
            "unknown codes {other:?} (sq8, rabitq1, rabitq2, rabitq4)"
        )),
    }
}

fn build<M: Metric, S: KvStore>(db: &Database<S>, args: &BuildArgs) -> Result<(), String> {
    let vectors = vectors::read(&args.input)?;
    let codes = args.codes.as_deref().map(scheme).transpose()?;
    let rows = vectors.rows();
    let last = u32::try_from(rows)
        .ok()
        .and_then(|rows| args.first_id.checked_add(rows))
        .ok_or("the ids run past u32::MAX")?;
    let ids: Vec<u32> = (args.first_id..last).collect();
    let writer = Writer::<M>::new(args.index.index, vectors.dimensions);
    let started = Instant::now();
    let mut wtxn = db.write_txn().map_err(text)?;
    writer
        .add_items(&mut wtxn, &ids, &vectors.data)
        .map_err(text)?;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(args.threads.unwrap_or(0))
        .build()
        .map_err(text)?;
    let mut rng = StdRng::seed_from_u64(args.seed);
    let mut builder = writer
        .builder(&mut rng)
        .m(args.m)
        .m0(args.m0)
        .ef_construction(args.ef_construction)
        .thread_pool(&pool)
        .progress(&progress_line);
    if codes.is_some() {
        builder = builder.codes(codes);
    }
    let stats = builder.build(&mut wtxn).map_err(text)?;
    wtxn.commit().map_err(text)?;
    eprintln!();
    println!(
        "built index {} ({}): {} inserted, {} removed, in {:.1} s",
        args.index.index,
        M::NAME,
        stats.inserted,
        stats.removed,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn search<M: Metric, S: KvStore>(db: &Database<S>, args: &SearchArgs) -> Result<(), String> {
    let queries = vectors::read(&args.queries)?;
    let rtxn = db.read_txn().map_err(text)?;
    let reader = Reader::<M, _>::open(&rtxn, args.index.index).map_err(text)?;
    let mut out = std::io::stdout().lock();
    for q in 0..queries.rows() {
        let found = reader
            .nns(args.k)
            .ef_search(args.ef)
            .by_vector(queries.row(q))
            .map_err(|e| format!("query {q}: {e}"))?;
        let line: Vec<String> = found.iter().map(|(id, d)| format!("{id}:{d}")).collect();
        match writeln!(out, "{}", line.join(" ")) {
            Ok(()) => {}
            // The reader of our output has stopped (`| head`): nothing more is wanted.
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(()),
            Err(e) => return Err(e.to_string()),
        }
    }
    Ok(())
}

fn import(args: &ImportArgs) -> Result<(), String> {
    let source = LmdbStore::open(&args.from).map_err(text)?;
    let metric = args.index.metric.as_str();
    macro_rules! run {
        ($m:ty, $from:path) => {{
            with_store!(args.index, db => {
                let writer = Writer::<$m>::new(args.index.index, args.dimensions);
                let mut wtxn = db.write_txn().map_err(text)?;
                let imported = $from(&source, args.from_index, &writer, &mut wtxn).map_err(text)?;
                let mut rng = StdRng::seed_from_u64(args.seed);
                writer
                    .builder(&mut rng)
                    .progress(&progress_line)
                    .build(&mut wtxn)
                    .map_err(text)?;
                wtxn.commit().map_err(text)?;
                eprintln!();
                println!("imported {imported} items into index {}", args.index.index);
                Ok(())
            })
        }};
    }
    use hannoy::import::{from_arroy, from_hannoy_0_3};
    match (args.source, metric) {
        (SourceCrate::Hannoy, "euclidean") => run!(hannoy::Euclidean, from_hannoy_0_3),
        (SourceCrate::Hannoy, "cosine") => run!(hannoy::Cosine, from_hannoy_0_3),
        (SourceCrate::Hannoy, "manhattan") => run!(hannoy::Manhattan, from_hannoy_0_3),
        (SourceCrate::Hannoy, "hamming") => run!(hannoy::Hamming, from_hannoy_0_3),
        (SourceCrate::Arroy, "euclidean") => run!(hannoy::Euclidean, from_arroy),
        (SourceCrate::Arroy, "cosine") => run!(hannoy::Cosine, from_arroy),
        (SourceCrate::Arroy, "manhattan") => run!(hannoy::Manhattan, from_arroy),
        (_, other) => Err(format!("no import of metric {other:?} from this source")),
    }
}

fn check<M: Metric, S: KvStore>(db: &Database<S>, args: &IndexArgs) -> Result<(), String> {
    let rtxn = db.read_txn().map_err(text)?;
    let reader = Reader::<M, _>::open(&rtxn, args.index).map_err(text)?;
    let report = reader.check(&rtxn).map_err(text)?;
    println!(
        "{} nodes, {} links, {} reachable from the entry point",
        report.nodes, report.links, report.reachable
    );
    if report.is_valid() {
        println!("valid");
        Ok(())
    } else {
        Err(format!("invalid:\n{}", report.problems.join("\n")))
    }
}

/// The bytes of the values stored under every key starting with `prefix`.
fn stored_bytes<T: ReadTxn>(txn: &T, prefix: &[u8]) -> Result<(u64, u64), String> {
    let mut values = 0;
    let mut bytes = 0;
    for entry in txn.prefix(prefix).map_err(text)? {
        let (_, value) = entry.map_err(text)?;
        values += 1;
        bytes += value.as_ref().len() as u64;
    }
    Ok((values, bytes))
}

fn stats<M: Metric, S: KvStore>(db: &Database<S>, args: &IndexArgs) -> Result<(), String> {
    let rtxn = db.read_txn().map_err(text)?;
    let reader = Reader::<M, _>::open(&rtxn, args.index).map_err(text)?;
    let meta = reader.metadata();
    let report = reader.check(&rtxn).map_err(text)?;
    println!(
        "index {} ({}), {} dimensions",
        args.index,
        M::NAME,
        reader.dimensions()
    );
    println!("items        {}", reader.len());
    println!("layers       {}", u32::from(meta.max_level) + 1);
    println!("m / m0       {} / {}", meta.m, meta.m0);
    println!(
        "links        {} (mean degree {:.1})",
        report.links,
        report.links as f64 / report.nodes.max(1) as f64
    );
    if let Some(codes) = &meta.codes {
        println!(
            "codes        {}{}",
            codes.scheme,
            if codes.only { " (codes only)" } else { "" }
        );
    }
    let parts = [
        ("vectors", Tag::Vectors),
        ("links", Tag::Links),
        ("codes", Tag::Codes),
        ("slot map", Tag::Slot),
        ("pending", Tag::Pending),
    ];
    let items = reader.len().max(1);
    for (name, tag) in parts {
        let (values, bytes) = stored_bytes(&rtxn, &key::prefix(args.index, tag))?;
        println!(
            "{name:<12} {bytes} bytes in {values} values ({:.1} B/item)",
            bytes as f64 / items as f64
        );
    }
    Ok(())
}
