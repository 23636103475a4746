//! File-level damage to LMDB and redb stores, each trial judged by the `damage-trial` child
//! process so that a signal is counted, not fatal (`hannoy_conformance::damage::file`).

use std::collections::BTreeMap;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use hannoy_conformance::Backend;
use hannoy_conformance::backends::{Lmdb, Redb};
use hannoy_conformance::damage::file::{
    ChildReport, DEFAULT_FILE_TRIALS, FileDamage, copy_dir, last_words, trial_rng,
    write_future_version,
};
use hannoy_conformance::damage::trial::{build_fixture, quiet_pool};
use hannoy_conformance::damage::{DEFAULT_SEED, env_number};
use hannoy_graph::format::FORMAT_VERSION;

/// A child that runs longer than this is killed and counted as hung.
const TIMEOUT: Duration = Duration::from_secs(60);

/// How a backend keeps its store: the name the child takes, and the path it opens and the
/// file damaged, relative to the store's directory.
trait FileBackend: Backend {
    const NAME: &'static str;
    /// What the child opens, in the store's directory.
    fn open_path(dir: &Path) -> PathBuf;
    /// The database file to damage.
    fn data_file(dir: &Path) -> PathBuf;
}

impl FileBackend for Lmdb {
    const NAME: &'static str = "lmdb";
    fn open_path(dir: &Path) -> PathBuf {
        dir.to_path_buf()
    }
    fn data_file(dir: &Path) -> PathBuf {
        dir.join("data.mdb")
    }
}

impl FileBackend for Redb {
    const NAME: &'static str = "redb";
    fn open_path(dir: &Path) -> PathBuf {
        dir.join("store.redb")
    }
    fn data_file(dir: &Path) -> PathBuf {
        dir.join("store.redb")
    }
}

/// How a child ended.
enum Ending {
    /// Exit 0 with its report.
    Report(ChildReport),
    /// Exit 101: a panic.
    Panic(String),
    /// Killed by this signal.
    Signal(i32, String),
    /// Ran past [`TIMEOUT`].
    Hung,
    /// Another exit code, or no report line.
    Other(String),
}

impl std::fmt::Display for Ending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Ending::Report(report) => write!(f, "{report}"),
            Ending::Panic(detail) => write!(f, "panic: {detail}"),
            Ending::Signal(signal, stderr) => {
                write!(f, "{} ({signal}): {stderr}", signal_name(*signal))
            }
            Ending::Hung => write!(f, "still running after {TIMEOUT:?}"),
            Ending::Other(detail) => write!(f, "{detail}"),
        }
    }
}

fn run_child<B: FileBackend>(dir: &Path) -> Ending {
    let mut child = Command::new(env!("CARGO_BIN_EXE_damage-trial"))
        .arg(B::NAME)
        .arg(B::open_path(dir))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn damage-trial");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for damage-trial") {
            break status;
        }
        if started.elapsed() > TIMEOUT {
            // Ours to end: the child we spawned, by its handle.
            let _ = child.kill();
            let _ = child.wait();
            return Ending::Hung;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let output = child
        .wait_with_output()
        .expect("read damage-trial's output");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let report = stdout.lines().find_map(ChildReport::parse);
    let last_stderr = last_words(&stderr);
    match (status.code(), status.signal(), report) {
        (Some(0), _, Some(report)) => Ending::Report(report),
        (Some(101), _, report) => Ending::Panic(match report {
            Some(report) => report.detail,
            None => stderr
                .lines()
                .find(|l| l.contains("panicked at"))
                .unwrap_or(&last_stderr)
                .to_string(),
        }),
        (_, Some(signal), _) => Ending::Signal(signal, last_stderr),
        (code, _, _) => Ending::Other(format!("exit {code:?}: {stdout} {last_stderr}")),
    }
}

fn signal_name(signal: i32) -> &'static str {
    match signal {
        6 => "SIGABRT",
        7 => "SIGBUS",
        9 => "SIGKILL",
        11 => "SIGSEGV",
        _ => "another signal",
    }
}

