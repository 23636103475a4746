//! Stores written by other crates, kept as files so the suite builds without those crates:
//! each `tests/fixtures/*.kv` file holds every key and value of one store, in key order,
//! each as a little-endian `u32` length and its bytes. The facade's import tests, which have
//! the published crates, check that they are what those crates write and write them anew
//! on request (`hannoy/tests/import.rs`, `conformance_fixtures_are_what_hannoy_0_3_writes`).

use std::path::{Path, PathBuf};

use crate::store_suite::Entries;

/// The fixture of index 0 of a store written by the published hannoy 0.3 crate: 40
/// Euclidean vectors of 4 dimensions as items `0..40`, built (M = 16, M0 = 32) or not.
pub fn hannoy_0_3_store(built: bool) -> PathBuf {
    let name = match built {
        true => "hannoy-0.3-built.kv",
        false => "hannoy-0.3-unbuilt.kv",
    };
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name)
}

/// The entries of the fixture at `path`.
///
/// # Panics
/// When the file is missing or not a sequence of length-prefixed keys and values.
pub fn read_entries(path: &Path) -> Entries {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("fixture {}: {e}", path.display()));
    let mut rest = bytes.as_slice();
    let mut next = || {
        let (len, tail) = rest.split_first_chunk::<4>()?;
        let len = u32::from_le_bytes(*len) as usize;
        let (field, tail) = tail.split_at_checked(len)?;
        rest = tail;
        Some(field.to_vec())
    };
    let mut entries = Entries::new();
    while let Some(key) = next() {
        let value = next().unwrap_or_else(|| panic!("fixture {}: truncated", path.display()));
        entries.push((key, value));
    }
    assert!(rest.is_empty(), "fixture {}: truncated", path.display());
    entries
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_read_back_and_truncation_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.kv");
        let mut bytes = Vec::new();
        for field in [&b"a"[..], b"", &[0xff; 3], b"value"] {
            bytes.extend_from_slice(&(field.len() as u32).to_le_bytes());
            bytes.extend_from_slice(field);
        }
        std::fs::write(&path, &bytes).unwrap();
        let expected = vec![
            (b"a".to_vec(), Vec::new()),
            (vec![0xff; 3], b"value".to_vec()),
        ];
        assert_eq!(read_entries(&path), expected);
        std::fs::write(&path, &bytes[..bytes.len() - 1]).unwrap();
        let truncated = std::panic::catch_unwind(|| read_entries(&path));
        assert!(truncated.is_err(), "a truncated fixture is refused");
    }
}
