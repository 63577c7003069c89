//! `mesa`: the command line of the service desk.
//!
//! Every command prints JSON on stdout; errors go to stderr with a non-zero exit.

mod customers;
mod equipment;
mod evaluate;
mod incidents;
mod local;
mod replay;
mod rules_source;
mod staff;
mod stats;
mod tickets;

/// `mesa rules publish|rollback`: the live rules object on S3.
#[cfg(feature = "aws")]
mod publish {
    use std::sync::Arc;

    use anyhow::Result;
    use chrono::Duration;
    use mesa::Policy;
    use mesa::desk::{Desk, DeskConfig};
    use mesa::policy::{Bundle, LiveRules};
    use mesa::ports::SystemClock;
    use mesa::stats::Period;
    use mesa_aws::s3::publish::{self, Published};
    use mesa_aws::{DynamoStore, S3Blobs, S3RulesSource, SesMailer};

    use super::PublishArgs;

    pub async fn publish(args: &PublishArgs, bundle: Bundle) -> Result<Published> {
        let clients = mesa_aws::Clients::from_env().await;
        Ok(publish::publish(&clients.s3, &args.bucket, &args.key, bundle).await?)
    }

    pub async fn rollback(args: &PublishArgs) -> Result<Published> {
        let clients = mesa_aws::Clients::from_env().await;
        Ok(publish::rollback(&clients.s3, &args.bucket, &args.key).await?)
    }

    /// A desk on the stack's table with the rules live in the bucket (the built-in ones when
    /// none were published), for reading and replaying: its mailer and blobs are never used.
    pub async fn live_desk(bucket: &str, key: &str, table: &str) -> Result<Desk> {
        let clients = mesa_aws::Clients::from_env().await;
        let live = Arc::new(LiveRules::new(mesa_aws::built_in_rules()?));
        let source = S3RulesSource::new(clients.s3.clone(), bucket.to_string(), key.to_string());
        if let Err(e) = source.refresh_now(&live).await {
            eprintln!(
                "note: no live rules read from the bucket ({e}); comparing with the built-in bundle"
            );
        }
        Ok(Desk::new(
            Arc::new(DynamoStore::new(
                clients.dynamodb.clone(),
                table.to_string(),
            )),
            Arc::new(SesMailer::new(clients.ses.clone(), None, "us-east-1")),
            Arc::new(S3Blobs::new(clients.s3.clone(), bucket.to_string())),
            live,
            Arc::new(SystemClock),
            DeskConfig::new(
                "https://replay.invalid",
                b"replay-reads-and-never-signs-000",
            ),
        ))
    }

    /// What `candidate` would change in the last 30 days of the stack's table, against the
    /// live rules; as a table.
    pub async fn replay_last_30_days(
        args: &PublishArgs,
        table: &str,
        candidate: &Policy,
    ) -> Result<String> {
        let desk = live_desk(&args.bucket, &args.key, table).await?;
        let calendar = desk.policy().calendar().clone();
        let to = calendar.local(desk.now()).date_naive();
        let from = to - Duration::days(29);
        let period = Period::days(from, to, &calendar.time_zone())?;
        let replay = desk.replay(candidate, period, |_| {}).await?;
        Ok(crate::replay::table(&replay, &calendar, from, to))
    }
}

/// Without the `aws` feature the commands exist and say how to get them.
#[cfg(not(feature = "aws"))]
mod publish {
    use anyhow::{Result, bail};
    use mesa::Policy;
    use mesa::policy::Bundle;

    use super::PublishArgs;

    const HOW: &str = "this mesa was built without AWS support; install it with \
        `cargo install --locked --path crates/mesa-cli --features aws`";

    pub async fn publish(_: &PublishArgs, _: Bundle) -> Result<serde_json::Value> {
        bail!(HOW)
    }

    pub async fn rollback(_: &PublishArgs) -> Result<serde_json::Value> {
        bail!(HOW)
    }

    pub async fn replay_last_30_days(_: &PublishArgs, _: &str, _: &Policy) -> Result<String> {
        bail!(HOW)
    }

    pub async fn live_desk(_: &str, _: &str, _: &str) -> Result<mesa::desk::Desk> {
        bail!(HOW)
    }
}

