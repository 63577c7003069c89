//! `mesa customers`: the registry of subscribed customers. Imported from a CSV (one contact
//! per row, optionally with one contract period of its company) or a JSON file (companies
//! with their periods, own terms and contacts); listed; one company shown with its contacts
//! and tickets.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use chrono::NaiveDate;
use clap::{Args, Subcommand};
use mesa::desk::{CompanyImport, Desk, DeskError, RegistryImport};
use mesa::model::{ContractPeriod, CustomerRecord};
use serde::Deserialize;
use serde_json::json;

use crate::local::{self, DataArg, print};
use crate::rules_source::RulesSource;

#[derive(Subcommand)]
pub enum CustomersCommand {
    /// Import companies and contacts: a CSV with columns company,email,domain,contact_name,
    /// phone (an email or a domain per row) and optionally period_start,period_end,plan (a
    /// contract period of the row's company, dates as YYYY-MM-DD, both days included); or a
    /// JSON list of {company, periods: [{start, end, plan}], terms: {…}, contacts: [{email |
    /// domain, contact_name, phone}]}. A company's periods and terms in the file replace
    /// those registered; one bad row and nothing is imported.
    Import {
        file: PathBuf,
        #[command(flatten)]
        at: RegistryAt,
    },
    /// Every registered company with its periods and terms (JSON)
    List {
        #[command(flatten)]
        at: RegistryAt,
    },
    /// One company: its periods, terms, contacts and latest tickets (JSON)
    Show {
        company: String,
        #[command(flatten)]
        at: RegistryAt,
    },
}

/// Whose registry: this machine's data directory, or the stack's DynamoDB table.
#[derive(Args)]
pub struct RegistryAt {
    #[command(flatten)]
    data: DataArg,
    /// The stack's table (its TableName output) instead of this machine's store; the rules
    /// that check the terms are then those live in --bucket (needs a mesa built with
    /// --features aws)
    #[arg(long, requires = "bucket")]
    table: Option<String>,
    /// The rules bucket (the stack's RulesBucket output), with --table
    #[arg(long, env = "RULES_BUCKET")]
    bucket: Option<String>,
    /// The rules object's key, with --table
    #[arg(long, env = "RULES_KEY", default_value = "rules/bundle.json")]
    key: String,
}

impl RegistryAt {
    pub(crate) async fn desk(&self, source: &RulesSource, must_exist: bool) -> Result<Arc<Desk>> {
        match (&self.table, &self.bucket) {
            (Some(table), Some(bucket)) => Ok(Arc::new(
                crate::publish::live_desk(bucket, &self.key, table).await?,
            )),
            _ if must_exist => Ok(local::open_existing(&self.data.data, source)?.desk),
            _ => Ok(local::open(&self.data.data, source, "http://127.0.0.1:8080", None)?.desk),
        }
    }
}

pub async fn run(cmd: CustomersCommand, source: &RulesSource) -> Result<()> {
    match cmd {
        CustomersCommand::Import { file, at } => {
            let import = read_import(&file)?;
            let desk = at.desk(source, false).await?;
            match desk.import_registry(import).await {
                Ok(summary) => print(&summary),
                Err(DeskError::Invalid(problems)) => bail!(
                    "nothing imported; fix these rows of {}:\n  {}",
                    file.display(),
                    problems
                        .iter()
                        .map(|(place, why)| format!("{place}: {why}"))
                        .collect::<Vec<_>>()
                        .join("\n  ")
                ),
                Err(e) => Err(e.into()),
            }
        }
        CustomersCommand::List { at } => {
            let desk = at.desk(source, true).await?;
            print(&desk.store().list_companies().await?)
        }
        CustomersCommand::Show { company, at } => {
            let desk = at.desk(source, true).await?;
            match desk.company_page(&company, 50).await? {
                Some(page) => print(&json!({
                    "company": page.company,
                    "contacts": page.contacts,
                    "equipment": page.equipment,
                    "tickets": page.tickets.iter().map(|t| json!({
                        "folio": t.folio.as_str(),
                        "subject": t.subject,
                        "stage": t.stage,
                        "severity": t.severity,
                        "received_at": t.received_at,
                        "subscription": t.subscription,
                    })).collect::<Vec<_>>(),
                })),
                None => bail!("no company {company:?} in the registry (see `mesa customers list`)"),
            }
        }
    }
}

