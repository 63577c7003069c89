//! `mesa rules replay`: what a candidate bundle would change on this machine's tickets (or,
//! with `--table`, on the stack's DynamoDB table), before anyone publishes it. Nothing is
//! written.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use chrono::{Duration, NaiveDate};
use clap::Args;
use mesa::Policy;
use mesa::replay::Replay;
use mesa::stats::Period;

use crate::local::{DataArg, open_existing};
use crate::rules_source::{self, RulesSource};

/// How the replay is printed.
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum ReplayFormat {
    Table,
    Json,
}

#[derive(Args)]
pub struct ReplayArgs {
    /// The rules in force [default: ./rules if present, else the built-in bundle]; the
    /// candidate is the bundle given with --rules
    #[arg(long, value_name = "DIR")]
    pub current: Option<PathBuf>,
    /// First day of the period (YYYY-MM-DD, in the calendar's time zone) [default: 29 days
    /// before --to]
    #[arg(long)]
    pub from: Option<NaiveDate>,
    /// Last day of the period, included [default: today]
    #[arg(long)]
    pub to: Option<NaiveDate>,
    #[arg(long, value_enum, default_value = "table")]
    pub format: ReplayFormat,
    /// Replay on the stack's DynamoDB table (its TableName output) instead of this
    /// machine's store; the rules in force are then those live in --bucket (needs a mesa
    /// built with the `aws` feature)
    #[arg(long, requires = "bucket")]
    pub table: Option<String>,
    /// The rules bucket (the stack's RulesBucket output), with --table
    #[arg(long, env = "RULES_BUCKET")]
    pub bucket: Option<String>,
    /// The rules object's key, with --table
    #[arg(long, env = "RULES_KEY", default_value = "rules/bundle.json")]
    pub key: String,
    #[command(flatten)]
    pub data: DataArg,
}

pub async fn run(args: ReplayArgs, candidate: Option<&RulesSource>) -> Result<()> {
    let Some(candidate) = candidate else {
        bail!(
            "give the candidate bundle with --rules DIR (the rules in force are --current, or ./rules)"
        );
    };
    let current = rules_source::resolve(args.current.as_deref());
    if let (None, RulesSource::Directory(a), RulesSource::Directory(b)) =
        (&args.table, &current, candidate)
    {
        if a.canonicalize().ok() == b.canonicalize().ok() {
            bail!(
                "the candidate ({}) is the bundle in force; give the rules in force with --current DIR",
                b.display()
            );
        }
    }
    // Compiled, not activated: a candidate whose vectors still say the old figures is
    // exactly what one replays; the failures are told, and publishing refuses it.
    let after = Policy::compile(candidate.bundle()?)
        .with_context(|| format!("the candidate bundle {}", candidate.describe()))?;
    let vectors = after.run_vectors();
    if vectors.failed() > 0 {
        eprintln!(
            "note: {} of {} test vectors of the candidate fail (see `mesa --rules {} rules test`); \
             publishing refuses it until they are updated",
            vectors.failed(),
            vectors.outcomes.len(),
            candidate.describe()
        );
    }
    let desk = match (&args.table, &args.bucket) {
        (Some(table), Some(bucket)) => {
            std::sync::Arc::new(crate::publish::live_desk(bucket, &args.key, table).await?)
        }
        _ => open_existing(&args.data.data, &current)?.desk,
    };
    let calendar = desk.policy().calendar().clone();
    let today = calendar.local(desk.now()).date_naive();
    let to = args.to.unwrap_or(today);
    let from = args.from.unwrap_or(to - Duration::days(29));
    let period = Period::days(from, to, &calendar.time_zone()).context("--from/--to")?;

    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new_spinner();
        bar.set_message("tickets replayed");
        bar
    });
    let replay = desk
        .replay(&after, period, |n| {
            if let Some(bar) = &bar {
                bar.set_position(n as u64);
            }
        })
        .await?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let mut out = std::io::stdout().lock();
    match args.format {
        ReplayFormat::Json => {
            serde_json::to_writer_pretty(&mut out, &replay)?;
            writeln!(out)?;
        }
        ReplayFormat::Table => write!(out, "{}", table(&replay, &calendar, from, to))?,
    }
    Ok(())
}

fn percent(x: Option<f64>) -> String {
    x.map(|v| format!("{:.1} %", v * 100.0))
        .unwrap_or_else(|| "—".into())
}

/// The replay as a person reads it: the tickets that change, then compliance and amounts.
pub fn table(
    r: &Replay,
    calendar: &mesa::BusinessCalendar,
    from: NaiveDate,
    to: NaiveDate,
) -> String {
    let when = |t: Option<chrono::DateTime<chrono::Utc>>| {
        t.map(|t| calendar.local(t).format("%Y-%m-%d %H:%M").to_string())
            .unwrap_or_else(|| "—".into())
    };
    let mut s = format!(
        "Reglas en vigor {} → candidatas {}; del {from} al {to}: {} tickets del periodo\n\n",
        r.rules_before, r.rules_after, r.tickets
    );
    if r.differences.is_empty() {
        s += "Ningún ticket cambia de severidad, plazos ni cotización.\n";
    } else {
        s += &format!("Tickets que cambian ({}):\n", r.differences.len());
        for d in &r.differences {
            s += &format!("  {}", d.folio);
            if d.severity_before != d.severity_after {
                s += &format!("  severidad {} → {}", d.severity_before, d.severity_after);
            }
            for m in &d.deadlines {
                s += &format!("  {}: {} → {}", m.milestone, when(m.before), when(m.after));
            }
            if d.quote_before_cents != d.quote_after_cents {
                let q = |c: Option<i64>| c.map(mesa::messages::money).unwrap_or_else(|| "—".into());
                s += &format!(
                    "  cotización {} → {}",
                    q(d.quote_before_cents),
                    q(d.quote_after_cents)
                );
            }
            s += "\n";
        }
    }
    s += "\nCumplimiento por hito (cumplidos/contados, antes → después):\n";
    for c in &r.compliance {
        s += &format!(
            "  {:<16} {}/{} ({}) → {}/{} ({})\n",
            c.milestone,
            c.met_before,
            c.met_before + c.breached_before,
            percent(c.compliance_before),
            c.met_after,
            c.met_after + c.breached_after,
            percent(c.compliance_after)
        );
    }
    s += &format!(
        "\nFacturable del periodo: {} → {} {}\n",
        mesa::messages::money(r.billed_before_cents),
        mesa::messages::money(r.billed_after_cents),
        r.currency
    );
    s
}
