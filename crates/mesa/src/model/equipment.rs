//! The registry of biometric equipment and the warranty replacement of a faulty unit.
//!
//! The contract: "Aquellos equipos de hardware biométrico que presenten alguna falla y que
//! se encuentren dentro de garantía serán reemplazados sin costo por otro de iguales o
//! mejores características". Whether a device is in warranty is a fact of the registry
//! (its warranty end), not a staff member's memory: the exclusions rules read it as
//! `diagnosis.device` when a ticket is diagnosed.

use std::sync::LazyLock;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::CompanyRecord;
pub use crate::policy::terms::{DeviceFacts, Warranty};

/// One biometric device installed at a customer's site.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct Equipment {
    /// The serial number printed on the device, as [`Equipment::key_of`] writes it.
    pub serial: String,
    pub model: String,
    /// The customer company it was sold to (as the registry of companies names it).
    pub company: String,
    /// Where it is installed (branch, plant, door).
    #[serde(default)]
    pub site: String,
    pub installed_on: NaiveDate,
    /// The last day of the warranty (included), in the desk's time zone.
    pub warranty_until: NaiveDate,
    #[serde(default)]
    pub status: EquipmentStatus,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum EquipmentStatus {
    #[default]
    InService,
    /// Replaced by another unit (its warranty went with the replacement).
    Replaced,
    Retired,
}

impl EquipmentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            EquipmentStatus::InService => "in_service",
            EquipmentStatus::Replaced => "replaced",
            EquipmentStatus::Retired => "retired",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::InService, Self::Replaced, Self::Retired]
            .into_iter()
            .find(|k| k.as_str() == s.trim())
    }
}

impl Equipment {
    /// The key a serial is stored and found under: upper case, without spaces (customers
    /// write "ab 1234" for "AB1234").
    pub fn key_of(serial: &str) -> String {
        serial
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect::<String>()
            .to_uppercase()
    }

    pub fn key(&self) -> String {
        Self::key_of(&self.serial)
    }

    /// What makes the record unusable, in words.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let key = self.key();
        if key.is_empty() {
            problems.push("serial is empty".to_string());
        } else if key.chars().count() > 64 || !key.chars().all(|c| c.is_ascii_graphic()) {
            problems.push(format!(
                "serial {key:?} must be up to 64 letters, digits or signs"
            ));
        }
        if self.model.trim().is_empty() {
            problems.push("model is empty".to_string());
        }
        if self.company.trim().is_empty() {
            problems.push("company is empty".to_string());
        }
        if self.warranty_until < self.installed_on {
            problems.push(format!(
                "the warranty ends ({}) before the installation ({})",
                self.warranty_until, self.installed_on
            ));
        }
        problems
    }

    /// The device's standing on `day`, as a ticket of `company` (the registry's name of
    /// the sender's company; `None` when the sender is not a registered contact) sees it.
    pub fn facts_on(&self, day: NaiveDate, company: Option<&str>) -> DeviceFacts {
        let warranty = if self.status != EquipmentStatus::InService {
            Warranty::Retired
        } else if day <= self.warranty_until {
            Warranty::InWarranty
        } else {
            Warranty::OutOfWarranty
        };
        DeviceFacts {
            serial: self.key(),
            warranty,
            model: self.model.clone(),
            company: self.company.clone(),
            site: self.site.clone(),
            warranty_until: Some(self.warranty_until),
            same_company: company
                .map(|c| CompanyRecord::key_of(c) == CompanyRecord::key_of(&self.company)),
        }
    }
}

/// "Número de serie: AB-1234", "No. de serie AB1234", "serial AB/1234": how customers
/// name a device in a mail. The serial must have a digit, so "la serie del lector" is not
/// read as serial "DEL". Not "S/N": in a Mexican address it is "sin número" ("Km 3 s/n
/// 76246" would make a postal code a serial).
static SERIAL_IN_TEXT: LazyLock<regex::Regex> = LazyLock::new(|| {
    regex::Regex::new(
        r"(?i)\b(?:n[uú]mero\s+de\s+serie|n[oº°]\.?\s*(?:de\s+)?serie|n[uú]m\.?\s*(?:de\s+)?serie|serie|serial(?:\s+number)?)\s*[:#=.]?\s*([a-z0-9][a-z0-9._/-]{3,39})",
    )
    .expect("the serial pattern compiles")
});

