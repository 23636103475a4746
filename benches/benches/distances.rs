//! Micro-benchmark of the distance kernels of `hannoy-metrics`.
//!
//! For each dimension and kernel it measures the nanoseconds per call of
//! (1) the scalar reference loop, (2) the dispatched SIMD kernel and (3) the
//! peer function of `simsimd`, on a pool of 64 vector pairs (in cache, but not
//! a single pair). Each cell is the median of 7 samples of about 20 ms.
//!
//! ```text
//! cargo bench -p hannoy-benches --bench distances            # tables
//! cargo bench -p hannoy-benches --bench distances -- --json  # one JSON object per line
//! ```
//!
//! All contenders read the very same bytes: the vectors live in one arena, each
//! starting 16 bytes past a 64-byte boundary, like LMDB values large enough for
//! overflow pages (whose data follows a 16-byte page header). simsimd reads them
//! as `&[f32]`, our kernels as `&[u8]`. A second table shows, at 768
//! dimensions, how the dot product depends on where the two operands start.
//!
//! `cosine` is the full `Cosine::distance` on encoded vectors (components plus
//! stored norm); its scalar reference is the same computation with the scalar
//! dot product, and simsimd's `cosine` computes both norms on every call.

use std::hint::black_box;
use std::time::{Duration, Instant};

use hannoy_metrics::kernels::{self, scalar};
use hannoy_metrics::{Cosine, Metric};
use simsimd::SpatialSimilarity;

/// Dimensions measured.
const DIMENSIONS: [usize; 4] = [128, 384, 768, 1536];
/// Vector pairs per pool (a power of two).
const POOL: usize = 64;
/// Samples per cell; the median is reported.
const SAMPLES: usize = 7;
/// Target duration of one sample.
const SAMPLE_TIME: Duration = Duration::from_millis(20);

/// xorshift64* generator: deterministic data without a `rand` dependency.
struct XorShift(u64);

impl XorShift {
    fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `[-1, 1)`.
    fn next_f32(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }
}

/// Byte offset of every stored vector past a 64-byte boundary in the main table.
const OFFSET: usize = 16;

/// Stored values in one arena, each starting at a chosen offset modulo 64.
struct Arena {
    bytes: Vec<u8>,
    starts: Vec<usize>,
    len: usize,
}

impl Arena {
    /// Lays out `values` with value `i` starting `offset(i)` bytes past a 64-byte boundary.
    fn new(values: &[Vec<u8>], offset: impl Fn(usize) -> usize) -> Arena {
        let len = values.first().map_or(0, Vec::len);
        let stride = len.div_ceil(64) * 64 + 64;
        let mut bytes = vec![0u8; values.len() * stride + 64];
        let base = bytes.as_ptr().addr().next_multiple_of(64) - bytes.as_ptr().addr();
        let mut starts = Vec::with_capacity(values.len());
        for (i, value) in values.iter().enumerate() {
            let start = base + i * stride + offset(i) % 64;
            bytes[start..start + len].copy_from_slice(value);
            starts.push(start);
        }
        Arena { bytes, starts, len }
    }

    /// Value `i`, hidden from the optimiser.
    fn get(&self, i: usize) -> &[u8] {
        black_box(&self.bytes[self.starts[i]..self.starts[i] + self.len])
    }

    /// Value `i` as `f32`s (for simsimd; the arena's offsets are 4-aligned).
    fn floats(&self, i: usize) -> &[f32] {
        black_box(bytemuck::cast_slice(
            &self.bytes[self.starts[i]..self.starts[i] + self.len],
        ))
    }
}

/// The vectors of one dimension, in every form the contenders take.
struct Pool {
    /// Raw little-endian encodings, for dot and squared L2 (and simsimd).
    raw: Arena,
    /// `Cosine` encodings (components plus norm trailer).
    cosine: Arena,
}

impl Pool {
    fn new(dimensions: usize, rng: &mut XorShift) -> Pool {
        let floats: Vec<Vec<f32>> = (0..2 * POOL)
            .map(|_| (0..dimensions).map(|_| rng.next_f32()).collect())
            .collect();
        let raw: Vec<Vec<u8>> = floats
            .iter()
            .map(|v| v.iter().flat_map(|x| x.to_le_bytes()).collect())
            .collect();
        let cosine: Vec<Vec<u8>> = floats
            .iter()
            .map(|v| {
                let mut out = Vec::new();
                Cosine::encode(v, &mut out).expect("random vectors are finite and non-zero");
                out
            })
            .collect();
        Pool {
            raw: Arena::new(&raw, |_| OFFSET),
            cosine: Arena::new(&cosine, |_| OFFSET),
        }
    }
}

/// Runs `f` over the pool `iterations` times and returns the elapsed time.
fn run(iterations: u64, f: &mut impl FnMut(usize) -> f64) -> Duration {
    let start = Instant::now();
    let mut sum = 0.0;
    for i in 0..iterations {
        sum += f(i as usize % POOL);
    }
    black_box(sum);
    start.elapsed()
}

