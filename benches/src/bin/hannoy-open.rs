//! What opening a reader costs, and what it changes for the searches after it, on an
//! existing LMDB index: a reader on the store's own read transaction (chunks looked up on
//! first use) against one on a transaction that hides its shared get (every chunk resolved
//! and checked at open, as a reader on an application's own transaction does), in
//! alternating rounds of the same run (each mode first in every other round).
//!
//! ```text
//! cargo run --release -p hannoy-benches --bin hannoy-bench -- --generate 1000000,128 \
//!     --metric euclidean --write-dataset /tmp/gen-1m --db-dir /tmp/db-1m
//! cargo run --release -p hannoy-benches --bin hannoy-open -- --db /tmp/db-1m/hannoy-lmdb \
//!     --queries /tmp/gen-1m/queries.fvecs --metric euclidean
//! ```

use std::ops::Bound;
use std::path::PathBuf;
use std::time::Instant;

use clap::Parser;
use hannoy::{Cosine, Database, Euclidean, Metric, ReadTxn, Reader, StoreError};

type StoreResult<T> = Result<T, StoreError>;
use hannoy_conformance::dataset;

#[derive(Parser)]
#[command(about = "Reader::open time and the searches after it, lazy against eager")]
struct Args {
    /// The LMDB directory of the index (index 0).
    #[arg(long)]
    db: PathBuf,
    /// Query vectors (.fvecs or .npy).
    #[arg(long)]
    queries: PathBuf,
    /// euclidean or cosine.
    #[arg(long, default_value = "euclidean")]
    metric: String,
    /// Alternating rounds of each mode.
    #[arg(long, default_value_t = 5)]
    rounds: usize,
    /// Opens timed per round and mode.
    #[arg(long, default_value_t = 200)]
    opens: usize,
    #[arg(long, default_value_t = 10)]
    k: usize,
    #[arg(long, default_value_t = 64)]
    ef_search: usize,
}

/// A read transaction without a shared get: a reader on it resolves every chunk at open.
struct Eager<'a, T>(&'a T);

impl<T: ReadTxn> ReadTxn for Eager<'_, T> {
    type Bytes<'t>
        = T::Bytes<'t>
    where
        Self: 't;
    type Iter<'t>
        = T::Iter<'t>
    where
        Self: 't;

    fn get(&self, key: &[u8]) -> StoreResult<Option<T::Bytes<'_>>> {
        self.0.get(key)
    }

    fn stored_len(&self, len: usize) -> usize {
        self.0.stored_len(len)
    }

    fn range(&self, start: Bound<&[u8]>, end: Bound<&[u8]>) -> StoreResult<T::Iter<'_>> {
        self.0.range(start, end)
    }
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// One round: `opens` opens timed (microseconds, median), then two passes of the queries on
/// a fresh reader: the first query's latency (microseconds), the first pass's queries per
/// second (chunks resolved on the way, when the reader is lazy) and the second's (every
/// chunk the queries need resolved).
struct Round {
    open_us: f64,
    first_query_us: f64,
    first_pass_qps: f64,
    second_pass_qps: f64,
}

fn round<M: Metric, T: ReadTxn>(
    txn: &T,
    queries: &dataset::Matrix,
    args: &Args,
) -> Result<Round, String> {
    let mut opens = Vec::with_capacity(args.opens);
    for _ in 0..args.opens {
        let started = Instant::now();
        let reader = Reader::<M, _>::open(txn, 0).map_err(|e| e.to_string())?;
        opens.push(started.elapsed().as_secs_f64() * 1e6);
        std::hint::black_box(&reader);
    }
    let reader = Reader::<M, _>::open(txn, 0).map_err(|e| e.to_string())?;
    let mut first_query_us = 0.0;
    let mut passes = [0.0; 2];
    for pass in &mut passes {
        let started = Instant::now();
        for row in 0..queries.rows() {
            let found = reader
                .nns(args.k)
                .ef_search(args.ef_search)
                .by_vector(queries.row(row))
                .map_err(|e| e.to_string())?;
            std::hint::black_box(found);
            if row == 0 && first_query_us == 0.0 {
                first_query_us = started.elapsed().as_secs_f64() * 1e6;
            }
        }
        *pass = queries.rows() as f64 / started.elapsed().as_secs_f64();
    }
    Ok(Round {
        open_us: median(&mut opens),
        first_query_us,
        first_pass_qps: passes[0],
        second_pass_qps: passes[1],
    })
}

fn run<M: Metric>(args: &Args) -> Result<(), String> {
    let db = Database::open(&args.db).map_err(|e| e.to_string())?;
    let queries = dataset::read_vectors(&args.queries).map_err(|e| e.to_string())?;
    let (mut lazy, mut eager) = (Vec::new(), Vec::new());
    for number in 0..args.rounds {
        let rtxn = db.read_txn().map_err(|e| e.to_string())?;
        // Each mode goes first in every other round, so neither always finds the other's
        // pages and caches.
        if number % 2 == 0 {
            lazy.push(round::<M, _>(&rtxn, &queries, args)?);
            eager.push(round::<M, _>(&Eager(&rtxn), &queries, args)?);
        } else {
            eager.push(round::<M, _>(&Eager(&rtxn), &queries, args)?);
            lazy.push(round::<M, _>(&rtxn, &queries, args)?);
        }
    }
    println!(
        "mode   open_us(median)  first_query_us  pass1_qps  pass2_qps   (medians of {} rounds)",
        args.rounds
    );
    for (name, rows) in [("lazy", &lazy), ("eager", &eager)] {
        let column = |f: fn(&Round) -> f64| median(&mut rows.iter().map(f).collect::<Vec<_>>());
        println!(
            "{name:<6} {:>15.1} {:>15.1} {:>10.0} {:>10.0}",
            column(|r| r.open_us),
            column(|r| r.first_query_us),
            column(|r| r.first_pass_qps),
            column(|r| r.second_pass_qps)
        );
    }
    Ok(())
}

fn main() {
    let args = Args::parse();
    let result = match args.metric.as_str() {
        "euclidean" => run::<Euclidean>(&args),
        "cosine" => run::<Cosine>(&args),
        other => Err(format!("unknown metric {other}: euclidean or cosine")),
    };
    if let Err(error) = result {
        eprintln!("hannoy-open: {error}");
        std::process::exit(1);
    }
}
