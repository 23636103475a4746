//! The index inside the application's own transactions (`hannoy_storage::lmdb::Host*Txn`,
//! `hannoy_storage::redb::Host*Txn`): the application's write and the index's commit
//! together or not at all, the index built there is the one a store of its own holds (bit
//! for bit), and misuse is an error, not a panic.
//!
//! Backend-specific by nature (only LMDB and redb have application transactions to join),
//! hence here rather than in the conformance macro.

use hannoy_conformance::items::random_vectors;
use hannoy_graph::store::{KvStore, ReadTxn, StoreError, WriteTxn};
use hannoy_graph::{Error, Reader, Writer};
use hannoy_metrics::Euclidean;
use hannoy_storage::memory::MemoryStore;
use heed::types::{Bytes, Str};
use rand::SeedableRng;
use rand::rngs::StdRng;

const DIMS: usize = 16;

type Items = [(u32, Vec<f32>)];
/// Every query's answers.
type Answers = Vec<Vec<(u32, f32)>>;
const INDEX: u16 = 3;

fn items() -> Vec<(u32, Vec<f32>)> {
    random_vectors(300, DIMS, 71)
        .into_iter()
        .enumerate()
        .map(|(i, v)| (i as u32 * 3, v))
        .collect()
}

/// Adds `items`, deletes `deleted` and builds on one thread (the same graph every run).
fn write_index<W: WriteTxn>(
    txn: &mut W,
    items: &[(u32, Vec<f32>)],
    deleted: &[u32],
) -> hannoy_graph::Result<()> {
    let writer = Writer::<Euclidean>::new(INDEX, DIMS);
    for (id, vector) in items {
        writer.add_item(txn, *id, vector)?;
    }
    for id in deleted {
        writer.del_item(txn, *id)?;
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("a one-thread pool");
    writer
        .builder(&mut StdRng::seed_from_u64(9))
        .thread_pool(&pool)
        .m(8)
        .m0(16)
        .build(txn)?;
    Ok(())
}

/// Every item's 10 nearest, distances included.
fn answers<T: ReadTxn>(txn: &T) -> hannoy_graph::Result<Answers> {
    let reader = Reader::<Euclidean, T>::open(txn, INDEX)?;
    assert!(reader.check(txn)?.is_valid());
    items()
        .iter()
        .map(|(_, query)| reader.nns(10).by_vector(query))
        .collect()
}

/// What a store of its own answers after the same writes (two transactions: the items,
/// then a second batch with deletes).
fn reference() -> (Answers, Answers) {
    let store = MemoryStore::new();
    let (first, second, deleted) = split();
    let mut wtxn = store.write_txn().unwrap();
    write_index(&mut wtxn, first, &[]).unwrap();
    wtxn.commit().unwrap();
    let after_first = answers(&store.read_txn().unwrap()).unwrap();
    let mut wtxn = store.write_txn().unwrap();
    write_index(&mut wtxn, second, &deleted).unwrap();
    wtxn.commit().unwrap();
    (after_first, answers(&store.read_txn().unwrap()).unwrap())
}

/// The first transaction's items, the second's, and the ids the second deletes.
fn split() -> (&'static Items, &'static Items, Vec<u32>) {
    let items: &'static Items = Box::leak(items().into_boxed_slice());
    let deleted = items[10..40].iter().map(|(id, _)| *id).collect();
    (&items[..200], &items[200..], deleted)
}

mod lmdb {
    use hannoy_storage::lmdb::{HostReadTxn, HostWriteTxn, LmdbStore};

    use super::*;

    type Documents = heed::Database<'static, Str, Str>;
    type IndexDb = heed::Database<'static, Bytes, Bytes>;
    type Env = heed::Env<heed::WithoutTls>;

    /// An application's environment: a database of documents and one for the index.
    fn open(dir: &std::path::Path, map_size: usize) -> (Env, Documents, IndexDb) {
        let mut options = heed::EnvOpenOptions::new().read_txn_without_tls();
        options.max_dbs(4).map_size(map_size);
        // SAFETY: the directory is the test's own, and nothing else opens or changes it.
        let env = unsafe { options.open(dir).unwrap() };
        let wtxn = env.write_txn().unwrap();
        let (documents, index) = env
            .create_databases_and_commit(wtxn, |opener, wtxn| {
                let documents = opener.create_database(wtxn, Some("documents"))?;
                let index = opener.create_database(wtxn, Some("vectors"))?;
                Ok::<_, heed::Error>(heed::CommitOrAbort::<_, ()>::Commit((documents, index)))
            })
            .unwrap()
            .unwrap_commit();
        (env, documents, index)
    }

    fn document(env: &Env, documents: Documents, key: &str) -> Option<String> {
        let rtxn = env.read_txn().unwrap();
        documents.get(&rtxn, key).unwrap().map(str::to_owned)
    }

    #[test]
    fn a_commit_shows_both_and_an_abort_neither() {
        let dir = tempfile::tempdir().unwrap();
        let (env, documents, index_db) = open(dir.path(), 1 << 30);
        let (first, second, deleted) = split();
        let (after_first, after_second) = reference();

        // Aborted: neither the document nor the index.
        let mut wtxn = env.write_txn().unwrap();
        documents.put(&mut wtxn, "doc-1", "first").unwrap();
        write_index(
            &mut HostWriteTxn::new(&mut wtxn, index_db).unwrap(),
            first,
            &[],
        )
        .unwrap();
        wtxn.abort();
        assert_eq!(document(&env, documents, "doc-1"), None);
        let rtxn = env.read_txn().unwrap();
        let view = HostReadTxn::new(&rtxn, index_db).unwrap();
        assert!(matches!(answers(&view), Err(Error::MissingIndex(INDEX))));
        assert!(view.prefix(&[]).unwrap().next().is_none());
        drop(rtxn);

        // Committed: both; the index answers what a store of its own does, bit for bit,
        // read through the application's transaction and through a store on its database.
        let mut wtxn = env.write_txn().unwrap();
        documents.put(&mut wtxn, "doc-1", "first").unwrap();
        let mut index_txn = HostWriteTxn::new(&mut wtxn, index_db).unwrap();
        write_index(&mut index_txn, first, &[]).unwrap();
        // The transaction reads its own writes, the index included.
        assert_eq!(answers(&index_txn).unwrap(), after_first);
        index_txn.commit().unwrap();
        wtxn.commit().unwrap();
        assert_eq!(document(&env, documents, "doc-1").as_deref(), Some("first"));
        let rtxn = env.read_txn().unwrap();
        assert_eq!(
            answers(&HostReadTxn::new(&rtxn, index_db).unwrap()).unwrap(),
            after_first
        );
        drop(rtxn);

        // Later updates in a later transaction: adds, deletes and a rebuild.
        let mut wtxn = env.write_txn().unwrap();
        documents.put(&mut wtxn, "doc-2", "second").unwrap();
        write_index(
            &mut HostWriteTxn::new(&mut wtxn, index_db).unwrap(),
            second,
            &deleted,
        )
        .unwrap();
        wtxn.commit().unwrap();
        assert_eq!(
            document(&env, documents, "doc-2").as_deref(),
            Some("second")
        );
        let store = LmdbStore::from_database(env.clone(), index_db);
        assert_eq!(answers(&store.read_txn().unwrap()).unwrap(), after_second);
        let rtxn = env.read_txn().unwrap();
        assert_eq!(
            answers(&HostReadTxn::new(&rtxn, index_db).unwrap()).unwrap(),
            after_second
        );
    }

    #[test]
    fn a_failed_write_poisons_and_the_host_cannot_commit_it() {
        let dir = tempfile::tempdir().unwrap();
        // Room for the document, not for the index.
        let (env, documents, index_db) = open(dir.path(), 256 << 10);
        let mut wtxn = env.write_txn().unwrap();
        documents.put(&mut wtxn, "doc-1", "first").unwrap();
        let mut index_txn = HostWriteTxn::new(&mut wtxn, index_db).unwrap();
        let many: Vec<(u32, Vec<f32>)> = random_vectors(5000, DIMS, 72)
            .into_iter()
            .enumerate()
            .map(|(i, v)| (i as u32, v))
            .collect();
        let err = write_index(&mut index_txn, &many, &[]).unwrap_err();
        assert!(
            matches!(err, Error::Store(StoreError::Full { .. })),
            "{err}"
        );
        assert!(matches!(
            index_txn.get(b"any"),
            Err(StoreError::WriteTxnPoisoned { .. })
        ));
        assert!(matches!(
            index_txn.commit(),
            Err(StoreError::WriteTxnPoisoned { .. })
        ));
        // LMDB refuses to commit a transaction whose write failed: nothing of it lands.
        assert!(wtxn.commit().is_err());
        assert_eq!(document(&env, documents, "doc-1"), None);
        let rtxn = env.read_txn().unwrap();
        assert!(index_db.is_empty(&rtxn).unwrap());
    }

    #[test]
    fn a_database_of_another_environment_is_an_error_not_a_panic() {
        let (one, other) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let (env, _, _) = open(one.path(), 1 << 20);
        let (_other_env, _, other_db) = open(other.path(), 1 << 20);
        let rtxn = env.read_txn().unwrap();
        assert!(matches!(
            HostReadTxn::new(&rtxn, other_db),
            Err(StoreError::Backend { .. })
        ));
        drop(rtxn);
        let mut wtxn = env.write_txn().unwrap();
        assert!(matches!(
            HostWriteTxn::new(&mut wtxn, other_db),
            Err(StoreError::Backend { .. })
        ));
    }
}

mod redb_host {
    use hannoy_storage::redb::{HostReadTxn, HostWriteTxn, RedbStore, TABLE};
    use redb::{ReadableDatabase, TableDefinition};

    use super::*;

    const DOCUMENTS: TableDefinition<&str, &str> = TableDefinition::new("documents");

    fn document(db: &redb::Database, key: &str) -> Option<String> {
        let rtxn = db.begin_read().unwrap();
        let table = match rtxn.open_table(DOCUMENTS) {
            Ok(table) => table,
            Err(redb::TableError::TableDoesNotExist(_)) => return None,
            Err(other) => panic!("{other}"),
        };
        table.get(key).unwrap().map(|v| v.value().to_owned())
    }

    #[test]
    fn a_commit_shows_both_and_an_abort_neither() {
        let dir = tempfile::tempdir().unwrap();
        let db = redb::Database::create(dir.path().join("app.redb")).unwrap();
        let (first, second, deleted) = split();
        let (after_first, after_second) = reference();

        // Aborted: neither. A table never created reads as an empty index.
        let wtxn = db.begin_write().unwrap();
        wtxn.open_table(DOCUMENTS)
            .unwrap()
            .insert("doc-1", "first")
            .unwrap();
        write_index(&mut HostWriteTxn::new(&wtxn, TABLE).unwrap(), first, &[]).unwrap();
        wtxn.abort().unwrap();
        assert_eq!(document(&db, "doc-1"), None);
        let rtxn = db.begin_read().unwrap();
        let view = HostReadTxn::new(&rtxn, TABLE).unwrap();
        assert!(matches!(answers(&view), Err(Error::MissingIndex(INDEX))));
        assert!(view.prefix(&[]).unwrap().next().is_none());
        drop(view);
        drop(rtxn);

        // Committed: both, bit for bit what a store of its own answers.
        let wtxn = db.begin_write().unwrap();
        wtxn.open_table(DOCUMENTS)
            .unwrap()
            .insert("doc-1", "first")
            .unwrap();
        {
            let mut index_txn = HostWriteTxn::new(&wtxn, TABLE).unwrap();
            write_index(&mut index_txn, first, &[]).unwrap();
            assert_eq!(answers(&index_txn).unwrap(), after_first);
            // redb opens a table once at a time per transaction.
            assert!(HostWriteTxn::new(&wtxn, TABLE).is_err());
            index_txn.commit().unwrap();
        }
        wtxn.commit().unwrap();
        assert_eq!(document(&db, "doc-1").as_deref(), Some("first"));
        let rtxn = db.begin_read().unwrap();
        assert_eq!(
            answers(&HostReadTxn::new(&rtxn, TABLE).unwrap()).unwrap(),
            after_first
        );
        drop(rtxn);

        let wtxn = db.begin_write().unwrap();
        wtxn.open_table(DOCUMENTS)
            .unwrap()
            .insert("doc-2", "second")
            .unwrap();
        write_index(
            &mut HostWriteTxn::new(&wtxn, TABLE).unwrap(),
            second,
            &deleted,
        )
        .unwrap();
        wtxn.commit().unwrap();
        assert_eq!(document(&db, "doc-2").as_deref(), Some("second"));
        let rtxn = db.begin_read().unwrap();
        assert_eq!(
            answers(&HostReadTxn::new(&rtxn, TABLE).unwrap()).unwrap(),
            after_second
        );
        drop(rtxn);

        // The same table is a RedbStore's: the store opens it and answers the same.
        let store = RedbStore::from_database(db).unwrap();
        assert_eq!(answers(&store.read_txn().unwrap()).unwrap(), after_second);
    }

    #[test]
    fn a_table_of_other_types_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let db = redb::Database::create(dir.path().join("app.redb")).unwrap();
        let wtxn = db.begin_write().unwrap();
        wtxn.open_table(DOCUMENTS)
            .unwrap()
            .insert("doc-1", "first")
            .unwrap();
        wtxn.commit().unwrap();
        let as_bytes: TableDefinition<&[u8], &[u8]> = TableDefinition::new("documents");
        let rtxn = db.begin_read().unwrap();
        assert!(HostReadTxn::new(&rtxn, as_bytes).is_err());
        let wtxn = db.begin_write().unwrap();
        assert!(HostWriteTxn::new(&wtxn, as_bytes).is_err());
    }
}
