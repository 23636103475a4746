//! SIGKILL during builds, on LMDB and redb, with replay verification
//! (`hannoy_conformance::crash`).
//!
//! Each store lives through a chain of [`KILLS_PER_STORE`] kills: the `crash-writer` child
//! runs the seeded transactions, the parent kills it at a seeded moment (most often a
//! seeded delay into a build), reopens the store and compares it with a replay of the
//! same transactions on a fresh in-memory store: the transaction the store holds must be
//! the last one the child's log says committed, or the one after it when the kill landed
//! between the commit and the log write; items, vectors (bit for bit) and fixed queries'
//! results (distances bit for bit) must be equal, and `check()` must pass. The next child
//! continues from the recovered store; after the last kill of a chain, one more child runs
//! a transaction to its end.
//!
//! CI runs [`DEFAULT_KILLS`] kills per backend; the documented campaign is
//! `HANNOY_CRASH_KILLS=100 cargo test -p hannoy-conformance --test crash -- --nocapture`.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use hannoy_conformance::PersistentBackend;
use hannoy_conformance::backends::{Lmdb, Redb};
use hannoy_conformance::crash::{Sequence, State};
use hannoy_conformance::damage::env_number;
use hannoy_storage::memory::MemoryStore;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

const DEFAULT_KILLS: u64 = 5;
const DEFAULT_SEED: u64 = 0xc4a5_5eed;
const KILLS_PER_STORE: u64 = 5;
/// A child that has not been killed nor finished after this long fails the test.
const TIMEOUT: Duration = Duration::from_secs(120);

trait CrashBackend: PersistentBackend {
    const NAME: &'static str;
}

impl CrashBackend for Lmdb {
    const NAME: &'static str = "lmdb";
}

impl CrashBackend for Redb {
    const NAME: &'static str = "redb";
}

/// When the parent kills the child.
#[derive(Debug, Clone, Copy)]
enum Plan {
    /// `delay` after the child announces the build of its `nth` transaction.
    InBuild { nth: u32, delay: Duration },
    /// `delay` after the child announces the commit of its `nth` transaction.
    InCommit { nth: u32, delay: Duration },
    /// `delay` after the child starts.
    After { delay: Duration },
}

/// What the child announced last before the kill: where it landed.
fn landed(last: &str) -> &'static str {
    match last.split_once(' ').map_or(last, |(word, _)| word) {
        "begin" => "adding items",
        "build" => "building",
        "commit" => "committing",
        "committed" => "between transactions",
        _ => "opening",
    }
}

/// The child's output lines with the instant each arrived.
fn lines_of(child: &mut Child) -> mpsc::Receiver<(String, Instant)> {
    let stdout = child.stdout.take().expect("piped stdout");
    let (send, receive) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if send.send((line, Instant::now())).is_err() {
                break;
            }
        }
    });
    receive
}