/// Builds a store of backend `B`, then damages a copy of its file per trial and judges the
/// child on it: no trial may end in a panic, a signal, a hang or an unexpected exit; a
/// future format version must be a typed error.
fn file_damage_is_survived<B: FileBackend>() {
    let trials = env_number("HANNOY_FILE_DAMAGE_TRIALS", DEFAULT_FILE_TRIALS);
    let seed = env_number("HANNOY_DAMAGE_SEED", DEFAULT_SEED);
    let keep = std::env::var_os("HANNOY_FILE_DAMAGE_KEEP").is_some();
    let work = tempfile::tempdir().expect("temporary directory");
    let base = work.path().join("base");
    std::fs::create_dir(&base).unwrap();
    {
        let store = B::create(&base);
        build_fixture(&store, &quiet_pool());
    }

    let started = Instant::now();
    let undamaged = work.path().join("undamaged");
    copy_dir(&base, &undamaged).unwrap();
    let baseline = match run_child::<B>(&undamaged) {
        Ending::Report(report) => report,
        other => panic!("the undamaged store fails in the child: {other}"),
    };
    assert!(
        baseline.operations.len() == 7
            && baseline
                .operations
                .iter()
                .all(|(_, t)| t.starts_with("ok:")),
        "the undamaged store does not give every result: {baseline}"
    );

    let mut tally: BTreeMap<String, u64> = BTreeMap::new();
    let mut bad: Vec<String> = Vec::new();
    let mut examples: BTreeMap<String, String> = BTreeMap::new();
    let only = std::env::var("HANNOY_FILE_DAMAGE_ONLY").ok().map(|n| {
        n.parse::<u64>()
            .expect("HANNOY_FILE_DAMAGE_ONLY is a trial number")
    });
    for trial in only.map_or(0..trials, |n| n..n + 1) {
        let mut rng = trial_rng(seed, trial);
        let kind = FileDamage::ALL[trial as usize % FileDamage::ALL.len()];
        let copy = work.path().join(format!("trial-{trial}"));
        copy_dir(&base, &copy).unwrap();
        if kind == FileDamage::FutureVersion {
            write_future_version(&B::create(&copy));
        }
        let what = kind.apply(&B::data_file(&copy), &mut rng).unwrap();
        let name = format!("{} trial {trial} of seed {seed}: {kind:?}, {what}", B::NAME);
        let ending = run_child::<B>(&copy);
        let (class, fatal) = match &ending {
            Ending::Report(report) if report.operations == baseline.operations => {
                ("identical".to_string(), false)
            }
            Ending::Report(report) if report.operations.iter().any(|(_, t)| t == "err") => {
                ("typed error".to_string(), false)
            }
            Ending::Report(_) => ("silent difference".to_string(), false),
            Ending::Panic(_) => ("panic".to_string(), true),
            Ending::Signal(signal, _) => (signal_name(*signal).to_string(), true),
            Ending::Hung => ("hung".to_string(), true),
            Ending::Other(_) => ("other exit".to_string(), true),
        };
        if kind == FileDamage::FutureVersion {
            let expected = format!("format version {} is not supported", FORMAT_VERSION + 1);
            let refused = matches!(&ending, Ending::Report(r) if r.detail.contains(&expected));
            assert!(refused, "{name}: not refused with a typed error: {ending}");
        }
        *tally.entry(format!("{class:>17} / {kind:?}")).or_default() += 1;
        if fatal {
            let mut line = format!("{name}\n      -> {ending}");
            if keep {
                line.push_str(&format!("\n      kept at {}", copy.display()));
            }
            bad.push(line);
        } else if class != "identical"
            && let Ending::Report(report) = &ending
        {
            let differing: Vec<&str> = report
                .operations
                .iter()
                .zip(&baseline.operations)
                .filter(|(a, b)| a != b)
                .map(|((op, _), _)| op.as_str())
                .collect();
            examples
                .entry(format!("{class} / {kind:?}"))
                .or_insert_with(|| format!("{name}: {differing:?} differ. {}", report.detail));
        }
        if !(fatal && keep) {
            std::fs::remove_dir_all(&copy).unwrap();
        }
    }
    if keep {
        // Leave the kept copies for replay.
        let kept = work.keep();
        eprintln!("damaged copies kept in {}", kept.display());
    }
    let mut summary = format!(
        "file damage on {}: {} trials of seed {seed} in {:.1} s\n",
        B::NAME,
        tally.values().sum::<u64>(),
        started.elapsed().as_secs_f64()
    );
    for (class, n) in &tally {
        summary.push_str(&format!("  {class}: {n}\n"));
    }
    for (class, example) in &examples {
        summary.push_str(&format!("  e.g. {class}: {example}\n"));
    }
    for line in &bad {
        summary.push_str(&format!("  FATAL {line}\n"));
    }
    if bad.is_empty() {
        println!("{summary}");
    }
    assert!(
        bad.is_empty(),
        "{} trials ended in a panic, a signal, a hang or an unexpected exit:\n{summary}",
        bad.len()
    );
}

#[test]
fn lmdb_file_damage_is_survived() {
    file_damage_is_survived::<Lmdb>();
}

#[test]
fn redb_file_damage_is_survived() {
    file_damage_is_survived::<Redb>();
}

/// The campaign mode of `damage-trial` runs every trial it is asked for, in child
/// processes, and prints the tally (a trial that ends its process is counted and the
/// campaign goes on after it).
#[test]
fn value_campaign_in_children_runs_every_trial() {
    let output = Command::new(env!("CARGO_BIN_EXE_damage-trial"))
        .args(["campaign", "memory", &DEFAULT_SEED.to_string(), "40"])
        .output()
        .expect("run damage-trial campaign");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        matches!(output.status.code(), Some(0 | 1)),
        "{}: {stdout}{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("40 trials, by worst operation"), "{stdout}");
}
