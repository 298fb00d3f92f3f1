use chrono::{DateTime, Utc};
use serde_json::json;
use zeroize::Zeroizing;

use super::Workvault;
use crate::audit::{AuditActor, AuditDraft};
use crate::error::{Error, field};
use crate::id::{RequestId, SessionId, UserId, WorkspaceId};
use crate::identity::{AuthFlow, AuthorizationRequest, IdentityError, IdentityProvider, SignInCallback, SignInMethod};
use crate::model::{Identity, Session, SignInLink, User};
use crate::ports::UserAuditDraft;
use crate::secret::Token;
use crate::text::Email;

/// A session just opened: the cookie token is shown here once.
#[derive(Debug)]
pub struct SessionStart {
    /// The user signed in.
    pub user: User,
    /// The session token for the cookie.
    pub token: Token,
    /// The hard end of the session.
    pub expires_at: DateTime<Utc>,
}

/// A redirect sign-in just started: send the browser to `url`, and bind it to the flow
/// with a short-lived cookie holding `state`.
#[derive(Debug)]
pub struct SignInRedirect {
    /// The provider's authorization URL (with `state`, `nonce` and the PKCE challenge).
    pub url: String,
    /// The `state`, for the binding cookie.
    pub state: Token,
    /// When the flow stops accepting an answer.
    pub expires_at: DateTime<Utc>,
}

/// What the provider sent the browser back with (the callback's query).
#[derive(Debug, Clone, Default)]
pub struct AuthorizationReply {
    /// `state`, as sent.
    pub state: Option<String>,
    /// The authorization code (on success).
    pub code: Option<Zeroizing<String>>,
    /// The provider's error code (on refusal), such as `access_denied`.
    pub error: Option<String>,
    /// `iss`, when the provider sends it (RFC 9207): it must be the configured issuer.
    pub issuer: Option<String>,
}

/// A provider error code, kept only if it looks like one (RFC 6749 error codes are
/// printable ASCII without quotes or backslashes); at most 64 characters.
fn safe_error_code(code: &str) -> String {
    let ok = !code.is_empty() && code.len() <= 64 && code.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if ok { code.to_owned() } else { "error".to_owned() }
}

impl Workvault {
    /// Starts a redirect sign-in: a fresh `state`, `nonce` and PKCE verifier, kept in
    /// the store until the callback, and the provider's authorization URL.
    pub async fn begin_sign_in(
        &self,
        provider: &dyn IdentityProvider,
        login_hint: Option<&str>,
    ) -> Result<SignInRedirect, Error> {
        if provider.method() != SignInMethod::Redirect {
            return Err(Error::SignInMethodOff("this server signs in with sign-in links, not through a provider"));
        }
        let now = self.now();
        let state = Token::generate(&*self.rng);
        let flow = AuthFlow {
            state_hash: state.hash(),
            nonce: Token::generate(&*self.rng),
            pkce_verifier: Token::generate(&*self.rng),
            created_at: now,
            expires_at: now + self.lifetimes.sign_in_flow,
        };
        let request = AuthorizationRequest {
            state: &state,
            nonce: &flow.nonce,
            pkce_verifier: &flow.pkce_verifier,
            login_hint: login_hint.filter(|h| !h.is_empty() && h.len() <= 254),
        };
        let url = provider.authorization_url(&request).map_err(identity_error)?;
        self.store.create_auth_flow(&flow).await?;
        Ok(SignInRedirect { url, state, expires_at: flow.expires_at })
    }

    /// Finishes a redirect sign-in from the provider's answer and opens a session.
    /// `bound_state` is the binding cookie: the answer must come back to the browser that
    /// started the flow. The flow is taken out of the store first, so whatever happens
    /// next it cannot be answered twice.
    pub async fn finish_sign_in(
        &self,
        provider: &dyn IdentityProvider,
        reply: &AuthorizationReply,
        bound_state: Option<&str>,
        request_id: Option<RequestId>,
    ) -> Result<SessionStart, Error> {
        if provider.method() != SignInMethod::Redirect {
            return Err(Error::SignInMethodOff("this server signs in with sign-in links, not through a provider"));
        }
        let failed = |why: &str| Error::SignInFailed(why.to_owned());
        let state =
            reply.state.as_deref().and_then(Token::parse).ok_or_else(|| failed("the answer has no valid state"))?;
        let bound = bound_state.and_then(Token::parse).map(|t| t.hash());
        if bound != Some(state.hash()) {
            return Err(failed("this sign-in was started in another browser (or its cookie expired): start again"));
        }
        let flow = self
            .store
            .take_auth_flow(&state.hash(), self.now())
            .await?
            .ok_or_else(|| failed("this sign-in expired or was finished already: start again"))?;
        if reply.issuer.as_deref().is_some_and(|iss| iss != provider.issuer()) {
            return Err(failed("the answer came from another issuer"));
        }
        if let Some(error) = &reply.error {
            return Err(Error::SignInDenied(safe_error_code(error)));
        }
        let code = reply.code.clone().filter(|c| !c.is_empty()).ok_or_else(|| failed("the answer has no code"))?;
        let identity = provider.complete(&SignInCallback::Code { code, flow }).await.map_err(identity_error)?;
        self.open_session(&identity, request_id).await
    }