/// Median nanoseconds per call of `f(pair)`.
fn measure(mut f: impl FnMut(usize) -> f64) -> f64 {
    // Calibrate: grow the iteration count until a run takes a measurable time.
    let mut iterations = POOL as u64;
    loop {
        let elapsed = run(iterations, &mut f);
        if elapsed >= SAMPLE_TIME / 8 {
            let per_call = elapsed.as_secs_f64() / iterations as f64;
            iterations = ((SAMPLE_TIME.as_secs_f64() / per_call) as u64).max(1);
            break;
        }
        iterations *= 4;
    }
    let mut samples: Vec<f64> = (0..SAMPLES)
        .map(|_| run(iterations, &mut f).as_secs_f64() * 1e9 / iterations as f64)
        .collect();
    samples.sort_by(f64::total_cmp);
    samples[SAMPLES / 2]
}

/// Cosine distance of two `Cosine` encodings with the scalar dot product.
fn scalar_cosine(a: &[u8], b: &[u8]) -> f32 {
    let (va, na) = a.split_at(a.len() - 4);
    let (vb, nb) = b.split_at(b.len() - 4);
    let norm = |n: &[u8]| f64::from(f32::from_le_bytes([n[0], n[1], n[2], n[3]]));
    let denominator = norm(na) * norm(nb);
    if !(denominator > 0.0 && denominator.is_finite()) {
        return 1.0;
    }
    (1.0 - f64::from(scalar::dot(va, vb)) / denominator).clamp(0.0, 2.0) as f32
}

/// One row of results.
struct Row {
    dimensions: usize,
    kernel: &'static str,
    scalar_ns: f64,
    simd_ns: f64,
    simsimd_ns: f64,
}

impl Row {
    /// Scalar time over our time.
    fn speedup(&self) -> f64 {
        self.scalar_ns / self.simd_ns
    }

    /// simsimd's time over our time: above 1 means we are faster.
    fn vs_simsimd(&self) -> f64 {
        self.simsimd_ns / self.simd_ns
    }

    fn json(&self, level: &str) -> String {
        format!(
            "{{\"bench\":\"distances\",\"simd_level\":\"{level}\",\"dimensions\":{},\"kernel\":\"{}\",\
             \"scalar_ns\":{:.3},\"simd_ns\":{:.3},\"simsimd_ns\":{:.3},\"speedup_vs_scalar\":{:.3},\
             \"simsimd_over_ours\":{:.3}}}",
            self.dimensions,
            self.kernel,
            self.scalar_ns,
            self.simd_ns,
            self.simsimd_ns,
            self.speedup(),
            self.vs_simsimd()
        )
    }
}

/// The `i`-th pair of `set`.
fn pair(set: &Arena, i: usize) -> (&[u8], &[u8]) {
    (set.get(2 * i), set.get(2 * i + 1))
}

/// The `i`-th pair of `set` as `f32`s.
fn float_pair(set: &Arena, i: usize) -> (&[f32], &[f32]) {
    (set.floats(2 * i), set.floats(2 * i + 1))
}

/// Unwraps simsimd's result (`None` only for different lengths).
fn simsimd(result: Option<f64>) -> f64 {
    result.expect("equal lengths")
}

/// Measures the three kernels at one dimension.
fn bench_dimension(dimensions: usize, rng: &mut XorShift) -> Vec<Row> {
    let pool = Pool::new(dimensions, rng);
    let dot = Row {
        dimensions,
        kernel: "dot",
        scalar_ns: measure(|i| {
            let (a, b) = pair(&pool.raw, i);
            f64::from(scalar::dot(a, b))
        }),
        simd_ns: measure(|i| {
            let (a, b) = pair(&pool.raw, i);
            f64::from(kernels::dot(a, b))
        }),
        simsimd_ns: measure(|i| {
            let (a, b) = float_pair(&pool.raw, i);
            simsimd(f32::dot(a, b))
        }),
    };
    let l2 = Row {
        dimensions,
        kernel: "l2_squared",
        scalar_ns: measure(|i| {
            let (a, b) = pair(&pool.raw, i);
            f64::from(scalar::l2_squared(a, b))
        }),
        simd_ns: measure(|i| {
            let (a, b) = pair(&pool.raw, i);
            f64::from(kernels::l2_squared(a, b))
        }),
        simsimd_ns: measure(|i| {
            let (a, b) = float_pair(&pool.raw, i);
            simsimd(f32::sqeuclidean(a, b))
        }),
    };
    let cosine = Row {
        dimensions,
        kernel: "cosine",
        scalar_ns: measure(|i| {
            let (a, b) = pair(&pool.cosine, i);
            f64::from(scalar_cosine(a, b))
        }),
        simd_ns: measure(|i| {
            let (a, b) = pair(&pool.cosine, i);
            f64::from(Cosine::distance(a, b))
        }),
        simsimd_ns: measure(|i| {
            // The same components, without the trailer.
            let (a, b) = float_pair(&pool.raw, i);
            simsimd(f32::cosine(a, b))
        }),
    };
    vec![dot, l2, cosine]
}

