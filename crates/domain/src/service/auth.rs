use chrono::{DateTime, Utc};
use serde_json::json;

use super::Workvault;
use crate::audit::{AuditActor, AuditDraft};
use crate::error::{Error, field};
use crate::id::{RequestId, SessionId, UserId, WorkspaceId};
use crate::model::{Identity, Session, SignInLink, User};
use crate::ports::{IdentityError, IdentityProvider, SignInCallback, UserAuditDraft};
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

impl Workvault {
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

    /// Completes a sign-in through `provider` and opens a session.
    pub async fn sign_in(
        &self,
        provider: &dyn IdentityProvider,
        callback: &SignInCallback,
        request_id: Option<RequestId>,
    ) -> Result<SessionStart, Error> {
        let identity = provider.complete(callback).await.map_err(|e| match e {
            IdentityError::Invalid => Error::SignInLinkInvalid,
            IdentityError::Expired => Error::SignInLinkExpired,
            IdentityError::Used => Error::SignInLinkUsed,
            IdentityError::Store(e) => Error::from(e),
        })?;
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
