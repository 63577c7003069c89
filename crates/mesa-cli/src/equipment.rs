//! `mesa equipment`: the registry of biometric equipment, whose warranty dates decide
//! whether a faulty reader is replaced at no cost. Imported from a CSV or a JSON list;
//! listed by company; one device shown.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use chrono::NaiveDate;
use clap::Subcommand;
use mesa::desk::DeskError;
use mesa::model::{Equipment, EquipmentStatus};
use serde::Deserialize;

use crate::customers::RegistryAt;
use crate::local::print;
use crate::rules_source::RulesSource;

#[derive(Subcommand)]
pub enum EquipmentCommand {
    /// Import devices: a CSV with columns serial,model,company,site,installed_on,
    /// warranty_until and optionally status (in_service, replaced, retired), dates as
    /// YYYY-MM-DD; or a JSON list of objects with those fields. A serial already registered
    /// is written over; one bad row and nothing is imported.
    Import {
        file: PathBuf,
        #[command(flatten)]
        at: RegistryAt,
    },
    /// A company's devices (JSON)
    List {
        company: String,
        #[command(flatten)]
        at: RegistryAt,
    },
    /// One device by its serial (JSON)
    Show {
        serial: String,
        #[command(flatten)]
        at: RegistryAt,
    },
}

#[derive(Deserialize)]
struct CsvRow {
    serial: String,
    model: String,
    company: String,
    #[serde(default)]
    site: String,
    installed_on: String,
    warranty_until: String,
    #[serde(default)]
    status: String,
}

pub async fn run(cmd: EquipmentCommand, source: &RulesSource) -> Result<()> {
    match cmd {
        EquipmentCommand::Import { file, at } => {
            let devices = read_import(&file)?;
            let desk = at.desk(source, false).await?;
            match desk.import_equipment(devices).await {
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
        EquipmentCommand::List { company, at } => {
            let desk = at.desk(source, true).await?;
            print(&desk.store().equipment_of(&company).await?)
        }
        EquipmentCommand::Show { serial, at } => {
            let desk = at.desk(source, true).await?;
            match desk.store().equipment(&serial).await? {
                Some(e) => print(&e),
                None => bail!("no device with serial {serial:?} in the equipment registry"),
            }
        }
    }
}

/// Reads an import file: JSON when it ends in `.json` or starts with `[`, CSV otherwise.
/// Rows that cannot be read fail here, all of them named by their line.
fn read_import(file: &Path) -> Result<Vec<(String, Equipment)>> {
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let is_json = file
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"))
        || bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[');
    if is_json {
        let devices: Vec<Equipment> = serde_json::from_slice(&bytes)
            .with_context(|| format!("{} is not a JSON list of devices", file.display()))?;
        return Ok(devices
            .into_iter()
            .enumerate()
            .map(|(i, e)| (format!("devices[{i}]"), e))
            .collect());
    }
    let mut reader = csv::Reader::from_reader(bytes.as_slice());
    let mut devices = Vec::new();
    let mut problems = Vec::new();
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
        let status = match row.status.trim() {
            "" => Ok(EquipmentStatus::InService),
            s => EquipmentStatus::parse(s).ok_or_else(|| {
                format!("line {line}: status {s:?} is not in_service, replaced or retired")
            }),
        };
        match (
            date("installed_on", &row.installed_on),
            date("warranty_until", &row.warranty_until),
            status,
        ) {
            (Ok(installed_on), Ok(warranty_until), Ok(status)) => devices.push((
                format!("line {line}"),
                Equipment {
                    serial: row.serial,
                    model: row.model,
                    company: row.company,
                    site: row.site,
                    installed_on,
                    warranty_until,
                    status,
                },
            )),
            (a, b, c) => problems.extend([a.err(), b.err(), c.err()].into_iter().flatten()),
        }
    }
    if !problems.is_empty() {
        bail!(
            "nothing imported; fix these rows of {}:\n  {}",
            file.display(),
            problems.join("\n  ")
        );
    }
    Ok(devices)
}
