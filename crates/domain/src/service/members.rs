use chrono::Duration;
use serde_json::json;

use super::{Ctx, Workvault};
use crate::error::{Error, field};
use crate::id::{InviteId, SessionId, UserId, WorkspaceId};
use crate::model::{Invite, LinkState, Member, Membership, Session, Workspace};
use crate::page::{Page, PageRequest};
use crate::policy::{Action, ActorFacts, ResourceFacts, Role, decide};
use crate::ports::{Conflict, Decided, RoleChange, StoreError};
use crate::secret::Token;
use crate::text::Email;

/// What to create an invite with.
#[derive(Debug, Clone, Default)]
pub struct InviteRequest {
    /// The role it grants (`owner` is refused).
    pub role: Option<Role>,
    /// Lifetime; the default when `None`, capped by the configured maximum.
    pub expires_in: Option<Duration>,
    /// Restrict acceptance to this email.
    pub email: Option<String>,
}

impl Workvault {
    /// The members of a workspace, newest first.
    pub async fn members(&self, ctx: &Ctx, ws: WorkspaceId, page: PageRequest) -> Result<Page<Member>, Error> {
        self.authorize_workspace(ctx, ws, Action::ListMembers).await?;
        Ok(self.store.members(ws, page).await?)
    }

    /// Decides a change to another member on fresh facts, and returns them so the store
    /// writes only while they hold.
    async fn authorize_member(
        &self,
        ctx: &Ctx,
        ws: WorkspaceId,
        target: UserId,
        action: Action,
        assigned: Option<Role>,
    ) -> Result<Decided, Error> {
        let facts = self.store.member_facts(ws, ctx.user, target).await?;
        let actor = ActorFacts { role: facts.actor };
        // Whether the actor may do this at all comes first, so a Member learns nothing
        // about who else is a member; then the target must exist.
        decide(actor, action, ResourceFacts::Workspace).into_result().map_err(Error::denied)?;
        let (Some(actor_role), Some(target_role)) = (facts.actor, facts.target) else {
            return Err(Error::NotFound);
        };
        decide(actor, action, ResourceFacts::Member { target: Some(target_role), assigned }).into_result().map_err(
            |reason| match (target_role, reason) {
                (Role::Owner, _) => Error::OwnerProtected,
                (_, reason) => Error::denied(reason),
            },
        )?;
        Ok(Decided { actor: ctx.user, actor_role, target_role })
    }

    /// Changes a member's role; effective on their very next request. The grants and
    /// pending invites the new role no longer justifies end with the change, so giving
    /// the old role back later revives none of them.
    pub async fn change_role(&self, ctx: &Ctx, ws: WorkspaceId, target: UserId, role: Role) -> Result<Member, Error> {
        if role == Role::Owner {
            return Err(Error::invalid("role", "cannot be owner: transfer ownership instead"));
        }
        let decided = self.authorize_member(ctx, ws, target, Action::ChangeRole, Some(role)).await?;
        let details = json!({"from": decided.target_role, "to": role});
        let audit = self.audit(ctx, ws, "member.role_changed", ("member", target.to_string()), details);
        Ok(self.store.change_role(ws, target, RoleChange::to(role, self.now()), decided, audit).await?)
    }

    /// Removes a member (their grants and pending invites go too, and their sessions
    /// are revoked).
    pub async fn remove_member(&self, ctx: &Ctx, ws: WorkspaceId, target: UserId) -> Result<(), Error> {
        let decided = self.authorize_member(ctx, ws, target, Action::RemoveMember, None).await?;
        let audit =
            self.audit(ctx, ws, "member.removed", ("member", target.to_string()), json!({"role": decided.target_role}));
        Ok(self.store.remove_member(ws, target, self.now(), decided, audit).await?)
    }

    /// A member's live sessions (Owner, Admin; an Admin only for members below Admin).
    pub async fn member_sessions(&self, ctx: &Ctx, ws: WorkspaceId, target: UserId) -> Result<Vec<Session>, Error> {
        self.authorize_member(ctx, ws, target, Action::ManageSessions, None).await?;
        Ok(self.store.sessions_of(target, self.now()).await?)
    }

    /// Signs a member out of one session, at once.
    pub async fn revoke_member_session(
        &self,
        ctx: &Ctx,
        ws: WorkspaceId,
        target: UserId,
        session: SessionId,
    ) -> Result<(), Error> {
        self.authorize_member(ctx, ws, target, Action::ManageSessions, None).await?;
        let audit =
            self.audit(ctx, ws, "session.revoked", ("session", session.to_string()), json!({"user_id": target}));
        Ok(self.store.revoke_session_of(target, session, self.now(), audit).await?)
    }

    /// Hands ownership to another member; the previous Owner becomes an Admin. Returns
    /// the workspace with the caller's new role.
    pub async fn transfer_ownership(&self, ctx: &Ctx, ws: WorkspaceId, to: UserId) -> Result<(Workspace, Role), Error> {
        let (workspace, _) = self.authorize_workspace(ctx, ws, Action::TransferOwnership).await?;
        if to == ctx.user {
            return Err(Error::invalid("user_id", "is already the owner"));
        }
        let details = json!({"from": ctx.user, "to": to});
        let audit = self.audit(ctx, ws, "workspace.ownership_transferred", ("member", to.to_string()), details);
        self.store.transfer_ownership(ws, ctx.user, to, self.now(), audit).await?;
        Ok((workspace, Role::Admin))
    }

