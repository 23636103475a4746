//! The published `hannoy` crate (0.3), run on the same data and parameters.

use std::convert::Infallible;
use std::time::Instant;

use hannoy_conformance::dataset::Dataset;
use hannoy_peer::Distance;
use hannoy_peer::distances::{Cosine, Euclidean, Hamming, Manhattan};
use heed::{CommitOrAbort, EnvOpenOptions};
use rand::SeedableRng;
use rand::rngs::StdRng;

use crate::config::RunConfig;
use crate::report::Row;
use crate::run::{Filter, measure_search};
use crate::stats;

/// The system name in reports.
pub const SYSTEM: &str = "hannoy 0.3.0 (crates.io)";

/// Runs the peer with the metric named `metric` (ours: "cosine", "euclidean", ...).
///
/// # Errors
/// Unsupported metric or parameters, or any failure of the peer, as text.
pub fn run_hannoy(
    metric: &str,
    data: &Dataset,
    filters: &[Filter],
    config: &RunConfig,
) -> Result<Vec<Row>, String> {
    if config.churn.is_some() {
        return Err("the hannoy peer is measured on fresh builds only (no --churn)".into());
    }
    match metric {
        "cosine" => run::<Cosine>(metric, data, filters, config),
        "euclidean" => run::<Euclidean>(metric, data, filters, config),
        "manhattan" => run::<Manhattan>(metric, data, filters, config),
        "hamming" => run::<Hamming>(metric, data, filters, config),
        other => Err(format!("the hannoy peer has no metric {other:?}")),
    }
}

fn run<D: Distance>(
    metric: &str,
    data: &Dataset,
    filters: &[Filter],
    config: &RunConfig,
) -> Result<Vec<Row>, String> {
    let err = |e: &dyn std::fmt::Display| e.to_string();
    let temp = tempfile::tempdir().map_err(|e| err(&e))?;
    let root = config
        .db_dir
        .clone()
        .unwrap_or_else(|| temp.path().to_path_buf());
    let dir = root.join("hannoy-peer");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| err(&e))?;
    let (env, db) = create_published_store::<D>(&dir, 64 << 30)?;

    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(config.threads)
        .build()
        .map_err(|e| err(&e))?;
    let started = Instant::now();
    let writer = hannoy_peer::Writer::new(db, 0, data.base.dim);
    let mut wtxn = env.write_txn().map_err(|e| err(&e))?;
    for i in 0..data.base.rows() {
        writer
            .add_item(&mut wtxn, i as u32, data.base.row(i))
            .map_err(|e| err(&e))?;
    }
    let mut rng = StdRng::seed_from_u64(config.seed);
    pool.install(|| {
        let mut builder = writer.builder(&mut rng);
        builder.ef_construction(config.ef_construction as usize);
        match (config.m, config.m0) {
            (8, 16) => builder.build::<8, 16>(&mut wtxn),
            (16, 32) => builder.build::<16, 32>(&mut wtxn),
            (24, 48) => builder.build::<24, 48>(&mut wtxn),
            (32, 64) => builder.build::<32, 64>(&mut wtxn),
            _ => Err(hannoy_peer::Error::BuildCancelled),
        }
    })
    .map_err(|e| {
        format!("the hannoy peer builds with (m, m0) in (8,16), (16,32), (24,48), (32,64): {e}")
    })?;
    wtxn.commit().map_err(|e| err(&e))?;
    let build_s = started.elapsed().as_secs_f64();

    let rtxn = env.read_txn().map_err(|e| err(&e))?;
    let reader = hannoy_peer::Reader::<D>::open(&rtxn, 0, db).map_err(|e| err(&e))?;
    let size = stats::disk_size(&dir);
    let mut rows = Vec::new();
    // The peer takes roaring 0.11 bitmaps.
    let peer_filters: Vec<(f64, roaring_peer::RoaringBitmap, &[Vec<u32>])> = filters
        .iter()
        .map(|f| (f.ratio, f.ids.iter().collect(), f.truth.as_slice()))
        .collect();
    let points = std::iter::once(None).chain(peer_filters.iter().map(Some));
    for filter in points {
        for &ef in &config.ef_search {
            let truth = filter.map_or(data.ground_truth.as_slice(), |f| f.2);
            let figures = measure_search(data, truth, config.k, ef, config.passes, |query| {
                let mut builder = reader.nns(config.k);
                builder.ef_search(ef);
                if let Some((_, ids, _)) = filter {
                    builder.candidates(ids);
                }
                match builder.by_vector(&rtxn, query) {
                    Ok(found) => found.into_nns().into_iter().map(|(id, _)| id).collect(),
                    Err(_) => Vec::new(),
                }
            });
            let mut row = Row::new(
                SYSTEM,
                "lmdb",
                data,
                metric,
                config,
                build_s,
                size,
                stats::memory(),
                &figures,
                true,
            );
            row.filter_ratio = filter.map(|f| f.0);
            rows.push(row);
        }
    }
    Ok(rows)
}

/// Opens an LMDB environment of `map_size` bytes in `dir` and creates the published crate's
/// unnamed database in it.
fn create_published_store<D: Distance>(
    dir: &std::path::Path,
    map_size: usize,
) -> Result<
    (
        heed::Env<heed::WithoutTls>,
        hannoy_peer::Database<'static, D>,
    ),
    String,
> {
    let err = |e: &dyn std::fmt::Display| e.to_string();
    let mut options = EnvOpenOptions::new().read_txn_without_tls();
    options.map_size(map_size);
    // SAFETY: a directory the caller owns (a fresh one, or one it closes before opening
    // it again), used through LMDB alone and not open elsewhere in this process.
    let env = unsafe { options.open(dir) }.map_err(|e| err(&e))?;
    let wtxn = env.write_txn().map_err(|e| err(&e))?;
    let created = env
        .create_databases_and_commit(wtxn, |opener, wtxn| {
            opener
                .create_database(wtxn, None)
                .map(CommitOrAbort::<_, Infallible>::Commit)
        })
        .map_err(|e| err(&e))?;
    let db = match created {
        CommitOrAbort::Commit(db) => db,
        CommitOrAbort::Abort(never) => match never {},
    };
    Ok((env, db))
}
