//! The child of the file-damage test: opens a store that may be damaged and runs the
//! trial's operations on it (`hannoy_conformance::damage::file`).
//!
//! `damage-trial <lmdb|redb> <path>`: `path` is the LMDB directory or the redb file. Prints
//! one `outcome ...` line; exits 0 when every operation gave a result or a typed error, 101
//! when one panicked, 2 on bad arguments. A signal ends it otherwise.

use std::path::Path;
use std::process::ExitCode;

use hannoy_conformance::damage::alloc_guard::CappedAlloc;
use hannoy_conformance::damage::file::ChildReport;
use hannoy_conformance::damage::trial::{self, Observed, Probe};
use hannoy_graph::store::KvStore;
use hannoy_storage::lmdb::LmdbStore;
use hannoy_storage::redb::RedbStore;

#[global_allocator]
static ALLOC: CappedAlloc = CappedAlloc;

fn run<S: KvStore>(opened: Result<S, Observed>) -> ChildReport {
    match opened {
        Err(observed) => ChildReport::new(&[("store", observed)]),
        Ok(store) => {
            let mut observed = vec![("store", Observed::Ok(0))];
            observed.extend(Probe::default().observe(&store, &trial::quiet_pool()));
            ChildReport::new(&observed)
        }
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let (backend, path) = match args.as_slice() {
        [_, backend, path] => (backend.as_str(), Path::new(path)),
        _ => {
            eprintln!("usage: damage-trial <lmdb|redb> <path>");
            return ExitCode::from(2);
        }
    };
    let report = match backend {
        "lmdb" => run(trial::guarded(|| Ok(LmdbStore::open(path)?))),
        "redb" => run(trial::guarded(|| Ok(RedbStore::open(path)?))),
        _ => {
            eprintln!("unknown backend {backend:?}: lmdb or redb");
            return ExitCode::from(2);
        }
    };
    println!("{report}");
    if report.panicked() {
        ExitCode::from(101)
    } else {
        ExitCode::SUCCESS
    }
}
