//! The same data gives the same graph and the same results, bit for bit, on every
//! instruction set this machine offers.
//!
//! The instruction set is chosen once per process (capped by `HANNOY_SIMD`), so the test
//! runs itself as a child process once per level and compares what each child printed: a
//! digest of every key and value the build stored (links, compact codes and quantizer
//! included) and of every search result (ids and distance bits, on codes too), per backend.

use std::process::Command;

use hannoy_conformance::Backend;
use hannoy_conformance::backends::{Lmdb, Memory, Redb};
use hannoy_conformance::items::random_vectors;
use hannoy_conformance::store_suite::fresh;
use hannoy_graph::store::{KvStore, ReadTxn, WriteTxn};
use hannoy_graph::{Reader, Writer};
use hannoy_metrics::{Cosine, DotProduct, Euclidean, Manhattan, Metric, Scheme};
use rand::SeedableRng;

/// Set in a child process: print the digests instead of spawning children.
const CHILD: &str = "HANNOY_SIMD_LEVELS_CHILD";

/// FNV-1a, 64 bits: enough to tell two dumps apart, with no dependency.
struct Fnv(u64);

impl Fnv {
    fn new() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = (self.0 ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
        }
    }
}

/// `n` vectors of `dims` in 16 tight clusters at scales 1 to 30, from `seed`: data on
/// which a quantizer keeps several centres (k-means, and the terms a query adds per centre).
fn far_clusters(n: usize, dims: usize, seed: u64) -> Vec<Vec<f32>> {
    let centres = random_vectors(16, dims, 99);
    random_vectors(n, dims, seed)
        .into_iter()
        .enumerate()
        .map(|(i, noise)| {
            let scale = 30f32.powf((i % 16) as f32 / 15.0);
            centres[i % 16]
                .iter()
                .zip(&noise)
                .map(|(&c, &x)| c * scale + 0.1 * x)
                .collect()
        })
        .collect()
}

/// Builds an index of `M` on one thread (with compact `codes`, if any), then digests the
/// store and the search results.
fn digest<B: Backend, M: Metric>(codes: Option<Scheme>) -> u64 {
    digest_of::<B, M>(codes, random_vectors, false)
}

/// [`digest`] of the data `data(n, dims, seed)` makes, whose quantizer (if any) must keep
/// `several` centres or one.
fn digest_of<B: Backend, M: Metric>(
    codes: Option<Scheme>,
    data: fn(usize, usize, u64) -> Vec<Vec<f32>>,
    several: bool,
) -> u64 {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("a one-thread pool");
    let (_dir, store) = fresh::<B>();
    let dims = 37; // not a multiple of any register width: every tail path runs
    let writer = Writer::<M>::new(0, dims);
    let mut wtxn = store.write_txn().expect("write txn");
    for (i, vector) in data(1500, dims, 31).iter().enumerate() {
        writer
            .add_item(&mut wtxn, i as u32, vector)
            .expect("add item");
    }
    let mut rng = rand::rngs::StdRng::seed_from_u64(5);
    let builder = writer.builder(&mut rng).thread_pool(&pool);
    let builder = match codes {
        Some(scheme) => builder.codes(Some(scheme)),
        None => builder,
    };
    builder.build(&mut wtxn).expect("build");
    wtxn.commit().expect("commit");

    let mut fnv = Fnv::new();
    let rtxn = store.read_txn().expect("read txn");
    for entry in rtxn.prefix(&[]).expect("scan") {
        let (key, value) = entry.expect("entry");
        fnv.write(key.as_ref());
        fnv.write(value.as_ref());
    }
    let reader = Reader::<M, _>::open(&rtxn, 0).expect("open");
    if let Some(quantizer) = reader.quantizer() {
        assert_eq!(
            quantizer.centres() > 1,
            several,
            "{} centres",
            quantizer.centres()
        );
    }
    for query in data(40, dims, 32) {
        for (id, distance) in reader
            .nns(10)
            .ef_search(24)
            .by_vector(&query)
            .expect("search")
        {
            fnv.write(&id.to_le_bytes());
            fnv.write(&distance.to_bits().to_le_bytes());
        }
    }
    fnv.0
}

/// One line per backend and metric: `digest name value`.
fn digests() -> String {
    [
        ("lmdb-cosine", digest::<Lmdb, Cosine>(None)),
        ("lmdb-euclidean", digest::<Lmdb, Euclidean>(None)),
        ("redb-manhattan", digest::<Redb, Manhattan>(None)),
        ("memory-cosine", digest::<Memory, Cosine>(None)),
        (
            "lmdb-euclidean-sq8",
            digest::<Lmdb, Euclidean>(Some(Scheme::Sq8)),
        ),
        (
            "memory-cosine-rabitq1",
            digest::<Memory, Cosine>(Some(Scheme::RaBitQ1)),
        ),
        (
            "memory-euclidean-sq8-centres",
            digest_of::<Memory, Euclidean>(Some(Scheme::Sq8), far_clusters, true),
        ),
        (
            "memory-dot-sq8-centres",
            digest_of::<Memory, DotProduct>(Some(Scheme::Sq8), far_clusters, true),
        ),
    ]
    .iter()
    .map(|(name, digest)| format!("digest {name} {digest:016x}\n"))
    .collect()
}

#[test]
fn graphs_and_results_are_identical_at_every_simd_level() {
    if std::env::var_os(CHILD).is_some() {
        // A newline first: the harness has already printed "test … " on this line.
        println!("\nlevel {}", hannoy_metrics::simd_level());
        print!("{}", digests());
        return;
    }
    let exe = std::env::current_exe().expect("the test binary");
    let run = |cap: Option<&str>| {
        let mut command = Command::new(&exe);
        command
            .args([
                "--exact",
                "graphs_and_results_are_identical_at_every_simd_level",
                "--nocapture",
                "--test-threads",
                "1",
            ])
            .env(CHILD, "1");
        match cap {
            Some(cap) => command.env(hannoy_metrics::kernels::SIMD_CAP_VAR, cap),
            None => command.env_remove(hannoy_metrics::kernels::SIMD_CAP_VAR),
        };
        let output = command.output().expect("run the test binary");
        assert!(output.status.success(), "child failed: {output:?}");
        let text = String::from_utf8(output.stdout).expect("UTF-8 output");
        let level = text
            .lines()
            .find_map(|line| line.strip_prefix("level "))
            .expect("the child's level")
            .to_owned();
        let digests: Vec<String> = text
            .lines()
            .filter_map(|line| line.strip_prefix("digest "))
            .map(str::to_owned)
            .collect();
        assert_eq!(digests.len(), 8, "child output: {text}");
        (level, digests)
    };
    let (best_level, best) = run(None);
    let mut levels = vec![best_level.clone()];
    for cap in ["avx2", "scalar"] {
        let (level, digests) = run(Some(cap));
        assert_eq!(
            digests, best,
            "{level} differs from {best_level}: the kernels' summation order depends on the \
             instruction set"
        );
        levels.push(level);
    }
    levels.dedup();
    eprintln!("identical on: {}", levels.join(", "));
    // At least the scalar path and the machine's best one were compared.
    assert!(levels.len() >= 2 || best_level == "scalar", "{levels:?}");
}
