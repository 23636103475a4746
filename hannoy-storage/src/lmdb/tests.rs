//! The LMDB data-file check against real files: whole, truncated, foreign.

use std::fs;
use std::path::Path;

use hannoy_graph::store::{KvStore, ReadTxn, StoreError, WriteTxn};

use super::meta::{DB_LEN, DB_ROOT_AT, DBS_AT, LAST_PAGE_AT, check_data_file, parse_meta};
use super::{LmdbOptions, LmdbStore};

/// A store with small values, large ones, a named-database-free main tree of several
/// levels, and a file shorter than `mm_last_pg` says (a value put and deleted in one
/// transaction leaves pages LMDB counts but never writes). Returns the entries.
fn write_store(dir: &Path) -> Vec<(Vec<u8>, Vec<u8>)> {
    let store = LmdbStore::open(dir).unwrap();
    for round in 0..4u32 {
        let mut wtxn = store.write_txn().unwrap();
        for i in 0..400u32 {
            let len = if i % 10 == 0 { 20_000 } else { 100 };
            wtxn.put(&i.to_be_bytes(), &vec![(round + i) as u8; len])
                .unwrap();
        }
        wtxn.put(b"big", &vec![1u8; 4_000_000]).unwrap();
        wtxn.delete(b"big").unwrap();
        wtxn.commit().unwrap();
    }
    let rtxn = store.read_txn().unwrap();
    let entries: Vec<_> = rtxn
        .range(std::ops::Bound::Unbounded, std::ops::Bound::Unbounded)
        .unwrap()
        .map(|entry| {
            let (k, v) = entry.unwrap();
            (k.to_vec(), v.to_vec())
        })
        .collect();
    assert_eq!(entries.len(), 400);
    entries
}

fn read_all(store: &LmdbStore) -> Vec<(Vec<u8>, Vec<u8>)> {
    let rtxn = store.read_txn().unwrap();
    rtxn.range(std::ops::Bound::Unbounded, std::ops::Bound::Unbounded)
        .unwrap()
        .map(|entry| {
            let (k, v) = entry.unwrap();
            (k.to_vec(), v.to_vec())
        })
        .collect()
}

fn copy_with(from: &Path, to: &Path, data: &[u8]) {
    fs::create_dir_all(to).unwrap();
    fs::write(to.join("data.mdb"), data).unwrap();
    let _ = from;
}

fn assert_corrupted(error: StoreError, file: &Path, says: &str) {
    match &error {
        StoreError::Corrupted { what, .. } => {
            assert!(
                what.contains(&file.display().to_string()),
                "the error names the file: {what}"
            );
            assert!(what.contains(says), "expected {says:?} in {what:?}");
        }
        other => panic!("expected Corrupted, got {other:?}"),
    }
}

#[test]
fn meta_pages_read_as_lmdb_reads_them() {
    let dir = tempfile::tempdir().unwrap();
    write_store(dir.path());
    let store = LmdbStore::open(dir.path()).unwrap();
    let info = store.env().info();
    let bytes = fs::read(dir.path().join("data.mdb")).unwrap();
    let first = parse_meta(&bytes, 0).unwrap();
    let second = parse_meta(&bytes[first.page_size as usize..], 1).unwrap();
    let newest = if second.txn_id > first.txn_id {
        second
    } else {
        first
    };
    assert_eq!(newest.txn_id as usize, info.last_txn_id);
    assert_eq!(newest.last_page as usize, info.last_page_number);
    // The case a length check on `mm_last_pg` alone would refuse: the file is whole, yet
    // shorter than the pages `mm_last_pg` counts.
    let counted = (newest.last_page + 1) * u64::from(newest.page_size);
    assert!(
        (bytes.len() as u64) < counted,
        "{} >= {counted}",
        bytes.len()
    );
    check_data_file(&dir.path().join("data.mdb")).unwrap();
}

