//! `mesa rules eval classify --batch FILE.jsonl`: how often the severity rules give the
//! severity a support engineer would, on labelled tickets. Prints accuracy, the 4×4
//! confusion matrix and every dangerous miss (a true severity 1 given 3 or 4, a true 2 given
//! 4), and fails under the thresholds given.

use std::io::BufRead;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use mesa::TicketFacts;
use mesa::policy::Policy;
use serde::{Deserialize, Serialize};

/// One labelled ticket (a line of the file).
#[derive(Debug, Deserialize)]
struct Labelled {
    id: String,
    ticket: TicketFacts,
    expected: u8,
    /// Other severities a support engineer could defend for this text.
    #[serde(default)]
    acceptable: Vec<u8>,
}

#[derive(Debug, Serialize)]
struct Miss {
    id: String,
    expected: u8,
    given: u8,
    dangerous: bool,
    reason: String,
}

/// The figures of one set.
#[derive(Debug, Serialize)]
pub struct Report {
    pub set: String,
    pub total: usize,
    pub correct: usize,
    pub accuracy: f64,
    /// `matrix[expected - 1][given - 1]`.
    pub matrix: [[usize; 4]; 4],
    pub dangerous: usize,
    misses: Vec<Miss>,
}

/// A true 1 taken for a 3 or 4, or a true 2 taken for a 4: the customer would be promised
/// far less than the contract gives them.
fn dangerous(expected: u8, given: u8) -> bool {
    (expected == 1 && given >= 3) || (expected == 2 && given == 4)
}

fn evaluate(policy: &Policy, set: String, rows: &[Labelled]) -> Result<Report> {
    let mut matrix = [[0usize; 4]; 4];
    let mut misses = Vec::new();
    let mut correct = 0;
    for row in rows {
        let class = policy
            .classify(&row.ticket)
            .with_context(|| format!("classifying {}", row.id))?;
        let given = class.severity.level();
        matrix[usize::from(row.expected - 1)][usize::from(given - 1)] += 1;
        if given == row.expected || row.acceptable.contains(&given) {
            correct += 1;
        } else {
            misses.push(Miss {
                id: row.id.clone(),
                expected: row.expected,
                given,
                dangerous: dangerous(row.expected, given),
                reason: class.reason,
            });
        }
    }
    let total = rows.len();
    Ok(Report {
        set,
        total,
        correct,
        accuracy: if total == 0 {
            0.0
        } else {
            correct as f64 / total as f64
        },
        matrix,
        dangerous: misses.iter().filter(|m| m.dangerous).count(),
        misses,
    })
}

fn read(path: &Path) -> Result<Vec<Labelled>> {
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut rows = Vec::new();
    for (n, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.with_context(|| format!("{}: line {}", path.display(), n + 1))?;
        if line.trim().is_empty() {
            continue;
        }
        let row: Labelled = serde_json::from_str(&line).with_context(|| {
            format!(
                "{}: line {} is not a labelled ticket",
                path.display(),
                n + 1
            )
        })?;
        if !(1..=4).contains(&row.expected) || row.acceptable.iter().any(|a| !(1..=4).contains(a)) {
            bail!("{}: line {}: severities are 1 to 4", path.display(), n + 1);
        }
        rows.push(row);
    }
    Ok(rows)
}

fn print_report(r: &Report) {
    eprintln!(
        "\n{}: accuracy {:.1} % ({} of {}), dangerous misses {}",
        r.set,
        r.accuracy * 100.0,
        r.correct,
        r.total,
        r.dangerous
    );
    eprintln!("  expected \\ given     1     2     3     4");
    for (i, row) in r.matrix.iter().enumerate() {
        eprintln!(
            "  {}                {:>5} {:>5} {:>5} {:>5}",
            i + 1,
            row[0],
            row[1],
            row[2],
            row[3]
        );
    }
    for m in &r.misses {
        eprintln!(
            "  {} {}: expected {}, given {} — {}",
            if m.dangerous { "DANGEROUS" } else { "miss" },
            m.id,
            m.expected,
            m.given,
            m.reason
        );
    }
}

/// Evaluates each file and all of them together; `Ok(false)` when a threshold is not met.
pub fn classify_batch(
    policy: &Policy,
    files: &[PathBuf],
    min_accuracy: Option<f64>,
    max_dangerous: Option<usize>,
) -> Result<bool> {
    let mut reports = Vec::new();
    let mut all = Vec::new();
    for path in files {
        let rows = read(path)?;
        reports.push(evaluate(policy, path.display().to_string(), &rows)?);
        all.extend(rows);
    }
    if files.len() > 1 {
        reports.push(evaluate(policy, "all sets".into(), &all)?);
    }
    let mut ok = true;
    for r in &reports {
        print_report(r);
        if min_accuracy.is_some_and(|min| r.accuracy < min) {
            eprintln!(
                "  FAILED: accuracy under {:.1} %",
                min_accuracy.unwrap_or_default() * 100.0
            );
            ok = false;
        }
        if max_dangerous.is_some_and(|max| r.dangerous > max) {
            eprintln!(
                "  FAILED: more than {} dangerous misses",
                max_dangerous.unwrap_or_default()
            );
            ok = false;
        }
    }
    println!("{}", serde_json::to_string_pretty(&reports)?);
    Ok(ok)
}
