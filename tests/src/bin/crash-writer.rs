//! The child process of the crash test (`hannoy_conformance::crash`, `tests/crash.rs`).
//!
//! `crash-writer <lmdb|redb> <store directory> <log file> <seed> <transactions>` opens the
//! store (recovering it after a kill), reads which transaction it holds, appends
//! `recovered <n>` to the log file, and runs the next `transactions` of the seeded
//! sequence. After each commit it appends `committed <n>` to the log file and syncs it. On stdout it announces each step before
//! taking it (`recovered <n>`, `begin <n>`, `build <n>`, `commit <n>`, `committed <n>`), so
//! the parent can time its SIGKILL. Exits 0 after the last transaction, 1 on an error.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use hannoy_conformance::PersistentBackend;
use hannoy_conformance::backends::{Lmdb, Redb};
use hannoy_conformance::crash::Sequence;
use hannoy_graph::store::{KvStore, WriteTxn};

const USAGE: &str =
    "usage: crash-writer <lmdb|redb> <store directory> <log file> <seed> <transactions>";

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

fn run<B: PersistentBackend>(dir: &Path, log: &Path, seed: u64, count: u64) -> Result<(), String> {
    let store = B::reopen(dir);
    let sequence = Sequence::new(seed);
    let start = {
        let rtxn = store.read_txn().map_err(|e| e.to_string())?;
        sequence.committed(&rtxn).map_err(|e| e.to_string())?
    };
    say(&format!("recovered {start}"));
    let mut log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .map_err(|e| format!("open the log: {e}"))?;
    log.write_all(format!("recovered {start}\n").as_bytes())
        .and_then(|()| log.sync_data())
        .map_err(|e| format!("write the log: {e}"))?;
    for number in start + 1..=start + count {
        say(&format!("begin {number}"));
        let mut wtxn = store.write_txn().map_err(|e| e.to_string())?;
        sequence
            .apply(&mut wtxn, number, || say(&format!("build {number}")))
            .map_err(|e| format!("transaction {number}: {e}"))?;
        say(&format!("commit {number}"));
        wtxn.commit().map_err(|e| e.to_string())?;
        // One write of the whole line: a kill leaves it whole or absent, never torn in
        // the middle of the number (the parent still ignores a last line with no newline).
        log.write_all(format!("committed {number}\n").as_bytes())
            .map_err(|e| format!("write the log: {e}"))?;
        log.sync_data().map_err(|e| format!("sync the log: {e}"))?;
        say(&format!("committed {number}"));
    }
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [backend, dir, log, seed, count] = args.as_slice() else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let (Ok(seed), Ok(count)) = (seed.parse(), count.parse()) else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let (dir, log) = (Path::new(dir), Path::new(log));
    let result = match backend.as_str() {
        "lmdb" => run::<Lmdb>(dir, log, seed, count),
        "redb" => run::<Redb>(dir, log, seed, count),
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("crash-writer: {error}");
            ExitCode::from(1)
        }
    }
}
