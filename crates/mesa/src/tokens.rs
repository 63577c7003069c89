//! Signed tokens for links and forms: the satisfaction-survey link of a ticket and the
//! per-form token that carries a fill-time check and the form's idempotency key.
//! HMAC-SHA256 over the payload; verification is constant-time (`hmac`'s `verify_slice`).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::types::TicketId;

type HmacSha256 = Hmac<Sha256>;

/// A form posted sooner than this after it was served is taken for a bot.
pub const MIN_FILL_TIME: Duration = Duration::seconds(3);
/// A form older than this must be reloaded.
pub const FORM_LIFETIME: Duration = Duration::hours(24);
/// A file uploaded ahead of its form must be sent with the form within this time.
pub const UPLOAD_LIFETIME: Duration = Duration::hours(24);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("the token is malformed or its signature does not match")]
    Invalid,
    #[error("the form was sent too fast")]
    TooFast,
    #[error("the form has expired")]
    Expired,
}

pub struct Signer {
    key: Vec<u8>,
}

impl Signer {
    pub fn new(key: &[u8]) -> Self {
        Self { key: key.to_vec() }
    }

    fn mac(&self, purpose: &str, payload: &str) -> HmacSha256 {
        // new_from_slice accepts keys of any length for HMAC.
        let mut mac = HmacSha256::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        mac.update(purpose.as_bytes());
        mac.update(b"\0");
        mac.update(payload.as_bytes());
        mac
    }

    fn sign(&self, purpose: &str, payload: &str) -> String {
        let tag = self.mac(purpose, payload).finalize().into_bytes();
        format!("{payload}.{}", URL_SAFE_NO_PAD.encode(tag))
    }

