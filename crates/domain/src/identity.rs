//! Proving who someone is: the [`IdentityProvider`] port and the records of a
//! redirect sign-in in progress.
//!
//! Two providers implement the port: the local sign-in link of the embedded default
//! ([`crate::signin::LocalSignIn`]) and the OpenID Connect adapter
//! (`workvault-auth-oidc`, for Auth0 or any issuer). Exactly one is active; which one is
//! configuration. Users are keyed by `(issuer, subject)`, never by email alone.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use zeroize::Zeroizing;

use crate::model::Identity;
use crate::ports::StoreError;
use crate::secret::{Token, TokenHash};
use crate::text::Email;

/// How the users of a provider sign in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignInMethod {
    /// A single-use link printed by the operator (`workvault sign-in-link`).
    Link,
    /// A browser redirect to the provider and back (OpenID Connect code flow).
    Redirect,
}

/// A redirect sign-in in progress, kept server-side (in the store, so any node can
/// finish it) from `/auth/login` until the provider sends the browser back. Single use:
/// the callback takes it out of the store, so a replayed `state` finds nothing.
#[derive(Debug, Clone)]
pub struct AuthFlow {
    /// SHA-256 of the `state` sent to the provider (the store's key).
    pub state_hash: TokenHash,
    /// The `nonce` the ID token must carry.
    pub nonce: Token,
    /// The PKCE code verifier (its S256 challenge went to the provider).
    pub pkce_verifier: Token,
    /// When the sign-in started.
    pub created_at: DateTime<Utc>,
    /// When an answer stops being accepted.
    pub expires_at: DateTime<Utc>,
}

impl AuthFlow {
    /// Whether the flow still accepts an answer at `now` (it ends exactly at `expires_at`).
    pub fn is_live(&self, now: DateTime<Utc>) -> bool {
        now < self.expires_at
    }
}

/// What the provider needs to build the authorization URL of one sign-in.
#[derive(Debug, Clone, Copy)]
pub struct AuthorizationRequest<'a> {
    /// The `state` parameter (the browser is bound to it by a cookie too).
    pub state: &'a Token,
    /// The `nonce` parameter.
    pub nonce: &'a Token,
    /// The PKCE verifier; the provider sends its S256 challenge.
    pub pkce_verifier: &'a Token,
    /// Optional `login_hint` (an email or user name the provider may pre-fill).
    pub login_hint: Option<&'a str>,
}

/// What came back to prove a sign-in.
#[derive(Debug, Clone)]
pub enum SignInCallback {
    /// A local sign-in link's token.
    Link(Token),
    /// An authorization code, with the flow it answers (taken from the store by its `state`).
    Code {
        /// The authorization code. Never logged.
        code: Zeroizing<String>,
        /// The flow the code answers.
        flow: AuthFlow,
    },
}

/// Who a bearer access token speaks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BearerIdentity {
    /// The token's issuer.
    pub issuer: String,
    /// Its subject.
    pub subject: String,
    /// The email claim, when the token carries one (used only to create the account on
    /// the first request of someone who never signed in through the browser).
    pub email: Option<Email>,
}

/// Why an identity provider refused.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// The proof is unknown or malformed.
    #[error("invalid sign-in proof")]
    Invalid,
    /// The proof was valid once and has expired.
    #[error("sign-in link expired")]
    Expired,
    /// The proof was used already.
    #[error("sign-in link already used")]
    Used,
    /// This provider does not sign in (or verify tokens) this way.
    #[error("this provider does not support {0}")]
    Unsupported(&'static str),
    /// The provider's answer or the presented token did not verify. The reason is safe to
    /// show (it never holds a token).
    #[error("{0}")]
    Rejected(String),
    /// The provider could not be reached or answered nonsense; nothing was signed in.
    #[error("identity provider unavailable: {0}")]
    Unavailable(String),
    /// The provider's store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Proves who someone is. Object-safe; the binary picks one at start-up.
#[async_trait]
pub trait IdentityProvider: Send + Sync {
    /// The issuer users of this provider are keyed under.
    fn issuer(&self) -> &str;

    /// How users sign in through it.
    fn method(&self) -> SignInMethod;

    /// The provider's authorization URL for one redirect sign-in;
    /// `Unsupported` for link providers.
    fn authorization_url(&self, request: &AuthorizationRequest<'_>) -> Result<String, IdentityError>;

    /// Completes a sign-in from what came back.
    async fn complete(&self, callback: &SignInCallback) -> Result<Identity, IdentityError>;

    /// Verifies a bearer access token (signature, issuer, audience, times);
    /// `Unsupported` for providers that issue none.
    async fn verify_bearer(&self, token: &str) -> Result<BearerIdentity, IdentityError>;

    /// Where to send the browser after a sign-out, to end the provider's session too
    /// (OpenID Connect RP-initiated logout), when the provider has such an endpoint.
    fn end_session_url(&self) -> Option<String>;
}
