//! `mesa staff …`: the accounts of the people who work the desk on one machine. Passwords
//! are read from standard input or typed at a prompt without echo, never from the command
//! line (where `ps` and the shell history would keep them).

use std::io::{BufRead, IsTerminal};
use std::path::Path;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use mesa::desk::{DeskError, MIN_PASSWORD_CHARS};
use mesa::model::{StaffMember, StaffRole};
use serde_json::json;

use crate::local::{self, DataArg};
use crate::rules_source::RulesSource;

#[derive(Subcommand)]
pub enum StaffCommand {
    /// Add a staff account (the password is asked for, or read from stdin)
    Add {
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: String,
        /// lead (also reassigns, releases quarantined mail) or agent
        #[arg(long, default_value = "agent")]
        role: StaffRole,
        #[command(flatten)]
        password: PasswordArg,
        #[command(flatten)]
        data: DataArg,
    },
    /// List the accounts (JSON lines; no password hashes)
    List {
        #[command(flatten)]
        data: DataArg,
    },
    /// Disable an account: it can no longer sign in and its sessions end
    Disable {
        #[arg(long)]
        email: String,
        #[command(flatten)]
        data: DataArg,
    },
    /// Enable a disabled account again
    Enable {
        #[arg(long)]
        email: String,
        #[command(flatten)]
        data: DataArg,
    },
    /// Set a new password (unlocks the account and ends its sessions)
    Password {
        #[arg(long)]
        email: String,
        #[command(flatten)]
        password: PasswordArg,
        #[command(flatten)]
        data: DataArg,
    },
}

#[derive(Args)]
pub struct PasswordArg {
    /// Read the password from the first line of standard input
    #[arg(long)]
    password_stdin: bool,
}

impl PasswordArg {
    fn read(&self) -> Result<String> {
        if self.password_stdin || !std::io::stdin().is_terminal() {
            let mut line = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut line)
                .context("reading the password from standard input")?;
            let password = line.trim_end_matches(['\r', '\n']).to_string();
            if password.is_empty() {
                bail!("no password on standard input (--password-stdin reads its first line)");
            }
            return Ok(password);
        }
        let first = rpassword::prompt_password(format!(
            "Contraseña (al menos {MIN_PASSWORD_CHARS} caracteres): "
        ))?;
        let again = rpassword::prompt_password("Repita la contraseña: ")?;
        if first != again {
            bail!("the two passwords differ; nothing was changed");
        }
        Ok(first)
    }
}

/// What is shown of an account: never the hash.
fn shown(m: &StaffMember) -> serde_json::Value {
    json!({
        "email": m.email,
        "name": m.name,
        "role": m.role.name(),
        "active": m.active,
        "signs_in_with": if m.password_hash.is_some() { "password" } else { "identity provider" },
        "locked_until": m.locked_until,
        "last_sign_in": m.last_sign_in,
        "created_at": m.created_at,
    })
}

/// A refused change as a readable error (field: message).
fn explained(e: DeskError) -> anyhow::Error {
    match e {
        DeskError::Invalid(fields) => anyhow::anyhow!(
            "{}",
            fields
                .iter()
                .map(|(k, v)| format!("{k}: {v}"))
                .collect::<Vec<_>>()
                .join("; ")
        ),
        other => other.into(),
    }
}

fn open(data: &Path, source: &RulesSource) -> Result<local::Local> {
    local::open(data, source, "http://127.0.0.1:8080", None)
}

pub async fn run(cmd: StaffCommand, source: &RulesSource) -> Result<()> {
    let member = match cmd {
        StaffCommand::Add {
            email,
            name,
            role,
            password,
            data,
        } => {
            let local = open(&data.data, source)?;
            let password = password.read()?;
            local
                .desk
                .add_staff(&email, &name, role, Some(&password))
                .await
                .map_err(explained)?
        }
        StaffCommand::List { data } => {
            let local = open(&data.data, source)?;
            for m in local.desk.staff_members().await? {
                println!("{}", shown(&m));
            }
            return Ok(());
        }
        StaffCommand::Disable { email, data } => {
            let local = open(&data.data, source)?;
            local
                .desk
                .set_staff_active(&email, false)
                .await
                .map_err(explained)?
        }
        StaffCommand::Enable { email, data } => {
            let local = open(&data.data, source)?;
            local
                .desk
                .set_staff_active(&email, true)
                .await
                .map_err(explained)?
        }
        StaffCommand::Password {
            email,
            password,
            data,
        } => {
            let local = open(&data.data, source)?;
            let password = password.read()?;
            local
                .desk
                .set_staff_password(&email, &password)
                .await
                .map_err(explained)?
        }
    };
    println!("{}", shown(&member));
    Ok(())
}
