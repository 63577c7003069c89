//! Staff accounts and their sessions: adding people, signing in with a password (Argon2id),
//! locking an account after repeated wrong passwords, signing out everywhere at once, and
//! people who sign in through an external identity provider (Cognito on AWS).

use std::sync::OnceLock;

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use chrono::{DateTime, Duration, Utc};

use super::{Desk, DeskError};
use crate::intake::FieldErrors;
use crate::model::{StaffMember, StaffRole};
use crate::tokens::TokenError;
use crate::types::address_key;

/// Shorter passwords are refused (NIST SP 800-63B asks for at least 8; staff hold
/// customers' data, so more).
pub const MIN_PASSWORD_CHARS: usize = 12;
const MAX_PASSWORD_BYTES: usize = 1024;
/// Wrong passwords in a row before the account is locked for [`LOCK_FOR`].
pub const MAX_FAILED_SIGN_INS: u32 = 5;
pub const LOCK_FOR: Duration = Duration::minutes(15);

/// Someone signed in: who, and the cookie value of their session.
#[derive(Debug, Clone)]
pub struct Session {
    pub member: StaffMember,
    pub token: String,
    /// The session's nonce, which its CSRF token is derived from.
    nonce: String,
}

impl Session {
    pub fn nonce(&self) -> &str {
        &self.nonce
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    /// Unknown address, wrong password or disabled account: the same answer for each, so
    /// the page does not tell which addresses have accounts.
    #[error("wrong address or password")]
    Refused,
    #[error("too many wrong passwords; the account is locked until {0}")]
    Locked(DateTime<Utc>),
    #[error(transparent)]
    Desk(#[from] DeskError),
}

/// Why a session cookie is not accepted (each sends the person to the sign-in page).
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("not a valid session: {0}")]
    Token(#[from] TokenError),
    #[error("the account is unknown or disabled")]
    NoAccount,
    #[error("the session was closed (signed out)")]
    SignedOut,
    #[error(transparent)]
    Desk(#[from] DeskError),
}

fn invalid(field: &str, message: &str) -> DeskError {
    let mut errors = FieldErrors::new();
    errors.insert(field.into(), message.into());
    DeskError::Invalid(errors)
}

fn check_password(password: &str) -> Result<(), DeskError> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(invalid(
            "password",
            &format!("La contraseña debe tener al menos {MIN_PASSWORD_CHARS} caracteres."),
        ));
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(invalid("password", "La contraseña es demasiado larga."));
    }
    Ok(())
}

/// Argon2id with the crate's defaults (m = 19 MiB, t = 2, p = 1: OWASP's minimum), run off
/// the async workers because it is slow on purpose.
async fn hash_password(password: String) -> Result<String, DeskError> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
    })
    .await
    .map_err(|e| invalid("password", &format!("no se pudo cifrar la contraseña: {e}")))?
    .map_err(|e| invalid("password", &format!("no se pudo cifrar la contraseña: {e}")))
}

/// Whether `password` matches the PHC string `hash` (false for a malformed hash).
async fn password_matches(hash: String, password: String) -> bool {
    tokio::task::spawn_blocking(move || {
        PasswordHash::new(&hash)
            .map(|h| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &h)
                    .is_ok()
            })
            .unwrap_or(false)
    })
    .await
    .unwrap_or(false)
}

/// A hash no password matches, checked for unknown addresses so that they take as long
/// to refuse as a wrong password.
fn decoy_hash() -> String {
    static DECOY: OnceLock<String> = OnceLock::new();
    DECOY
        .get_or_init(|| {
            let salt = SaltString::generate(&mut OsRng);
            Argon2::default()
                .hash_password(crate::types::TicketId::new().as_str().as_bytes(), &salt)
                .map(|h| h.to_string())
                .unwrap_or_default()
        })
        .clone()
}

fn valid_email(email: &str) -> bool {
    let email = email.trim();
    match email.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !email.chars().any(|c| c.is_whitespace() || c.is_control())
                && email.len() <= 254
        }
        None => false,
    }
}

impl Desk {
    /// Adds an account. A password is required for people who sign in here (one machine);
    /// `None` for people who sign in elsewhere.
    pub async fn add_staff(
        &self,
        email: &str,
        name: &str,
        role: StaffRole,
        password: Option<&str>,
    ) -> Result<StaffMember, DeskError> {
        if !valid_email(email) {
            return Err(invalid("email", "Escriba un correo válido."));
        }
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 120 || name.chars().any(char::is_control) {
            return Err(invalid("name", "Escriba el nombre (hasta 120 caracteres)."));
        }
        let password_hash = match password {
            Some(p) => {
                check_password(p)?;
                Some(hash_password(p.to_string()).await?)
            }
            None => None,
        };
        let member = StaffMember {
            email: address_key(email),
            name: name.to_string(),
            role,
            password_hash,
            active: true,
            session_epoch: 0,
            failed_sign_ins: 0,
            locked_until: None,
            created_at: self.now(),
            last_sign_in: None,
        };
        if !self.store.create_staff(&member).await? {
            return Err(invalid("email", "Ya existe una cuenta con ese correo."));
        }
        Ok(member)
    }

