//! File-level damage to a stored LMDB or redb database, judged in a child process.
//!
//! The parent (`tests/tests/file_damage.rs`) builds a real store with
//! [`trial::build_fixture`](super::trial::build_fixture), copies it once per trial,
//! damages the copy's file ([`FileDamage`]) and runs the `damage-trial` binary on it. The
//! child opens the store and runs [`Probe::observe`](super::trial::Probe::observe); it
//! prints one [`ChildReport`] line and exits 0 when every operation gave a result or a
//! typed error, 101 when one panicked. A signal (SIGBUS from a truncated memory map,
//! SIGSEGV, SIGABRT from an allocation refused by the
//! [`CappedAlloc`](super::alloc_guard::CappedAlloc)) ends the child, not the test, and is
//! counted.
//!
//! The CI sample is [`DEFAULT_FILE_TRIALS`] trials per backend; a campaign:
//!
//! ```text
//! HANNOY_FILE_DAMAGE_TRIALS=2000 HANNOY_DAMAGE_SEED=7 \
//!     cargo test -p hannoy-conformance --test file_damage -- --nocapture
//! ```
//!
//! `HANNOY_FILE_DAMAGE_ONLY=<n>` runs trial `n` of the seed alone. A failing trial is
//! replayed by hand with
//! `target/debug/damage-trial <lmdb|redb> <copy>` on a copy the test kept
//! (`HANNOY_FILE_DAMAGE_KEEP=1` keeps the damaged copies of bad trials and prints where).

use std::fmt;
use std::fs;
use std::io;
use std::path::Path;

use hannoy_graph::format::FORMAT_VERSION;
use hannoy_graph::format::key::{self, Tag};
use hannoy_graph::store::{KvStore, ReadTxn, WriteTxn};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use super::trial::{INDEX, Observed};

/// Trials of the CI sample, per backend.
pub const DEFAULT_FILE_TRIALS: u64 = 60;

/// The page size the damage works in (LMDB's; redb's default too).
pub const PAGE: usize = 4096;

/// What a trial does to the database file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FileDamage {
    /// 1 to 16 bytes at random places XORed with a random non-zero byte.
    FlipBytes,
    /// One random 4 KiB page zeroed.
    ZeroPage,
    /// One random 4 KiB page filled with random bytes.
    RandomPage,
    /// Cut at a random length.
    Truncate,
    /// Replaced by a file of random bytes that is no database.
    NotADatabase,
    /// Intact, but the index's metadata says format version `FORMAT_VERSION + 1` (written
    /// through the store, so the file is valid): the child must refuse it with a typed error.
    FutureVersion,
}

impl FileDamage {
    /// Every kind, drawn in turn by the trials.
    pub const ALL: [FileDamage; 6] = [
        FileDamage::FlipBytes,
        FileDamage::ZeroPage,
        FileDamage::RandomPage,
        FileDamage::Truncate,
        FileDamage::NotADatabase,
        FileDamage::FutureVersion,
    ];

    /// Damages `file` in place (all kinds but [`FileDamage::FutureVersion`], which is
    /// written through the store by [`write_future_version`]); returns what it did.
    ///
    /// # Errors
    /// File I/O errors.
    pub fn apply(self, file: &Path, rng: &mut StdRng) -> io::Result<String> {
        let mut bytes = fs::read(file)?;
        let len = bytes.len();
        let pages = len.div_ceil(PAGE).max(1);
        let what = match self {
            FileDamage::FlipBytes => {
                let mut places = Vec::new();
                for _ in 0..rng.random_range(1..=16) {
                    let at = rng.random_range(0..len);
                    bytes[at] ^= rng.random_range(1..=255u8);
                    places.push(at);
                }
                format!("bytes flipped at {places:?}")
            }
            FileDamage::ZeroPage | FileDamage::RandomPage => {
                let page = rng.random_range(0..pages);
                let end = ((page + 1) * PAGE).min(len);
                let range = &mut bytes[page * PAGE..end];
                if self == FileDamage::ZeroPage {
                    range.fill(0);
                } else {
                    rng.fill(range);
                }
                format!("page {page} of {pages}")
            }
            FileDamage::Truncate => {
                let at = rng.random_range(0..len);
                bytes.truncate(at);
                format!("cut at {at} of {len} bytes")
            }
            FileDamage::NotADatabase => {
                let new_len = rng.random_range(0..4 * PAGE);
                bytes = (0..new_len).map(|_| rng.random()).collect();
                format!("{new_len} random bytes")
            }
            FileDamage::FutureVersion => return Ok("format version + 1".into()),
        };
        fs::write(file, bytes)?;
        Ok(what)
    }
}

