//! Several centres for one quantizer: codes of vectors far from the global mean stay as
//! precise as codes of centred data.
//!
//! A code's steps span its vector's spread around the centre it was taken from. With one
//! global centre, the vectors of a tight cluster far from the mean spend their 8 (or 1, 2,
//! 4) bits on the cluster's offset, which all its members share, and too few on what tells
//! them apart: on a mixture of clusters whose scales differ by orders of magnitude, the walk
//! on sq8 codes found under half of the true top 10 (`docs/benchmarks.md`). A code taken
//! from the nearest of `k` centres (k-means on a sample) spends them on the vector's offset
//! from its own cluster instead.
//!
//! The fit is deterministic: the initial centres are sample rows chosen by k-means++ from a
//! seeded SplitMix64 stream, a fixed number of Lloyd iterations follows, each row's nearest
//! centre is found with the fixed-order kernel (ties to the lower index), and the means are
//! summed in `f64` in row order. So the centres are the same bits on every instruction set.

use super::rotation::SplitMix64;
use crate::kernels::l2_squared_f32;

/// The most centres a quantizer has (a code names its centre in a `u16`).
pub const MAX_CENTRES: usize = 1 << 16;

/// Bytes a code spends on naming its centre when the quantizer has several: a `u16` LE
/// after the scheme's bytes.
pub(crate) const ID_LEN: usize = 2;

/// The scheme's part of `code` (its first `scheme_len` bytes) and the centre the rest
/// names, or `None` when the rest is not a name of one of `count` centres (corrupt).
#[inline(always)]
pub(crate) fn split_code(code: &[u8], scheme_len: usize, count: usize) -> Option<(&[u8], usize)> {
    let (body, id) = code.split_at_checked(scheme_len)?;
    let id = usize::from(u16::from_le_bytes(id.try_into().ok()?));
    (id < count).then_some((body, id))
}

/// The centres a fit chooses by itself for `rows` rows: one per 128 rows, at most 256
/// (one centre, the mean, below 256 rows).
pub(crate) fn auto_count(rows: usize) -> usize {
    (rows / 128).clamp(1, 256)
}

/// Sample rows per centre the k-means runs on.
pub(crate) const SAMPLE_PER_CENTRE: usize = 32;

/// Lloyd iterations.
const ITERATIONS: usize = 8;

/// `count` distinct row numbers below `rows` (all of them when `count >= rows`), chosen
/// by a shuffle seeded with `seed`, in increasing order.
pub(crate) fn sample(rows: usize, count: usize, seed: u64) -> Vec<usize> {
    let mut order: Vec<usize> = (0..rows).collect();
    let count = count.min(rows);
    shuffle_front(&mut order, count, seed ^ 0x7361_6d70_6c65_7321);
    order.truncate(count);
    order.sort_unstable();
    order
}

/// Moves a seeded random choice of `count` elements to the front of `items` (the first
/// steps of a Fisher–Yates shuffle).
fn shuffle_front(items: &mut [usize], count: usize, seed: u64) {
    let mut rng = SplitMix64::new(seed);
    let len = items.len();
    for i in 0..count.min(len) {
        let j = i + (rng.next_u64() % (len - i) as u64) as usize;
        items.swap(i, j);
    }
}

/// `k` centres of the `dims`-component rows of `sample` (flat), `k <= rows`.
pub(crate) fn fit(sample: &[f32], dims: usize, k: usize, seed: u64) -> Vec<f32> {
    let rows = sample.len().checked_div(dims).unwrap_or(0);
    let k = k.min(rows);
    if k == 0 {
        return Vec::new();
    }
    let row = |i: usize| &sample[i * dims..(i + 1) * dims];
    let mut centres = seeds(sample, dims, k, seed);
    let mut sums = vec![0.0f64; k * dims];
    let mut counts = vec![0usize; k];
    for _ in 0..ITERATIONS {
        sums.fill(0.0);
        counts.fill(0);
        for i in 0..rows {
            let x = row(i);
            let c = nearest(&centres, dims, x);
            counts[c] += 1;
            for (s, &v) in sums[c * dims..(c + 1) * dims].iter_mut().zip(x) {
                *s += f64::from(v);
            }
        }
        for (c, &count) in counts.iter().enumerate() {
            // An empty cluster keeps its centre.
            if count > 0 {
                let sum = &sums[c * dims..(c + 1) * dims];
                for (m, &s) in centres[c * dims..(c + 1) * dims].iter_mut().zip(sum) {
                    *m = (s / count as f64) as f32;
                }
            }
        }
    }
    centres
}

/// Whether `centres` pay for themselves on `sample` (flat rows): the rows' squared
/// distances to their nearest centre sum to at most a quarter of their squared distances
/// to `mean`, so a code's steps, which span its vector's offset from its centre, are at
/// least halved. Spread-out data (the real sentence embeddings: 0.67 of it with 256
/// centres) keeps the mean alone and the cheaper search; a mixture of tight clusters far
/// apart (0.0008 on `make_l2_mixture.py`'s) takes them.
pub(crate) fn pays(sample: &[f32], dims: usize, centres: &[f32], mean: &[f32]) -> bool {
    let (mut to_centres, mut to_mean) = (0.0f64, 0.0f64);
    for x in sample.chunks_exact(dims.max(1)) {
        let c = nearest(centres, dims, x);
        to_centres += f64::from(l2_squared_f32(&centres[c * dims..(c + 1) * dims], x));
        to_mean += f64::from(l2_squared_f32(mean, x));
    }
    to_centres * 4.0 <= to_mean && to_mean > 0.0
}