use std::io::{BufRead, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use chrono::{DateTime, Duration, Utc};
use clap::{Args, Parser, Subcommand};
use mesa::policy::{Diagnosis, Policy, Work, format_utc};
use mesa::{Severity, TicketFacts};
use serde::Deserialize;
use serde_json::json;

#[derive(Parser)]
#[command(
    name = "mesa",
    version,
    about = "mesa, the service desk that keeps Ingressio's support contract"
)]
struct Cli {
    #[command(flatten)]
    rules: RulesArg,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args)]
struct RulesArg {
    /// Rules bundle directory [default: ./rules if present, else the bundle built into mesa]
    #[arg(long, global = true, env = "MESA_RULES", value_name = "DIR")]
    rules: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// Check, test and evaluate the rules bundle
    #[command(subcommand)]
    Rules(RulesCommand),
    /// Business calendar: holidays and business-time arithmetic
    #[command(subcommand)]
    Calendar(CalendarCommand),
    /// SLA deadlines
    #[command(subcommand)]
    Sla(SlaCommand),
    /// Charges for billable work
    #[command(subcommand)]
    Billing(BillingCommand),
    /// Run the help desk on this machine: form, staff API, outbox and SLA sweep
    Serve(local::ServeArgs),
    /// Take in one raw e-mail (RFC 5322 file) as the mail intake would
    IntakeEmail {
        file: PathBuf,
        #[command(flatten)]
        data: local::DataArg,
        /// When the message was received: the desk takes it in as of that instant
        /// [default: now]
        #[arg(long, value_name = "RFC 3339")]
        received_at: Option<String>,
    },
    /// The registry of subscribed customers
    #[command(subcommand)]
    Customers(customers::CustomersCommand),
    /// The registry of biometric equipment (serials, warranties)
    #[command(subcommand)]
    Equipment(equipment::EquipmentCommand),
    /// Major incidents: declared once, told to every affected customer at once
    #[command(subcommand)]
    Incidents(incidents::IncidentsCommand),
    /// Tickets: list, show, staff actions
    #[command(subcommand)]
    Tickets(tickets::TicketsCommand),
    /// One pass of the SLA sweep (warnings, breaches, unsent mail)
    Sweep {
        #[command(flatten)]
        data: local::DataArg,
        /// Sweep as if it were this instant
        #[arg(long, value_name = "RFC 3339")]
        now: Option<String>,
    },
    /// Send the mail that is due now
    #[command(subcommand)]
    Outbox(OutboxCommand),
    /// Mail that became no ticket
    #[command(subcommand)]
    Mail(MailCommand),
    /// Staff accounts of the workspace (one machine)
    #[command(subcommand)]
    Staff(staff::StaffCommand),
    /// Response times and SLA compliance of a period, overall, by severity and by customer
    Stats(stats::StatsArgs),
    /// A customer's monthly SLA report: one HTML page to print or save as PDF
    Report(stats::ReportArgs),
}

#[derive(Subcommand)]
enum MailCommand {
    /// List mail set aside, newest first: robots' mail and unregistered senders (ignored) and
    /// messages that could not be read (quarantined), each with why and its raw message's key
    SetAside {
        #[command(flatten)]
        data: local::DataArg,
    },
}

#[derive(Subcommand)]
enum OutboxCommand {
    /// Deliver pending mail once
    Deliver {
        #[command(flatten)]
        data: local::DataArg,
        /// Deliver as if it were this instant
        #[arg(long, value_name = "RFC 3339")]
        now: Option<String>,
    },
}

#[derive(Subcommand)]
enum RulesCommand {
    /// Compile the bundle, check its required functions and vectors; print its version
    Check,
    /// Run the bundle's test vectors; ends with "N passed, N failed"
    Test,
    /// Call one policy function of the bundle (its vectors are not run first)
    #[command(subcommand)]
    Eval(EvalCommand),
    /// Check the bundle, then upload it to S3 as the live rules object (needs the `aws` feature)
    Publish(PublishArgs),
    /// Make the previous version of the live rules object current again (needs the `aws` feature)
    Rollback(PublishArgs),
    /// What the candidate bundle given with --rules would change on this machine's tickets
    /// (severities, deadlines, compliance, quotes), against the rules in force; writes nothing
    Replay(replay::ReplayArgs),
}

