//! `hannoy-bench`: builds an index on each chosen backend (and optionally the published
//! `hannoy` crate as a peer), then measures recall@k and single-thread queries per second
//! at each ef_search.
//!
//! ```text
//! cargo run --release -p hannoy-benches --bin hannoy-bench -- --help
//! ```

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use hannoy::FilterStrategy;
use hannoy::metrics::simd_level;
use hannoy::{
    BinaryQuantizedCosine, BinaryQuantizedEuclidean, BinaryQuantizedManhattan, Cosine, DotProduct,
    Euclidean, Hamming, Manhattan, Metric,
};
use hannoy_benches::config::RunConfig;
use hannoy_benches::report::{Row, table};
use hannoy_benches::run::{Filter, run_ours};
use hannoy_benches::store::Backend;
use hannoy_benches::{peer, stats};
use hannoy_conformance::dataset::{self, Dataset, exact_distance};

/// Build an index and measure recall and speed.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// Dataset directory with base, queries (.fvecs or .npy) and groundtruth (.ivecs or .npy).
    /// Default: ../shared/data/debian-minilm-384 when present, else generated data.
    #[arg(long)]
    dataset: Option<PathBuf>,
    /// Use generated clustered data of N vectors of DIM components instead: "N,DIM".
    #[arg(long, value_name = "N,DIM")]
    generate: Option<String>,
    /// Also write the data used (base, queries and their exact ground truth by --metric) to
    /// DIR as base.fvecs, queries.fvecs and groundtruth.ivecs, so that the peers
    /// (`peers/run_peers.sh --dataset DIR`) run on the same generated vectors.
    #[arg(long, value_name = "DIR")]
    write_dataset: Option<PathBuf>,
    /// Use only the first N base vectors (ground truth is then recomputed exactly).
    #[arg(long)]
    limit: Option<usize>,
    /// The dataset's ground truth is by --metric already (as `peers/make_l2_mixture.py`
    /// writes it): do not recompute it for a metric other than cosine.
    #[arg(long)]
    keep_ground_truth: bool,
    /// Use only the first N queries.
    #[arg(long)]
    queries: Option<usize>,
    /// Backends to run (repeatable).
    #[arg(long, value_enum, default_values_t = [Backend::Lmdb])]
    backend: Vec<Backend>,
    /// cosine, euclidean, dot, manhattan, hamming, bq_cosine, bq_euclidean, bq_manhattan.
    #[arg(long, default_value = "cosine")]
    metric: String,
    #[arg(long, default_value_t = 16)]
    m: u16,
    /// Default: 2 * m.
    #[arg(long)]
    m0: Option<u16>,
    #[arg(long, default_value_t = 100)]
    ef_construction: u32,
    /// Comma-separated ef_search values.
    #[arg(long, value_delimiter = ',', default_values_t = [16, 32, 64, 128, 256])]
    ef_search: Vec<usize>,
    #[arg(long, default_value_t = 10)]
    k: usize,
    /// Build threads (search is always single-threaded, one query per call).
    #[arg(long, default_value_t = 2)]
    threads: usize,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Where the stores go (default: a temporary directory, removed at the end).
    #[arg(long)]
    db_dir: Option<PathBuf>,
    /// Measured passes over the queries per ef_search, after a warm-up pass.
    #[arg(long, default_value_t = 3)]
    passes: usize,
    /// Peer systems to run in the same process: hannoy (the published crate).
    #[arg(long)]
    peer: Vec<String>,
    /// Comma-separated filter ratios: also measure queries restricted to a random candidate
    /// set keeping that share of the items (the same sets for every system).
    #[arg(long, value_delimiter = ',')]
    filter_ratio: Vec<f64>,
    /// How filtered queries are answered: auto (by a cost estimate), graph, two-hop or scan.
    #[arg(long, value_enum, default_value_t = Strategy::Auto)]
    filter_strategy: Strategy,
    /// Measure an updated index: build on 1-R of the items, add the other R and delete R of
    /// the first part, build again; a fresh build of the same live items is measured beside.
    #[arg(long, value_name = "R")]
    churn: Option<f64>,
    /// Also measure cold-cache figures (LMDB and redb): the first pass over the queries
    /// after closing and reopening the store, with its files still in the page cache and
    /// after dropping them from it (posix_fadvise DONTNEED).
    #[arg(long)]
    cold: bool,
    /// The ef_search of the cold-cache passes.
    #[arg(long, default_value_t = 64)]
    cold_ef: usize,
    /// Comma-separated configurations, each measured on a fresh build of its own: `none`
    /// (the walk on full vectors), `sq8` (8-bit codes), `rabitq1`, `rabitq2`, `rabitq4`
    /// (RaBitQ codes of 1, 2, 4 bits): the walk runs on the codes and rescores with the
    /// full vectors (--rescore).
    #[arg(long, value_delimiter = ',', default_values_t = [String::from("none")])]
    quantization: Vec<String>,
    /// Candidates rescored with full vectors per query on codes (default: all `ef`).
    #[arg(long)]
    rescore: Option<usize>,
    /// Builds with --quantization keep the codes only, no full vectors (the smallest
    /// store; searches rank by the codes; sq8 only).
    #[arg(long)]
    codes_only: bool,
    /// Measured readers copy their links and codes into their own memory
    /// (`Reader::hold_in_memory`) instead of reading them from the store.
    #[arg(long)]
    hold_in_memory: bool,
    /// Give each query this budget in microseconds (`QueryBuilder::time_budget`): a search
    /// that runs out returns what it found, cut short (the share is reported).
    #[arg(long, value_name = "US")]
    time_budget_us: Option<u64>,
    /// Check the graph's validity after each build.
    #[arg(long)]
    check: bool,
    /// One JSON object per line instead of a table.
    #[arg(long)]
    json: bool,
}