/// The first device serial a customer's text names, as [`Equipment::key_of`] writes it.
pub fn serial_in_text(text: &str) -> Option<String> {
    SERIAL_IN_TEXT
        .captures_iter(text)
        .filter_map(|c| c.get(1))
        .map(|m| m.as_str().trim_end_matches(['-', '.', '/', '_']))
        .find(|s| s.chars().any(|c| c.is_ascii_digit()))
        .map(Equipment::key_of)
}

/// The stages of replacing a faulty unit under warranty, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum ReplacementStep {
    /// The replacement is approved (the diagnosis found the unit covered).
    Approved,
    /// The new unit is on its way (carrier and tracking number).
    Shipped,
    /// The new unit is installed at the customer's site.
    Installed,
    /// The faulty unit is back with Ingressio.
    FaultyReceived,
}

impl ReplacementStep {
    pub const ALL: [ReplacementStep; 4] = [
        ReplacementStep::Approved,
        ReplacementStep::Shipped,
        ReplacementStep::Installed,
        ReplacementStep::FaultyReceived,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ReplacementStep::Approved => "approved",
            ReplacementStep::Shipped => "shipped",
            ReplacementStep::Installed => "installed",
            ReplacementStep::FaultyReceived => "faulty_received",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s.trim())
    }

    /// The step that must be recorded before this one.
    pub fn after(self) -> Option<ReplacementStep> {
        match self {
            ReplacementStep::Approved => None,
            ReplacementStep::Shipped => Some(ReplacementStep::Approved),
            ReplacementStep::Installed => Some(ReplacementStep::Shipped),
            // The faulty unit may come back before or after the new one is installed.
            ReplacementStep::FaultyReceived => Some(ReplacementStep::Shipped),
        }
    }
}

/// One recorded step of a replacement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct ReplacementRecord {
    pub step: ReplacementStep,
    pub at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub carrier: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub tracking: String,
    /// The new unit's serial (when shipped or installed).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub serial: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub note: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serials_are_found_as_customers_write_them() {
        let cases = [
            (
                "El lector con número de serie: ZK-4500-0193 no enciende",
                Some("ZK-4500-0193"),
            ),
            ("No. de serie A1B2C3D4, sucursal Norte", Some("A1B2C3D4")),
            ("Av. Industrial Km 3 s/n 76246, Querétaro", None), // "sin número"
            (
                "El lector ZK4500/0193 no enciende. Serie: ZK4500/0193.",
                Some("ZK4500/0193"),
            ),
            ("Serial number 9K8J7H6G is dead", Some("9K8J7H6G")),
            ("num. serie zk45001 (planta 2)", Some("ZK45001")),
            ("la serie del lector es la misma de siempre", None),
            ("el checador dejó de funcionar", None),
        ];
        for (text, want) in cases {
            assert_eq!(serial_in_text(text).as_deref(), want, "{text}");
        }
    }

    #[test]
    fn warranty_is_counted_to_its_last_day_inclusive() {
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        let e = Equipment {
            serial: " zk 4500 ".into(),
            model: "ZK4500".into(),
            company: "Tornillos del Norte".into(),
            site: "Planta 1".into(),
            installed_on: d("2025-12-01"),
            warranty_until: d("2026-11-30"),
            status: EquipmentStatus::InService,
        };
        assert_eq!(e.key(), "ZK4500");
        let f = e.facts_on(d("2026-11-30"), Some("tornillos  del norte"));
        assert_eq!(f.warranty, Warranty::InWarranty);
        assert_eq!(f.same_company, Some(true));
        let other = e.facts_on(d("2026-12-01"), Some("Otra"));
        assert_eq!(other.warranty, Warranty::OutOfWarranty);
        assert_eq!(other.same_company, Some(false));
        assert_eq!(e.facts_on(d("2026-11-30"), None).same_company, None);
        let replaced = Equipment {
            status: EquipmentStatus::Replaced,
            ..e.clone()
        };
        assert_eq!(
            replaced.facts_on(d("2026-01-01"), None).warranty,
            Warranty::Retired
        );
        let backwards = Equipment {
            warranty_until: d("2025-01-01"),
            ..e
        };
        assert_eq!(backwards.problems().len(), 1);
    }
}