#[test]
fn truncated_files_are_refused_before_mapping() {
    let dir = tempfile::tempdir().unwrap();
    let entries = write_store(dir.path());
    let bytes = fs::read(dir.path().join("data.mdb")).unwrap();
    let copies = tempfile::tempdir().unwrap();
    let mut refused = 0;
    // 50 cuts spread over the file (every one past the meta pages), some on page
    // boundaries, some not. Without the check, LMDB opens most of them and the first read
    // of a missing page kills the test with SIGBUS.
    for cut in 0..50u64 {
        let len = 8192 + (bytes.len() as u64 - 8192) * cut / 50 + (cut % 3) * 1000;
        let copy = copies.path().join(cut.to_string());
        copy_with(dir.path(), &copy, &bytes[..len as usize]);
        match LmdbStore::open(&copy) {
            Err(error) => {
                assert_corrupted(error, &copy.join("data.mdb"), "truncated");
                refused += 1;
            }
            // Only free pages were cut: everything still reads.
            Ok(store) => assert_eq!(read_all(&store), entries, "cut at {len}"),
        }
    }
    assert!(refused >= 45, "only {refused} of 50 cuts were refused");
    // The whole file still opens and reads.
    assert_eq!(read_all(&LmdbStore::open(dir.path()).unwrap()), entries);
}

#[test]
fn foreign_and_unknown_version_files_are_typed_errors() {
    let dir = tempfile::tempdir().unwrap();
    write_store(dir.path());
    let bytes = fs::read(dir.path().join("data.mdb")).unwrap();
    let page_size = parse_meta(&bytes, 0).unwrap().page_size as usize;
    let copies = tempfile::tempdir().unwrap();
    let check = |name: &str, data: &[u8], says: &str| {
        let copy = copies.path().join(name);
        copy_with(dir.path(), &copy, data);
        let error = LmdbStore::open(&copy).err().unwrap();
        assert_corrupted(error, &copy.join("data.mdb"), says);
    };

    // Random bytes (a fixed xorshift seed).
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let random: Vec<u8> = (0..65536)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    check("random", &random, "not an LMDB meta page");

    let mut magic = bytes.clone();
    magic[16] ^= 0xff;
    check("magic0", &magic, "page 0 is not an LMDB meta page");
    let mut magic = bytes.clone();
    magic[page_size + 16] ^= 0xff;
    check("magic1", &magic, "page 1 is not an LMDB meta page");

    let mut version = bytes.clone();
    version[20..24].copy_from_slice(&999u32.to_ne_bytes());
    check("version", &version, "LMDB data version 999");

    // Page numbers at the end of the range: no overflow, no huge read, a typed error.
    let mut huge = bytes.clone();
    for meta in [0, page_size] {
        let word = size_of::<usize>();
        huge[meta + LAST_PAGE_AT..][..word].copy_from_slice(&usize::MAX.to_ne_bytes());
        let main_root = meta + DBS_AT + DB_LEN + DB_ROOT_AT;
        huge[main_root..][..word].copy_from_slice(&(usize::MAX - 1).to_ne_bytes());
    }
    check("huge", &huge, "truncated");

    check("short", &bytes[..100], "ends inside LMDB meta page 0");
    check(
        "one_page",
        &bytes[..page_size],
        "ends inside LMDB meta page 1",
    );

    // An empty file is a new store, as LMDB has it.
    let empty = copies.path().join("empty");
    copy_with(dir.path(), &empty, &[]);
    let store = LmdbStore::open(&empty).unwrap();
    assert!(read_all(&store).is_empty());
}

#[test]
fn a_store_opened_without_read_ahead_reads_and_writes_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let entries = write_store(dir.path());
    let store = LmdbOptions::default()
        .read_ahead(false)
        .open(dir.path())
        .unwrap();
    assert_eq!(read_all(&store), entries);
    let mut wtxn = store.write_txn().unwrap();
    wtxn.put(b"more", b"bytes").unwrap();
    wtxn.commit().unwrap();
    assert_eq!(
        store.read_txn().unwrap().get(b"more").unwrap(),
        Some(&b"bytes"[..])
    );
}

#[test]
fn io_failures_are_io_errors_with_their_kind() {
    let dir = tempfile::tempdir().unwrap();
    // A file where the store's directory should be.
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"not a directory").unwrap();
    match LmdbStore::open(file.join("db")) {
        Err(error @ StoreError::Io { .. }) => {
            let kind = error.io_error().map(std::io::Error::kind);
            assert_eq!(kind, Some(std::io::ErrorKind::NotADirectory), "{error}");
        }
        other => panic!("expected an I/O error, got {:?}", other.map(|_| ())),
    }
}
