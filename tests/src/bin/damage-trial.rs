//! The child process of the damage fuzzer (`hannoy_conformance::damage`).
//!
//! - `damage-trial <lmdb|redb> <path>`: opens the store at `path` (the LMDB directory or
//!   the redb file), which may be damaged, and runs the trial operations on it. Prints one
//!   `outcome ...` line; exits 0 when every operation gave a result or a typed error, 101
//!   when one panicked. A signal ends it otherwise. Used by `tests/file_damage.rs`.
//! - `damage-trial campaign <lmdb|redb|memory> <seed> <trials>`: a value-damage campaign
//!   that survives aborts: it runs the trials in child processes (the `values` mode), and
//!   when one ends its process (a signal, a refused allocation), counts it and starts a
//!   new child after it. Prints the tally; exits 1 if any operation panicked or any trial
//!   ended its process.
//! - `damage-trial values <lmdb|redb|memory> <seed> <first> <end>`: runs trials
//!   `first..end` in this process, printing `start <n>` before and a record line after each.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, ExitCode, Stdio};

use hannoy_conformance::Backend;
use hannoy_conformance::backends::{Lmdb, Memory, Redb};
use hannoy_conformance::damage::alloc_guard::CappedAlloc;
use hannoy_conformance::damage::file::{ChildReport, last_words};
use hannoy_conformance::damage::run_trials;
use hannoy_conformance::damage::tally::{Tally, TrialRecord};
use hannoy_conformance::damage::trial::{self, Observed, Probe};
use hannoy_conformance::store_suite::fresh;
use hannoy_graph::store::KvStore;
use hannoy_storage::lmdb::LmdbStore;
use hannoy_storage::redb::RedbStore;

#[global_allocator]
static ALLOC: CappedAlloc = CappedAlloc;

const USAGE: &str = "usage: damage-trial <lmdb|redb> <path>\n       \
    damage-trial campaign <lmdb|redb|memory> <seed> <trials>\n       \
    damage-trial values <lmdb|redb|memory> <seed> <first> <end>";

fn file_trial<S: KvStore>(opened: Result<S, Observed>) -> ExitCode {
    let report = match opened {
        Err(observed) => ChildReport::new(&[("store", observed)]),
        Ok(store) => {
            let mut observed = vec![("store", Observed::Ok(0))];
            observed.extend(Probe::default().observe(&store, &trial::quiet_pool()));
            ChildReport::new(&observed)
        }
    };
    println!("{report}");
    if report.panicked() {
        ExitCode::from(101)
    } else {
        ExitCode::SUCCESS
    }
}

fn values<B: Backend>(seed: u64, first: u64, end: u64) -> ExitCode {
    let (_dir, store) = fresh::<B>();
    trial::build_fixture(&store, &trial::quiet_pool());
    let stdout = std::io::stdout();
    run_trials(
        &store,
        seed,
        first..end,
        |number, name| {
            let mut out = stdout.lock();
            let _ = writeln!(out, "start\t{number}\t{name}");
            let _ = out.flush();
        },
        |record| {
            let mut out = stdout.lock();
            let _ = writeln!(out, "{}", record.to_line());
            let _ = out.flush();
        },
    );
    ExitCode::SUCCESS
}

fn campaign(backend: &str, seed: u64, trials: u64) -> ExitCode {
    let me = std::env::current_exe().expect("the path of this program");
    let mut tally = Tally::default();
    let mut first = 0;
    let started = std::time::Instant::now();
    while first < trials {
        let mut child = Command::new(&me)
            .args(["values", backend, &seed.to_string()])
            .args([first.to_string(), trials.to_string()])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn a values child");
        let stdout = child.stdout.take().expect("piped");
        let mut running = None;
        for line in BufReader::new(stdout).lines() {
            let line = line.expect("read the child");
            if let Some(started) = line.strip_prefix("start\t") {
                running = started
                    .split_once('\t')
                    .and_then(|(n, name)| Some((n.parse::<u64>().ok()?, name.to_string())));
            } else if let Some(record) = TrialRecord::from_line(&line) {
                tally.record(&record);
                running = None;
            }
        }
        let output = child.wait_with_output().expect("wait for the child");
        if output.status.success() {
            break;
        }
        let Some((number, name)) = running else {
            let stderr = String::from_utf8_lossy(&output.stderr);
            eprintln!(
                "a values child failed outside a trial: {}\n{stderr}",
                output.status
            );
            return ExitCode::from(2);
        };
        let stderr = String::from_utf8_lossy(&output.stderr);
        let last_words = last_words(&stderr);
        let ending = match output.status.signal() {
            Some(signal) => format!("signal {signal}"),
            None => output.status.to_string(),
        };
        tally.record_abort(&name, &ending, &last_words);
        first = number + 1;
    }
    println!(
        "value damage campaign on {backend}, seed {seed}, {:.1} s:\n{tally}",
        started.elapsed().as_secs_f64()
    );
    if tally.panicked_operations() == 0 && tally.aborts.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn number(text: &str) -> Option<u64> {
    text.parse().ok()
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args.as_slice() {
        ["lmdb", path] => file_trial(trial::guarded(|| Ok(LmdbStore::open(Path::new(path))?))),
        ["redb", path] => file_trial(trial::guarded(|| Ok(RedbStore::open(Path::new(path))?))),
        [
            "campaign",
            backend @ ("lmdb" | "redb" | "memory"),
            seed,
            trials,
        ] => match (number(seed), number(trials)) {
            (Some(seed), Some(trials)) => campaign(backend, seed, trials),
            _ => {
                eprintln!("{USAGE}");
                ExitCode::from(2)
            }
        },
        ["values", backend, seed, first, end] => {
            let (Some(seed), Some(first), Some(end)) = (number(seed), number(first), number(end))
            else {
                eprintln!("{USAGE}");
                return ExitCode::from(2);
            };
            match *backend {
                "lmdb" => values::<Lmdb>(seed, first, end),
                "redb" => values::<Redb>(seed, first, end),
                "memory" => values::<Memory>(seed, first, end),
                _ => {
                    eprintln!("{USAGE}");
                    ExitCode::from(2)
                }
            }
        }
        _ => {
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
    }
}