    /// The user a bearer access token speaks for, read from the store on every request.
    /// Someone who never signed in through the browser gets an account on their first
    /// request when the token carries an email claim.
    pub async fn authenticate_bearer(&self, provider: &dyn IdentityProvider, token: &str) -> Result<UserId, Error> {
        let bearer = provider.verify_bearer(token).await.map_err(|e| match e {
            IdentityError::Unsupported(_) => Error::Unauthenticated(
                "bearer tokens are accepted when an OpenID Connect provider is configured; this server signs in with links",
            ),
            IdentityError::Rejected(why) => Error::TokenRejected(why),
            other => identity_error(other),
        })?;
        if let Some(user) = self.store.user_by_identity(&bearer.issuer, &bearer.subject).await? {
            return Ok(user.id);
        }
        let email = bearer.email.ok_or(Error::AccountUnknown)?;
        let identity = Identity { issuer: bearer.issuer, subject: bearer.subject, email };
        let user = self.store.upsert_user(&identity, UserId::generate(&*self.clock, &*self.rng), self.now()).await?;
        Ok(user.id)
    }

    /// Issues a single-use local sign-in link for `email` (CLI, first start).
    pub async fn issue_sign_in_link(&self, email: &str) -> Result<(SignInLink, Token), Error> {
        let email = Email::parse(email).map_err(field("email"))?;
        let token = Token::generate(&*self.rng);
        let now = self.now();
        let link = SignInLink {
            token_hash: token.hash(),
            email,
            created_at: now,
            expires_at: now + self.lifetimes.sign_in_link,
            used_at: None,
        };
        self.store.create_sign_in_link(&link).await?;
        Ok((link, token))
    }

    /// Checks that a sign-in link can still sign in, without using it up (the page that
    /// asks the visitor to confirm, so a mail scanner or link preview that fetches the
    /// link signs nobody in): the same refusals as [`Self::sign_in`], nothing changed.
    pub async fn check_sign_in_link(&self, provider: &dyn IdentityProvider, token: &Token) -> Result<(), Error> {
        if provider.method() != SignInMethod::Link {
            return Err(Error::SignInMethodOff(
                "sign-in links are off on this server: sign in through its identity provider",
            ));
        }
        crate::signin::usable_link(&*self.store, token, self.now()).await.map(|_| ()).map_err(identity_error)
    }

    /// Completes a sign-in through `provider` and opens a session.
    pub async fn sign_in(
        &self,
        provider: &dyn IdentityProvider,
        callback: &SignInCallback,
        request_id: Option<RequestId>,
    ) -> Result<SessionStart, Error> {
        if provider.method() != SignInMethod::Link {
            return Err(Error::SignInMethodOff(
                "sign-in links are off on this server: sign in through its identity provider",
            ));
        }
        let identity = provider.complete(callback).await.map_err(identity_error)?;
        self.open_session(&identity, request_id).await
    }

    /// Opens a session for a verified identity, creating the user on first sign-in.
    pub async fn open_session(
        &self,
        identity: &Identity,
        request_id: Option<RequestId>,
    ) -> Result<SessionStart, Error> {
        let now = self.now();
        let user = self.store.upsert_user(identity, UserId::generate(&*self.clock, &*self.rng), now).await?;
        let token = Token::generate(&*self.rng);
        let session = Session {
            id: SessionId::generate(&*self.clock, &*self.rng),
            token_hash: token.hash(),
            user_id: user.id,
            created_at: now,
            expires_at: now + self.lifetimes.session_absolute,
            last_seen_at: now,
        };
        let audit =
            self.user_audit(user.id, "session.signed_in", &session, request_id, json!({"issuer": identity.issuer}));
        self.store.create_session(&session, audit).await?;
        Ok(SessionStart { user, token, expires_at: session.expires_at })
    }

    /// The live session a cookie token opens, marked as seen now; `None` if unknown,
    /// revoked, expired or idle too long. Read from the store on every request.
    pub async fn authenticate(&self, token: &Token) -> Result<Option<Session>, Error> {
        let presented = token.hash();
        let found = self.store.touch_session(&presented, self.now(), self.lifetimes.session_idle).await?;
        Ok(found.filter(|s| s.token_hash == presented))
    }

    /// Ends a session.
    pub async fn sign_out(&self, session: &Session, request_id: Option<RequestId>) -> Result<(), Error> {
        let audit = self.user_audit(session.user_id, "session.signed_out", session, request_id, json!({}));
        Ok(self.store.revoke_session(&session.token_hash, self.now(), audit).await?)
    }

    /// A user by id.
    pub async fn user(&self, id: UserId) -> Result<User, Error> {
        self.store.user(id).await?.ok_or(Error::NotFound)
    }

    fn user_audit(
        &self,
        user: UserId,
        action: &str,
        session: &Session,
        request_id: Option<RequestId>,
        details: serde_json::Value,
    ) -> UserAuditDraft {
        UserAuditDraft {
            draft: AuditDraft {
                workspace_id: WorkspaceId::from_uuid(uuid::Uuid::nil()),
                at: self.now(),
                actor: AuditActor::User(user),
                action: action.to_owned(),
                target_kind: "session".into(),
                target_id: session.id.to_string(),
                details,
                request_id,
            },
        }
    }
}

/// Maps an identity provider's refusal to the use cases' error.
fn identity_error(e: IdentityError) -> Error {
    match e {
        IdentityError::Invalid => Error::SignInLinkInvalid,
        IdentityError::Expired => Error::SignInLinkExpired,
        IdentityError::Used => Error::SignInLinkUsed,
        IdentityError::Unsupported(what) => Error::SignInFailed(format!("this identity provider does not take {what}")),
        IdentityError::Rejected(why) => Error::SignInFailed(why),
        IdentityError::Unavailable(why) => Error::IdentityProviderUnavailable(why),
        IdentityError::Store(e) => Error::from(e),
    }
}
