use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sqlite::SqliteConnection;
use workvault_domain::audit::AuditDraft;
use workvault_domain::id::{InviteId, JobId, UserId, WorkspaceId};
use workvault_domain::model::{Invite, Member, Membership};
use workvault_domain::page::{Cursor, Page, PageRequest};
use workvault_domain::policy::{Justified, Role};
use workvault_domain::ports::{
    Conflict, Decided, Ended, InviteStore, MemberFacts, MemberStore, RoleChange, StoreError, StoreResult,
};
use workvault_domain::secret::TokenHash;

use crate::audit::append;
use crate::rows::{InviteRow, MembershipRow, id, micros, role};
use crate::schema::{assets, grants, invites, memberships, sessions, tickets, users};
use crate::{Db, SqliteStore};

fn member_row(c: &mut SqliteConnection, ws: &str, user: &str) -> Result<Option<Member>, Db> {
    let row: Option<(MembershipRow, String)> = memberships::table
        .inner_join(users::table)
        .filter(memberships::workspace_id.eq(ws))
        .filter(memberships::user_id.eq(user))
        .select((MembershipRow::as_select(), users::email))
        .first(c)
        .optional()?;
    Ok(row.map(|(m, email)| m.into_member(&email)).transpose()?)
}

/// Inside the write transaction (SQLite's single writer): the roles the decision was
/// made on must still be the roles now. The Owner is never changed this way.
fn still_holds(c: &mut SqliteConnection, ws: &str, target: &str, decided: Decided) -> Result<(), Db> {
    let rows: Vec<(String, String)> = memberships::table
        .filter(memberships::workspace_id.eq(ws))
        .filter(memberships::user_id.eq_any([decided.actor.to_string(), target.to_owned()]))
        .select((memberships::user_id, memberships::role))
        .load(c)?;
    let role_of = |u: &str| rows.iter().find(|(id, _)| id == u).map(|(_, r)| role(r)).transpose();
    let (actor_now, target_now) = (role_of(&decided.actor.to_string())?, role_of(target)?);
    match target_now {
        None => Err(Db(StoreError::NotFound)),
        Some(Role::Owner) => Err(Db(StoreError::Conflict(Conflict::OwnerProtected))),
        Some(t) if t != decided.target_role || actor_now != Some(decided.actor_role) => {
            Err(Db(StoreError::Conflict(Conflict::Stale)))
        }
        Some(_) => Ok(()),
    }
}

/// The member's role in the workspace, read in the caller's transaction (SQLite's one
/// writer: it cannot change before that transaction ends).
pub(crate) fn role_in(c: &mut SqliteConnection, ws: &str, user: &str) -> Result<Option<Role>, Db> {
    let found: Option<String> = memberships::table.find((ws, user)).select(memberships::role).first(c).optional()?;
    Ok(found.as_deref().map(role).transpose()?)
}

/// Inside a role change: deletes the member's grants and revokes their pending invites
/// that their new role does not justify, and says which.
fn end_unjustified(
    c: &mut SqliteConnection,
    ws: &str,
    user: &str,
    keeps: &Justified,
    at: DateTime<Utc>,
) -> Result<Ended, Db> {
    let mut ended = Ended::default();
    if !keeps.grants {
        let mine = grants::table.filter(grants::workspace_id.eq(ws)).filter(grants::user_id.eq(user));
        let jobs: Vec<String> = mine.select(grants::job_id).order(grants::job_id).load(c)?;
        diesel::delete(mine).execute(c)?;
        ended.grants = jobs.iter().map(|j| id::<JobId>(j)).collect::<Result<_, _>>()?;
    }
    let kept: Vec<&str> = keeps.invite_roles.iter().map(|r| r.as_str()).collect();
    let pending = invites::table
        .filter(invites::workspace_id.eq(ws))
        .filter(invites::created_by.eq(user))
        .filter(invites::accepted_at.is_null())
        .filter(invites::revoked_at.is_null())
        .filter(invites::role.ne_all(kept));
    let revoked: Vec<String> = pending.select(invites::id).order(invites::id).load(c)?;
    diesel::update(invites::table.filter(invites::id.eq_any(&revoked)))
        .set(invites::revoked_at.eq(micros(at)))
        .execute(c)?;
    ended.invites = revoked.iter().map(|i| id::<InviteId>(i)).collect::<Result<_, _>>()?;
    Ok(ended)
}

