//! Datasets: TEXMEX `.fvecs` / `.ivecs` and `.npy` files, or clustered data generated with a
//! seed, with exact ground truth and recall: the one home of these for the conformance
//! suite and the benchmarks (which use this crate's library; never the reverse).

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use hannoy_metrics::Metric;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use rayon::prelude::*;

/// Vectors stored row-major.
#[derive(Debug, Clone)]
pub struct Matrix {
    /// Components per row.
    pub dim: usize,
    /// `rows * dim` floats.
    pub data: Vec<f32>,
}

impl Matrix {
    /// The number of rows.
    pub fn rows(&self) -> usize {
        self.data.len().checked_div(self.dim).unwrap_or(0)
    }

    /// Row `i`.
    pub fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.dim..(i + 1) * self.dim]
    }

    /// The first `n` rows.
    pub fn truncate(&mut self, n: usize) {
        self.data.truncate(n * self.dim);
    }
}

/// A benchmark dataset: base vectors, queries and the ids of each query's true neighbours.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// Where it came from, for reports.
    pub name: String,
    /// The vectors to index; row `i` is item `i`.
    pub base: Matrix,
    /// The query vectors.
    pub queries: Matrix,
    /// For each query, its nearest base ids, nearest first.
    pub ground_truth: Vec<Vec<u32>>,
}

/// The dataset shipped beside the project (`../shared/data/debian-minilm-384` from the
/// workspace root), overridable with `HANNOY_DATASET`.
pub fn default_dataset_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("HANNOY_DATASET") {
        return PathBuf::from(dir);
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/debian-minilm-384")
}

/// Whether `dir` holds a dataset.
pub fn has_dataset(dir: &Path) -> bool {
    ["base", "queries"]
        .iter()
        .all(|name| find(dir, name).is_some())
        && find_ground_truth(dir).is_some()
}

fn find(dir: &Path, name: &str) -> Option<PathBuf> {
    ["fvecs", "npy"]
        .iter()
        .map(|ext| dir.join(format!("{name}.{ext}")))
        .find(|p| p.exists())
}

fn find_ground_truth(dir: &Path) -> Option<PathBuf> {
    ["groundtruth.ivecs", "groundtruth.npy"]
        .iter()
        .map(|f| dir.join(f))
        .find(|p| p.exists())
}

/// Loads `base`, `queries` and `groundtruth` from `dir` (`.fvecs`/`.ivecs` or `.npy`).
///
/// # Errors
/// Missing files, or files that do not parse.
pub fn load(dir: &Path) -> io::Result<Dataset> {
    let missing = |what: &str| {
        io::Error::new(
            io::ErrorKind::NotFound,
            format!("no {what} in {}", dir.display()),
        )
    };
    let base = read_vectors(&find(dir, "base").ok_or_else(|| missing("base.fvecs / base.npy"))?)?;
    let queries =
        read_vectors(&find(dir, "queries").ok_or_else(|| missing("queries.fvecs / queries.npy"))?)?;
    let gt_path =
        find_ground_truth(dir).ok_or_else(|| missing("groundtruth.ivecs / groundtruth.npy"))?;
    let ground_truth = read_ids(&gt_path)?;
    if base.dim != queries.dim || ground_truth.len() != queries.rows() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "base, queries and ground truth do not match",
        ));
    }
    let name = dir.file_name().map_or_else(
        || dir.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    Ok(Dataset {
        name,
        base,
        queries,
        ground_truth,
    })
}

fn read_all(path: &Path) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    BufReader::new(File::open(path)?).read_to_end(&mut bytes)?;
    Ok(bytes)
}

fn invalid(path: &Path, what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("{}: {what}", path.display()),
    )
}

/// Reads `.fvecs` (int32 dim, then dim float32, per row) or a 2-D float32 `.npy`.
pub fn read_vectors(path: &Path) -> io::Result<Matrix> {
    let bytes = read_all(path)?;
    if path.extension().is_some_and(|e| e == "npy") {
        let (shape, body) =
            parse_npy(&bytes, "<f4").ok_or_else(|| invalid(path, "not a 2-D float32 .npy"))?;
        let data = body
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        return Ok(Matrix { dim: shape.1, data });
    }
    let rows = read_texmex(&bytes).ok_or_else(|| invalid(path, "not an .fvecs file"))?;
    let dim = rows.first().map_or(0, Vec::len);
    let data = rows.into_iter().flatten().map(f32::from_bits).collect();
    Ok(Matrix { dim, data })
}