    fn verify<'a>(&self, purpose: &str, token: &'a str) -> Result<&'a str, TokenError> {
        let (payload, tag) = token.rsplit_once('.').ok_or(TokenError::Invalid)?;
        let tag = URL_SAFE_NO_PAD
            .decode(tag)
            .map_err(|_| TokenError::Invalid)?;
        self.mac(purpose, payload)
            .verify_slice(&tag)
            .map_err(|_| TokenError::Invalid)?;
        Ok(payload)
    }

    /// Token for the satisfaction survey of one closing (1, 2, …) of a ticket: each closing
    /// has its own survey, and a link of an earlier one cannot answer a later one.
    pub fn survey_token(&self, ticket: &TicketId, closing: u32) -> String {
        self.sign("survey", &format!("{}.{closing}", ticket.as_str()))
    }

    /// The ticket and closing a survey token is for (links sent before closings were
    /// numbered are for the first).
    pub fn verify_survey(&self, token: &str) -> Result<(TicketId, u32), TokenError> {
        let payload = self.verify("survey", token)?;
        let (id, closing) = match payload.split_once('.') {
            Some((id, n)) => (id, n.parse().map_err(|_| TokenError::Invalid)?),
            None => (payload, 1),
        };
        Ok((TicketId::parse(id).ok_or(TokenError::Invalid)?, closing))
    }

    /// A fresh form token: when it was served and a random nonce (the form's idempotency key).
    pub fn form_token(&self, issued: DateTime<Utc>) -> String {
        let nonce = ulid::Ulid::new().to_string().to_ascii_lowercase();
        self.sign("form", &format!("{}.{nonce}", issued.timestamp()))
    }

    /// Token for a file uploaded ahead of its form: the blob key and the customer's file
    /// name, so the form can claim it and nothing else.
    pub fn upload_token(&self, key: &str, filename: &str, issued: DateTime<Utc>) -> String {
        let body = URL_SAFE_NO_PAD.encode(format!("{key}\0{filename}"));
        self.sign("upload", &format!("{}.{body}", issued.timestamp()))
    }

    /// Checks an upload token; gives (blob key, file name).
    pub fn verify_upload(
        &self,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<(String, String), TokenError> {
        let payload = self.verify("upload", token)?;
        let (issued, body) = payload.split_once('.').ok_or(TokenError::Invalid)?;
        let issued: i64 = issued.parse().map_err(|_| TokenError::Invalid)?;
        let issued = DateTime::from_timestamp(issued, 0).ok_or(TokenError::Invalid)?;
        if now - issued > UPLOAD_LIFETIME {
            return Err(TokenError::Expired);
        }
        let body = URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| TokenError::Invalid)?;
        let body = String::from_utf8(body).map_err(|_| TokenError::Invalid)?;
        let (key, filename) = body.split_once('\0').ok_or(TokenError::Invalid)?;
        Ok((key.to_string(), filename.to_string()))
    }

    /// Checks a form token at submission; gives its nonce.
    pub fn verify_form(&self, token: &str, now: DateTime<Utc>) -> Result<String, TokenError> {
        let payload = self.verify("form", token)?;
        let (issued, nonce) = payload.split_once('.').ok_or(TokenError::Invalid)?;
        let issued: i64 = issued.parse().map_err(|_| TokenError::Invalid)?;
        let issued = DateTime::from_timestamp(issued, 0).ok_or(TokenError::Invalid)?;
        if now - issued < MIN_FILL_TIME {
            return Err(TokenError::TooFast);
        }
        if now - issued > FORM_LIFETIME {
            return Err(TokenError::Expired);
        }
        Ok(nonce.to_string())
    }

    /// A staff session: whose, in which sign-out epoch, when it began, and a random nonce
    /// that the session's CSRF token is derived from.
    pub fn session_token(&self, email: &str, epoch: u32, issued: DateTime<Utc>) -> String {
        let who = URL_SAFE_NO_PAD.encode(email);
        self.sign(
            "session",
            &format!("{who}.{epoch}.{}.{}", issued.timestamp(), new_nonce()),
        )
    }

    /// Checks a session token's signature and age.
    pub fn verify_session(
        &self,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<SessionClaims, TokenError> {
        let payload = self.verify("session", token)?;
        let mut parts = payload.split('.');
        let (Some(who), Some(epoch), Some(issued), Some(nonce), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(TokenError::Invalid);
        };
        let email = URL_SAFE_NO_PAD
            .decode(who)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or(TokenError::Invalid)?;
        let issued = issued
            .parse::<i64>()
            .ok()
            .and_then(|s| DateTime::from_timestamp(s, 0))
            .ok_or(TokenError::Invalid)?;
        if now - issued > SESSION_LIFETIME || issued - now > Duration::minutes(5) {
            return Err(TokenError::Expired);
        }
        Ok(SessionClaims {
            email,
            epoch: epoch.parse().map_err(|_| TokenError::Invalid)?,
            issued,
            nonce: nonce.to_string(),
        })
    }

    /// The CSRF token of the session (or pre-session) with `nonce`: every form of that
    /// session carries it; another session's token does not match.
    pub fn csrf_token(&self, nonce: &str) -> String {
        self.sign("csrf", nonce)
    }

    pub fn csrf_matches(&self, nonce: &str, given: &str) -> bool {
        self.verify("csrf", given).is_ok_and(|n| n == nonce)
    }

    /// The short cookie that stands before a session (the sign-in page): a signed nonce,
    /// so the sign-in form's CSRF token is bound to this browser.
    pub fn presession_token(&self) -> String {
        self.sign("presession", &new_nonce())
    }

    pub fn verify_presession<'a>(&self, token: &'a str) -> Result<&'a str, TokenError> {
        self.verify("presession", token)
    }

    /// The PKCE code verifier of a sign-in through an identity provider, derived from the
    /// pre-session's nonce with our key: only this server can compute it, and nothing is
    /// stored (RFC 7636: 43–128 characters of `[A-Za-z0-9._~-]`).
    pub fn pkce_verifier(&self, nonce: &str) -> String {
        self.sign("pkce", nonce)
    }
}

/// How long a staff session lasts from sign-in, whatever is done with it.
pub const SESSION_LIFETIME: Duration = Duration::hours(12);

/// What a valid session token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionClaims {
    pub email: String,
    pub epoch: u32,
    pub issued: DateTime<Utc>,
    pub nonce: String,
}

