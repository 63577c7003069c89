//! The workspace's sign-in on AWS: the Cognito user pool's hosted sign-in (OAuth 2.0
//! authorization code with PKCE). The ID token comes straight from the pool's token
//! endpoint over TLS, which OpenID Connect Core §3.1.3.7 (6) accepts in place of checking
//! its signature; its issuer, audience, use and expiry are still checked here.

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mesa_http::{ExternalIdentity, ExternalSignIn};
use serde::Deserialize;

/// The Cognito group whose members are support leads.
pub const LEADS_GROUP: &str = "leads";

pub struct Cognito {
    /// Base URL of the pool's domain (`https://<prefix>.auth.<region>.amazoncognito.com`).
    domain: String,
    client_id: String,
    /// `https://cognito-idp.<region>.amazonaws.com/<pool id>`.
    issuer: String,
    agent: ureq::Agent,
}

fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

impl Cognito {
    pub fn new(domain: &str, client_id: &str, issuer: &str) -> Self {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(std::time::Duration::from_secs(10)))
            .http_status_as_error(false)
            .build()
            .into();
        Self {
            domain: domain.trim_end_matches('/').to_string(),
            client_id: client_id.to_string(),
            issuer: issuer.trim_end_matches('/').to_string(),
            agent,
        }
    }

    /// From `COGNITO_DOMAIN`, `COGNITO_WEB_CLIENT_ID` and `COGNITO_ISSUER`: all three or
    /// none (then the workspace has no sign-in on this deployment, and says so).
    pub fn from_env() -> Result<Option<Self>, String> {
        let get = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        match (
            get("COGNITO_DOMAIN"),
            get("COGNITO_WEB_CLIENT_ID"),
            get("COGNITO_ISSUER"),
        ) {
            (Some(d), Some(c), Some(i)) => Ok(Some(Self::new(&d, &c, &i))),
            (None, None, None) => Ok(None),
            _ => Err(
                "COGNITO_DOMAIN, COGNITO_WEB_CLIENT_ID and COGNITO_ISSUER go together: set all three or none"
                    .into(),
            ),
        }
    }
}

#[derive(Deserialize)]
struct TokenResponse {
    id_token: String,
}

#[derive(Deserialize)]
struct Claims {
    iss: String,
    aud: String,
    token_use: String,
    exp: i64,
    email: Option<String>,
    /// Cognito sends it as a boolean (or, for some federated users, the string "true").
    #[serde(default)]
    email_verified: Option<serde_json::Value>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default, rename = "cognito:groups")]
    groups: Vec<String>,
}

/// The identity an ID token names, if it is one of this pool, for this client, not expired.
pub fn identity_from_id_token(
    id_token: &str,
    issuer: &str,
    client_id: &str,
    now: i64,
) -> Result<ExternalIdentity, String> {
    let payload = id_token
        .split('.')
        .nth(1)
        .ok_or("the ID token is not a JWT")?;
    let bytes = URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .map_err(|e| format!("the ID token's payload is not base64url: {e}"))?;
    let c: Claims =
        serde_json::from_slice(&bytes).map_err(|e| format!("the ID token's claims: {e}"))?;
    if c.iss != issuer {
        return Err(format!("issuer {} is not {issuer}", c.iss));
    }
    if c.aud != client_id {
        return Err(format!("audience {} is not this client", c.aud));
    }
    if c.token_use != "id" {
        return Err(format!("token_use {} is not id", c.token_use));
    }
    if c.exp <= now {
        return Err("the ID token has expired".into());
    }
    // A pool member can change their own address; only a verified one names the person.
    let verified = matches!(c.email_verified, Some(serde_json::Value::Bool(true)))
        || matches!(&c.email_verified, Some(serde_json::Value::String(v)) if v == "true");
    if !verified {
        return Err("the ID token's e-mail address is not verified".into());
    }
    let email = c
        .email
        .filter(|e| e.contains('@'))
        .ok_or("the ID token has no e-mail address")?;
    Ok(ExternalIdentity {
        name: c.name.unwrap_or_else(|| email.clone()),
        lead: c.groups.iter().any(|g| g == LEADS_GROUP),
        email,
    })
}