/// Reads `.ivecs` or a 2-D int32 `.npy` of ids.
pub fn read_ids(path: &Path) -> io::Result<Vec<Vec<u32>>> {
    let bytes = read_all(path)?;
    if path.extension().is_some_and(|e| e == "npy") {
        let (shape, body) =
            parse_npy(&bytes, "<i4").ok_or_else(|| invalid(path, "not a 2-D int32 .npy"))?;
        let ids: Vec<u32> = body
            .chunks_exact(4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        return Ok(ids.chunks(shape.1.max(1)).map(<[u32]>::to_vec).collect());
    }
    read_texmex(&bytes).ok_or_else(|| invalid(path, "not an .ivecs file"))
}

/// Writes `data` into `dir` (created if missing) as the files [`load`] reads back:
/// `base.fvecs`, `queries.fvecs` and `groundtruth.ivecs`.
///
/// # Errors
/// I/O errors.
pub fn write(dir: &Path, data: &Dataset) -> io::Result<()> {
    std::fs::create_dir_all(dir)?;
    write_vectors(&dir.join("base.fvecs"), &data.base)?;
    write_vectors(&dir.join("queries.fvecs"), &data.queries)?;
    write_ids(&dir.join("groundtruth.ivecs"), &data.ground_truth)
}

/// Writes `matrix` as `.fvecs` (per row: a little-endian int32 dimension, then the floats).
///
/// # Errors
/// I/O errors.
pub fn write_vectors(path: &Path, matrix: &Matrix) -> io::Result<()> {
    let rows = (0..matrix.rows()).map(|i| matrix.row(i).iter().map(|x| x.to_bits()));
    write_texmex(path, matrix.dim, rows)
}

/// Writes `ids` as `.ivecs` (per row: a little-endian int32 count, then the ids); every row
/// must have the same length, as [`read_ids`] requires.
///
/// # Errors
/// I/O errors; rows of different lengths (`InvalidInput`).
pub fn write_ids(path: &Path, ids: &[Vec<u32>]) -> io::Result<()> {
    let width = ids.first().map_or(0, Vec::len);
    if ids.iter().any(|row| row.len() != width) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "ivecs rows must all have the same length",
        ));
    }
    write_texmex(path, width, ids.iter().map(|row| row.iter().copied()))
}

fn write_texmex<R: Iterator<Item = u32>>(
    path: &Path,
    width: usize,
    rows: impl Iterator<Item = R>,
) -> io::Result<()> {
    let count = u32::try_from(width)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "row too long for .fvecs"))?;
    let mut out = BufWriter::new(File::create(path)?);
    for row in rows {
        out.write_all(&count.to_le_bytes())?;
        for value in row {
            out.write_all(&value.to_le_bytes())?;
        }
    }
    out.into_inner()
        .map_err(io::IntoInnerError::into_error)?
        .sync_all()
}

/// TEXMEX rows: a little-endian int32 count, then that many 4-byte values; all rows alike.
fn read_texmex(bytes: &[u8]) -> Option<Vec<Vec<u32>>> {
    let mut rows = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        let count = u32::from_le_bytes(rest.get(..4)?.try_into().ok()?) as usize;
        let body = rest.get(4..4 + 4 * count)?;
        rows.push(
            body.chunks_exact(4)
                .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect::<Vec<_>>(),
        );
        rest = &rest[4 + 4 * count..];
        if rows.len() > 1 && rows[rows.len() - 1].len() != rows[0].len() {
            return None;
        }
    }
    Some(rows)
}

/// The shape and body of a C-order 2-D `.npy` of the given dtype.
fn parse_npy<'a>(bytes: &'a [u8], dtype: &str) -> Option<((usize, usize), &'a [u8])> {
    if bytes.get(..6)? != b"\x93NUMPY" {
        return None;
    }
    let (header_len, start) = match bytes.get(6)? {
        1 => (
            u16::from_le_bytes(bytes.get(8..10)?.try_into().ok()?) as usize,
            10,
        ),
        _ => (
            u32::from_le_bytes(bytes.get(8..12)?.try_into().ok()?) as usize,
            12,
        ),
    };
    let header = std::str::from_utf8(bytes.get(start..start + header_len)?).ok()?;
    if !header.contains(dtype) || header.contains("'fortran_order': True") {
        return None;
    }
    let shape = header
        .split("'shape':")
        .nth(1)?
        .split('(')
        .nth(1)?
        .split(')')
        .next()?;
    let dims: Vec<usize> = shape
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let (rows, cols) = match dims.as_slice() {
        [rows, cols] => (*rows, *cols),
        [rows] => (*rows, 1),
        _ => return None,
    };
    let body = bytes.get(start + header_len..)?;
    (body.len() == rows * cols * 4).then_some(((rows, cols), body))
}