fn spawn(backend: &str, work: &Path, seed: u64, transactions: u64) -> Child {
    Command::new(env!("CARGO_BIN_EXE_crash-writer"))
        .arg(backend)
        .arg(work.join("store"))
        .arg(work.join("committed.log"))
        .args([seed.to_string(), transactions.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn crash-writer")
}

fn stderr_of(child: Child) -> String {
    let output = child.wait_with_output().expect("wait for crash-writer");
    String::from_utf8_lossy(&output.stderr).trim().to_string()
}

/// Runs a child until `plan` says to kill it, kills it with SIGKILL and reaps it. Returns
/// the last line it announced, or why it ended otherwise. Updates `build_time`, the
/// duration of the last build seen.
fn run_and_kill(mut child: Child, plan: Plan, build_time: &mut Duration) -> Result<String, String> {
    let started = Instant::now();
    let lines = lines_of(&mut child);
    let mut kill_at = match plan {
        Plan::After { delay } => Some(started + delay),
        _ => None,
    };
    let (mut builds, mut commits) = (0, 0);
    let mut build_started = None;
    let mut last = String::new();
    loop {
        let wait = kill_at.map_or(TIMEOUT, |at| at.saturating_duration_since(Instant::now()));
        match lines.recv_timeout(wait) {
            Ok((line, at)) => {
                if line.starts_with("build ") {
                    builds += 1;
                    build_started = Some(at);
                    if let Plan::InBuild { nth, delay } = plan
                        && nth == builds
                    {
                        kill_at = Some(at + delay);
                    }
                } else if line.starts_with("commit ") {
                    commits += 1;
                    if let Some(start) = build_started.take() {
                        *build_time = at - start;
                    }
                    if let Plan::InCommit { nth, delay } = plan
                        && nth == commits
                    {
                        kill_at = Some(at + delay);
                    }
                }
                last = line;
            }
            Err(mpsc::RecvTimeoutError::Timeout) => break,
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                return Err(format!(
                    "the child ended before its kill, after {last:?}: {}",
                    stderr_of(child)
                ));
            }
        }
        if started.elapsed() > TIMEOUT {
            let _ = child.kill();
            return Err(format!("the child was not killed within {TIMEOUT:?}"));
        }
    }
    // Ours to end: the child we spawned, by its handle (SIGKILL on Unix).
    child.kill().expect("kill crash-writer");
    let status = child.wait().expect("reap crash-writer");
    if status.signal() != Some(9) {
        return Err(format!(
            "the child was not ended by SIGKILL: {status}: {}",
            stderr_of(child)
        ));
    }
    // Lines sent before the kill that the parent had not read yet.
    while let Ok((line, _)) = lines.try_recv() {
        last = line;
    }
    Ok(last)
}

/// The last transaction the log says committed (0 for no log): the last `committed <n>`
/// or `recovered <n>` line. Checks the lines: each
/// child's `recovered <n>` is the last logged commit or the one after it (a kill between
/// a commit and its log line), and each `committed <n>` follows the line before it. A
/// last line without its newline was cut by the kill: it does not count.
fn logged(log: &Path) -> Result<u64, String> {
    let text = match std::fs::read_to_string(log) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(format!("read the log: {e}")),
    };
    let whole = text.rfind('\n').map_or("", |end| &text[..end]);
    let (mut last_commit, mut previous) = (0, 0);
    for line in whole.lines() {
        let (word, number) = line
            .split_once(' ')
            .and_then(|(word, n)| Some((word, n.parse::<u64>().ok()?)))
            .ok_or_else(|| format!("a bad log line {line:?}"))?;
        match word {
            // A child found this transaction in the store: it committed.
            "recovered" if number == last_commit || number == last_commit + 1 => {
                last_commit = number;
            }
            "committed" if number == previous + 1 => last_commit = number,
            _ => {
                return Err(format!(
                    "{line:?} follows transaction {previous} in the log"
                ));
            }
        }
        previous = number;
    }
    Ok(last_commit)
}

/// The tally of a campaign.
#[derive(Default)]
struct Tally {
    kills: u64,
    recovered_exactly: u64,
    at_logged: u64,
    one_past_logged: u64,
    items_lost: u64,
    final_runs: u64,
    transactions: u64,
    landed: BTreeMap<&'static str, u64>,
    failures: Vec<String>,
}

/// The parent's replica: an in-memory store the same transactions are replayed on.
struct Replica {
    store: MemoryStore,
    at: u64,
}

impl Replica {
    fn advance(&mut self, sequence: &Sequence, to: u64) {
        if to > self.at {
            sequence
                .replay(&self.store, self.at + 1, to)
                .expect("replay on the memory store");
            self.at = to;
        }
    }
}

/// Reopens the store after a kill and compares it with the replay. Returns the
/// transaction it holds and the last one the log says committed.
fn verify<B: CrashBackend>(
    work: &Path,
    sequence: &Sequence,
    replica: &mut Replica,
    tally: &mut Tally,
) -> Result<(u64, u64), String> {
    let log = logged(&work.join("committed.log"))?;
    let store = B::reopen(&work.join("store"));
    let state = sequence.observe(&store)?;
    drop(store);
    let at = state.committed;
    replica.advance(sequence, log);
    let logged_items = sequence.observe(&replica.store)?.items;
    replica.advance(sequence, at);
    let expected: State = sequence.observe(&replica.store)?;
    // Items the log says were committed, not deleted by the transaction the store holds,
    // and missing from the store.
    let lost = (&(&logged_items & &expected.items) - &state.items).len();
    tally.items_lost += lost;
    if at < log || at > log + 1 {
        return Err(format!(
            "the store holds transaction {at}, the log says {log} committed ({lost} items lost)"
        ));
    }
    if replica.at != at {
        return Err(format!(
            "the store holds transaction {at}, which the replica at {} cannot be compared to \
             (a recovered store went back)",
            replica.at
        ));
    }
    if state != expected {
        return Err(format!(
            "the store at transaction {at} differs from the replay: {}",
            state.difference(&expected)
        ));
    }
    Ok((at, log))
}