fn new_nonce() -> String {
    use rand::RngCore as _;
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_carry_who_and_epoch_expire_and_cannot_be_forged() {
        let s = Signer::new(b"secret");
        let issued = t("2026-11-10T16:00:00Z");
        let token = s.session_token("ana@ingressio.com", 3, issued);
        let claims = s
            .verify_session(&token, issued + Duration::hours(11))
            .unwrap();
        assert_eq!(claims.email, "ana@ingressio.com");
        assert_eq!(claims.epoch, 3);
        assert_eq!(
            s.verify_session(&token, issued + SESSION_LIFETIME + Duration::seconds(1)),
            Err(TokenError::Expired)
        );
        assert_eq!(
            Signer::new(b"other").verify_session(&token, issued),
            Err(TokenError::Invalid)
        );
        // Someone else's address spliced in does not verify.
        let who = URL_SAFE_NO_PAD.encode("ana@ingressio.com");
        let forged = token.replacen(&who, &URL_SAFE_NO_PAD.encode("lead@ingressio.com"), 1);
        assert_eq!(s.verify_session(&forged, issued), Err(TokenError::Invalid));
        // Two sign-ins are two sessions, each with its own CSRF token.
        let other = s.verify_session(&s.session_token("ana@ingressio.com", 3, issued), issued);
        let other = other.unwrap();
        assert_ne!(other.nonce, claims.nonce);
        let csrf = s.csrf_token(&claims.nonce);
        assert!(s.csrf_matches(&claims.nonce, &csrf));
        assert!(!s.csrf_matches(&other.nonce, &csrf));
        assert!(!s.csrf_matches(&claims.nonce, ""));
        // A form or survey token is not a session.
        assert_eq!(
            s.verify_session(&s.form_token(issued), issued),
            Err(TokenError::Invalid)
        );
    }

    #[test]
    fn upload_tokens_name_their_blob_and_file_and_cannot_be_forged() {
        let signer = Signer::new(b"k");
        let now = Utc::now();
        let token = signer.upload_token("uploads/01J", "informe.pdf", now);
        assert_eq!(
            signer.verify_upload(&token, now + Duration::minutes(5)),
            Ok(("uploads/01J".to_string(), "informe.pdf".to_string()))
        );
        assert_eq!(
            signer.verify_upload(&token, now + UPLOAD_LIFETIME + Duration::seconds(1)),
            Err(TokenError::Expired)
        );
        assert_eq!(
            Signer::new(b"other").verify_upload(&token, now),
            Err(TokenError::Invalid)
        );
        // A form token is not an upload token.
        let form = signer.form_token(now - Duration::minutes(1));
        assert_eq!(signer.verify_upload(&form, now), Err(TokenError::Invalid));
    }

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn survey_tokens_verify_and_resist_tampering() {
        let s = Signer::new(b"secret");
        let id = TicketId::new();
        let token = s.survey_token(&id, 2);
        assert_eq!(s.verify_survey(&token), Ok((id.clone(), 2)));
        assert_ne!(
            s.survey_token(&id, 1),
            token,
            "each closing has its own link"
        );
        let legacy = s.sign("survey", id.as_str());
        assert_eq!(s.verify_survey(&legacy), Ok((id.clone(), 1)));
        assert_eq!(
            Signer::new(b"other").verify_survey(&token),
            Err(TokenError::Invalid)
        );
        let other = TicketId::new();
        let forged = token.replacen(id.as_str(), other.as_str(), 1);
        assert_eq!(s.verify_survey(&forged), Err(TokenError::Invalid));
        assert_eq!(s.verify_survey("garbage"), Err(TokenError::Invalid));
    }

    #[test]
    fn form_tokens_enforce_fill_time_and_lifetime() {
        let s = Signer::new(b"secret");
        let issued = t("2026-11-10T16:00:00Z");
        let token = s.form_token(issued);
        assert_eq!(
            s.verify_form(&token, issued + Duration::seconds(1)),
            Err(TokenError::TooFast)
        );
        let nonce = s
            .verify_form(&token, issued + Duration::seconds(30))
            .unwrap();
        assert_eq!(nonce.len(), 26);
        assert_eq!(
            s.verify_form(&token, issued + Duration::hours(25)),
            Err(TokenError::Expired)
        );
        assert_eq!(s.verify_form("1.2.3", issued), Err(TokenError::Invalid));
    }
}
