//! LMDB's two meta pages, read from `data.mdb` before LMDB maps it.
//!
//! LMDB trusts the file's length: a file cut shorter than the pages its last commit uses
//! opens fine, and the first read of a page past the end dies of `SIGBUS`. So before
//! opening, [`check_data_file`] reads the meta pages the way `mdb_env_read_header` does
//! (`mdb.c`), then walks the trees of the newest meta (free pages, main database, named
//! databases) and checks that every page they reach lies inside the file.
//!
//! Why a walk and not `file length >= (mm_last_pg + 1) * page size`: a valid file can be
//! shorter than that. LMDB does not write pages that a transaction allocated at the end
//! and freed again before committing (loose pages, overflow pages given back to the free
//! list), yet counts them in `mm_last_pg`; a transaction that puts an 8 MB value and
//! deletes it leaves a file 2,400 pages shorter than `mm_last_pg` says. The walk reads
//! each branch and leaf page once, never a value (a large value's run of overflow pages
//! follows from its length), so it costs little for hannoy's stores of large chunk values
//! (warm page cache, a busy 2-core machine): `open` of a 265 MB store of 4,000 64 KiB
//! values took 0.11 ms, as long as that of a one-entry store; with 200,000 small entries
//! added (their 3,000 leaf pages read), 2 to 11 ms.
//!
//! The layout (native byte order and word size, as LMDB writes it; `W` is the size of a
//! `size_t`, which is also the size of LMDB's page numbers and transaction ids):
//!
//! - page 0 and page 1 (at the page size read from page 0) each start with a page header
//!   (`MDB_page`: `mp_pgno` W bytes, `mp_pad` u16, `mp_flags` u16 with `P_META`, then 4
//!   bytes), followed by an `MDB_meta`;
//! - `MDB_meta`: `mm_magic` u32 (`0xBEEFC0DE`), `mm_version` u32 (1), `mm_address` W,
//!   `mm_mapsize` W, two `MDB_db` of `8 + 5 W` bytes each (the page size is the first
//!   one's `md_pad`, a u32), `mm_last_pg` W, `mm_txnid` W;
//! - `MDB_db`: `md_pad` u32, `md_flags` u16, `md_depth` u16, three page counts, the entry
//!   count, `md_root` (W each); `md_root` is all ones for an empty tree;
//! - a branch or leaf page: the page header (`mp_lower` is the end of the u16 node offsets
//!   that follow it), nodes of `mn_lo` u16, `mn_hi` u16, `mn_flags` u16, `mn_ksize` u16,
//!   key, data. A branch node's child is `mn_lo | mn_hi << 16 | mn_flags << 32`; a leaf
//!   node's data is `mn_lo | mn_hi << 16` bytes, a page number when `F_BIGDATA` (an
//!   overflow run whose first page's header holds its page count in place of
//!   `mp_lower`/`mp_upper`), an `MDB_db` when `F_SUBDATA`. `P_LEAF2` pages hold keys only.
//!
//! LMDB uses the meta with the larger `mm_txnid`, and refuses the file unless both are
//! valid; so does this check.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;

use hannoy_graph::store::{StoreError, StoreResult};

use super::BACKEND;

const MAGIC: u32 = 0xBEEF_C0DE;
/// `MDB_DATA_VERSION` of the LMDB that heed builds (`MDB_DEVEL` off).
const DATA_VERSION: u32 = 1;
const P_META: u16 = 0x08;
const P_BRANCH: u16 = 0x01;
const P_LEAF: u16 = 0x02;
const P_LEAF2: u16 = 0x20;
const F_BIGDATA: u16 = 0x01;
const F_SUBDATA: u16 = 0x02;
const F_DUPDATA: u16 = 0x04;
/// An empty tree's root.
const P_INVALID: u64 = usize::MAX as u64;
/// LMDB's `MAX_PAGESIZE` (`PAGEBASE` is 0 without `MDB_DEVEL`).
const MAX_PAGE_SIZE: u32 = 0x8000;