#[async_trait]
impl MemberStore for SqliteStore {
    async fn members(&self, ws: WorkspaceId, page: PageRequest) -> StoreResult<Page<Member>> {
        self.run(move |c| {
            let mut q = memberships::table
                .inner_join(users::table)
                .filter(memberships::workspace_id.eq(ws.to_string()))
                .order((memberships::created_at.desc(), memberships::user_id.desc()))
                .limit(i64::from(page.limit) + 1)
                .select((MembershipRow::as_select(), users::email))
                .into_boxed();
            if let Some(after) = page.after {
                let id = after.id.to_string();
                q = q.filter(
                    memberships::created_at
                        .lt(after.key)
                        .or(memberships::created_at.eq(after.key).and(memberships::user_id.lt(id))),
                );
            }
            let rows: Vec<(MembershipRow, String)> = q.load(c)?;
            let members = rows.into_iter().map(|(m, e)| m.into_member(&e)).collect::<Result<Vec<_>, _>>()?;
            Ok(Page::from_rows(members, page.limit, |m| Cursor {
                key: micros(m.membership.created_at),
                id: *m.membership.user_id.as_uuid(),
            }))
        })
        .await
    }

    async fn member_facts(&self, ws: WorkspaceId, actor: UserId, target: UserId) -> StoreResult<MemberFacts> {
        self.run(move |c| {
            // One statement: both roles, each `NULL` for a non-member.
            let rows: Vec<(String, String)> = memberships::table
                .filter(memberships::workspace_id.eq(ws.to_string()))
                .filter(memberships::user_id.eq_any([actor.to_string(), target.to_string()]))
                .select((memberships::user_id, memberships::role))
                .load(c)?;
            let role_of =
                |u: UserId| rows.iter().find(|(id, _)| *id == u.to_string()).map(|(_, r)| role(r)).transpose();
            Ok(MemberFacts { actor: role_of(actor)?, target: role_of(target)? })
        })
        .await
    }

    async fn change_role(
        &self,
        ws: WorkspaceId,
        user: UserId,
        change: RoleChange,
        decided: Decided,
        mut audit: AuditDraft,
    ) -> StoreResult<Member> {
        self.write(move |c| {
            let (ws, user) = (ws.to_string(), user.to_string());
            still_holds(c, &ws, &user, decided)?;
            diesel::update(memberships::table.find((&ws, &user)))
                .set(memberships::role.eq(change.role.as_str()))
                .execute(c)?;
            end_unjustified(c, &ws, &user, &change.keeps, change.at)?.record_in(&mut audit);
            append(c, audit)?;
            member_row(c, &ws, &user)?.ok_or(Db(StoreError::NotFound))
        })
        .await
    }

    async fn remove_member(
        &self,
        ws: WorkspaceId,
        user: UserId,
        at: DateTime<Utc>,
        decided: Decided,
        audit: AuditDraft,
    ) -> StoreResult<()> {
        self.write(move |c| {
            let (ws, user) = (ws.to_string(), user.to_string());
            still_holds(c, &ws, &user, decided)?;
            // Grants go with the membership (foreign key, ON DELETE CASCADE).
            diesel::delete(memberships::table.find((&ws, &user))).execute(c)?;
            // Nobody outside the workspace holds its assets or works its tickets.
            diesel::update(assets::table.filter(assets::workspace_id.eq(&ws)).filter(assets::assignee_id.eq(&user)))
                .set(assets::assignee_id.eq(None::<String>))
                .execute(c)?;
            diesel::update(tickets::table.filter(tickets::workspace_id.eq(&ws)).filter(tickets::assignee_id.eq(&user)))
                .set(tickets::assignee_id.eq(None::<String>))
                .execute(c)?;
            // The member's pending invites carried their authority: it is gone.
            diesel::update(invites::table)
                .filter(invites::workspace_id.eq(&ws))
                .filter(invites::created_by.eq(&user))
                .filter(invites::accepted_at.is_null())
                .filter(invites::revoked_at.is_null())
                .set(invites::revoked_at.eq(micros(at)))
                .execute(c)?;
            diesel::update(sessions::table)
                .filter(sessions::user_id.eq(&user))
                .filter(sessions::revoked_at.is_null())
                .set(sessions::revoked_at.eq(micros(at)))
                .execute(c)?;
            append(c, audit)?;
            Ok(())
        })
        .await
    }

