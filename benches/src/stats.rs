//! Timing statistics and memory readings.

/// The value at quantile `q` (0..=1) of `values`, by nearest rank; 0 for none.
pub fn quantile(values: &[f64], q: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// The median of `values`.
pub fn median(values: &[f64]) -> f64 {
    quantile(values, 0.5)
}

/// Resident memory of this process, from `/proc/self/status` (Linux; zeros elsewhere).
#[derive(Debug, Clone, Copy, Default)]
pub struct Memory {
    /// Peak resident set (VmHWM), bytes.
    pub peak_rss: u64,
    /// Resident anonymous memory (RssAnon): heap and stacks, what the index costs beyond the
    /// page cache.
    pub anon: u64,
    /// Resident file-backed memory (RssFile): pages of memory-mapped files such as LMDB's.
    pub file: u64,
}

/// Reads [`Memory`] now.
pub fn memory() -> Memory {
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
        return Memory::default();
    };
    let field = |name: &str| {
        status
            .lines()
            .find(|line| line.starts_with(name))
            .and_then(|line| line.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024)
    };
    Memory {
        peak_rss: field("VmHWM:"),
        anon: field("RssAnon:"),
        file: field("RssFile:"),
    }
}

/// Major page faults of this process so far (faults that waited for a read from disk),
/// from `/proc/self/stat` (Linux; 0 elsewhere).
pub fn major_faults() -> u64 {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|stat| parse_major_faults(&stat))
        .unwrap_or(0)
}

/// `majflt`, the 12th field of a `/proc/<pid>/stat` line. The command name (2nd field) may
/// hold spaces and parentheses, so fields are counted after its last `)`.
fn parse_major_faults(stat: &str) -> Option<u64> {
    let (_, rest) = stat.rsplit_once(')')?;
    // `rest` starts at the 3rd field (state): majflt is 9 fields later.
    rest.split_whitespace().nth(9)?.parse().ok()
}

/// Total bytes the files under `path` occupy on disk: their allocated blocks, not their
/// lengths. redb grows its file ahead of use, leaving a hole at its end (41 MiB of a
/// 196 MiB file after a 98k x 384 build) that takes no disk space until written; a length
/// would count it.
pub fn disk_size(path: &std::path::Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let Ok(meta) = std::fs::metadata(path) else {
        return 0;
    };
    if meta.is_file() {
        // `blocks` counts 512-byte units whatever the file system's block size.
        return meta.blocks() * 512;
    }
    std::fs::read_dir(path)
        .map(|entries| entries.flatten().map(|e| disk_size(&e.path())).sum())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disk_size_counts_blocks_not_holes() {
        let dir = tempfile::tempdir().unwrap();
        let file = std::fs::File::create(dir.path().join("sparse")).unwrap();
        file.set_len(64 << 20).unwrap();
        std::fs::write(dir.path().join("dense"), vec![7u8; 1 << 20]).unwrap();
        let size = disk_size(dir.path());
        assert!((1 << 20..8 << 20).contains(&size), "{size} bytes");
    }

    #[test]
    fn quantiles_by_nearest_rank() {
        let values = [5.0, 1.0, 4.0, 2.0, 3.0];
        assert_eq!(median(&values), 3.0);
        assert_eq!(quantile(&values, 0.99), 5.0);
        assert_eq!(quantile(&values, 0.0), 1.0);
        assert_eq!(median(&[]), 0.0);
    }

    #[test]
    fn major_faults_are_the_twelfth_field() {
        let stat = "4242 (a (b) c) S 1 4242 4242 0 -1 4194560 1234 0 77 0 5 6 0 0 20 0 1 0";
        assert_eq!(parse_major_faults(stat), Some(77));
        assert_eq!(parse_major_faults("4242 (x) S 1"), None);
    }
}