fn draw_plan(rng: &mut StdRng, build_time: Duration) -> Plan {
    let nth = rng.random_range(1..=3);
    let roll = rng.random_range(0..100);
    if roll < 75 {
        let delay = build_time.mul_f64(rng.random_range(0.0..1.0));
        Plan::InBuild { nth, delay }
    } else if roll < 85 {
        let delay = Duration::from_micros(rng.random_range(0..500));
        Plan::InCommit { nth, delay }
    } else {
        let delay = Duration::from_millis(rng.random_range(0..300));
        Plan::After { delay }
    }
}

fn crash_campaign<B: CrashBackend>() {
    let kills = env_number("HANNOY_CRASH_KILLS", DEFAULT_KILLS);
    let seed = env_number("HANNOY_CRASH_SEED", DEFAULT_SEED);
    let started = Instant::now();
    let mut tally = Tally::default();
    let mut build_time = Duration::from_millis(20);
    let mut done = 0;
    let mut chain = 0;
    while done < kills {
        let work = tempfile::tempdir().expect("temporary directory");
        std::fs::create_dir(work.path().join("store")).expect("the store's directory");
        let sequence = Sequence::new(seed ^ chain);
        let mut replica = Replica {
            store: MemoryStore::new(),
            at: 0,
        };
        let mut rng = StdRng::seed_from_u64(seed.wrapping_add(chain));
        let mut broken = false;
        for _ in 0..KILLS_PER_STORE.min(kills - done) {
            let plan = draw_plan(&mut rng, build_time);
            let name = format!("{} chain {chain} kill {}: {plan:?}", B::NAME, tally.kills);
            let child = spawn(B::NAME, work.path(), seed ^ chain, 20);
            done += 1;
            let last = match run_and_kill(child, plan, &mut build_time) {
                Ok(last) => last,
                Err(e) => {
                    tally.failures.push(format!("{name}: {e}"));
                    broken = true;
                    break;
                }
            };
            tally.kills += 1;
            *tally.landed.entry(landed(&last)).or_default() += 1;
            match verify::<B>(work.path(), &sequence, &mut replica, &mut tally) {
                Ok((at, log)) => {
                    tally.recovered_exactly += 1;
                    if at == log {
                        tally.at_logged += 1;
                    } else {
                        tally.one_past_logged += 1;
                    }
                }
                Err(e) => {
                    tally
                        .failures
                        .push(format!("{name}, last said {last:?}: {e}"));
                    broken = true;
                    break;
                }
            }
        }
        if !broken {
            // The recovered store keeps working: one more transaction, run to its end.
            let before = replica.at;
            let child = spawn(B::NAME, work.path(), seed ^ chain, 1);
            let output = child.wait_with_output().expect("wait for crash-writer");
            let result = if output.status.success() {
                verify::<B>(work.path(), &sequence, &mut replica, &mut tally).and_then(
                    |(at, log)| {
                        if at == before + 1 && log == at {
                            Ok(())
                        } else {
                            Err(format!(
                                "ran transaction {} but holds {at}, the log says {log}",
                                before + 1
                            ))
                        }
                    },
                )
            } else {
                Err(format!(
                    "{}: {}",
                    output.status,
                    String::from_utf8_lossy(&output.stderr)
                ))
            };
            match result {
                Ok(()) => tally.final_runs += 1,
                Err(e) => tally
                    .failures
                    .push(format!("{} chain {chain}, final run: {e}", B::NAME)),
            }
        }
        tally.transactions += replica.at;
        chain += 1;
    }
    let landed: Vec<String> = tally
        .landed
        .iter()
        .map(|(place, n)| format!("{place} {n}"))
        .collect();
    let summary = format!(
        "crash campaign on {}, seed {seed:#x}: {} kills in {chain} stores, {:.1} s\n  \
         recovered exactly {} ({} at the logged commit, {} one past it), items lost {}, \
         transactions committed {}, final runs {}\n  kills landed: {}",
        B::NAME,
        tally.kills,
        started.elapsed().as_secs_f64(),
        tally.recovered_exactly,
        tally.at_logged,
        tally.one_past_logged,
        tally.items_lost,
        tally.transactions,
        tally.final_runs,
        landed.join(", ")
    );
    println!("{summary}");
    assert!(
        tally.failures.is_empty(),
        "{summary}\n  FAILED:\n  {}",
        tally.failures.join("\n  ")
    );
    assert_eq!(tally.kills, kills, "{summary}");
    assert_eq!(tally.recovered_exactly, kills, "{summary}");
    assert_eq!(tally.items_lost, 0, "{summary}");
    assert_eq!(tally.final_runs, chain, "{summary}");
}

#[test]
fn lmdb_survives_sigkill_during_builds() {
    crash_campaign::<Lmdb>();
}

#[test]
fn redb_survives_sigkill_during_builds() {
    crash_campaign::<Redb>();
}
