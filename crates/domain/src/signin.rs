//! The local identity provider of the embedded default: single-use sign-in links,
//! printed by `workvault sign-in-link --email E` (or on first start). It implements the
//! same [`IdentityProvider`] port as the OIDC adapter; no password exists anywhere.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::identity::{
    AuthorizationRequest, BearerIdentity, IdentityError, IdentityProvider, SignInCallback, SignInMethod,
};
use crate::model::{Identity, LinkState, SignInLink};
use crate::ports::{Clock, Conflict, IdentityStore, StoreError};
use crate::secret::Token;

/// The issuer local users are keyed under.
pub const LOCAL_ISSUER: &str = "local";

/// The sign-in link a token opens, if it can still be used at `now`, read without
/// using it up (the confirmation page asks before [`LocalSignIn`] uses it): `Invalid`
/// when unknown, `Expired`, `Used` when used or revoked.
pub async fn usable_link(
    store: &dyn IdentityStore,
    token: &Token,
    now: DateTime<Utc>,
) -> Result<SignInLink, IdentityError> {
    let presented = token.hash();
    let link = store.sign_in_link(&presented).await?.ok_or(IdentityError::Invalid)?;
    if link.token_hash != presented {
        return Err(IdentityError::Invalid);
    }
    match link.state(now) {
        LinkState::Usable => Ok(link),
        LinkState::Expired => Err(IdentityError::Expired),
        LinkState::Used | LinkState::Revoked => Err(IdentityError::Used),
    }
}

/// Sign-in links as an identity provider.
#[derive(Clone)]
pub struct LocalSignIn {
    store: Arc<dyn IdentityStore>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for LocalSignIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalSignIn").finish_non_exhaustive()
    }
}

impl LocalSignIn {
    /// A provider over the store that keeps the links.
    pub fn new(store: Arc<dyn IdentityStore>, clock: Arc<dyn Clock>) -> Self {
        Self { store, clock }
    }
}

#[async_trait]
impl IdentityProvider for LocalSignIn {
    fn issuer(&self) -> &str {
        LOCAL_ISSUER
    }

    fn method(&self) -> SignInMethod {
        SignInMethod::Link
    }

    fn authorization_url(&self, _: &AuthorizationRequest<'_>) -> Result<String, IdentityError> {
        Err(IdentityError::Unsupported("redirect sign-in"))
    }

    async fn complete(&self, callback: &SignInCallback) -> Result<Identity, IdentityError> {
        let SignInCallback::Link(token) = callback else {
            return Err(IdentityError::Unsupported("authorization codes"));
        };
        let now = self.clock.now();
        let link = usable_link(&*self.store, token, now).await?;
        match self.store.consume_sign_in_link(&link.token_hash, now).await {
            Ok(()) => {}
            Err(StoreError::Conflict(Conflict::LinkNotPending)) => return Err(IdentityError::Used),
            Err(e) => return Err(e.into()),
        }
        Ok(Identity { issuer: LOCAL_ISSUER.into(), subject: link.email.as_str().to_owned(), email: link.email })
    }

    async fn verify_bearer(&self, _: &str) -> Result<BearerIdentity, IdentityError> {
        Err(IdentityError::Unsupported("bearer tokens"))
    }

    fn end_session_url(&self) -> Option<String> {
        None
    }
}
