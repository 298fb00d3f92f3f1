use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;
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
use crate::rows::{InviteRow, MembershipRow, role};
use crate::schema::{assets, grants, invites, memberships, sessions, tickets, users};
use crate::{Db, PgStore, read, write_tx};

async fn member_row(c: &mut AsyncPgConnection, ws: Uuid, user: Uuid) -> Result<Option<Member>, Db> {
    let row: Option<(MembershipRow, String)> = memberships::table
        .inner_join(users::table)
        .filter(memberships::workspace_id.eq(ws))
        .filter(memberships::user_id.eq(user))
        .select((MembershipRow::as_select(), users::email))
        .first(c)
        .await
        .optional()?;
    Ok(row.map(|(m, email)| m.into_member(&email)).transpose()?)
}

/// Inside the write transaction: locks the actor's and the target's membership rows
/// (`FOR UPDATE`) and checks the roles the decision was made on are the roles now. A
/// concurrent change to either waits for this transaction. The Owner is never changed
/// this way.
async fn still_holds(c: &mut AsyncPgConnection, ws: Uuid, target: Uuid, decided: Decided) -> Result<(), Db> {
    let actor = *decided.actor.as_uuid();
    let rows: Vec<(Uuid, String)> = memberships::table
        .filter(memberships::workspace_id.eq(ws))
        .filter(memberships::user_id.eq_any([actor, target]))
        .select((memberships::user_id, memberships::role))
        // One lock order everywhere (by user id), so two writers never deadlock.
        .order(memberships::user_id)
        .for_update()
        .load(c)
        .await?;
    let role_of = |u: Uuid| rows.iter().find(|(id, _)| *id == u).map(|(_, r)| role(r)).transpose();
    let (actor_now, target_now) = (role_of(actor)?, role_of(target)?);
    match target_now {
        None => Err(Db(StoreError::NotFound)),
        Some(Role::Owner) => Err(Db(StoreError::Conflict(Conflict::OwnerProtected))),
        Some(t) if t != decided.target_role || actor_now != Some(decided.actor_role) => {
            Err(Db(StoreError::Conflict(Conflict::Stale)))
        }
        Some(_) => Ok(()),
    }
}

/// The member's role in the workspace, its row locked `FOR SHARE` until the caller's
/// transaction ends: a removal or role change waits for it (and it for them), so a
/// write checked against this role commits before the role can change.
pub(crate) async fn role_in(c: &mut AsyncPgConnection, ws: Uuid, user: Uuid) -> Result<Option<Role>, Db> {
    let found: Option<String> =
        memberships::table.find((ws, user)).select(memberships::role).for_share().first(c).await.optional()?;
    Ok(found.as_deref().map(role).transpose()?)
}

/// Inside a role change (the membership row locked): deletes the member's grants and
/// revokes their pending invites that their new role does not justify, and says which.
async fn end_unjustified(
    c: &mut AsyncPgConnection,
    ws: Uuid,
    user: Uuid,
    keeps: &Justified,
    at: DateTime<Utc>,
) -> Result<Ended, Db> {
    let mut ended = Ended::default();
    if !keeps.grants {
        let mut jobs: Vec<Uuid> =
            diesel::delete(grants::table.filter(grants::workspace_id.eq(ws)).filter(grants::user_id.eq(user)))
                .returning(grants::job_id)
                .get_results(c)
                .await?;
        jobs.sort_unstable();
        ended.grants = jobs.into_iter().map(JobId::from_uuid).collect();
    }
    let kept: Vec<&str> = keeps.invite_roles.iter().map(|r| r.as_str()).collect();
    let mut revoked: Vec<Uuid> = diesel::update(invites::table)
        .filter(invites::workspace_id.eq(ws))
        .filter(invites::created_by.eq(user))
        .filter(invites::accepted_at.is_null())
        .filter(invites::revoked_at.is_null())
        .filter(invites::role.ne_all(kept))
        .set(invites::revoked_at.eq(at))
        .returning(invites::id)
        .get_results(c)
        .await?;
    revoked.sort_unstable();
    ended.invites = revoked.into_iter().map(InviteId::from_uuid).collect();
    Ok(ended)
}