    /// The account of `email`, if there is one.
    pub async fn staff_member(&self, email: &str) -> Result<Option<StaffMember>, DeskError> {
        Ok(self.store.staff(email).await?)
    }

    pub async fn staff_members(&self) -> Result<Vec<StaffMember>, DeskError> {
        Ok(self.store.list_staff().await?)
    }

    async fn existing_staff(&self, email: &str) -> Result<StaffMember, DeskError> {
        self.store
            .staff(email)
            .await?
            .ok_or_else(|| invalid("email", "No hay una cuenta con ese correo."))
    }

    /// Reads account `email`, changes it with `f` and writes it back, one change at a time
    /// in this process: a sign-in and a password reset at once cannot undo each other, and
    /// wrong passwords tried in parallel are all counted. `f` gives what to return, or
    /// `None` for "write nothing".
    async fn update_staff<T>(
        &self,
        email: &str,
        f: impl FnOnce(&mut StaffMember) -> Option<T>,
    ) -> Result<Option<T>, DeskError> {
        let _one_at_a_time = self.staff_writes.lock().await;
        let Some(mut m) = self.store.staff(email).await? else {
            return Ok(None);
        };
        let Some(out) = f(&mut m) else {
            return Ok(None);
        };
        self.store.put_staff(&m).await?;
        Ok(Some(out))
    }

    /// Disables (or enables again) an account; disabling also ends its sessions.
    pub async fn set_staff_active(
        &self,
        email: &str,
        active: bool,
    ) -> Result<StaffMember, DeskError> {
        self.existing_staff(email).await?;
        let changed = self
            .update_staff(email, |m| {
                if m.active != active {
                    m.active = active;
                    m.session_epoch += 1;
                }
                Some(m.clone())
            })
            .await?;
        changed.ok_or_else(|| invalid("email", "No hay una cuenta con ese correo."))
    }

    /// Sets a new password, unlocks the account and ends its sessions.
    pub async fn set_staff_password(
        &self,
        email: &str,
        password: &str,
    ) -> Result<StaffMember, DeskError> {
        check_password(password)?;
        self.existing_staff(email).await?;
        let hash = hash_password(password.to_string()).await?;
        let changed = self
            .update_staff(email, |m| {
                m.password_hash = Some(hash);
                m.failed_sign_ins = 0;
                m.locked_until = None;
                m.session_epoch += 1;
                Some(m.clone())
            })
            .await?;
        changed.ok_or_else(|| invalid("email", "No hay una cuenta con ese correo."))
    }

    /// Checks an address and password and opens a session. Five wrong passwords in a row
    /// lock the account for fifteen minutes.
    pub async fn sign_in(&self, email: &str, password: &str) -> Result<Session, SignInError> {
        let now = self.now();
        let Some(m) = self.store.staff(email).await.map_err(DeskError::from)? else {
            password_matches(decoy_hash(), password.to_string()).await;
            return Err(SignInError::Refused);
        };
        if let Some(until) = m.locked_until.filter(|u| *u > now) {
            return Err(SignInError::Locked(until));
        }
        // The slow check runs on the account as read; the outcome is then written on the
        // account as it is by then.
        let checked_hash = m.password_hash.clone();
        let right = password.len() <= MAX_PASSWORD_BYTES
            && checked_hash.is_some()
            && password_matches(
                checked_hash.clone().unwrap_or_default(),
                password.to_string(),
            )
            .await;
        let outcome = self
            .update_staff(email, |m| {
                if let Some(until) = m.locked_until.filter(|u| *u > now) {
                    // Locked meanwhile by wrong passwords tried in parallel.
                    return Some(Err(SignInError::Locked(until)));
                }
                // A password changed meanwhile (a reset) is not the one that was checked.
                if right && m.active && m.password_hash == checked_hash {
                    m.failed_sign_ins = 0;
                    m.locked_until = None;
                    m.last_sign_in = Some(now);
                    return Some(Ok(m.clone()));
                }
                if !m.active {
                    return None;
                }
                m.failed_sign_ins += 1;
                if m.failed_sign_ins >= MAX_FAILED_SIGN_INS {
                    m.failed_sign_ins = 0;
                    m.locked_until = Some(now + LOCK_FOR);
                    tracing::warn!(staff = %m.email, "account locked after repeated wrong passwords");
                }
                Some(Err(SignInError::Refused))
            })
            .await?;
        match outcome {
            Some(Ok(member)) => Ok(self.open_session(member, now)),
            Some(Err(e)) => Err(e),
            None => Err(SignInError::Refused),
        }
    }