    async fn transfer_ownership(
        &self,
        ws: WorkspaceId,
        from: UserId,
        to: UserId,
        at: DateTime<Utc>,
        mut audit: AuditDraft,
    ) -> StoreResult<()> {
        self.write(move |c| {
            let ws = ws.to_string();
            let (from, to) = (from.to_string(), to.to_string());
            let demoted = diesel::update(memberships::table.find((&ws, &from)))
                .filter(memberships::role.eq(Role::Owner.as_str()))
                .set(memberships::role.eq(Role::Admin.as_str()))
                .execute(c)?;
            if demoted == 0 {
                return Err(Db(StoreError::Conflict(Conflict::NotOwner)));
            }
            let promoted = diesel::update(memberships::table.find((&ws, &to)))
                .set(memberships::role.eq(Role::Owner.as_str()))
                .execute(c)?;
            if promoted == 0 {
                return Err(Db(StoreError::NotFound));
            }
            let mut ended = end_unjustified(c, &ws, &from, &Justified::by(Role::Admin), at)?;
            let of_new_owner = end_unjustified(c, &ws, &to, &Justified::by(Role::Owner), at)?;
            ended.grants.extend(of_new_owner.grants);
            ended.invites.extend(of_new_owner.invites);
            ended.record_in(&mut audit);
            append(c, audit)?;
            Ok(())
        })
        .await
    }
}

#[async_trait]
impl InviteStore for SqliteStore {
    async fn create_invite(&self, invite: &Invite, audit: AuditDraft) -> StoreResult<()> {
        let row = InviteRow::from_domain(invite);
        self.write(move |c| {
            diesel::insert_into(invites::table).values(&row).execute(c)?;
            append(c, audit)?;
            Ok(())
        })
        .await
    }

    async fn pending_invites(
        &self,
        ws: WorkspaceId,
        now: DateTime<Utc>,
        page: PageRequest,
    ) -> StoreResult<Page<Invite>> {
        self.run(move |c| {
            let mut q = invites::table
                .filter(invites::workspace_id.eq(ws.to_string()))
                .filter(invites::accepted_at.is_null())
                .filter(invites::revoked_at.is_null())
                .filter(invites::expires_at.gt(micros(now)))
                .order((invites::created_at.desc(), invites::id.desc()))
                .limit(i64::from(page.limit) + 1)
                .select(InviteRow::as_select())
                .into_boxed();
            if let Some(after) = page.after {
                let id = after.id.to_string();
                q = q.filter(
                    invites::created_at.lt(after.key).or(invites::created_at.eq(after.key).and(invites::id.lt(id))),
                );
            }
            let rows = q.load(c)?.into_iter().map(InviteRow::into_domain).collect::<Result<Vec<_>, _>>()?;
            Ok(Page::from_rows(rows, page.limit, |i| Cursor { key: micros(i.created_at), id: *i.id.as_uuid() }))
        })
        .await
    }

    async fn revoke_invite(
        &self,
        ws: WorkspaceId,
        id: InviteId,
        at: DateTime<Utc>,
        audit: AuditDraft,
    ) -> StoreResult<()> {
        self.write(move |c| {
            let n = diesel::update(invites::table.find(id.to_string()))
                .filter(invites::workspace_id.eq(ws.to_string()))
                .filter(invites::accepted_at.is_null())
                .filter(invites::revoked_at.is_null())
                .set(invites::revoked_at.eq(micros(at)))
                .execute(c)?;
            if n == 0 {
                return Err(Db(StoreError::NotFound));
            }
            append(c, audit)?;
            Ok(())
        })
        .await
    }

    async fn invite_by_token(&self, hash: &TokenHash) -> StoreResult<Option<Invite>> {
        let hash = hash.as_bytes().to_vec();
        self.run(move |c| {
            let row = invites::table
                .filter(invites::token_hash.eq(hash))
                .select(InviteRow::as_select())
                .first(c)
                .optional()?;
            Ok(row.map(InviteRow::into_domain).transpose()?)
        })
        .await
    }

    async fn accept_invite(&self, invite: InviteId, membership: &Membership, audit: AuditDraft) -> StoreResult<()> {
        let row = MembershipRow::from_domain(membership);
        self.write(move |c| {
            let n = diesel::update(invites::table.find(invite.to_string()))
                .filter(invites::workspace_id.eq(&row.workspace_id))
                .filter(invites::accepted_at.is_null())
                .filter(invites::revoked_at.is_null())
                .filter(invites::expires_at.gt(row.created_at))
                .set((invites::accepted_by.eq(&row.user_id), invites::accepted_at.eq(row.created_at)))
                .execute(c)?;
            if n == 0 {
                return Err(Db(StoreError::Conflict(Conflict::LinkNotPending)));
            }
            match diesel::insert_into(memberships::table).values(&row).execute(c) {
                Ok(_) => {}
                Err(diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)) => {
                    return Err(Db(StoreError::Conflict(Conflict::AlreadyMember)));
                }
                Err(e) => return Err(e.into()),
            }
            append(c, audit)?;
            Ok(())
        })
        .await
    }
}