    /// Creates a single-use, expiring invite. The token is returned once and never stored.
    pub async fn create_invite(
        &self,
        ctx: &Ctx,
        ws: WorkspaceId,
        req: InviteRequest,
    ) -> Result<(Invite, Token), Error> {
        let role = req.role.unwrap_or(Role::Member);
        let ttl = req.expires_in.unwrap_or(self.lifetimes.invite_default);
        if ttl <= Duration::zero() || ttl > self.lifetimes.invite_max {
            let max = self.lifetimes.invite_max.num_seconds();
            return Err(Error::invalid("expires_in", format!("must be between 1 and {max} seconds")));
        }
        let email = req.email.as_deref().map(Email::parse).transpose().map_err(field("email"))?;
        // One decision over the actor's role and the role handed out.
        let found = self.store.workspace_for(ctx.user, ws).await?;
        let actor = ActorFacts { role: found.map(|(_, r)| r) };
        let facts = ResourceFacts::Member { target: None, assigned: Some(role) };
        decide(actor, Action::InviteMember, facts).into_result().map_err(Error::denied)?;
        let token = Token::generate(&*self.rng);
        let now = self.now();
        let invite = Invite {
            id: InviteId::generate(&*self.clock, &*self.rng),
            workspace_id: ws,
            role,
            email,
            token_hash: token.hash(),
            created_by: ctx.user,
            created_at: now,
            expires_at: now + ttl,
            accepted: None,
            revoked_at: None,
        };
        let details = json!({"role": role, "expires_at": invite.expires_at, "email": invite.email});
        let audit = self.audit(ctx, ws, "invite.created", ("invite", invite.id.to_string()), details);
        self.store.create_invite(&invite, audit).await?;
        Ok((invite, token))
    }

    /// Pending invites.
    pub async fn invites(&self, ctx: &Ctx, ws: WorkspaceId, page: PageRequest) -> Result<Page<Invite>, Error> {
        self.authorize_workspace(ctx, ws, Action::ManageInvites).await?;
        Ok(self.store.pending_invites(ws, self.now(), page).await?)
    }

    /// Revokes a pending invite.
    pub async fn revoke_invite(&self, ctx: &Ctx, ws: WorkspaceId, id: InviteId) -> Result<(), Error> {
        self.authorize_workspace(ctx, ws, Action::ManageInvites).await?;
        let audit = self.audit(ctx, ws, "invite.revoked", ("invite", id.to_string()), json!({}));
        Ok(self.store.revoke_invite(ws, id, self.now(), audit).await?)
    }

    /// Accepts an invite for the signed-in user.
    pub async fn accept_invite(&self, ctx: &Ctx, token: &Token) -> Result<(Workspace, Membership), Error> {
        let presented = token.hash();
        let invite = self.store.invite_by_token(&presented).await?.ok_or(Error::NotFound)?;
        if invite.token_hash != presented {
            return Err(Error::NotFound);
        }
        match invite.state(self.now()) {
            LinkState::Usable => {}
            LinkState::Expired => return Err(Error::InviteExpired),
            LinkState::Used => return Err(Error::InviteUsed),
            LinkState::Revoked => return Err(Error::InviteRevoked),
        }
        if let Some(expected) = &invite.email {
            let user = self.store.user(ctx.user).await?.ok_or(Error::NotFound)?;
            if &user.email != expected {
                return Err(Error::InviteEmailMismatch);
            }
        }
        // An invite carries its creator's authority as it is now, not as it was: a
        // creator since removed or demoted below the invited role admits nobody (and
        // the removal or demotion revoked it, so a later promotion does not revive it).
        let creator = self.store.member_facts(invite.workspace_id, invite.created_by, invite.created_by).await?.actor;
        if !creator.is_some_and(|r| r.may_invite(invite.role)) {
            return Err(Error::InviteRevoked);
        }
        let membership = Membership {
            workspace_id: invite.workspace_id,
            user_id: ctx.user,
            role: invite.role,
            created_at: self.now(),
        };
        let details = json!({"role": invite.role, "invite_id": invite.id});
        let audit = self.audit(ctx, invite.workspace_id, "member.joined", ("member", ctx.user.to_string()), details);
        match self.store.accept_invite(invite.id, &membership, audit).await {
            Ok(()) => {}
            // Used, revoked or expired between the read and the write: say which.
            Err(StoreError::Conflict(Conflict::LinkNotPending)) => {
                let state = self.store.invite_by_token(&presented).await?.map(|i| i.state(self.now()));
                return Err(match state {
                    Some(LinkState::Expired) => Error::InviteExpired,
                    Some(LinkState::Revoked) => Error::InviteRevoked,
                    _ => Error::InviteUsed,
                });
            }
            Err(e) => return Err(e.into()),
        }
        let (ws, _) = self.store.workspace_for(ctx.user, invite.workspace_id).await?.ok_or(Error::NotFound)?;
        Ok((ws, membership))
    }
}
