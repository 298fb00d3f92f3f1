//! The local identity provider of the embedded default: single-use sign-in links,
//! printed by `workvault sign-in-link --email E` (or on first start). It implements the
//! same [`IdentityProvider`] port as the OIDC adapter; no password exists anywhere.

use std::sync::Arc;

use async_trait::async_trait;

use crate::identity::{
    AuthorizationRequest, BearerIdentity, IdentityError, IdentityProvider, SignInCallback, SignInMethod,
};
use crate::model::{Identity, LinkState};
use crate::ports::{Clock, Conflict, IdentityStore, StoreError};

/// The issuer local users are keyed under.
pub const LOCAL_ISSUER: &str = "local";

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
        let presented = token.hash();
        let link = self.store.sign_in_link(&presented).await?.ok_or(IdentityError::Invalid)?;
        if link.token_hash != presented {
            return Err(IdentityError::Invalid);
        }
        let now = self.clock.now();
        match link.state(now) {
            LinkState::Usable => {}
            LinkState::Expired => return Err(IdentityError::Expired),
            LinkState::Used | LinkState::Revoked => return Err(IdentityError::Used),
        }
        match self.store.consume_sign_in_link(&presented, now).await {
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
