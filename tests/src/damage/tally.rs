//! The outcome of an operation under damage, and the tally of a campaign.

use std::collections::BTreeMap;
use std::fmt;

/// What one operation did under damage, compared with the undamaged index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The same result as on the undamaged index.
    Identical,
    /// A typed error (or, for `check()`, a report listing problems): the damage was noticed.
    Error(String),
    /// `Ok`, but another result than on the undamaged index: the damage went unnoticed.
    Different,
    /// A panic, with its site (`file:line`) and message.
    Panic {
        /// Where it panicked (`file:line`), or `unknown`.
        site: String,
        /// The panic message.
        message: String,
    },
}

impl Outcome {
    /// Orders outcomes from harmless to worst, to name a trial by its worst operation.
    fn severity(&self) -> u8 {
        match self {
            Outcome::Identical => 0,
            Outcome::Error(_) => 1,
            Outcome::Different => 2,
            Outcome::Panic { .. } => 3,
        }
    }

    /// The worse of two outcomes.
    pub fn worst(self, other: Outcome) -> Outcome {
        if other.severity() > self.severity() {
            other
        } else {
            self
        }
    }

    /// A short column name.
    pub fn label(&self) -> &'static str {
        match self {
            Outcome::Identical => "identical",
            Outcome::Error(_) => "typed error",
            Outcome::Different => "silent difference",
            Outcome::Panic { .. } => "panic",
        }
    }
}

/// Counts of outcomes: per trial (its worst operation), per operation, and the panic sites
/// and silently different operations by damage kind.
#[derive(Debug, Default, Clone)]
pub struct Tally {
    /// Trials run.
    pub trials: u64,
    /// Trials by their worst outcome's label.
    pub by_trial: BTreeMap<&'static str, u64>,
    /// `(operation, outcome label)` counts.
    pub by_operation: BTreeMap<(&'static str, &'static str), u64>,
    /// Panics by `site: message` (the first message seen at the site), with one trial
    /// that shows it.
    pub panics: BTreeMap<String, (u64, String)>,
    /// Silent differences by `operation / damage kind and key tag`, with one example.
    pub differences: BTreeMap<String, (u64, String)>,
    /// Typed errors by their message's first words, with a count.
    pub errors: BTreeMap<String, u64>,
}

impl Tally {
    /// Records one trial: `trial` names it (its damage), `operations` are its outcomes.
    pub fn record(&mut self, trial: &str, class: &str, operations: &[(&'static str, Outcome)]) {
        self.trials += 1;
        let worst = operations
            .iter()
            .map(|(_, outcome)| outcome.clone())
            .fold(Outcome::Identical, Outcome::worst);
        *self.by_trial.entry(worst.label()).or_default() += 1;
        for (operation, outcome) in operations {
            *self
                .by_operation
                .entry((operation, outcome.label()))
                .or_default() += 1;
            match outcome {
                Outcome::Panic { site, message } => {
                    let key = format!("{site} ({operation}): {message}");
                    let at_site = self
                        .panics
                        .keys()
                        .find(|k| k.starts_with(&format!("{site} ({operation})")))
                        .cloned()
                        .unwrap_or(key);
                    let entry = self.panics.entry(at_site).or_insert((0, trial.into()));
                    entry.0 += 1;
                }
                Outcome::Different => {
                    let entry = self
                        .differences
                        .entry(format!("{operation} / {class}"))
                        .or_insert((0, trial.into()));
                    entry.0 += 1;
                }
                Outcome::Error(message) => {
                    *self
                        .errors
                        .entry(format!("{operation}: {}", error_kind(message)))
                        .or_default() += 1;
                }
                Outcome::Identical => {}
            }
        }
    }

    /// Trials whose worst outcome was `label`.
    pub fn trials_with(&self, label: &str) -> u64 {
        self.by_trial.get(label).copied().unwrap_or(0)
    }

    /// Operations that panicked.
    pub fn panicked_operations(&self) -> u64 {
        self.by_operation
            .iter()
            .filter(|((_, label), _)| *label == "panic")
            .map(|(_, n)| n)
            .sum()
    }
}

impl fmt::Display for Tally {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{} trials, by worst operation:", self.trials)?;
        for (label, n) in &self.by_trial {
            writeln!(f, "  {label:>18}: {n}")?;
        }
        write!(f, "by operation:")?;
        let mut operation = "";
        for ((op, label), n) in &self.by_operation {
            if *op != operation {
                write!(f, "\n  {op:>10}:")?;
                operation = op;
            }
            write!(f, "  {label} {n}")?;
        }
        writeln!(f)?;
        if !self.panics.is_empty() {
            writeln!(f, "panics by site:")?;
            for (site, (n, trial)) in &self.panics {
                writeln!(f, "  {n:>4} x {site}\n         e.g. {trial}")?;
            }
        }
        if !self.differences.is_empty() {
            writeln!(f, "silent differences by operation / damage:")?;
            for (what, (n, trial)) in &self.differences {
                writeln!(f, "  {n:>4} x {what}\n         e.g. {trial}")?;
            }
        }
        if !self.errors.is_empty() {
            writeln!(f, "typed errors:")?;
            for (what, n) in &self.errors {
                writeln!(f, "  {n:>4} x {what}")?;
            }
        }
        Ok(())
    }
}

/// An error message without its numbers and key, so that errors of one kind count together.
fn error_kind(message: &str) -> String {
    let message = message.split(" (key 0x").next().unwrap_or(message);
    let mut kind = String::new();
    for c in message.chars() {
        if c.is_ascii_digit() {
            if !kind.ends_with('#') {
                kind.push('#');
            }
        } else {
            kind.push(c);
        }
    }
    kind.chars().take(90).collect()
}