    /// Opens a session for someone an external identity provider has vouched for (the
    /// user pool on AWS): their account is made on first sign-in, and its role follows the
    /// provider's groups each time.
    pub async fn sign_in_external(
        &self,
        email: &str,
        name: &str,
        role: StaffRole,
    ) -> Result<Session, SignInError> {
        let now = self.now();
        if self
            .store
            .staff(email)
            .await
            .map_err(DeskError::from)?
            .is_none()
        {
            // The provider's name as far as it makes a name here; the address otherwise.
            let cleaned: String = name.chars().filter(|c| !c.is_control()).take(120).collect();
            let name = if cleaned.trim().is_empty() {
                email
            } else {
                cleaned.trim()
            };
            match self.add_staff(email, name, role, None).await {
                Ok(_) => {}
                // Made meanwhile by a second first sign-in: use it.
                Err(DeskError::Invalid(e)) if e.contains_key("email") && valid_email(email) => {}
                Err(e) => return Err(e.into()),
            }
        }
        let member = self
            .update_staff(email, |m| {
                if !m.active {
                    return None;
                }
                m.role = role;
                m.last_sign_in = Some(now);
                Some(m.clone())
            })
            .await?;
        match member {
            Some(m) => Ok(self.open_session(m, now)),
            None => Err(SignInError::Refused),
        }
    }

    fn open_session(&self, member: StaffMember, now: DateTime<Utc>) -> Session {
        let token = self
            .signer
            .session_token(&member.email, member.session_epoch, now);
        let nonce = self
            .signer
            .verify_session(&token, now)
            .map(|c| c.nonce)
            .unwrap_or_default();
        Session {
            member,
            token,
            nonce,
        }
    }

    /// The session a cookie stands for, if it is still good: signed by us, under 12 hours
    /// old, of an active account that has not signed out since.
    pub async fn session(&self, token: &str) -> Result<Session, SessionError> {
        let claims = self.signer.verify_session(token, self.now())?;
        let member = self
            .store
            .staff(&claims.email)
            .await
            .map_err(DeskError::from)?
            .filter(|m| m.active)
            .ok_or(SessionError::NoAccount)?;
        if member.session_epoch != claims.epoch {
            return Err(SessionError::SignedOut);
        }
        Ok(Session {
            member,
            token: token.to_string(),
            nonce: claims.nonce,
        })
    }

    /// Ends every session of the account (this browser's and any other).
    pub async fn sign_out(&self, session: &Session) -> Result<(), DeskError> {
        let epoch = session.member.session_epoch;
        self.update_staff(&session.member.email, |m| {
            (m.session_epoch == epoch).then(|| m.session_epoch += 1)
        })
        .await?;
        Ok(())
    }

    /// The CSRF token every form of `session` carries.
    pub fn csrf_token(&self, session: &Session) -> String {
        self.signer.csrf_token(&session.nonce)
    }

    pub fn csrf_ok(&self, session: &Session, given: &str) -> bool {
        self.signer.csrf_matches(&session.nonce, given)
    }

    /// A pre-session cookie for the sign-in page, and the CSRF token its form carries.
    pub fn presession(&self) -> (String, String) {
        let cookie = self.signer.presession_token();
        let csrf = self
            .signer
            .verify_presession(&cookie)
            .map(|nonce| self.signer.csrf_token(nonce))
            .unwrap_or_default();
        (cookie, csrf)
    }

    /// The PKCE verifier of a sign-in through an identity provider that began with this
    /// pre-session cookie (see [`Desk::presession`]; its CSRF token is the OAuth `state`).
    pub fn pkce_verifier(&self, cookie: &str) -> Option<String> {
        self.signer
            .verify_presession(cookie)
            .ok()
            .map(|nonce| self.signer.pkce_verifier(nonce))
    }

    /// Whether a sign-in form's CSRF token belongs to this browser's pre-session cookie.
    pub fn presession_csrf_ok(&self, cookie: &str, given: &str) -> bool {
        self.signer
            .verify_presession(cookie)
            .is_ok_and(|nonce| self.signer.csrf_matches(nonce, given))
    }
}