/// Clustered data: `n` base and `queries` query vectors of `dim` components around
/// `sqrt(n)` random centres (unit-normalized, as text embeddings are), with exact
/// ground truth under `distance` (smaller is closer).
pub fn generate(
    n: usize,
    queries: usize,
    dim: usize,
    seed: u64,
    top: usize,
    distance: impl Fn(&[f32], &[f32]) -> f32 + Sync,
) -> Dataset {
    let (base, queries) = generate_vectors(n, queries, dim, seed);
    let ground_truth = exact_neighbours(&base, &queries, top, distance);
    Dataset {
        name: format!("generated-{n}x{dim}-seed{seed}"),
        base,
        queries,
        ground_truth,
    }
}

/// The base and query vectors of [`generate`], without the ground truth. The queries are
/// drawn after the base from one seeded stream, so asking for more queries keeps the first
/// ones (and the base) the same.
pub fn generate_vectors(n: usize, queries: usize, dim: usize, seed: u64) -> (Matrix, Matrix) {
    let mut rng = StdRng::seed_from_u64(seed);
    let clusters = (n as f64).sqrt().ceil().max(1.0) as usize;
    let centres: Vec<f32> = (0..clusters * dim)
        .map(|_| rng.random_range(-1.0f32..1.0))
        .collect();
    let mut sample = |rows: usize| {
        let mut data = Vec::with_capacity(rows * dim);
        for _ in 0..rows {
            let centre = rng.random_range(0..clusters);
            let start = data.len();
            for j in 0..dim {
                data.push(centres[centre * dim + j] + 0.35 * (rng.random::<f32>() - 0.5));
            }
            normalize(&mut data[start..]);
        }
        Matrix { dim, data }
    };
    let base = sample(n);
    let queries = sample(queries);
    (base, queries)
}

fn normalize(v: &mut [f32]) {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
}

/// Exact `top` nearest base rows of every query, by brute force in parallel (ties by id).
pub fn exact_neighbours(
    base: &Matrix,
    queries: &Matrix,
    top: usize,
    distance: impl Fn(&[f32], &[f32]) -> f32 + Sync,
) -> Vec<Vec<u32>> {
    let members: Vec<u32> = (0..base.rows() as u32).collect();
    exact_neighbours_among(base, &members, queries, top, distance)
}

/// Exact `top` nearest of every query among the base rows `members` (ids = row numbers).
pub fn exact_neighbours_among(
    base: &Matrix,
    members: &[u32],
    queries: &Matrix,
    top: usize,
    distance: impl Fn(&[f32], &[f32]) -> f32 + Sync,
) -> Vec<Vec<u32>> {
    (0..queries.rows())
        .into_par_iter()
        .map(|q| {
            let query = queries.row(q);
            let candidates = members.iter().map(|&id| (id, base.row(id as usize)));
            nearest(query, candidates, top, &distance)
        })
        .collect()
}