/// Writes format version `FORMAT_VERSION + 1` into the index's metadata, through `store`.
///
/// # Panics
/// If the store fails or holds no index.
pub fn write_future_version<S: KvStore>(store: &S) {
    let meta_key = key::prefix(INDEX, Tag::Metadata);
    let mut wtxn = store.write_txn().expect("write txn");
    let mut meta = wtxn
        .get(&meta_key)
        .expect("get")
        .expect("the index exists")
        .as_ref()
        .to_vec();
    meta[4..8].copy_from_slice(&(FORMAT_VERSION + 1).to_le_bytes());
    wtxn.put(&meta_key, &meta).expect("put");
    wtxn.commit().expect("commit");
}

/// Copies the files of directory `from` into `to` (created), not recursively.
///
/// # Errors
/// File I/O errors.
pub fn copy_dir(from: &Path, to: &Path) -> io::Result<()> {
    fs::create_dir_all(to)?;
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        if entry.file_type()?.is_file() {
            fs::copy(entry.path(), to.join(entry.file_name()))?;
        }
    }
    Ok(())
}

/// The line a child prints: each operation's result, `op=ok:<hash>`, `op=err` or
/// `op=panic`, then the first error or panic in words after ` | `.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildReport {
    /// `(operation, token)` pairs, the token being `ok:<hash>`, `err` or `panic`.
    pub operations: Vec<(String, String)>,
    /// The first error or panic, in words (empty when there is none).
    pub detail: String,
}

impl ChildReport {
    /// The report of a child's observations.
    pub fn new(observed: &[(&str, Observed)]) -> Self {
        let mut detail = String::new();
        let operations = observed
            .iter()
            .map(|(op, seen)| {
                let token = match seen {
                    Observed::Ok(hash) => format!("ok:{hash:016x}"),
                    Observed::Error(e) => {
                        if detail.is_empty() {
                            detail = format!("{op}: {e}");
                        }
                        "err".into()
                    }
                    Observed::Panic { site, message } => {
                        detail = format!("{op} panicked at {site}: {message}");
                        "panic".into()
                    }
                };
                (op.to_string(), token)
            })
            .collect();
        ChildReport { operations, detail }
    }

    /// Whether an operation panicked.
    pub fn panicked(&self) -> bool {
        self.operations.iter().any(|(_, token)| token == "panic")
    }

    /// Parses a line printed by [`fmt::Display`]; `None` if it is not one.
    pub fn parse(line: &str) -> Option<Self> {
        let rest = line.strip_prefix("outcome ")?;
        let (tokens, detail) = rest.split_once(" | ").unwrap_or((rest, ""));
        let operations = tokens
            .split_whitespace()
            .map(|t| {
                let (op, token) = t.split_once('=')?;
                Some((op.to_string(), token.to_string()))
            })
            .collect::<Option<Vec<_>>>()?;
        Some(ChildReport {
            operations,
            detail: detail.to_string(),
        })
    }
}

impl fmt::Display for ChildReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("outcome")?;
        for (op, token) in &self.operations {
            write!(f, " {op}={token}")?;
        }
        let detail = self.detail.replace('\n', " ");
        write!(f, " | {detail}")
    }
}

/// The trial's rng: one per `(seed, trial)`, so a trial replays alone.
pub fn trial_rng(seed: u64, trial: u64) -> StdRng {
    StdRng::seed_from_u64(seed ^ trial.wrapping_mul(0x9e37_79b9_7f4a_7c15))
}

/// What a process that died said last on standard error: an abort's reason, a panic, a C
/// assertion, or else its last line.
pub fn last_words(stderr: &str) -> String {
    stderr
        .lines()
        .find(|l| {
            [
                "memory allocation of",
                "panicked at",
                "Assertion",
                "fatal runtime error",
            ]
            .iter()
            .any(|words| l.contains(words))
        })
        .or_else(|| stderr.lines().last())
        .unwrap_or("")
        .to_string()
}
