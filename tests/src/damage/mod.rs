//! The damage fuzzer: what the index does when the bytes it reads are not the bytes it
//! wrote.
//!
//! - [`store::DamagedStore`] wraps a store; its transactions damage one value (the trial's
//!   target, drawn among the index's keys) as it is read: bit flips, truncation, extension,
//!   random bytes, or another key's value ([`mutate::Kind`]), seeded and the same at every
//!   read.
//! - [`trial::Probe::observe`] runs the operations of a trial on it, each under
//!   `catch_unwind`: `Reader::open`, searches (plain; with candidates, by graph and by
//!   scan), iteration of the items, `check()`, and on a write transaction (dropped
//!   afterwards) adds, a replacement, a delete and a build.
//! - [`tally::Tally`] sorts each operation's outcome against the undamaged index:
//!   identical, typed error, silent difference (`Ok` but another result) or panic (with its
//!   site), and prints the counts.
//!
//! The index (a few hundred items, every key kind present) is built once per backend and
//! shared by every trial: the wrapper never writes to it.
//!
//! # Running a campaign
//!
//! The conformance test `<backend>::value_damage_never_panics` runs a seeded sample
//! ([`DEFAULT_TRIALS`] trials, seed [`DEFAULT_SEED`]) and fails on any panic. The same code
//! runs a long campaign:
//!
//! ```text
//! HANNOY_DAMAGE_TRIALS=20000 HANNOY_DAMAGE_SEED=7 \
//!     cargo test -p hannoy-conformance --test backends value_damage -- --nocapture
//! ```
//!
//! `HANNOY_DAMAGE_VERBOSE=1` prints each trial before it runs: a process abort (for
//! example an allocation refused by [`alloc_guard`]) then names its trial.
//! `HANNOY_DAMAGE_ONLY=<n>` runs trial `n` of the seed alone.
//!
//! A trial that aborts the process ends an in-process campaign. The `damage-trial`
//! binary runs the same trials in child processes, counts such a trial and goes on after
//! it (the test profile keeps overflow checks on, as the suite runs):
//!
//! ```text
//! cargo run --profile test -p hannoy-conformance --bin damage-trial -- \
//!     campaign <lmdb|redb|memory> <seed> <trials>
//! ```
//!
//! File-level damage (LMDB and redb files, with child processes so that a signal is
//! counted) is in [`mod@file`] and `tests/tests/file_damage.rs`.

pub mod alloc_guard;
pub mod file;
pub mod mutate;
pub mod store;
pub mod tally;
pub mod trial;

use std::ops::Range;

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use hannoy_graph::store::KvStore;

use crate::Backend;
use crate::store_suite::fresh;
use mutate::{Damage, Kind};
use store::DamagedStore;
use tally::{Outcome, Tally, TrialRecord};
use trial::{Observed, Probe};

/// Trials of the CI sample, per backend.
pub const DEFAULT_TRIALS: u64 = 1000;
/// Seed of the CI sample.
pub const DEFAULT_SEED: u64 = 20_261_130;

/// A number from the environment variable `name`, or `default`.
///
/// # Panics
/// If the variable is set but is not a number.
pub fn env_number(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(text) => text
            .parse()
            .unwrap_or_else(|_| panic!("{name}={text} is not a number")),
        Err(_) => default,
    }
}