#[derive(Args)]
struct PublishArgs {
    /// The rules bucket (the stack's RulesBucket output)
    #[arg(long, env = "RULES_BUCKET")]
    bucket: String,
    /// The rules object's key
    #[arg(long, env = "RULES_KEY", default_value = "rules/bundle.json")]
    key: String,
    /// The stack's table (its TableName output): publish first shows what the bundle would
    /// change in its last 30 days, against the live rules
    #[arg(long)]
    table: Option<String>,
    /// Publish without asking
    #[arg(long)]
    yes: bool,
}

#[derive(Subcommand)]
enum EvalCommand {
    /// Provisional severity of a ticket (JSON file: company, contact_name, support_type, subject, description, impact, …),
    /// or, with --batch, accuracy on labelled tickets
    Classify {
        #[arg(long, value_name = "FILE.json", required_unless_present = "batch")]
        ticket: Option<PathBuf>,
        /// JSON lines `{"id","ticket","expected","acceptable"}`; repeat for several sets
        #[arg(long, value_name = "FILE.jsonl", conflicts_with = "ticket")]
        batch: Vec<PathBuf>,
        /// Fail (exit 1) when the accuracy of any set is under this share (0 to 1)
        #[arg(long, requires = "batch")]
        min_accuracy: Option<f64>,
        /// Fail (exit 1) when any set has more dangerous misses than this
        #[arg(long, requires = "batch")]
        max_dangerous: Option<usize>,
    },
    /// Coverage of a diagnosed ticket (diagnosis JSON: cause, summary, vendor, under_warranty)
    Assess {
        #[arg(long, value_name = "FILE.json")]
        ticket: Option<PathBuf>,
        #[arg(long, value_name = "FILE.json")]
        diagnosis: PathBuf,
    },
}

#[derive(Subcommand)]
enum CalendarCommand {
    /// Holidays of a year, as the calendar script computes them
    Holidays {
        #[arg(long)]
        year: i32,
    },
    /// The instant a business duration after --from
    Add {
        #[arg(long, value_name = "RFC 3339")]
        from: String,
        #[arg(long, default_value_t = 0)]
        hours: i64,
        #[arg(long, default_value_t = 0)]
        minutes: i64,
    },
    /// Business seconds between two instants
    Between {
        #[arg(long, value_name = "RFC 3339")]
        from: String,
        #[arg(long, value_name = "RFC 3339")]
        to: String,
    },
}

#[derive(Subcommand)]
enum SlaCommand {
    /// Deadlines of a ticket received at --received with --severity (or a --batch of them)
    Plan {
        #[arg(
            long,
            value_name = "RFC 3339",
            required_unless_present = "batch",
            conflicts_with = "batch"
        )]
        received: Option<String>,
        #[arg(long, required_unless_present = "batch", conflicts_with = "batch")]
        severity: Option<i64>,
        /// JSON lines {"received":"…","severity":N} ("-" reads stdin); one plan per line out
        #[arg(long, value_name = "FILE")]
        batch: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum BillingCommand {
    /// Quote billable work: first hour, further hours, IVA, in cents
    Quote {
        #[arg(long, allow_negative_numbers = true)]
        minutes: i64,
    },
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("MESA_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn print(value: &impl serde::Serialize) -> Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer(&mut out, value)?;
    writeln!(out)?;
    Ok(())
}

fn parse_instant(what: &str, s: &str) -> Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s.trim())
        .map(|t| t.with_timezone(&Utc))
        .with_context(|| {
            format!("{what}: {s:?} is not an RFC 3339 instant (e.g. 2026-11-27T18:00:00-06:00)")
        })
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &PathBuf) -> Result<T> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text)
        .with_context(|| format!("{} is not the JSON expected", path.display()))
}

/// Asks on the terminal; without one there is nobody to answer, so it is a no.
fn confirm(question: &str) -> Result<bool> {
    use std::io::IsTerminal;
    if !std::io::stdin().is_terminal() {
        bail!("publishing asks for confirmation; run it on a terminal or pass --yes");
    }
    eprint!("{question}");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(
        answer.trim().to_lowercase().as_str(),
        "s" | "si" | "sí" | "y" | "yes"
    ))
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