#[derive(Deserialize)]
struct CsvRow {
    company: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    domain: String,
    #[serde(default)]
    contact_name: String,
    #[serde(default)]
    phone: String,
    #[serde(default)]
    period_start: String,
    #[serde(default)]
    period_end: String,
    #[serde(default)]
    plan: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonCompany {
    company: String,
    #[serde(default)]
    periods: Option<Vec<ContractPeriod>>,
    #[serde(default)]
    terms: Option<serde_json::Map<String, serde_json::Value>>,
    #[serde(default)]
    contacts: Vec<JsonContact>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonContact {
    #[serde(default)]
    email: String,
    #[serde(default)]
    domain: String,
    #[serde(default)]
    contact_name: String,
    #[serde(default)]
    phone: String,
}

/// Reads an import file: JSON when it ends in `.json` or starts with `[`, CSV otherwise.
/// Rows that cannot even be read fail here, each named by its line.
fn read_import(file: &Path) -> Result<RegistryImport> {
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let is_json = file
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"))
        || bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[');
    if is_json {
        let companies: Vec<JsonCompany> = serde_json::from_slice(&bytes)
            .with_context(|| format!("{} is not a JSON list of companies", file.display()))?;
        Ok(from_json(companies))
    } else {
        from_csv(file, &bytes)
    }
}

fn from_json(companies: Vec<JsonCompany>) -> RegistryImport {
    let mut import = RegistryImport::default();
    for (i, c) in companies.into_iter().enumerate() {
        for (j, contact) in c.contacts.into_iter().enumerate() {
            import.contacts.push((
                format!("companies[{i}].contacts[{j}]"),
                CustomerRecord {
                    company: c.company.clone(),
                    email: contact.email,
                    domain: contact.domain,
                    contact_name: contact.contact_name,
                    phone: contact.phone,
                },
            ));
        }
        import.companies.push((
            format!("companies[{i}]"),
            CompanyImport {
                company: c.company,
                periods: c.periods,
                terms: c.terms,
            },
        ));
    }
    import
}

fn from_csv(file: &Path, bytes: &[u8]) -> Result<RegistryImport> {
    let mut reader = csv::Reader::from_reader(bytes);
    let mut import = RegistryImport::default();
    let mut problems = Vec::new();
    // The periods rows give each company, in file order, without repeats.
    let mut periods: BTreeMap<String, (String, Vec<ContractPeriod>)> = BTreeMap::new();
    for (i, row) in reader.deserialize::<CsvRow>().enumerate() {
        let line = i + 2;
        let row = match row {
            Ok(r) => r,
            Err(e) => {
                problems.push(format!("line {line}: {e}"));
                continue;
            }
        };
        let date = |name: &str, v: &str| {
            v.trim()
                .parse::<NaiveDate>()
                .map_err(|_| format!("line {line}: {name} {v:?} is not a date (YYYY-MM-DD)"))
        };
        let given = [&row.period_start, &row.period_end]
            .iter()
            .filter(|v| !v.trim().is_empty())
            .count();
        match given {
            0 if !row.plan.trim().is_empty() => problems.push(format!(
                "line {line}: a plan needs period_start and period_end"
            )),
            0 => {}
            1 => problems.push(format!(
                "line {line}: give both period_start and period_end, or neither"
            )),
            _ => match (
                date("period_start", &row.period_start),
                date("period_end", &row.period_end),
            ) {
                (Ok(start), Ok(end)) => {
                    let period = ContractPeriod {
                        start,
                        end,
                        plan: row.plan.trim().to_string(),
                    };
                    let entry = periods
                        .entry(mesa::model::CompanyRecord::key_of(&row.company))
                        .or_insert_with(|| (row.company.clone(), Vec::new()));
                    if !entry.1.contains(&period) {
                        entry.1.push(period);
                    }
                }
                (Err(e), _) | (_, Err(e)) => problems.push(e),
            },
        }
        // A row with only a period (no address, no domain) is a period, not a contact.
        if !(row.email.trim().is_empty() && row.domain.trim().is_empty() && given > 0) {
            import.contacts.push((
                format!("line {line}"),
                CustomerRecord {
                    company: row.company,
                    email: row.email,
                    domain: row.domain,
                    contact_name: row.contact_name,
                    phone: row.phone,
                },
            ));
        }
    }
    if !problems.is_empty() {
        bail!(
            "nothing imported; fix these rows of {}:\n  {}",
            file.display(),
            problems.join("\n  ")
        );
    }
    for (_, (company, periods)) in periods {
        import.companies.push((
            company.clone(),
            CompanyImport {
                company,
                periods: Some(periods),
                terms: None,
            },
        ));
    }
    Ok(import)
}