/// The `top` ids of `candidates` nearest to `query` by `distance`, nearest first, ties by
/// id: the exact answer every recall figure of the suite and the benchmarks is scored
/// against.
pub fn nearest<'v>(
    query: &[f32],
    candidates: impl Iterator<Item = (u32, &'v [f32])>,
    top: usize,
    distance: impl Fn(&[f32], &[f32]) -> f32,
) -> Vec<u32> {
    let mut scored: Vec<(f32, u32)> = candidates
        .map(|(id, vector)| (distance(query, vector), id))
        .collect();
    let top = top.min(scored.len());
    if top > 0 {
        scored.select_nth_unstable_by(top - 1, |a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    }
    scored.truncate(top);
    scored.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    // Not `into_iter().map().collect()`: that reuses the allocation of all the scores (8
    // bytes per candidate, per query), which measured 9.6 GB of resident memory for 1,000
    // queries over 1M vectors.
    let mut ids = Vec::with_capacity(scored.len());
    ids.extend(scored.iter().map(|&(_, id)| id));
    ids
}

/// The exact distance of `M` between two raw vectors, as the index computes it (for ground
/// truth; infinite when either vector is refused by `M`). The encodings go into buffers
/// kept per thread: ground truth calls this once per (query, base) pair.
pub fn exact_distance<M: Metric>(a: &[f32], b: &[f32]) -> f32 {
    thread_local! {
        static BUFFERS: std::cell::RefCell<(Vec<u8>, Vec<u8>)> = const {
            std::cell::RefCell::new((Vec::new(), Vec::new()))
        };
    }
    BUFFERS.with(|buffers| {
        let mut buffers = buffers.borrow_mut();
        let (x, y) = &mut *buffers;
        x.clear();
        y.clear();
        match (M::encode(a, x), M::encode(b, y)) {
            (Ok(()), Ok(())) => M::distance(x, y),
            _ => f32::INFINITY,
        }
    })
}

/// recall@k: the share of each query's true top k found in its top k, averaged.
pub fn recall_at(k: usize, found: &[Vec<u32>], truth: &[Vec<u32>]) -> f64 {
    if found.is_empty() {
        return 0.0;
    }
    let total: f64 = found
        .iter()
        .zip(truth)
        .map(|(got, want)| {
            let want = &want[..k.min(want.len())];
            let hits = got.iter().take(k).filter(|id| want.contains(id)).count();
            hits as f64 / want.len().max(1) as f64
        })
        .sum();
    total / found.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texmex_and_npy_parse() {
        let mut fvecs = Vec::new();
        for row in [[1.0f32, 2.0], [3.0, 4.0]] {
            fvecs.extend_from_slice(&2u32.to_le_bytes());
            row.iter()
                .for_each(|x| fvecs.extend_from_slice(&x.to_le_bytes()));
        }
        let rows = read_texmex(&fvecs).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(f32::from_bits(rows[1][0]), 3.0);
        assert!(read_texmex(&fvecs[..7]).is_none(), "a cut file is refused");

        let header = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }";
        let mut npy = b"\x93NUMPY\x01\x00".to_vec();
        npy.extend_from_slice(&(header.len() as u16).to_le_bytes());
        npy.extend_from_slice(header.as_bytes());
        [1.0f32, 2.0, 3.0, 4.0]
            .iter()
            .for_each(|x| npy.extend_from_slice(&x.to_le_bytes()));
        let ((r, c), body) = parse_npy(&npy, "<f4").unwrap();
        assert_eq!((r, c, body.len()), (2, 2, 16));
        assert!(parse_npy(&npy, "<i4").is_none());
    }

    #[test]
    fn written_files_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let (base, _) = generate_vectors(7, 0, 5, 1);
        let path = dir.path().join("base.fvecs");
        write_vectors(&path, &base).unwrap();
        let read = read_vectors(&path).unwrap();
        assert_eq!((read.dim, read.data.len()), (5, 35));
        assert!(
            read.data
                .iter()
                .zip(&base.data)
                .all(|(a, b)| a.to_bits() == b.to_bits())
        );

        let ids = vec![vec![3, 1, 4], vec![1, 5, 9]];
        let path = dir.path().join("groundtruth.ivecs");
        write_ids(&path, &ids).unwrap();
        assert_eq!(read_ids(&path).unwrap(), ids);
        assert!(write_ids(&path, &[vec![1], vec![2, 3]]).is_err());
    }

    #[test]
    fn a_written_dataset_loads_back() {
        let dir = tempfile::tempdir().unwrap();
        let l2 =
            |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum::<f32>();
        let data = generate(60, 4, 8, 2, 10, l2);
        let out = dir.path().join("generated");
        write(&out, &data).unwrap();
        assert!(has_dataset(&out));
        let read = load(&out).unwrap();
        assert_eq!(read.base.data, data.base.data);
        assert_eq!(read.queries.data, data.queries.data);
        assert_eq!(read.ground_truth, data.ground_truth);
    }

    #[test]
    fn more_queries_keep_the_first_ones() {
        let (base, few) = generate_vectors(50, 3, 4, 9);
        let (same_base, more) = generate_vectors(50, 10, 4, 9);
        assert_eq!(base.data, same_base.data);
        assert_eq!(few.data[..], more.data[..few.data.len()]);
    }

    #[test]
    fn recall_counts_hits_in_top_k() {
        let truth = vec![vec![1, 2, 3], vec![4, 5, 6]];
        let found = vec![vec![1, 9, 3], vec![6, 5, 4]];
        assert!((recall_at(3, &found, &truth) - (2.0 / 3.0 + 1.0) / 2.0).abs() < 1e-12);
        assert!((recall_at(1, &found, &truth) - 0.5).abs() < 1e-12);
    }

    #[test]
    fn generated_ground_truth_is_exact() {
        let l2 =
            |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum::<f32>();
        let data = generate(500, 5, 8, 3, 10, l2);
        for (q, ids) in data.ground_truth.iter().enumerate() {
            let query = data.queries.row(q);
            let worst = l2(query, data.base.row(ids[9] as usize));
            let better = (0..500)
                .filter(|&i| l2(query, data.base.row(i)) < worst)
                .count();
            assert!(better <= 9);
        }
    }
}