const WORD: usize = size_of::<usize>();
const PAGE_HEADER: usize = WORD + 8;
const FLAGS_AT: usize = WORD + 2;
const LOWER_AT: usize = WORD + 4;
const UPPER_AT: usize = WORD + 6;
const NODE_HEADER: usize = 8;
/// `md_root` within an `MDB_db`.
pub(super) const DB_ROOT_AT: usize = 8 + 4 * WORD;
pub(super) const DB_LEN: usize = 8 + 5 * WORD;
pub(super) const DBS_AT: usize = PAGE_HEADER + 8 + 2 * WORD;
const MAGIC_AT: usize = PAGE_HEADER;
const VERSION_AT: usize = PAGE_HEADER + 4;
const PAGE_SIZE_AT: usize = PAGE_HEADER + 8 + 2 * WORD;
pub(super) const LAST_PAGE_AT: usize = PAGE_HEADER + 24 + 12 * WORD;
const TXN_ID_AT: usize = PAGE_HEADER + 24 + 13 * WORD;
/// The bytes LMDB reads for one meta page (`sizeof(MDB_metabuf)`).
const META_PAGE_LEN: usize = PAGE_HEADER + 24 + 14 * WORD;

/// What one meta page says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Meta {
    pub(super) page_size: u32,
    pub(super) last_page: u64,
    pub(super) txn_id: u64,
    /// The roots of the free-page tree and of the main database.
    pub(super) roots: [u64; 2],
}

/// Checks that the LMDB data file at `path` is whole: both meta pages valid, and the file
/// long enough for every page of the newest commit. A missing or empty file passes (LMDB
/// makes a new environment of it).
///
/// This narrows the `SIGBUS` window to the file being cut *after* this check: by another
/// process between this check and LMDB mapping it, or at any time while the store is open.
/// LMDB's design gives no defence against that (its pages are read straight from the map).
/// The order, meta pages first and the length second, keeps a commit by another process
/// during the check from looking like a truncation: the file only grows before its meta
/// page is written.
///
/// # Errors
/// [`StoreError::Corrupted`] naming the file when it is not an LMDB file, is of another
/// LMDB data version, or is truncated; [`StoreError::Io`] when it cannot be read.
pub(super) fn check_data_file(path: &Path) -> StoreResult<()> {
    let io_error = |e: io::Error| StoreError::io(BACKEND, "open", e);
    let mut file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io_error(e)),
    };
    if file.metadata().map_err(io_error)?.len() == 0 {
        return Ok(());
    }
    let corrupted = |what: String| StoreError::Corrupted {
        what: format!("{}: {what}", path.display()),
        key: Vec::new(),
    };
    let first = read_meta(&mut file, 0).map_err(io_error)?;
    let first = parse_meta(&first, 0).map_err(corrupted)?;
    let second = read_meta(&mut file, u64::from(first.page_size)).map_err(io_error)?;
    let second = parse_meta(&second, 1).map_err(corrupted)?;
    let newest = if second.txn_id > first.txn_id {
        second
    } else {
        first
    };
    // Read after the meta pages: see the doc comment.
    let len = file.metadata().map_err(io_error)?.len();
    Walk {
        file: &mut file,
        len,
        meta: newest,
        page: vec![0; newest.page_size as usize],
    }
    .run()
    .map_err(|e| match e {
        WalkError::Io(e) => io_error(e),
        WalkError::Bad(what) => corrupted(what),
    })
}

enum WalkError {
    Io(io::Error),
    Bad(String),
}

impl From<io::Error> for WalkError {
    fn from(e: io::Error) -> Self {
        WalkError::Io(e)
    }
}

/// The walk over every tree page of one meta.
struct Walk<'f> {
    file: &'f mut File,
    len: u64,
    meta: Meta,
    page: Vec<u8>,
}

