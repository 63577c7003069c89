//! Major incidents: a failure that affects many customers at once (the AWS hosting, say).
//!
//! The contract: "En caso de falla en el servicio de hospedaje … se notificará
//! inmediatamente de las acciones a seguir y tiempos estimados de resolución". Staff declare
//! the incident once; every affected customer is told at once (one notice per contact,
//! never two), told of each update, and told when it is over; tickets that report it while
//! it is open are linked to it, and their clocks run as the contract says.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::policy::engine::fold;

/// How long before its declaration a ticket may have been sent and still be about the
/// incident (customers often write before staff know).
pub const LINK_BEFORE: Duration = Duration::hours(2);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct Incident {
    /// A ULID.
    pub id: String,
    pub declared_at: DateTime<Utc>,
    /// Who declared it (a staff address, or `rules`).
    pub declared_by: String,
    /// What failed, as customers should read it (e.g. "Falla del hospedaje en AWS").
    pub cause: String,
    /// The service affected (e.g. "Registro de asistencia en la nube").
    pub service: String,
    /// What is being done.
    pub actions: String,
    pub estimated_resolution: Option<DateTime<Utc>>,
    /// Words or phrases a customer's report of it carries ("no sincroniza", "caído"): a new
    /// ticket with one of them, sent while the incident is open, is linked to it.
    pub symptoms: Vec<String>,
    pub audience: Audience,
    #[serde(default)]
    pub updates: Vec<IncidentUpdate>,
    #[serde(default)]
    pub resolved: Option<Resolution>,
}

/// Who is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Audience {
    /// Contacts of companies with a contracted period in force (or none on record) today.
    Subscribed,
    /// Every registered contact.
    Everyone,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct IncidentUpdate {
    pub at: DateTime<Utc>,
    pub text: String,
    pub estimated_resolution: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct Resolution {
    pub at: DateTime<Utc>,
    pub summary: String,
}

/// What a ticket records of the incident it reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct IncidentLink {
    pub id: String,
    pub cause: String,
    pub service: String,
}

impl Incident {
    pub fn is_open(&self) -> bool {
        self.resolved.is_none()
    }

    /// The estimated resolution now (the latest update's, else the declaration's).
    pub fn current_estimate(&self) -> Option<DateTime<Utc>> {
        self.updates
            .iter()
            .rev()
            .find_map(|u| u.estimated_resolution)
            .or(self.estimated_resolution)
    }

    /// Whether a report sent at `sent_at` with `text` is about this incident: sent while it
    /// is open (or shortly before it was declared) and naming one of its symptoms.
    pub fn matches(&self, sent_at: DateTime<Utc>, text: &str) -> bool {
        if !self.is_open() || sent_at < self.declared_at - LINK_BEFORE {
            return false;
        }
        let text = fold(text);
        self.symptoms
            .iter()
            .map(|s| fold(s))
            .filter(|s| !s.is_empty())
            .any(|s| contains_words(&text, &s))
    }

    /// What makes two declarations one outage: the cause and the service, folded (case,
    /// accents and spacing aside). A store holds at most one open incident per subject (its
    /// `declare_incident`), so an outage declared twice, by a retry or by two reports
    /// arriving together, is one incident.
    pub fn subject(&self) -> String {
        Self::subject_of(&self.cause, &self.service)
    }

    /// The [`subject`](Self::subject) an incident of this cause and service has.
    pub fn subject_of(cause: &str, service: &str) -> String {
        format!("{}\n{}", fold(cause), fold(service))
    }

    /// The [`subject`](Self::subject) as a short key of fixed size (a SHA-256 prefix, in
    /// hex), for stores that key a record on it.
    pub fn subject_key(&self) -> String {
        use sha2::{Digest, Sha256};
        let digest = Sha256::digest(self.subject().as_bytes());
        digest[..16].iter().map(|b| format!("{b:02x}")).collect()
    }

    pub fn link(&self) -> IncidentLink {
        IncidentLink {
            id: self.id.clone(),
            cause: self.cause.clone(),
            service: self.service.clone(),
        }
    }

    /// The outbox id of this incident's notice of `phase` to `address`: the same on every
    /// try, so a declaration retried after a crash never tells anyone twice.
    pub fn notice_id(&self, phase: &str, address: &str) -> String {
        use sha2::{Digest, Sha256};
        let digest = Sha256::digest(crate::types::address_key(address).as_bytes());
        let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
        format!("inc-{}-{phase}-{hex}", self.id.to_ascii_lowercase())
    }

    /// What makes a declaration unusable, in words.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        for (field, value) in [
            ("cause", &self.cause),
            ("service", &self.service),
            ("actions", &self.actions),
        ] {
            if value.trim().is_empty() {
                problems.push(format!("{field} is empty"));
            }
        }
        if self
            .estimated_resolution
            .is_some_and(|eta| eta < self.declared_at)
        {
            problems.push("the estimated resolution is before the declaration".into());
        }
        problems
    }
}

/// Whether `phrase` occurs in `text` as whole words ("red" is not in "credencial").
fn contains_words(text: &str, phrase: &str) -> bool {
    let word = |c: Option<char>| c.is_some_and(char::is_alphanumeric);
    text.match_indices(phrase).any(|(at, _)| {
        !word(text[..at].chars().next_back()) && !word(text[at + phrase.len()..].chars().next())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn reports_naming_a_symptom_while_it_is_open_are_about_it() {
        let mut incident = Incident {
            id: "01JINC".into(),
            declared_at: at("2026-11-24T16:00:00Z"),
            declared_by: "luisa@ingressio.com".into(),
            cause: "Falla del hospedaje en AWS".into(),
            service: "Nube".into(),
            actions: "Conmutamos a la región de respaldo.".into(),
            estimated_resolution: None,
            symptoms: vec!["no sincroniza".into(), "Caído".into()],
            audience: Audience::Subscribed,
            updates: Vec::new(),
            resolved: None,
        };
        assert!(incident.matches(at("2026-11-24T16:30:00Z"), "El sistema está CAIDO"));
        assert!(incident.matches(at("2026-11-24T15:00:00Z"), "El checador no sincroniza"));
        assert!(!incident.matches(at("2026-11-24T13:00:00Z"), "todo caído"));
        assert!(!incident.matches(at("2026-11-24T16:30:00Z"), "¿Cómo exporto a Excel?"));
        assert!(incident.matches(at("2026-11-24T16:30:00Z"), "Todo está caído, urgente"));
        assert!(!incident.matches(at("2026-11-24T16:30:00Z"), "Lo decaídos que estamos"));
        assert_ne!(
            incident.notice_id("declared", "Ana@x.mx"),
            incident.notice_id("resolved", "ana@x.mx")
        );
        assert_eq!(
            incident.notice_id("declared", "Ana@x.mx"),
            incident.notice_id("declared", "ana@x.mx")
        );
        incident.resolved = Some(Resolution {
            at: at("2026-11-24T18:00:00Z"),
            summary: "Restablecido.".into(),
        });
        assert!(!incident.matches(at("2026-11-24T17:00:00Z"), "caído"));
    }
}