/// How filtered queries are answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Strategy {
    Auto,
    Graph,
    TwoHop,
    Scan,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> Result<(), String> {
    match args.metric.as_str() {
        "cosine" => run_metric::<Cosine>(args),
        "euclidean" => run_metric::<Euclidean>(args),
        "dot" => run_metric::<DotProduct>(args),
        "manhattan" => run_metric::<Manhattan>(args),
        "hamming" => run_metric::<Hamming>(args),
        "bq_cosine" => run_metric::<BinaryQuantizedCosine>(args),
        "bq_euclidean" => run_metric::<BinaryQuantizedEuclidean>(args),
        "bq_manhattan" => run_metric::<BinaryQuantizedManhattan>(args),
        other => Err(format!("unknown metric {other:?}")),
    }
}

fn load_data<M: Metric>(args: &Args) -> Result<Dataset, String> {
    let generated = |n: usize, dim: usize| {
        eprintln!(
            "data: generated clustered vectors, {n} x {dim}, seed {}",
            args.seed
        );
        dataset::generate(
            n,
            args.queries.unwrap_or(1000),
            dim,
            args.seed,
            100,
            exact_distance::<M>,
        )
    };
    let mut data = if let Some(spec) = &args.generate {
        let (n, dim) = spec
            .split_once(',')
            .and_then(|(n, d)| Some((n.trim().parse().ok()?, d.trim().parse().ok()?)))
            .ok_or_else(|| format!("--generate takes N,DIM, not {spec:?}"))?;
        generated(n, dim)
    } else {
        let dir = args
            .dataset
            .clone()
            .unwrap_or_else(dataset::default_dataset_dir);
        if dataset::has_dataset(&dir) {
            eprintln!("data: {}", dir.display());
            dataset::load(&dir).map_err(|e| e.to_string())?
        } else if args.dataset.is_some() {
            return Err(format!("no dataset in {}", dir.display()));
        } else {
            eprintln!("data: {} is not here", dir.display());
            generated(20_000, 128)
        }
    };
    if let Some(q) = args.queries {
        data.queries.truncate(q);
        data.ground_truth.truncate(q);
    }
    // The shipped ground truth is by cosine; any subset or other metric needs it anew.
    let stale = args.limit.is_some_and(|l| l < data.base.rows())
        || (args.generate.is_none() && M::NAME != "cosine" && !args.keep_ground_truth);
    if let Some(limit) = args.limit {
        data.base.truncate(limit);
    }
    if stale {
        eprintln!(
            "data: computing exact ground truth for {} under {}",
            data.base.rows(),
            M::NAME
        );
        data.ground_truth =
            dataset::exact_neighbours(&data.base, &data.queries, 100, exact_distance::<M>);
    }
    Ok(data)
}

