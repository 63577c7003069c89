//! The people who work the desk: their accounts, roles and what keeps a session honest.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What a staff member may do beyond working tickets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StaffRole {
    /// Works tickets, assigns to themselves.
    Agent,
    /// Also reassigns others' tickets, releases quarantined mail and manages staff.
    Lead,
}

impl StaffRole {
    pub fn name(self) -> &'static str {
        match self {
            StaffRole::Agent => "agent",
            StaffRole::Lead => "lead",
        }
    }

    /// The Spanish word shown in the workspace.
    pub fn label(self) -> &'static str {
        match self {
            StaffRole::Agent => "agente",
            StaffRole::Lead => "líder",
        }
    }
}

impl std::str::FromStr for StaffRole {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "agent" | "agente" => Ok(StaffRole::Agent),
            "lead" | "lider" | "líder" => Ok(StaffRole::Lead),
            other => Err(format!("unknown role {other:?}: use lead or agent")),
        }
    }
}

/// A staff account. The address is the identity (lower case); on AWS the account is made
/// the first time a person signs in through the user pool, with no password here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaffMember {
    pub email: String,
    pub name: String,
    pub role: StaffRole,
    /// Argon2id PHC string; `None` for people who sign in elsewhere (Cognito).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_hash: Option<String>,
    pub active: bool,
    /// Sessions carry the epoch they were opened in; signing out moves it on, which ends
    /// every session of the account at once without a session table.
    #[serde(default)]
    pub session_epoch: u32,
    /// Wrong passwords in a row; reset by a right one.
    #[serde(default)]
    pub failed_sign_ins: u32,
    /// After too many wrong passwords, no sign-in is accepted until then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locked_until: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_sign_in: Option<DateTime<Utc>>,
}

impl StaffMember {
    /// The actor recorded on what this person does.
    pub fn actor(&self) -> crate::types::Actor {
        crate::types::Actor::staff(&self.email)
    }

    pub fn is_lead(&self) -> bool {
        self.role == StaffRole::Lead
    }
}
