use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use diesel::sqlite::SqliteConnection;
use workvault_domain::audit::AuditDraft;
use workvault_domain::id::{SessionId, UserId};
use workvault_domain::identity::AuthFlow;
use workvault_domain::model::{Identity, Session, SignInLink, User};
use workvault_domain::ports::{Conflict, IdentityStore, StoreError, StoreResult, UserAuditDraft};
use workvault_domain::secret::TokenHash;

use crate::audit::append;
use crate::rows::{AuthFlowRow, SessionRow, SignInLinkRow, UserRow, id, micros};
use crate::schema::{auth_flows, memberships, sessions, sign_in_links, users};
use crate::{Db, SqliteStore};

/// How stale a session's last-seen mark may get before a request rewrites it.
const TOUCH_EVERY_MICROS: i64 = 60 * 1_000_000;

/// Appends a user-level event to the chain of every workspace the user belongs to.
fn append_for_user(c: &mut SqliteConnection, user: UserId, audit: &UserAuditDraft) -> Result<(), Db> {
    let workspaces: Vec<String> = memberships::table
        .filter(memberships::user_id.eq(user.to_string()))
        .select(memberships::workspace_id)
        .load(c)?;
    for ws in workspaces {
        append(c, audit.for_workspace(id(&ws)?))?;
    }
    Ok(())
}

#[async_trait]
impl IdentityStore for SqliteStore {
    async fn upsert_user(&self, identity: &Identity, new_id: UserId, at: DateTime<Utc>) -> StoreResult<User> {
        let row = UserRow {
            id: new_id.to_string(),
            issuer: identity.issuer.clone(),
            subject: identity.subject.clone(),
            email: identity.email.to_string(),
            created_at: micros(at),
        };
        self.write(move |c| {
            let user: UserRow = diesel::insert_into(users::table)
                .values(&row)
                .on_conflict((users::issuer, users::subject))
                .do_update()
                .set(users::email.eq(&row.email))
                .returning(UserRow::as_returning())
                .get_result(c)?;
            Ok(user.into_domain()?)
        })
        .await
    }

    async fn user(&self, user: UserId) -> StoreResult<Option<User>> {
        self.run(move |c| {
            let row = users::table.find(user.to_string()).select(UserRow::as_select()).first(c).optional()?;
            Ok(row.map(UserRow::into_domain).transpose()?)
        })
        .await
    }

    async fn user_by_identity(&self, issuer: &str, subject: &str) -> StoreResult<Option<User>> {
        let (issuer, subject) = (issuer.to_owned(), subject.to_owned());
        self.run(move |c| {
            let row = users::table
                .filter(users::issuer.eq(issuer))
                .filter(users::subject.eq(subject))
                .select(UserRow::as_select())
                .first(c)
                .optional()?;
            Ok(row.map(UserRow::into_domain).transpose()?)
        })
        .await
    }

    async fn has_users(&self) -> StoreResult<bool> {
        self.run(|c| Ok(diesel::select(diesel::dsl::exists(users::table.select(users::id))).get_result(c)?)).await
    }

    async fn create_sign_in_link(&self, link: &SignInLink) -> StoreResult<()> {
        let row = SignInLinkRow::from_domain(link);
        self.write(move |c| {
            diesel::insert_into(sign_in_links::table).values(&row).execute(c)?;
            Ok(())
        })
        .await
    }

    async fn sign_in_link(&self, hash: &TokenHash) -> StoreResult<Option<SignInLink>> {
        let hash = hash.as_bytes().to_vec();
        self.run(move |c| {
            let row = sign_in_links::table.find(hash).select(SignInLinkRow::as_select()).first(c).optional()?;
            Ok(row.map(SignInLinkRow::into_domain).transpose()?)
        })
        .await
    }

    async fn consume_sign_in_link(&self, hash: &TokenHash, at: DateTime<Utc>) -> StoreResult<()> {
        let hash = hash.as_bytes().to_vec();
        self.write(move |c| {
            let n = diesel::update(sign_in_links::table.find(hash))
                .filter(sign_in_links::used_at.is_null())
                .filter(sign_in_links::expires_at.gt(micros(at)))
                .set(sign_in_links::used_at.eq(micros(at)))
                .execute(c)?;
            if n == 0 {
                return Err(Db(StoreError::Conflict(Conflict::LinkNotPending)));
            }
            Ok(())
        })
        .await
    }

    async fn create_session(&self, session: &Session, audit: UserAuditDraft) -> StoreResult<()> {
        let row = SessionRow::from_domain(session);
        let user = session.user_id;
        self.write(move |c| {
            diesel::insert_into(sessions::table).values(&row).execute(c)?;
            append_for_user(c, user, &audit)?;
            Ok(())
        })
        .await
    }

