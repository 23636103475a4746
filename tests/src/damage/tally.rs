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
    /// Trials by their worst outcome's label (`process abort` for a trial that ended its
    /// process, in a campaign run in child processes).
    pub by_trial: BTreeMap<String, u64>,
    /// `(operation, outcome label)` counts.
    pub by_operation: BTreeMap<(String, String), u64>,
    /// Panics by `site: message` (the first message seen at the site), with one trial
    /// that shows it.
    pub panics: BTreeMap<String, (u64, String)>,
    /// Silent differences by `operation / damage kind and key tag`, with one example.
    pub differences: BTreeMap<String, (u64, String)>,
    /// Typed errors by their message's first words, with a count.
    pub errors: BTreeMap<String, u64>,
    /// Trials that ended their process, by why, with one example.
    pub aborts: BTreeMap<String, (u64, String)>,
}

/// One trial's outcomes: what [`Tally::record`] takes, and what a campaign's child process
/// prints as one line ([`TrialRecord::to_line`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrialRecord {
    /// The trial's number in its seed.
    pub number: u64,
    /// The trial, in words (its damage).
    pub name: String,
    /// The damage kind and key class, for grouping silent differences.
    pub class: String,
    /// Each operation's outcome.
    pub outcomes: Vec<(String, Outcome)>,
}

fn clean(text: &str) -> String {
    text.replace(['\t', '\n'], " ")
}

impl TrialRecord {
    /// One tab-separated line: `trial`, number, name, class, then `op=outcome` fields.
    pub fn to_line(&self) -> String {
        let mut line = format!(
            "trial\t{}\t{}\t{}",
            self.number,
            clean(&self.name),
            clean(&self.class)
        );
        for (op, outcome) in &self.outcomes {
            let outcome = match outcome {
                Outcome::Identical => "identical".to_string(),
                Outcome::Different => "different".to_string(),
                Outcome::Error(e) => format!("error:{}", clean(e)),
                Outcome::Panic { site, message } => {
                    format!("panic:{}|{}", clean(site), clean(message))
                }
            };
            line.push_str(&format!("\t{op}={outcome}"));
        }
        line
    }

    /// Parses a line of [`to_line`](Self::to_line).
    pub fn from_line(line: &str) -> Option<TrialRecord> {
        let mut fields = line.split('\t');
        if fields.next()? != "trial" {
            return None;
        }
        let number = fields.next()?.parse().ok()?;
        let name = fields.next()?.to_string();
        let class = fields.next()?.to_string();
        let outcomes = fields
            .map(|field| {
                let (op, outcome) = field.split_once('=')?;
                let outcome = match outcome {
                    "identical" => Outcome::Identical,
                    "different" => Outcome::Different,
                    _ => {
                        if let Some(e) = outcome.strip_prefix("error:") {
                            Outcome::Error(e.into())
                        } else {
                            let (site, message) =
                                outcome.strip_prefix("panic:")?.split_once('|')?;
                            Outcome::Panic {
                                site: site.into(),
                                message: message.into(),
                            }
                        }
                    }
                };
                Some((op.to_string(), outcome))
            })
            .collect::<Option<Vec<_>>>()?;
        Some(TrialRecord {
            number,
            name,
            class,
            outcomes,
        })
    }
}

impl Tally {
    /// Records one trial.
    pub fn record(&mut self, record: &TrialRecord) {
        let TrialRecord {
            name: trial,
            class,
            outcomes: operations,
            ..
        } = record;
        self.trials += 1;
        let worst = operations
            .iter()
            .map(|(_, outcome)| outcome.clone())
            .fold(Outcome::Identical, Outcome::worst);
        *self.by_trial.entry(worst.label().into()).or_default() += 1;
        for (operation, outcome) in operations {
            *self
                .by_operation
                .entry((operation.clone(), outcome.label().into()))
                .or_default() += 1;
            match outcome {
                Outcome::Panic { site, message } => {
                    let at_site = format!("{site} ({operation})");
                    let key = self
                        .panics
                        .keys()
                        .find(|k| k.starts_with(&at_site))
                        .cloned()
                        .unwrap_or_else(|| format!("{at_site}: {message}"));
                    let entry = self.panics.entry(key).or_insert((0, trial.clone()));
                    entry.0 += 1;
                }
                Outcome::Different => {
                    let entry = self
                        .differences
                        .entry(format!("{operation} / {class}"))
                        .or_insert((0, trial.clone()));
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

    /// Records a trial that ended its process: `ending` is how (`signal 6`), `last_words`
    /// what it printed last (an abort's reason).
    pub fn record_abort(&mut self, trial: &str, ending: &str, last_words: &str) {
        self.trials += 1;
        *self.by_trial.entry("process abort".into()).or_default() += 1;
        let entry = self
            .aborts
            .entry(format!("{ending}: {}", error_kind(last_words)))
            .or_insert((0, trial.into()));
        entry.0 += 1;
    }

    /// Trials whose worst outcome was `label`.
    pub fn trials_with(&self, label: &str) -> u64 {
        self.by_trial.get(label).copied().unwrap_or(0)
    }

    /// Operations (of any trial) whose outcome was `label`.
    pub fn operations_with(&self, label: &str) -> u64 {
        self.by_operation
            .iter()
            .filter(|((_, outcome), _)| outcome == label)
            .map(|(_, n)| n)
            .sum()
    }

    /// Operations that panicked.
    pub fn panicked_operations(&self) -> u64 {
        self.by_operation
            .iter()
            .filter(|((_, label), _)| label == "panic")
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
            if op != operation {
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
        if !self.aborts.is_empty() {
            writeln!(f, "trials that ended their process:")?;
            for (why, (n, trial)) in &self.aborts {
                writeln!(f, "  {n:>4} x {why}\n         e.g. {trial}")?;
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
    let mut quoted = false;
    for c in message.chars() {
        if c == '"' {
            quoted = !quoted;
            if quoted {
                kind.push_str("\"…");
            } else {
                kind.push('"');
            }
        } else if quoted {
        } else if c.is_ascii_digit() {
            if !kind.ends_with('#') {
                kind.push('#');
            }
        } else {
            kind.push(c);
        }
    }
    kind.chars().take(90).collect()
}