fn run_metric<M: Metric>(args: &Args) -> Result<(), String> {
    let data = load_data::<M>(args)?;
    if let Some(dir) = &args.write_dataset {
        dataset::write(dir, &data).map_err(|e| format!("writing {}: {e}", dir.display()))?;
        eprintln!("data: written to {}", dir.display());
    }
    eprintln!(
        "{} base x {} dims, {} queries; metric {}; kernels: {}; build threads: {}",
        data.base.rows(),
        data.base.dim,
        data.queries.rows(),
        M::NAME,
        simd_level(),
        args.threads
    );
    let config = RunConfig {
        m: args.m,
        m0: args.m0.unwrap_or(2 * args.m),
        ef_construction: args.ef_construction,
        ef_search: args.ef_search.clone(),
        k: args.k,
        threads: args.threads,
        seed: args.seed,
        db_dir: args.db_dir.clone(),
        passes: args.passes,
        progress: !args.json,
        check: args.check,
        churn: args.churn,
        cold: args.cold,
        cold_ef: args.cold_ef,
        quantizations: args
            .quantization
            .iter()
            .map(|name| match name.as_str() {
                "none" | "f32" => Ok(None),
                other => other
                    .parse::<hannoy::Scheme>()
                    .map(Some)
                    .map_err(|e| format!("--quantization: {e}")),
            })
            .collect::<Result<_, String>>()?,
        rescore: args.rescore,
        codes_only: args.codes_only,
        hold_in_memory: args.hold_in_memory,
        time_budget: args.time_budget_us.map(std::time::Duration::from_micros),
        filter_strategy: match args.filter_strategy {
            Strategy::Auto => FilterStrategy::Auto,
            Strategy::Graph => FilterStrategy::Graph,
            Strategy::TwoHop => FilterStrategy::TwoHop,
            Strategy::Scan => FilterStrategy::ExactScan,
        },
    };
    if let Some(r) = args.churn
        && !(0.0..1.0).contains(&r)
    {
        return Err(format!("--churn takes a share in [0, 1), not {r}"));
    }
    if let Some(r) = args
        .filter_ratio
        .iter()
        .find(|r| !(**r > 0.0 && **r <= 1.0))
    {
        return Err(format!("--filter-ratio takes shares in (0, 1], not {r}"));
    }
    let filters: Vec<Filter> = args
        .filter_ratio
        .iter()
        .map(|&ratio| Filter::new(&data, ratio, args.seed, exact_distance::<M>))
        .collect();
    let mut rows: Vec<Row> = Vec::new();
    for &backend in &args.backend {
        let mut ours = run_ours::<M>(backend, &data, &filters, &config)?;
        emit(args, &ours);
        rows.append(&mut ours);
    }
    for system in &args.peer {
        let mut theirs = match system.as_str() {
            "hannoy" => peer::run_hannoy(M::NAME, &data, &filters, &config)?,
            other => return Err(format!("unknown peer {other:?} (known: hannoy)")),
        };
        emit(args, &theirs);
        rows.append(&mut theirs);
    }
    if !args.json {
        println!("{}", table(&rows));
        println!(
            "peak RSS {:.0} MiB",
            stats::memory().peak_rss as f64 / (1 << 20) as f64
        );
    }
    Ok(())
}

fn emit(args: &Args, rows: &[Row]) {
    if args.json {
        for row in rows {
            println!("{}", row.to_json());
        }
    }
}