impl Walk<'_> {
    fn run(mut self) -> Result<(), WalkError> {
        let page_size = self.meta.page_size;
        // Each page with whether it may be a `P_LEAF2` page: only in the sub-tree of a
        // duplicate set (`F_DUPDATA | F_SUBDATA`), never in the free-page tree, the main
        // database or a named one.
        let mut stack: Vec<(u64, bool)> = self
            .meta
            .roots
            .into_iter()
            .filter(|&root| root != P_INVALID)
            .map(|root| (root, false))
            .collect();
        // A valid tree reaches each page once, and only pages inside the file are read:
        // more visits than the file has pages means a cycle (a garbled file).
        let mut budget = self.len / u64::from(page_size);
        while let Some((number, leaf2_allowed)) = stack.pop() {
            budget = budget
                .checked_sub(1)
                .ok_or_else(|| WalkError::Bad("its page tree loops".into()))?;
            self.read_page(number)?;
            let page = &self.page;
            let flags = u16_at(page, FLAGS_AT);
            // As LMDB reads a page on a search (`IS_BRANCH` first, whatever the other
            // bits): a garbled page with the branch bit and another one set is followed
            // as a branch by LMDB, so it must be checked as one here.
            let (branch, leaf) = (flags & P_BRANCH != 0, flags & P_LEAF != 0);
            if !branch && leaf && flags & P_LEAF2 != 0 {
                if leaf2_allowed {
                    continue;
                }
                return Err(bad_page(number, "a keys-only page outside a duplicate set"));
            }
            if branch == leaf {
                return Err(bad_page(number, "neither a branch nor a leaf page"));
            }
            // LMDB's own invariant (it asserts it when it adds a node: an abort, not an
            // error): the offsets grow up to `lower`, the nodes fill down from `upper`.
            let lower = usize::from(u16_at(page, LOWER_AT));
            let upper = usize::from(u16_at(page, UPPER_AT));
            if lower < PAGE_HEADER || lower > upper || upper > page.len() {
                return Err(bad_page(number, "its node offsets run off the page"));
            }
            for at in (PAGE_HEADER..lower - lower % 2).step_by(2) {
                let node = usize::from(u16_at(page, at));
                if node < upper {
                    return Err(bad_page(number, "a node lies outside the node area"));
                }
                let header = page
                    .get(node..node + NODE_HEADER)
                    .ok_or_else(|| bad_page(number, "a node lies off the page"))?;
                let [lo, hi, node_flags, key_len] = [0, 2, 4, 6].map(|i| u16_at(header, i));
                // Keys are compared in place, on branch and leaf pages alike.
                if node + NODE_HEADER + usize::from(key_len) > page.len() {
                    return Err(bad_page(number, "a key runs off the page"));
                }
                let (lo, hi) = (u64::from(lo), u64::from(hi));
                if branch {
                    let high = if WORD == 8 {
                        u64::from(node_flags) << 32
                    } else {
                        0
                    };
                    stack.push((lo | hi << 16 | high, leaf2_allowed));
                    continue;
                }
                let data_at = node + NODE_HEADER + usize::from(key_len);
                let data_len = if node_flags & F_BIGDATA != 0 {
                    WORD
                } else if node_flags & F_SUBDATA != 0 {
                    DB_LEN
                } else {
                    // An inline value: LMDB hands out `lo | hi << 16` bytes from here
                    // without looking, so they must lie on the page (else a read past
                    // the end of the file: SIGBUS).
                    let inline = usize::try_from(lo | hi << 16).unwrap_or(usize::MAX);
                    if data_at.saturating_add(inline) > page.len() {
                        return Err(bad_page(number, "an inline value runs off the page"));
                    }
                    continue;
                };
                let data = page
                    .get(data_at..data_at + data_len)
                    .ok_or_else(|| bad_page(number, "a node's data lies off the page"))?;
                if node_flags & F_BIGDATA != 0 {
                    // `OVPAGES`: the run's length follows from the value's, so the run
                    // itself need not be read.
                    let value_len = lo | hi << 16;
                    let pages = (PAGE_HEADER as u64 - 1 + value_len) / u64::from(page_size) + 1;
                    self.within(word_at(data, 0), pages)?;
                } else {
                    let root = word_at(data, DB_ROOT_AT);
                    if root != P_INVALID {
                        stack.push((root, node_flags & F_DUPDATA != 0));
                    }
                }
            }
        }
        Ok(())
    }

    /// Checks pages `first..first + count` are inside the file.
    fn within(&self, first: u64, count: u64) -> Result<(), WalkError> {
        let Meta {
            page_size,
            last_page,
            txn_id,
            ..
        } = self.meta;
        let last = first.saturating_add(count - 1);
        if last > last_page {
            return Err(WalkError::Bad(format!(
                "transaction {txn_id} reaches page {last}, past its last page {last_page}"
            )));
        }
        match last
            .checked_add(1)
            .and_then(|pages| pages.checked_mul(u64::from(page_size)))
        {
            Some(end) if end <= self.len => Ok(()),
            end => Err(WalkError::Bad(format!(
                "the LMDB data file is truncated: it is {} bytes long, but transaction \
                 {txn_id} uses page {last} of {page_size} bytes ({} bytes)",
                self.len,
                end.map_or("more than 2^64".to_owned(), |end| end.to_string())
            ))),
        }
    }

    /// Reads page `number` whole into `self.page`, once it is known to be in the file.
    fn read_page(&mut self, number: u64) -> Result<(), WalkError> {
        self.within(number, 1)?;
        let offset = number * u64::from(self.meta.page_size);
        #[cfg(unix)]
        std::os::unix::fs::FileExt::read_exact_at(&*self.file, &mut self.page, offset)?;
        #[cfg(not(unix))]
        {
            self.file.seek(SeekFrom::Start(offset))?;
            self.file.read_exact(&mut self.page)?;
        }
        Ok(())
    }
}