/// k-means++ seeding (Arthur & Vassilvitskii, 2007): the first centre a seeded random
/// row, each next one a row drawn with probability proportional to its squared distance to
/// the nearest centre so far, so that far clusters get a centre of their own.
fn seeds(sample: &[f32], dims: usize, k: usize, seed: u64) -> Vec<f32> {
    let rows = sample.len() / dims;
    let row = |i: usize| &sample[i * dims..(i + 1) * dims];
    let mut rng = SplitMix64::new(seed ^ 0x6365_6e74_7265_7321);
    let mut uniform = move || (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
    let first = ((uniform() * rows as f64) as usize).min(rows - 1);
    let mut centres = row(first).to_vec();
    let mut nearest: Vec<f64> = (0..rows)
        .map(|i| f64::from(l2_squared_f32(row(first), row(i))))
        .collect();
    while centres.len() < k * dims {
        let total: f64 = nearest.iter().sum();
        let pick = if total > 0.0 {
            let target = uniform() * total;
            let mut acc = 0.0;
            nearest
                .iter()
                .position(|&d| {
                    acc += d;
                    acc > target
                })
                .unwrap_or(rows - 1)
        } else {
            // Every row sits on a centre already: any row will do.
            ((uniform() * rows as f64) as usize).min(rows - 1)
        };
        let chosen = row(pick).to_vec();
        for (i, d) in nearest.iter_mut().enumerate() {
            *d = d.min(f64::from(l2_squared_f32(&chosen, row(i))));
        }
        centres.extend_from_slice(&chosen);
    }
    centres
}

/// The index of the centre (of `centres`, flat, `dims` components each) nearest to `x` by
/// squared L2, the lower index on ties.
pub(crate) fn nearest(centres: &[f32], dims: usize, x: &[f32]) -> usize {
    let mut best = (0, f32::INFINITY);
    for (c, centre) in centres.chunks_exact(dims.max(1)).enumerate() {
        let d = l2_squared_f32(centre, x);
        if d < best.1 {
            best = (c, d);
        }
    }
    best.0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rows around `clusters` far-apart points.
    fn clustered(clusters: usize, per: usize, dims: usize) -> Vec<f32> {
        let mut rng = SplitMix64::new(3);
        let mut out = Vec::new();
        for c in 0..clusters {
            for _ in 0..per {
                for d in 0..dims {
                    let noise = (rng.next_u64() % 1000) as f32 / 1000.0 - 0.5;
                    out.push(if d % clusters == c { 100.0 } else { 0.0 } + noise);
                }
            }
        }
        out
    }

    #[test]
    fn finds_far_apart_clusters_and_is_deterministic() {
        let dims = 8;
        let sample = clustered(4, 50, dims);
        let centres = fit(&sample, dims, 4, 1);
        assert_eq!(centres.len(), 4 * dims);
        assert_eq!(centres, fit(&sample, dims, 4, 1));
        // Every row's nearest centre is its own cluster's, and each cluster has one.
        let mut seen = [None; 4];
        for (i, row) in sample.chunks_exact(dims).enumerate() {
            let c = nearest(&centres, dims, row);
            let cluster = i / 50;
            assert_eq!(*seen[cluster].get_or_insert(c), c, "row {i}");
        }
        let mut owners: Vec<_> = seen.iter().map(|c| c.unwrap()).collect();
        owners.sort_unstable();
        owners.dedup();
        assert_eq!(owners.len(), 4);
        let mean = vec![25.0; dims];
        assert!(pays(&sample, dims, &centres, &mean));
        // Centres no closer than the mean do not pay.
        assert!(!pays(&sample, dims, &mean, &mean));
    }

    #[test]
    fn never_more_centres_than_rows_and_ties_go_low() {
        assert_eq!(fit(&[1.0, 2.0], 2, 5, 0), vec![1.0, 2.0]);
        assert!(fit(&[], 3, 4, 0).is_empty());
        assert_eq!(nearest(&[0.0, 2.0], 1, &[1.0]), 0);
        assert_eq!(auto_count(255), 1);
        assert_eq!(auto_count(1000), 7);
        assert_eq!(auto_count(10_000_000), 256);
    }

    #[test]
    fn samples_are_distinct_sorted_and_seeded() {
        let picked = sample(1000, 64, 9);
        assert_eq!(picked.len(), 64);
        assert!(picked.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(picked, sample(1000, 64, 9));
        assert_ne!(picked, sample(1000, 64, 10));
        // Not a stride: both parities of a period-2 order are drawn.
        assert!(picked.iter().any(|&i| i % 2 == 0) && picked.iter().any(|&i| i % 2 == 1));
        assert_eq!(sample(5, 64, 0), vec![0, 1, 2, 3, 4]);
    }
}
