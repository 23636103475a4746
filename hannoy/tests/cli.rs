//! The `hannoy` command-line tool (feature `cli`), run as a user would: build, search,
//! check and stats on LMDB and redb, import from hannoy 0.3, and bad input as a message and
//! exit status 1 (never a panic).
#![cfg(feature = "cli")]

use std::path::Path;
use std::process::{Command, Output};

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

const DIMS: usize = 8;

fn hannoy(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hannoy"))
        .args(args)
        .output()
        .expect("run the hannoy binary")
}

fn stdout(output: &Output) -> String {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn rows(n: usize, seed: u64) -> Vec<Vec<f32>> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..n)
        .map(|_| (0..DIMS).map(|_| rng.random_range(-1.0f32..1.0)).collect())
        .collect()
}

fn write_fvecs(path: &Path, rows: &[Vec<f32>]) {
    let mut bytes = Vec::new();
    for row in rows {
        bytes.extend_from_slice(&(row.len() as u32).to_le_bytes());
        row.iter()
            .for_each(|x| bytes.extend_from_slice(&x.to_le_bytes()));
    }
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn build_search_check_and_stats_on_each_backend() {
    let temp = tempfile::tempdir().unwrap();
    let input = temp.path().join("base.fvecs");
    let vectors = rows(300, 1);
    write_fvecs(&input, &vectors);
    let input = input.to_str().unwrap();
    for (backend, db) in [("lmdb", "db-lmdb"), ("redb", "db.redb")] {
        let db = temp.path().join(db);
        let db = db.to_str().unwrap();
        let common = ["--db", db, "--backend", backend, "--metric", "euclidean"];
        let built = hannoy(
            &[
                &["build"],
                &common[..],
                &["--input", input, "--threads", "1"],
            ]
            .concat(),
        );
        assert!(stdout(&built).contains("300 inserted"));
        let found = stdout(&hannoy(
            &[&["search"], &common[..], &["--queries", input, "-k", "3"]].concat(),
        ));
        let lines: Vec<&str> = found.lines().collect();
        assert_eq!(lines.len(), 300);
        for (i, line) in lines.iter().enumerate() {
            assert!(line.starts_with(&format!("{i}:0 ")), "query {i}: {line}");
            assert_eq!(line.split(' ').count(), 3);
        }
        let checked = stdout(&hannoy(&[&["check"], &common[..]].concat()));
        assert!(
            checked.contains("300 nodes") && checked.contains("valid"),
            "{checked}"
        );
        let stats = stdout(&hannoy(&[&["stats"], &common[..]].concat()));
        assert!(stats.contains("items        300"), "{stats}");
        assert!(stats.contains(&format!("{DIMS} dimensions")), "{stats}");

        // Bad input: a message and status 1, no panic (101), nothing changed.
        let wrong_metric = hannoy(&[
            "check",
            "--db",
            db,
            "--backend",
            backend,
            "--metric",
            "cosine",
        ]);
        assert_eq!(wrong_metric.status.code(), Some(1));
        assert!(String::from_utf8_lossy(&wrong_metric.stderr).contains("metric"));
    }
    let bad = temp.path().join("bad.fvecs");
    std::fs::write(&bad, [1, 2, 3]).unwrap();
    let db = temp.path().join("db-lmdb");
    let output = hannoy(&[
        "build",
        "--db",
        db.to_str().unwrap(),
        "--metric",
        "euclidean",
        "--input",
        bad.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("fvecs"));
    let output = hannoy(&["stats", "--db", db.to_str().unwrap(), "--metric", "nope"]);
    assert_eq!(output.status.code(), Some(1));
}

#[test]
fn import_from_hannoy_0_3() {
    let temp = tempfile::tempdir().unwrap();
    let old = temp.path().join("old");
    std::fs::create_dir_all(&old).unwrap();
    let vectors = rows(120, 2);
    {
        let mut options = heed::EnvOpenOptions::new().read_txn_without_tls();
        options.map_size(64 << 20);
        // SAFETY: the test's own fresh directory, closed before the binary opens it.
        let env = unsafe { options.open(&old).unwrap() };
        let db: hannoy_0_3::Database<hannoy_0_3::distances::Cosine> = env
            .create_databases_and_commit(env.write_txn().unwrap(), |opener, wtxn| {
                let db = opener.create_database(wtxn, None)?;
                Ok::<_, heed::Error>(heed::CommitOrAbort::<_, ()>::Commit(db))
            })
            .unwrap()
            .unwrap_commit();
        let writer = hannoy_0_3::Writer::new(db, 0, DIMS);
        let mut wtxn = env.write_txn().unwrap();
        for (id, vector) in vectors.iter().enumerate() {
            writer.add_item(&mut wtxn, id as u32 * 2, vector).unwrap();
        }
        let mut rng = StdRng::seed_from_u64(0);
        writer.builder(&mut rng).build::<16, 32>(&mut wtxn).unwrap();
        wtxn.commit().unwrap();
        env.prepare_for_closing().wait();
    }
    let db = temp.path().join("new");
    let db = db.to_str().unwrap();
    let args = [
        "import",
        "--db",
        db,
        "--metric",
        "cosine",
        "--from",
        old.to_str().unwrap(),
        "--source",
        "hannoy",
        "--dimensions",
        "8",
    ];
    assert!(stdout(&hannoy(&args)).contains("imported 120 items"));
    let stats = stdout(&hannoy(&["stats", "--db", db, "--metric", "cosine"]));
    assert!(stats.contains("items        120"), "{stats}");
    // A metric the source crate has no counterpart of here.
    let mut dot = args;
    dot[4] = "dot";
    assert_eq!(hannoy(&dot).status.code(), Some(1));
}