/// One row of the alignment table: dot product at 768 dimensions.
struct AlignmentRow {
    offset_a: usize,
    offset_b: usize,
    simd_ns: f64,
    /// `None` when the operands are not 4-aligned (simsimd needs `&[f32]`).
    simsimd_ns: Option<f64>,
}

/// Operand start offsets (modulo 64) compared in the alignment table.
const LAYOUTS: [(usize, usize); 6] = [(0, 0), (16, 16), (0, 16), (16, 48), (4, 36), (2, 2)];

/// Measures the dot product at 768 dimensions for several operand layouts.
fn bench_alignment(rng: &mut XorShift) -> Vec<AlignmentRow> {
    let values: Vec<Vec<u8>> = (0..2 * POOL)
        .map(|_| {
            (0..768)
                .flat_map(|_| rng.next_f32().to_le_bytes())
                .collect()
        })
        .collect();
    LAYOUTS
        .iter()
        .map(|&(offset_a, offset_b)| {
            let arena = Arena::new(&values, |i| if i % 2 == 0 { offset_a } else { offset_b });
            let simd_ns = measure(|i| {
                let (a, b) = pair(&arena, i);
                f64::from(kernels::dot(a, b))
            });
            let simsimd_ns = (offset_a % 4 == 0 && offset_b % 4 == 0).then(|| {
                measure(|i| {
                    let (a, b) = float_pair(&arena, i);
                    simsimd(f32::dot(a, b))
                })
            });
            AlignmentRow {
                offset_a,
                offset_b,
                simd_ns,
                simsimd_ns,
            }
        })
        .collect()
}

/// Checks once that the contenders agree, so the benchmark times correct code.
fn sanity_check(rng: &mut XorShift) {
    let pool = Pool::new(768, rng);
    let (a, b) = float_pair(&pool.raw, 0);
    let (ra, rb) = pair(&pool.raw, 0);
    let (ca, cb) = pair(&pool.cosine, 0);
    let close = |x: f64, y: Option<f64>| {
        let y = y.unwrap_or(f64::NAN);
        (x - y).abs() <= 1e-4 * (1.0 + y.abs())
    };
    assert!(close(f64::from(kernels::dot(ra, rb)), f32::dot(a, b)));
    assert!(close(
        f64::from(kernels::l2_squared(ra, rb)),
        f32::sqeuclidean(a, b)
    ));
    let cosine = f64::from(Cosine::distance(ca, cb));
    assert!(close(cosine, f32::cosine(a, b)));
    assert!(close(cosine, Some(f64::from(scalar_cosine(ca, cb)))));
}

fn main() {
    let json = std::env::args().any(|arg| arg == "--json");
    let level = kernels::simd_level().to_string();
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    sanity_check(&mut rng);

    if !json {
        println!("simd level: {level}");
        println!("vectors start {OFFSET} bytes past a 64-byte boundary; {POOL} pairs per pool");
        println!(
            "{:>5}  {:<10}  {:>10}  {:>8}  {:>10}  {:>9}  {:>12}",
            "d", "kernel", "scalar ns", "simd ns", "simsimd ns", "vs scalar", "simsimd/ours"
        );
    }
    for dimensions in DIMENSIONS {
        for row in bench_dimension(dimensions, &mut rng) {
            if json {
                println!("{}", row.json(&level));
            } else {
                println!(
                    "{:>5}  {:<10}  {:>10.1}  {:>8.1}  {:>10.1}  {:>8.1}x  {:>11.2}x",
                    row.dimensions,
                    row.kernel,
                    row.scalar_ns,
                    row.simd_ns,
                    row.simsimd_ns,
                    row.speedup(),
                    row.vs_simsimd()
                );
            }
        }
    }

    if !json {
        println!();
        println!("dot product, d = 768, by operand start offsets (bytes past a 64-byte boundary)");
        println!(
            "{:>9}  {:>8}  {:>10}  {:>12}",
            "offsets", "simd ns", "simsimd ns", "simsimd/ours"
        );
    }
    for row in bench_alignment(&mut rng) {
        let offsets = format!("{}/{}", row.offset_a, row.offset_b);
        if json {
            let simsimd = row
                .simsimd_ns
                .map_or("null".to_string(), |ns| format!("{ns:.3}"));
            println!(
                "{{\"bench\":\"distances_alignment\",\"simd_level\":\"{level}\",\"dimensions\":768,\
                 \"kernel\":\"dot\",\"offset_a\":{},\"offset_b\":{},\"simd_ns\":{:.3},\"simsimd_ns\":{simsimd}}}",
                row.offset_a, row.offset_b, row.simd_ns
            );
        } else {
            match row.simsimd_ns {
                Some(ns) => println!(
                    "{offsets:>9}  {:>8.1}  {ns:>10.1}  {:>11.2}x",
                    row.simd_ns,
                    ns / row.simd_ns
                ),
                None => println!(
                    "{offsets:>9}  {:>8.1}  {:>10}  {:>12}",
                    row.simd_ns, "-", "-"
                ),
            }
        }
    }
}
