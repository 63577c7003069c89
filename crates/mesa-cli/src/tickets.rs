//! `mesa tickets`: the staff's ticket commands on one machine's data directory (list, show,
//! and each lifecycle action: diagnose, reply, answer, close, …).

use anyhow::{Context, Result};
use clap::Subcommand;
use mesa::Severity;
use mesa::lifecycle::Action;
use mesa::model::{Actor, ResponseChannel, Stage};
use mesa::ports::{ListFilter, PageRequest, TicketStore};

use crate::local::{DataArg, open_existing, print};
use crate::rules_source::RulesSource;

#[derive(Subcommand)]
pub enum TicketsCommand {
    /// List tickets, newest first
    List {
        #[command(flatten)]
        data: DataArg,
        #[arg(long)]
        stage: Option<String>,
        /// Open tickets only
        #[arg(long)]
        open: bool,
        /// The queue in priority order (severity, deadline, registration), with clocks
        #[arg(long, conflicts_with_all = ["stage", "open"])]
        queue: bool,
        #[arg(long)]
        json: bool,
    },
    /// One ticket with its clocks and timeline
    Show {
        folio: String,
        #[command(flatten)]
        data: DataArg,
        #[arg(long)]
        json: bool,
    },
    /// Perform a staff action on a ticket
    Act {
        folio: String,
        #[command(flatten)]
        data: DataArg,
        /// Who acts (recorded on the ticket)
        #[arg(long, env = "USER", default_value = "staff")]
        actor: String,
        #[command(subcommand)]
        action: ActionCommand,
    },
}

#[derive(Subcommand)]
pub enum ActionCommand {
    /// Confirm or change the severity
    Severity {
        #[arg(long)]
        severity: i64,
        #[arg(long)]
        reason: String,
    },
    /// Record the first diagnosis (coverage is assessed by the rules)
    Diagnose {
        #[arg(long)]
        summary: String,
        #[arg(long, default_value = "")]
        cause: String,
        #[arg(long)]
        vendor: Option<String>,
        #[arg(long)]
        under_warranty: Option<bool>,
        /// Whether the fault was reproduced («error replicado»)
        #[arg(long)]
        replicated: Option<bool>,
        /// The faulty device's serial (its warranty is looked up in the equipment registry)
        #[arg(long)]
        serial: Option<String>,
    },
    /// Send to Investigación y Desarrollo
    Escalate {
        #[arg(long)]
        note: String,
    },
    /// Write to the customer (or record a response given by phone, chat or in person)
    Reply {
        #[arg(long)]
        message: String,
        /// email (sends it), or phone, chat, in-person (records it; sends nothing)
        #[arg(long, default_value = "email", value_parser = ["email", "phone", "chat", "in-person"])]
        channel: String,
    },
    /// Send the solution to the customer
    Answer {
        #[arg(long)]
        message: String,
    },
    /// Wait on the customer (pauses clocks)
    Wait {
        #[arg(long)]
        note: String,
    },
    /// Stop waiting on the customer
    Resume {
        #[arg(long, default_value = "")]
        note: String,
    },
    /// Log time worked
    LogWork {
        #[arg(long)]
        minutes: i64,
        #[arg(long, default_value = "")]
        note: String,
    },
    /// Record a visit to the customer's premises (its time is work, billed when the ticket
    /// is billable)
    Visit {
        /// The day of the visit (YYYY-MM-DD)
        #[arg(long)]
        on: chrono::NaiveDate,
        #[arg(long)]
        technician: String,
        #[arg(long)]
        site: String,
        #[arg(long)]
        result: String,
        #[arg(long)]
        minutes: i64,
    },
    /// Record a step of the warranty replacement of the ticket's device (the customer is
    /// told): approved, shipped (with --carrier and --tracking), installed, faulty-received
    Replacement {
        #[arg(value_parser = parse_replacement_step)]
        step: mesa::model::ReplacementStep,
        #[arg(long, default_value = "")]
        carrier: String,
        #[arg(long, default_value = "")]
        tracking: String,
        /// The new unit's serial
        #[arg(long, default_value = "")]
        serial: String,
        #[arg(long, default_value = "")]
        note: String,
    },
    /// Close (the customer gets the satisfaction survey)
    Close {
        #[arg(long, default_value = "")]
        note: String,
    },
    Reopen {
        #[arg(long)]
        reason: String,
    },
    /// Send the customer the root-cause solution of a critical report
    RootCause {
        #[arg(long)]
        report: String,
    },
    /// Give the ticket to a staff member (their address; it gets the ticket's at-risk
    /// warnings), or take it from whoever has it (no address)
    Assign { to: Option<String> },
    /// Complete or correct the customer's data (only what is given changes)
    Contact {
        #[arg(long)]
        company: Option<String>,
        #[arg(long)]
        contact_name: Option<String>,
        #[arg(long)]
        phone: Option<String>,
        #[arg(long)]
        support_type: Option<String>,
    },
}