fn run(cli: Cli) -> Result<ExitCode> {
    let explicit_rules = cli.rules.rules.is_some();
    let source = rules_source::resolve(cli.rules.rules.as_deref());
    match cli.command {
        Command::Serve(args) => runtime()?.block_on(local::serve(args, source))?,
        Command::IntakeEmail {
            file,
            data,
            received_at,
        } => {
            let at = received_at
                .map(|s| parse_instant("--received-at", &s))
                .transpose()?;
            runtime()?.block_on(local::intake_email(&data.data, &source, &file, at))?;
        }
        Command::Customers(cmd) => runtime()?.block_on(customers::run(cmd, &source))?,
        Command::Equipment(cmd) => runtime()?.block_on(equipment::run(cmd, &source))?,
        Command::Incidents(cmd) => runtime()?.block_on(incidents::run(cmd, &source))?,
        Command::Tickets(cmd) => runtime()?.block_on(tickets::run(cmd, &source))?,
        Command::Sweep { data, now } => {
            let now = now.map(|s| parse_instant("--now", &s)).transpose()?;
            runtime()?.block_on(local::sweep(&data.data, &source, now))?;
        }
        Command::Staff(cmd) => runtime()?.block_on(staff::run(cmd, &source))?,
        Command::Stats(args) => runtime()?.block_on(stats::run(args, &source))?,
        Command::Report(args) => runtime()?.block_on(stats::report(args, &source))?,
        Command::Mail(MailCommand::SetAside { data }) => {
            runtime()?.block_on(local::set_aside(&data.data, &source))?
        }
        Command::Outbox(OutboxCommand::Deliver { data, now }) => {
            let now = now.map(|s| parse_instant("--now", &s)).transpose()?;
            runtime()?.block_on(local::deliver(&data.data, &source, now))?
        }
        Command::Rules(RulesCommand::Check) => {
            let (policy, report) = Policy::activate_with_report(source.bundle()?)?;
            print(&json!({
                "ok": true,
                "rules_version": policy.version(),
                "source": source.describe(),
                "vectors_passed": report.passed(),
            }))?;
        }
        Command::Rules(RulesCommand::Test) => {
            let policy = Policy::compile(source.bundle()?)?;
            let report = policy.run_vectors();
            for o in &report.outcomes {
                if o.passed {
                    println!("ok   {} :: {}", o.file, o.name);
                } else {
                    println!("FAIL {} :: {}\n     {}", o.file, o.name, o.message);
                }
            }
            println!("{} passed, {} failed", report.passed(), report.failed());
            if report.failed() > 0 || report.outcomes.is_empty() {
                return Ok(ExitCode::FAILURE);
            }
        }
        Command::Rules(RulesCommand::Publish(args)) => {
            let bundle = source.bundle()?;
            let rt = runtime()?;
            // A bundle that does not compile is refused by publish itself, with the reason;
            // there is nothing to replay or to ask about.
            let compiled = Policy::compile(bundle.clone()).ok();
            if let Some(candidate) = &compiled {
                match &args.table {
                    Some(table) => match rt
                        .block_on(publish::replay_last_30_days(&args, table, candidate))
                    {
                        Ok(summary) => eprint!("{summary}"),
                        Err(e) => eprintln!("note: the replay of the last 30 days failed: {e:#}"),
                    },
                    None => eprintln!(
                        "note: no --table given, so no replay of the last 30 days before publishing"
                    ),
                }
                if !args.yes && !confirm("¿Publicar estas reglas? [s/N] ")? {
                    bail!("not published (answer «s» to publish, or pass --yes)");
                }
            }
            print(&rt.block_on(publish::publish(&args, bundle))?)?;
        }
        Command::Rules(RulesCommand::Replay(args)) => {
            let candidate = explicit_rules.then_some(&source);
            runtime()?.block_on(replay::run(args, candidate))?;
        }
        Command::Rules(RulesCommand::Rollback(args)) => {
            print(&runtime()?.block_on(publish::rollback(&args))?)?;
        }
        Command::Rules(RulesCommand::Eval(eval)) => {
            let policy = Policy::compile(source.bundle()?)?;
            match eval {
                EvalCommand::Classify {
                    ticket: Some(ticket),
                    ..
                } => {
                    let facts: TicketFacts = read_json(&ticket)?;
                    print(&policy.classify(&facts)?)?;
                }
                EvalCommand::Classify {
                    ticket: None,
                    batch,
                    min_accuracy,
                    max_dangerous,
                } => {
                    if !evaluate::classify_batch(&policy, &batch, min_accuracy, max_dangerous)? {
                        return Ok(ExitCode::FAILURE);
                    }
                }
                EvalCommand::Assess { ticket, diagnosis } => {
                    let facts: TicketFacts = match ticket {
                        Some(p) => read_json(&p)?,
                        None => TicketFacts::default(),
                    };
                    let diagnosis: Diagnosis = read_json(&diagnosis)?;
                    print(&policy.assess(&facts, &diagnosis)?)?;
                }
            }
        }
        Command::Calendar(cmd) => {
            let policy = Policy::activate(source.bundle()?)?;
            match cmd {
                CalendarCommand::Holidays { year } => print(&policy.holidays(year)?)?,
                CalendarCommand::Add {
                    from,
                    hours,
                    minutes,
                } => {
                    let from = parse_instant("--from", &from)?;
                    if hours < 0 || minutes < 0 {
                        bail!("--hours and --minutes cannot be negative");
                    }
                    let due = policy
                        .calendar()
                        .add(from, Duration::hours(hours) + Duration::minutes(minutes))?;
                    print(&json!({"due": format_utc(due), "due_local": policy.format_local(due)}))?;
                }
                CalendarCommand::Between { from, to } => {
                    let from = parse_instant("--from", &from)?;
                    let to = parse_instant("--to", &to)?;
                    let d = policy.calendar().between(from, to)?;
                    print(&json!({"business_seconds": d.num_seconds()}))?;
                }
            }
        }
        Command::Sla(SlaCommand::Plan {
            received,
            severity,
            batch,
        }) => {
            let policy = Policy::activate(source.bundle()?)?;
            if let Some(path) = batch {
                return plan_batch(&policy, &path);
            }
            let received = parse_instant("--received", received.as_deref().unwrap_or_default())?;
            let severity = Severity::new(severity.unwrap_or_default())?;
            print(&policy.plan(&TicketFacts::default(), received, severity)?)?;
        }
        Command::Billing(BillingCommand::Quote { minutes }) => {
            let policy = Policy::activate(source.bundle()?)?;
            print(&policy.charge(Work { minutes })?)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PlanRequest {
    received: String,
    severity: i64,
}

/// One plan per input line, in order. A bad line gets `{"line":N,"error":"…"}` in its place
/// (so outputs stay aligned with inputs) and makes the exit status non-zero.
fn plan_batch(policy: &Policy, path: &PathBuf) -> Result<ExitCode> {
    let input: Box<dyn BufRead> = if path.as_os_str() == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        let file =
            std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
        Box::new(std::io::BufReader::new(file))
    };
    let mut out = BufWriter::new(std::io::stdout().lock());
    let facts = TicketFacts::default();
    let mut failed = 0usize;
    for (i, line) in input.lines().enumerate() {
        let line = line.with_context(|| format!("cannot read line {}", i + 1))?;
        if line.trim().is_empty() {
            continue;
        }
        let planned = serde_json::from_str::<PlanRequest>(&line)
            .context(r#"expected {"received":"<RFC 3339>","severity":N}"#)
            .and_then(|r| {
                let received = parse_instant("received", &r.received)?;
                let severity = Severity::new(r.severity)?;
                Ok(policy.plan(&facts, received, severity)?)
            });
        match planned {
            Ok(plan) => serde_json::to_writer(&mut out, &plan)?,
            Err(e) => {
                failed += 1;
                serde_json::to_writer(
                    &mut out,
                    &json!({"line": i + 1, "error": format!("{e:#}")}),
                )?;
            }
        }
        out.write_all(b"\n")?;
    }
    out.flush()?;
    if failed > 0 {
        eprintln!("error: {failed} line(s) could not be planned");
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}