#[async_trait]
impl MemberStore for PgStore {
    async fn members(&self, ws: WorkspaceId, page: PageRequest) -> StoreResult<Page<Member>> {
        read!(self, |c| {
            let mut q = memberships::table
                .inner_join(users::table)
                .filter(memberships::workspace_id.eq(*ws.as_uuid()))
                .order((memberships::created_at.desc(), memberships::user_id.desc()))
                .limit(i64::from(page.limit) + 1)
                .select((MembershipRow::as_select(), users::email))
                .into_boxed();
            if let Some(after) = page.after {
                let at = crate::jobs::cursor_time(after.key)?;
                q = q.filter(
                    memberships::created_at
                        .lt(at)
                        .or(memberships::created_at.eq(at).and(memberships::user_id.lt(after.id))),
                );
            }
            let rows: Vec<(MembershipRow, String)> = q.load(c).await?;
            let members = rows.into_iter().map(|(m, e)| m.into_member(&e)).collect::<Result<Vec<_>, _>>()?;
            Ok(Page::from_rows(members, page.limit, |m| Cursor {
                key: m.membership.created_at.timestamp_micros(),
                id: *m.membership.user_id.as_uuid(),
            }))
        })
    }

    async fn member_facts(&self, ws: WorkspaceId, actor: UserId, target: UserId) -> StoreResult<MemberFacts> {
        read!(self, |c| {
            let rows: Vec<(Uuid, String)> = memberships::table
                .filter(memberships::workspace_id.eq(*ws.as_uuid()))
                .filter(memberships::user_id.eq_any([*actor.as_uuid(), *target.as_uuid()]))
                .select((memberships::user_id, memberships::role))
                .load(c)
                .await?;
            let role_of = |u: UserId| rows.iter().find(|(id, _)| id == u.as_uuid()).map(|(_, r)| role(r)).transpose();
            Ok(MemberFacts { actor: role_of(actor)?, target: role_of(target)? })
        })
    }

    async fn change_role(
        &self,
        ws: WorkspaceId,
        user: UserId,
        change: RoleChange,
        decided: Decided,
        mut audit: AuditDraft,
    ) -> StoreResult<Member> {
        let (ws, user) = (*ws.as_uuid(), *user.as_uuid());
        write_tx!(self, |c| {
            still_holds(c, ws, user, decided).await?;
            diesel::update(memberships::table.find((ws, user)))
                .set(memberships::role.eq(change.role.as_str()))
                .execute(c)
                .await?;
            end_unjustified(c, ws, user, &change.keeps, change.at).await?.record_in(&mut audit);
            append(c, audit).await?;
            member_row(c, ws, user).await?.ok_or(Db(StoreError::NotFound))
        })
    }

    async fn remove_member(
        &self,
        ws: WorkspaceId,
        user: UserId,
        at: DateTime<Utc>,
        decided: Decided,
        audit: AuditDraft,
    ) -> StoreResult<()> {
        let (ws, user) = (*ws.as_uuid(), *user.as_uuid());
        write_tx!(self, |c| {
            still_holds(c, ws, user, decided).await?;
            // Grants go with the membership (foreign key, ON DELETE CASCADE).
            diesel::delete(memberships::table.find((ws, user))).execute(c).await?;
            // Nobody outside the workspace holds its assets or works its tickets.
            diesel::update(assets::table.filter(assets::workspace_id.eq(ws)).filter(assets::assignee_id.eq(user)))
                .set(assets::assignee_id.eq(None::<Uuid>))
                .execute(c)
                .await?;
            diesel::update(tickets::table.filter(tickets::workspace_id.eq(ws)).filter(tickets::assignee_id.eq(user)))
                .set(tickets::assignee_id.eq(None::<Uuid>))
                .execute(c)
                .await?;
            // The member's pending invites carried their authority: it is gone.
            diesel::update(invites::table)
                .filter(invites::workspace_id.eq(ws))
                .filter(invites::created_by.eq(user))
                .filter(invites::accepted_at.is_null())
                .filter(invites::revoked_at.is_null())
                .set(invites::revoked_at.eq(at))
                .execute(c)
                .await?;
            diesel::update(sessions::table)
                .filter(sessions::user_id.eq(user))
                .filter(sessions::revoked_at.is_null())
                .set(sessions::revoked_at.eq(at))
                .execute(c)
                .await?;
            append(c, audit).await?;
            Ok(())
        })
    }