#[async_trait]
impl ExternalSignIn for Cognito {
    fn authorize_url(&self, redirect_uri: &str, state: &str, code_challenge: &str) -> String {
        format!(
            "{}/oauth2/authorize?response_type=code&client_id={}&redirect_uri={}&scope={}&state={}&code_challenge_method=S256&code_challenge={}",
            self.domain,
            enc(&self.client_id),
            enc(redirect_uri),
            enc("openid email profile"),
            enc(state),
            enc(code_challenge),
        )
    }

    async fn exchange(
        &self,
        code: &str,
        redirect_uri: &str,
        code_verifier: &str,
    ) -> Result<ExternalIdentity, String> {
        let url = format!("{}/oauth2/token", self.domain);
        let form = [
            ("grant_type".to_string(), "authorization_code".to_string()),
            ("client_id".to_string(), self.client_id.clone()),
            ("code".to_string(), code.to_string()),
            ("redirect_uri".to_string(), redirect_uri.to_string()),
            ("code_verifier".to_string(), code_verifier.to_string()),
        ];
        let agent = self.agent.clone();
        // ureq blocks; keep it off the async workers.
        let (status, body) = tokio::task::spawn_blocking(move || {
            let mut r = agent
                .post(&url)
                .send_form(form.iter().map(|(k, v)| (k.as_str(), v.as_str())))
                .map_err(|e| format!("token endpoint: {e}"))?;
            let status = r.status().as_u16();
            let body = r
                .body_mut()
                .read_to_string()
                .map_err(|e| format!("token endpoint's answer: {e}"))?;
            Ok::<_, String>((status, body))
        })
        .await
        .map_err(|e| format!("token exchange: {e}"))??;
        if status != 200 {
            return Err(format!("token endpoint answered {status}: {body}"));
        }
        let tokens: TokenResponse =
            serde_json::from_str(&body).map_err(|e| format!("token endpoint's answer: {e}"))?;
        identity_from_id_token(
            &tokens.id_token,
            &self.issuer,
            &self.client_id,
            chrono::Utc::now().timestamp(),
        )
    }

    fn logout_url(&self, return_to: &str) -> String {
        format!(
            "{}/logout?client_id={}&logout_uri={}",
            self.domain,
            enc(&self.client_id),
            enc(return_to)
        )
    }

    fn origin(&self) -> String {
        self.domain.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ISS: &str = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_abc";

    fn token(claims: serde_json::Value) -> String {
        format!(
            "eyJhbGciOiJSUzI1NiJ9.{}.c2ln",
            URL_SAFE_NO_PAD.encode(claims.to_string())
        )
    }

    fn claims() -> serde_json::Value {
        serde_json::json!({
            "iss": ISS, "aud": "web", "token_use": "id", "exp": 2_000_000_000i64,
            "email": "ana@ingressio.com", "email_verified": true, "name": "Ana Ruiz",
            "cognito:groups": ["leads"]
        })
    }

    #[test]
    fn an_id_token_of_this_pool_and_client_names_the_person_and_their_role() {
        let id = identity_from_id_token(&token(claims()), ISS, "web", 1_900_000_000).unwrap();
        assert_eq!(id.email, "ana@ingressio.com");
        assert_eq!(id.name, "Ana Ruiz");
        assert!(id.lead);
    }

    #[test]
    fn another_pool_another_client_an_access_token_or_an_old_token_is_refused() {
        for (field, value) in [
            (
                "iss",
                serde_json::json!("https://cognito-idp.us-east-1.amazonaws.com/otro"),
            ),
            ("aud", serde_json::json!("otra-app")),
            ("token_use", serde_json::json!("access")),
            ("exp", serde_json::json!(1_800_000_000i64)),
            // An address the person set themselves and never verified (someone else's).
            ("email_verified", serde_json::json!(false)),
        ] {
            let mut c = claims();
            c[field] = value;
            assert!(
                identity_from_id_token(&token(c), ISS, "web", 1_900_000_000).is_err(),
                "{field}"
            );
        }
        assert!(identity_from_id_token("garbage", ISS, "web", 0).is_err());
    }
}