impl ActionCommand {
    fn into_action(self) -> Result<Action> {
        Ok(match self {
            ActionCommand::Severity { severity, reason } => Action::SetSeverity {
                severity: Severity::new(severity)?,
                reason,
            },
            ActionCommand::Diagnose {
                summary,
                cause,
                vendor,
                under_warranty,
                replicated,
                serial,
            } => Action::Diagnose {
                summary,
                cause,
                vendor,
                under_warranty,
                replicated,
                serial,
            },
            ActionCommand::Escalate { note } => Action::Escalate { note },
            ActionCommand::Reply { message, channel } => Action::Reply {
                message,
                channel: match channel.as_str() {
                    "phone" => ResponseChannel::Phone,
                    "chat" => ResponseChannel::Chat,
                    "in-person" => ResponseChannel::InPerson,
                    _ => ResponseChannel::Email,
                },
            },
            ActionCommand::Answer { message } => Action::Answer { message },
            ActionCommand::Wait { note } => Action::Wait { note },
            ActionCommand::Resume { note } => Action::Resume { note },
            ActionCommand::LogWork { minutes, note } => Action::LogWork { minutes, note },
            ActionCommand::Visit {
                on,
                technician,
                site,
                result,
                minutes,
            } => Action::RecordVisit {
                visited_on: on,
                technician,
                site,
                result,
                minutes,
            },
            ActionCommand::Replacement {
                step,
                carrier,
                tracking,
                serial,
                note,
            } => Action::RecordReplacement {
                step,
                carrier,
                tracking,
                serial,
                note,
            },
            ActionCommand::Close { note } => Action::Close { note },
            ActionCommand::Reopen { reason } => Action::Reopen { reason },
            ActionCommand::RootCause { report } => Action::DeliverRootCause { report },
            ActionCommand::Assign { to } => Action::Assign { to },
            ActionCommand::Contact {
                company,
                contact_name,
                phone,
                support_type,
            } => Action::UpdateContact {
                company,
                contact_name,
                phone,
                support_type,
            },
        })
    }
}

