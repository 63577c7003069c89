//! Signing in through an identity provider (the Cognito user pool on AWS): the router
//! knows only this trait; the function that serves it supplies the provider. The browser
//! goes to the provider with a `state` bound to its pre-session cookie and a PKCE
//! challenge, comes back with a code, and the code is exchanged for the person's verified
//! identity; from there the session is mesa's own, as on one machine.

use async_trait::async_trait;

/// Who the identity provider says signed in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalIdentity {
    pub email: String,
    pub name: String,
    /// A support lead (on Cognito: member of the `leads` group).
    pub lead: bool,
}

#[async_trait]
pub trait ExternalSignIn: Send + Sync {
    /// Where the browser signs in; the provider sends it back to `redirect_uri` with a code
    /// and `state`. `code_challenge` is the PKCE S256 challenge.
    fn authorize_url(&self, redirect_uri: &str, state: &str, code_challenge: &str) -> String;

    /// The identity behind `code`, checked (issuer, audience, expiry); an error says why not.
    async fn exchange(
        &self,
        code: &str,
        redirect_uri: &str,
        code_verifier: &str,
    ) -> Result<ExternalIdentity, String>;

    /// Where signing out sends the browser so the provider forgets the person too; it then
    /// returns to `return_to`.
    fn logout_url(&self, return_to: &str) -> String;

    /// The provider's origin (`https://host`), which the pages' forms may be redirected to.
    fn origin(&self) -> String;
}
