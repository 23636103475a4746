//! Vector files the CLI reads: TEXMEX `.fvecs` (per row an int32 dimension count, then that
//! many float32) and 2-D C-order float32 `.npy`. Every length is checked before anything is
//! sized from it.

use std::path::Path;

/// Rows of `dimensions` floats, one after the other.
pub struct Vectors {
    pub dimensions: usize,
    pub data: Vec<f32>,
}

impl Vectors {
    pub fn rows(&self) -> usize {
        self.data.len() / self.dimensions.max(1)
    }

    pub fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.dimensions..(i + 1) * self.dimensions]
    }
}

/// Reads `path` by its extension.
pub fn read(path: &Path) -> Result<Vectors, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let bad = |what: &str| format!("{}: {what}", path.display());
    let vectors = match path.extension().and_then(|e| e.to_str()) {
        Some("fvecs") => fvecs(&bytes).ok_or_else(|| bad("not a well-formed .fvecs file"))?,
        Some("npy") => npy(&bytes).ok_or_else(|| bad("not a 2-D C-order float32 .npy file"))?,
        _ => return Err(bad("unknown extension (.fvecs or .npy)")),
    };
    if vectors.dimensions == 0 || vectors.data.is_empty() {
        return Err(bad("no vectors"));
    }
    Ok(vectors)
}

fn floats(body: &[u8]) -> impl Iterator<Item = f32> + '_ {
    body.chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

fn fvecs(bytes: &[u8]) -> Option<Vectors> {
    let dimensions = u32::from_le_bytes(bytes.get(..4)?.try_into().ok()?) as usize;
    let row_len = 4usize.checked_add(dimensions.checked_mul(4)?)?;
    if dimensions == 0 || !bytes.len().is_multiple_of(row_len) {
        return None;
    }
    let mut data = Vec::with_capacity(bytes.len() / row_len * dimensions);
    for row in bytes.chunks_exact(row_len) {
        if u32::from_le_bytes(row[..4].try_into().ok()?) as usize != dimensions {
            return None;
        }
        data.extend(floats(&row[4..]));
    }
    Some(Vectors { dimensions, data })
}

fn npy(bytes: &[u8]) -> Option<Vectors> {
    if bytes.get(..6)? != b"\x93NUMPY" {
        return None;
    }
    let (header_len, start): (usize, usize) = match bytes.get(6)? {
        1 => (
            u16::from_le_bytes(bytes.get(8..10)?.try_into().ok()?) as usize,
            10,
        ),
        _ => (
            u32::from_le_bytes(bytes.get(8..12)?.try_into().ok()?) as usize,
            12,
        ),
    };
    let header = std::str::from_utf8(bytes.get(start..start.checked_add(header_len)?)?).ok()?;
    if !header.contains("'<f4'") || header.contains("'fortran_order': True") {
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
    let [rows, dimensions] = dims.as_slice() else {
        return None;
    };
    let body = bytes.get(start + header_len..)?;
    (body.len() == rows.checked_mul(*dimensions)?.checked_mul(4)?).then(|| Vectors {
        dimensions: *dimensions,
        data: floats(body).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fvecs_rows_and_bad_files() {
        let mut bytes = Vec::new();
        for row in [[1.0f32, 2.0], [3.0, 4.0]] {
            bytes.extend_from_slice(&2u32.to_le_bytes());
            row.iter()
                .for_each(|x| bytes.extend_from_slice(&x.to_le_bytes()));
        }
        let vectors = fvecs(&bytes).unwrap();
        assert_eq!((vectors.rows(), vectors.row(1)), (2, &[3.0, 4.0][..]));
        assert!(fvecs(&bytes[..bytes.len() - 1]).is_none());
        bytes[12..16].copy_from_slice(&3u32.to_le_bytes());
        assert!(fvecs(&bytes).is_none(), "rows of different lengths");
        assert!(fvecs(&u32::MAX.to_le_bytes()).is_none());
    }

    #[test]
    fn npy_rows_and_bad_headers() {
        let header = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
        let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
        bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
        bytes.extend_from_slice(header.as_bytes());
        (0..6).for_each(|x| bytes.extend_from_slice(&(x as f32).to_le_bytes()));
        let vectors = npy(&bytes).unwrap();
        assert_eq!((vectors.rows(), vectors.row(1)), (2, &[3.0, 4.0, 5.0][..]));
        assert!(npy(&bytes[..bytes.len() - 4]).is_none());
        let at = bytes.windows(3).position(|w| w == b"<f4").unwrap();
        let mut wrong = bytes.clone();
        wrong[at + 2] = b'8';
        assert!(npy(&wrong).is_none(), "float64");
    }
}