    async fn transfer_ownership(
        &self,
        ws: WorkspaceId,
        from: UserId,
        to: UserId,
        at: DateTime<Utc>,
        mut audit: AuditDraft,
    ) -> StoreResult<()> {
        let (ws, from, to) = (*ws.as_uuid(), *from.as_uuid(), *to.as_uuid());
        write_tx!(self, |c| {
            // Lock both rows first, in user-id order like every member write, so a
            // concurrent write on either waits instead of deadlocking. Under READ
            // COMMITTED a concurrent transfer then sees the Owner gone and touches nothing.
            memberships::table
                .filter(memberships::workspace_id.eq(ws))
                .filter(memberships::user_id.eq_any([from, to]))
                .select(memberships::user_id)
                .order(memberships::user_id)
                .for_update()
                .load::<Uuid>(c)
                .await?;
            let demoted = diesel::update(memberships::table.find((ws, from)))
                .filter(memberships::role.eq(Role::Owner.as_str()))
                .set(memberships::role.eq(Role::Admin.as_str()))
                .execute(c)
                .await?;
            if demoted == 0 {
                return Err(Db(StoreError::Conflict(Conflict::NotOwner)));
            }
            let promoted = diesel::update(memberships::table.find((ws, to)))
                .set(memberships::role.eq(Role::Owner.as_str()))
                .execute(c)
                .await?;
            if promoted == 0 {
                return Err(Db(StoreError::NotFound));
            }
            let mut ended = end_unjustified(c, ws, from, &Justified::by(Role::Admin), at).await?;
            let of_new_owner = end_unjustified(c, ws, to, &Justified::by(Role::Owner), at).await?;
            ended.grants.extend(of_new_owner.grants);
            ended.invites.extend(of_new_owner.invites);
            ended.record_in(&mut audit);
            append(c, audit).await?;
            Ok(())
        })
    }
}

#[async_trait]
impl InviteStore for PgStore {
    async fn create_invite(&self, invite: &Invite, audit: AuditDraft) -> StoreResult<()> {
        let row = InviteRow::from_domain(invite);
        write_tx!(self, |c| {
            diesel::insert_into(invites::table).values(&row).execute(c).await?;
            append(c, audit).await?;
            Ok(())
        })
    }

    async fn pending_invites(
        &self,
        ws: WorkspaceId,
        now: DateTime<Utc>,
        page: PageRequest,
    ) -> StoreResult<Page<Invite>> {
        read!(self, |c| {
            let mut q = invites::table
                .filter(invites::workspace_id.eq(*ws.as_uuid()))
                .filter(invites::accepted_at.is_null())
                .filter(invites::revoked_at.is_null())
                .filter(invites::expires_at.gt(now))
                .order((invites::created_at.desc(), invites::id.desc()))
                .limit(i64::from(page.limit) + 1)
                .select(InviteRow::as_select())
                .into_boxed();
            if let Some(after) = page.after {
                let at = crate::jobs::cursor_time(after.key)?;
                q = q.filter(invites::created_at.lt(at).or(invites::created_at.eq(at).and(invites::id.lt(after.id))));
            }
            let rows = q.load(c).await?.into_iter().map(InviteRow::into_domain).collect::<Result<Vec<_>, _>>()?;
            Ok(Page::from_rows(rows, page.limit, |i| Cursor {
                key: i.created_at.timestamp_micros(),
                id: *i.id.as_uuid(),
            }))
        })
    }

    async fn revoke_invite(
        &self,
        ws: WorkspaceId,
        id: InviteId,
        at: DateTime<Utc>,
        audit: AuditDraft,
    ) -> StoreResult<()> {
        write_tx!(self, |c| {
            let n = diesel::update(invites::table.find(*id.as_uuid()))
                .filter(invites::workspace_id.eq(*ws.as_uuid()))
                .filter(invites::accepted_at.is_null())
                .filter(invites::revoked_at.is_null())
                .set(invites::revoked_at.eq(at))
                .execute(c)
                .await?;
            if n == 0 {
                return Err(Db(StoreError::NotFound));
            }
            append(c, audit).await?;
            Ok(())
        })
    }

    async fn invite_by_token(&self, hash: &TokenHash) -> StoreResult<Option<Invite>> {
        let hash = hash.as_bytes().to_vec();
        read!(self, |c| {
            let row = invites::table
                .filter(invites::token_hash.eq(hash))
                .select(InviteRow::as_select())
                .first(c)
                .await
                .optional()?;
            Ok(row.map(InviteRow::into_domain).transpose()?)
        })
    }

    async fn accept_invite(&self, invite: InviteId, membership: &Membership, audit: AuditDraft) -> StoreResult<()> {
        let row = MembershipRow::from_domain(membership);
        write_tx!(self, |c| {
            let n = diesel::update(invites::table.find(*invite.as_uuid()))
                .filter(invites::workspace_id.eq(row.workspace_id))
                .filter(invites::accepted_at.is_null())
                .filter(invites::revoked_at.is_null())
                .filter(invites::expires_at.gt(row.created_at))
                .set((invites::accepted_by.eq(row.user_id), invites::accepted_at.eq(row.created_at)))
                .execute(c)
                .await?;
            if n == 0 {
                return Err(Db(StoreError::Conflict(Conflict::LinkNotPending)));
            }
            match diesel::insert_into(memberships::table).values(&row).execute(c).await {
                Ok(_) => {}
                Err(diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)) => {
                    return Err(Db(StoreError::Conflict(Conflict::AlreadyMember)));
                }
                Err(e) => return Err(e.into()),
            }
            append(c, audit).await?;
            Ok(())
        })
    }
}