pub async fn run(cmd: TicketsCommand, source: &RulesSource) -> Result<()> {
    match cmd {
        TicketsCommand::List {
            data,
            stage,
            open,
            queue,
            json,
        } => {
            let local = open_existing(&data.data, source)?;
            if queue {
                let views = local.desk.queue().await?;
                if json {
                    return print(&views);
                }
                for v in views {
                    let t = &v.ticket;
                    println!(
                        "{}  sev {}  {:<20} next deadline {}  {}",
                        t.folio,
                        t.severity,
                        t.stage.as_str(),
                        v.next_deadline
                            .map(|d| local.desk.policy().format_local(d))
                            .unwrap_or_else(|| "—".into()),
                        t.subject
                    );
                }
                return Ok(());
            }
            let stage = match stage.as_deref() {
                None => None,
                Some(s) => Some(Stage::parse(s).with_context(|| format!("unknown stage {s:?}"))?),
            };
            let filter = ListFilter {
                stage,
                open_only: open,
                ..ListFilter::default()
            };
            let mut page = PageRequest {
                after: None,
                limit: 200,
            };
            let mut all = Vec::new();
            loop {
                let p = local.store.list(&filter, &page).await?;
                all.extend(p.items);
                match p.next {
                    Some(n) => page.after = Some(n),
                    None => break,
                }
            }
            if json {
                // Each ticket with its clocks as of now (closed ones too: met or breached),
                // the ticket's own fields first as before.
                let mut out = Vec::with_capacity(all.len());
                for t in all {
                    let view = local.desk.view(t).await?;
                    let mut item = serde_json::to_value(&view.ticket)?;
                    if let Some(map) = item.as_object_mut() {
                        map.insert("clocks".into(), serde_json::to_value(&view.clocks)?);
                        map.insert(
                            "next_deadline".into(),
                            serde_json::to_value(view.next_deadline)?,
                        );
                    }
                    out.push(item);
                }
                return print(&out);
            }
            for t in all {
                println!(
                    "{}  sev {}  {:<20} {}  {}  {}",
                    t.folio,
                    t.severity,
                    t.stage.as_str(),
                    local.desk.policy().format_local(t.received_at),
                    t.customer.email,
                    t.subject
                );
            }
            Ok(())
        }
        TicketsCommand::Show { folio, data, json } => {
            let local = open_existing(&data.data, source)?;
            let detail = local.desk.detail(&folio).await?;
            if json {
                return print(&detail);
            }
            let t = &detail.view.ticket;
            println!(
                "{}  {}  (severity {}, {})",
                t.folio,
                t.subject,
                t.severity,
                t.stage.as_str()
            );
            println!(
                "  customer: {} · {} · {} · {}",
                t.customer.company, t.customer.contact_name, t.customer.email, t.customer.phone
            );
            let policy = local.desk.policy();
            match t.clock_start {
                Some(why) => println!(
                    "  clocks from {} ({}); received {}",
                    policy.format_local(t.received_at),
                    why.explain(),
                    policy.format_local(t.arrived())
                ),
                None => println!("  clocks from {}", policy.format_local(t.received_at)),
            }
            for c in &detail.view.clocks {
                println!(
                    "  clock {:<16} {:?}  due {}",
                    c.name,
                    c.state,
                    c.due
                        .map(|d| local.desk.policy().format_local(d))
                        .unwrap_or_else(|| "—".into())
                );
            }
            for e in &detail.events {
                println!(
                    "  #{:<3} {}  {:<12} {}",
                    e.seq,
                    local.desk.policy().format_local(e.at),
                    e.actor,
                    e.kind.name()
                );
            }
            if let Some(q) = &detail.view.quote {
                println!(
                    "  billable: {} {} + IVA {} = {} {}",
                    q.currency,
                    mesa::messages::money(q.subtotal_cents),
                    mesa::messages::money(q.iva_cents),
                    q.currency,
                    mesa::messages::money(q.total_cents)
                );
            }
            Ok(())
        }
        TicketsCommand::Act {
            folio,
            data,
            actor,
            action,
        } => {
            let local = open_existing(&data.data, source)?;
            let action = action.into_action()?;
            let ticket = local
                .desk
                .act(&folio, &Actor::staff(&actor), &action)
                .await?;
            print(&local.desk.view(ticket).await?)
        }
    }
}

/// A replacement step as typed: `approved`, `shipped`, `installed`, `faulty-received` (or
/// with an underscore).
fn parse_replacement_step(s: &str) -> Result<mesa::model::ReplacementStep, String> {
    mesa::model::ReplacementStep::parse(&s.replace('-', "_")).ok_or_else(|| {
        format!("unknown step {s:?}: use approved, shipped, installed or faulty-received")
    })
}