    async fn touch_session(
        &self,
        hash: &TokenHash,
        now: DateTime<Utc>,
        idle: Duration,
    ) -> StoreResult<Option<Session>> {
        let hash = hash.as_bytes().to_vec();
        let (now, idle_since) = (micros(now), micros(now - idle));
        self.run(move |c| {
            // The common case is one read, which WAL lets run beside writers; the
            // last-seen mark is written only when it is a minute old or more.
            let row: Option<SessionRow> = sessions::table
                .filter(sessions::token_hash.eq(hash))
                .filter(sessions::revoked_at.is_null())
                .filter(sessions::expires_at.gt(now))
                .filter(sessions::last_seen_at.gt(idle_since))
                .select(SessionRow::as_select())
                .first(c)
                .optional()?;
            let Some(mut row) = row else { return Ok(None) };
            if now - row.last_seen_at >= TOUCH_EVERY_MICROS {
                c.immediate_transaction(|c| {
                    diesel::update(sessions::table.find(&row.id))
                        .filter(sessions::revoked_at.is_null())
                        .set(sessions::last_seen_at.eq(now))
                        .execute(c)
                })
                .map_err(Db::from)?;
                row.last_seen_at = now;
            }
            Ok(Some(row.into_domain()?))
        })
        .await
    }

    async fn create_auth_flow(&self, flow: &AuthFlow) -> StoreResult<()> {
        let row = AuthFlowRow::from_domain(flow);
        self.write(move |c| {
            diesel::insert_into(auth_flows::table).values(&row).execute(c)?;
            Ok(())
        })
        .await
    }

    async fn take_auth_flow(&self, state_hash: &TokenHash, now: DateTime<Utc>) -> StoreResult<Option<AuthFlow>> {
        let hash = state_hash.as_bytes().to_vec();
        self.write(move |c| {
            let row = diesel::delete(auth_flows::table.find(hash))
                .returning(AuthFlowRow::as_returning())
                .get_result(c)
                .optional()?;
            let flow = row.map(AuthFlowRow::into_domain).transpose()?;
            Ok(flow.filter(|f| f.is_live(now)))
        })
        .await
    }

    async fn prune_credentials(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        let before = micros(before);
        self.write(move |c| {
            let sessions_gone = diesel::delete(sessions::table)
                .filter(sessions::expires_at.lt(before).or(sessions::revoked_at.lt(before)))
                .execute(c)?;
            let links_gone =
                diesel::delete(sign_in_links::table).filter(sign_in_links::expires_at.lt(before)).execute(c)?;
            let flows_gone = diesel::delete(auth_flows::table).filter(auth_flows::expires_at.lt(before)).execute(c)?;
            Ok((sessions_gone + links_gone + flows_gone) as u64)
        })
        .await
    }

    async fn sessions_of(&self, user: UserId, now: DateTime<Utc>) -> StoreResult<Vec<Session>> {
        let (user, now) = (user.to_string(), micros(now));
        self.run(move |c| {
            let rows: Vec<SessionRow> = sessions::table
                .filter(sessions::user_id.eq(user))
                .filter(sessions::revoked_at.is_null())
                .filter(sessions::expires_at.gt(now))
                .order((sessions::created_at.desc(), sessions::id.desc()))
                .select(SessionRow::as_select())
                .load(c)?;
            Ok(rows.into_iter().map(SessionRow::into_domain).collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    async fn revoke_session_of(
        &self,
        user: UserId,
        session: SessionId,
        at: DateTime<Utc>,
        audit: AuditDraft,
    ) -> StoreResult<()> {
        let (user, session, at) = (user.to_string(), session.to_string(), micros(at));
        self.write(move |c| {
            let n = diesel::update(sessions::table.find(session))
                .filter(sessions::user_id.eq(user))
                .filter(sessions::revoked_at.is_null())
                .filter(sessions::expires_at.gt(at))
                .set(sessions::revoked_at.eq(at))
                .execute(c)?;
            if n == 0 {
                return Err(Db(StoreError::NotFound));
            }
            append(c, audit)?;
            Ok(())
        })
        .await
    }

    async fn revoke_session(&self, hash: &TokenHash, at: DateTime<Utc>, audit: UserAuditDraft) -> StoreResult<()> {
        let hash = hash.as_bytes().to_vec();
        self.write(move |c| {
            let user: Option<String> = diesel::update(sessions::table)
                .filter(sessions::token_hash.eq(hash))
                .filter(sessions::revoked_at.is_null())
                .set(sessions::revoked_at.eq(micros(at)))
                .returning(sessions::user_id)
                .get_result(c)
                .optional()?;
            let Some(user) = user else {
                return Err(Db(StoreError::NotFound));
            };
            append_for_user(c, id(&user)?, &audit)?;
            Ok(())
        })
        .await
    }
}