/// Draws one damage among `keys` (with their classes): a class first, then a key of it
/// (so the few metadata and bitmap keys are hit as often as the many slot keys), a kind,
/// a donor key and a seed.
pub fn draw_damage(rng: &mut StdRng, keys: &[(&'static str, Vec<u8>)]) -> (&'static str, Damage) {
    let mut classes: Vec<&'static str> = keys.iter().map(|(class, _)| *class).collect();
    classes.dedup();
    let class = classes[rng.random_range(0..classes.len())];
    let of_class: Vec<&Vec<u8>> = keys
        .iter()
        .filter(|(c, _)| *c == class)
        .map(|(_, key)| key)
        .collect();
    let key = of_class[rng.random_range(0..of_class.len())].clone();
    let kind = Kind::ALL[rng.random_range(0..Kind::ALL.len())];
    let donor = (kind == Kind::Donor).then(|| {
        let others: Vec<&Vec<u8>> = keys.iter().map(|(_, k)| k).filter(|k| **k != key).collect();
        others[rng.random_range(0..others.len())].clone()
    });
    let damage = Damage {
        key,
        kind,
        donor,
        seed: rng.random(),
    };
    (class, damage)
}

/// Compares what an operation gave under damage with what it gave undamaged.
pub fn compare(damaged: &Observed, baseline: &Observed) -> Outcome {
    match (damaged, baseline) {
        (Observed::Panic { site, message }, _) => Outcome::Panic {
            site: site.clone(),
            message: message.clone(),
        },
        (Observed::Error(e), _) => Outcome::Error(e.clone()),
        (Observed::Ok(a), Observed::Ok(b)) if a == b => Outcome::Identical,
        (Observed::Ok(_), _) => Outcome::Different,
    }
}

/// Runs the value-damage trials numbered `trials` drawn from `seed` on `store` (which holds
/// the [`trial::build_fixture`] index): `on_start` is called before each (with its name),
/// `on_done` after, with its record.
///
/// # Panics
/// If the undamaged index does not give the same `Ok` results twice.
pub fn run_trials<S: KvStore>(
    store: &S,
    seed: u64,
    trials: Range<u64>,
    mut on_start: impl FnMut(u64, &str),
    mut on_done: impl FnMut(&TrialRecord),
) {
    let pool = trial::quiet_pool();
    let probe = Probe::default();
    let baseline = probe.observe(&DamagedStore::new(store, None), &pool);
    assert!(
        baseline.iter().all(|(_, o)| matches!(o, Observed::Ok(_))),
        "the undamaged index fails: {baseline:?}"
    );
    assert_eq!(baseline.len(), 6, "every operation ran: {baseline:?}");
    assert_eq!(
        baseline,
        probe.observe(&DamagedStore::new(store, None), &pool),
        "the undamaged index gives other results the second time"
    );
    let keys = trial::index_keys(&store.read_txn().expect("read txn"));

    // Every trial's draw is made, run or not, so trial n is the same in any range.
    let mut rng = StdRng::seed_from_u64(seed);
    for number in 0..trials.end {
        let (class, damage) = draw_damage(&mut rng, &keys);
        if number < trials.start {
            continue;
        }
        let name = format!("trial {number} of seed {seed}: {damage} [{class}]");
        on_start(number, &name);
        let kind = damage.kind;
        let observed = probe.observe(&DamagedStore::new(store, Some(damage)), &pool);
        let outcomes = observed
            .iter()
            .map(|(operation, seen)| {
                let base = &baseline
                    .iter()
                    .find(|(op, _)| op == operation)
                    .expect("ran")
                    .1;
                (operation.to_string(), compare(seen, base))
            })
            .collect();
        on_done(&TrialRecord {
            number,
            name,
            class: format!("{kind:?} {class}"),
            outcomes,
        });
    }
}

/// Runs `trials` on a fresh store of backend `B` holding the trial index (codes-only when
/// `codes_only`), and tallies them.
pub fn campaign<B: Backend>(
    seed: u64,
    trials: Range<u64>,
    verbose: bool,
    codes_only: bool,
) -> Tally {
    let (_dir, store) = fresh::<B>();
    trial::build_fixture_with(&store, &trial::quiet_pool(), codes_only);
    let mut tally = Tally::default();
    run_trials(
        &store,
        seed,
        trials,
        |_, name| {
            if verbose {
                eprintln!("{name}");
            }
        },
        |record| tally.record(record),
    );
    tally
}

/// Damages one stored value per trial, on a seeded sample of trials (see the module docs
/// for a long campaign): no operation may panic. Typed errors and silent differences are
/// counted and printed, not failed: a flipped bit in a vector is not detectable.
pub fn value_damage_never_panics<B: Backend>() {
    let trials = env_number("HANNOY_DAMAGE_TRIALS", DEFAULT_TRIALS);
    let seed = env_number("HANNOY_DAMAGE_SEED", DEFAULT_SEED);
    let only = std::env::var("HANNOY_DAMAGE_ONLY").ok().map(|n| {
        n.parse::<u64>()
            .expect("HANNOY_DAMAGE_ONLY is a trial number")
    });
    let range = only.map_or(0..trials, |n| n..n + 1);
    let verbose = std::env::var_os("HANNOY_DAMAGE_VERBOSE").is_some();
    let started = std::time::Instant::now();
    let tally = campaign::<B>(seed, range, verbose, false);
    println!(
        "value damage on {}, {:.1} s:\n{tally}",
        std::any::type_name::<B>(),
        started.elapsed().as_secs_f64()
    );
    assert_sample_is_telling(&tally, only.is_none());
}

/// Trials of the CI sample on a codes-only index, per backend.
pub const CODES_ONLY_TRIALS: u64 = 300;

/// [`value_damage_never_panics`] on a codes-only index (sq8 codes and no vectors: the
/// codes are decoded into the vectors that builds link against), on a smaller sample
/// (`HANNOY_DAMAGE_TRIALS` sets it too).
pub fn codes_only_value_damage_never_panics<B: Backend>() {
    let trials = env_number("HANNOY_DAMAGE_TRIALS", CODES_ONLY_TRIALS);
    let seed = env_number("HANNOY_DAMAGE_SEED", DEFAULT_SEED);
    let started = std::time::Instant::now();
    let tally = campaign::<B>(seed, 0..trials, false, true);
    println!(
        "value damage on a codes-only index on {}, {:.1} s:\n{tally}",
        std::any::type_name::<B>(),
        started.elapsed().as_secs_f64()
    );
    assert_sample_is_telling(&tally, true);
}

/// Fails on any panic; on a whole sample (`whole`), also when it reached no typed error
/// or no identical operation.
fn assert_sample_is_telling(tally: &Tally, whole: bool) {
    // The sample must reach the outcomes it tells apart, or it proves little: errors
    // (damage noticed), and identical results of operations that do not read the damaged
    // value. (Whole trials are rarely identical: with checksums, the build that reads
    // every chunk notices any damage.)
    if whole {
        assert!(tally.trials_with("typed error") > 0, "{tally}");
        assert!(tally.operations_with("identical") > 0, "{tally}");
    }
    assert_eq!(
        tally.panicked_operations(),
        0,
        "operations panicked:\n{tally}"
    );
}
