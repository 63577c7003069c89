//! `mesa incidents`: major incidents. Declaring one tells every affected customer at once;
//! updates and the resolution are told to the same customers; new tickets that report it
//! are linked to it.

use anyhow::{Result, bail};
use chrono::{DateTime, Utc};
use clap::Subcommand;
use mesa::desk::{DeskError, IncidentDeclaration};
use mesa::model::Audience;

use crate::customers::RegistryAt;
use crate::local::print;
use crate::rules_source::RulesSource;

#[derive(Subcommand)]
pub enum IncidentsCommand {
    /// Declare an incident: every subscribed customer's contacts (or, with --everyone,
    /// every registered contact) get a notice with the cause, the actions and the estimate
    Declare {
        /// What failed, as customers should read it
        #[arg(long)]
        cause: String,
        /// The service affected
        #[arg(long)]
        service: String,
        /// What is being done
        #[arg(long)]
        actions: String,
        /// The estimated resolution (RFC 3339)
        #[arg(long, value_name = "RFC 3339")]
        eta: Option<DateTime<Utc>>,
        /// A word or phrase a customer's report of it carries (repeatable): new tickets
        /// with one of them are linked to the incident
        #[arg(long = "symptom")]
        symptoms: Vec<String>,
        /// Tell every registered contact, not only subscribed customers
        #[arg(long)]
        everyone: bool,
        /// Who declares it (recorded)
        #[arg(long, default_value = "staff")]
        actor: String,
        #[command(flatten)]
        at: RegistryAt,
    },
    /// Tell the incident's customers what changed
    Update {
        id: String,
        #[arg(long)]
        text: String,
        #[arg(long, value_name = "RFC 3339")]
        eta: Option<DateTime<Utc>>,
        #[command(flatten)]
        at: RegistryAt,
    },
    /// Close the incident with a summary to its customers
    Resolve {
        id: String,
        #[arg(long)]
        summary: String,
        #[command(flatten)]
        at: RegistryAt,
    },
    /// Every incident, newest first (JSON)
    List {
        #[command(flatten)]
        at: RegistryAt,
    },
}

pub async fn run(cmd: IncidentsCommand, source: &RulesSource) -> Result<()> {
    let done = match cmd {
        IncidentsCommand::Declare {
            cause,
            service,
            actions,
            eta,
            symptoms,
            everyone,
            actor,
            at,
        } => {
            let desk = at.desk(source, true).await?;
            let declaration = IncidentDeclaration {
                cause,
                service,
                actions,
                estimated_resolution: eta,
                symptoms,
                audience: if everyone {
                    Audience::Everyone
                } else {
                    Audience::Subscribed
                },
                reports: Vec::new(),
            };
            desk.declare_incident(declaration, &actor).await
        }
        IncidentsCommand::Update { id, text, eta, at } => {
            let desk = at.desk(source, true).await?;
            desk.update_incident(&id, &text, eta).await
        }
        IncidentsCommand::Resolve { id, summary, at } => {
            let desk = at.desk(source, true).await?;
            desk.resolve_incident(&id, &summary).await
        }
        IncidentsCommand::List { at } => {
            let desk = at.desk(source, true).await?;
            return print(&desk.store().incidents().await?);
        }
    };
    match done {
        Ok(notices) => print(&notices),
        Err(DeskError::Invalid(problems)) => bail!(
            "{}",
            problems
                .iter()
                .map(|(field, why)| format!("{field}: {why}"))
                .collect::<Vec<_>>()
                .join("\n")
        ),
        Err(e) => Err(e.into()),
    }
}