fn bad_page(number: u64, why: &str) -> WalkError {
    WalkError::Bad(format!("page {number} is garbled: {why}"))
}

fn u16_at(bytes: &[u8], at: usize) -> u16 {
    u16::from_ne_bytes([bytes[at], bytes[at + 1]])
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

fn word_at(bytes: &[u8], at: usize) -> u64 {
    let mut word = [0; WORD];
    word.copy_from_slice(&bytes[at..at + WORD]);
    usize::from_ne_bytes(word) as u64
}

/// The first [`META_PAGE_LEN`] bytes at `offset`, or as many as the file has.
fn read_meta(file: &mut File, offset: u64) -> io::Result<Vec<u8>> {
    file.seek(SeekFrom::Start(offset))?;
    let mut bytes = Vec::with_capacity(META_PAGE_LEN);
    file.take(META_PAGE_LEN as u64).read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// Decodes meta page `number` (0 or 1), or says why it is not one.
pub(super) fn parse_meta(page: &[u8], number: u8) -> Result<Meta, String> {
    if page.len() < META_PAGE_LEN {
        return Err(format!(
            "the file ends inside LMDB meta page {number} ({} of its {META_PAGE_LEN} bytes): \
             not an LMDB data file, or truncated",
            page.len()
        ));
    }
    let magic = u32_at(page, MAGIC_AT);
    if u16_at(page, FLAGS_AT) & P_META == 0 || magic != MAGIC {
        return Err(format!(
            "page {number} is not an LMDB meta page (magic {magic:#010x}): not an LMDB data \
             file, or one written on a machine of another byte order or word size"
        ));
    }
    let version = u32_at(page, VERSION_AT);
    if version != DATA_VERSION {
        return Err(format!(
            "LMDB data version {version} in meta page {number}; this build reads version \
             {DATA_VERSION}"
        ));
    }
    let page_size = u32_at(page, PAGE_SIZE_AT);
    if !page_size.is_power_of_two()
        || (page_size as usize) < META_PAGE_LEN
        || page_size > MAX_PAGE_SIZE
    {
        return Err(format!(
            "meta page {number} gives a page size of {page_size} bytes"
        ));
    }
    Ok(Meta {
        page_size,
        last_page: word_at(page, LAST_PAGE_AT),
        txn_id: word_at(page, TXN_ID_AT),
        roots: [0, 1].map(|db| word_at(page, DBS_AT + db * DB_LEN + DB_ROOT_AT)),
    })
}
