//! Who may do what: one table from (role, action) to a [`Rule`], and a pure
//! [`decide`] over the facts a store returns with the resource.
//!
//! The table is the single source of truth: the HTTP authorization matrix test is
//! generated from it, and so are the unit tests below.

use serde::{Deserialize, Serialize};

/// A member's role in one workspace. Ordered by privilege: `Restricted < Member <
/// Admin < Owner`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Sees only the jobs they are granted.
    Restricted,
    /// Works every job of the workspace.
    Member,
    /// Manages members below Admin, invites, settings and the audit log.
    Admin,
    /// Exactly one per workspace; everything, including transferring ownership.
    Owner,
}

impl Role {
    /// Every role, least privileged first.
    pub const ALL: [Role; 4] = [Role::Restricted, Role::Member, Role::Admin, Role::Owner];

    /// The stable name used in the API and the stores.
    pub const fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Member => "member",
            Role::Restricted => "restricted",
        }
    }

    /// Parses a stable name.
    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// Whether an actor of this role may give `assigned` to someone (by invite or role
    /// change). Nobody assigns Owner: ownership moves only by transfer. The Owner
    /// assigns any other role; an Admin assigns only roles below Admin.
    pub fn may_assign(self, assigned: Role) -> bool {
        match (self, assigned) {
            (_, Role::Owner) => false,
            (Role::Owner, _) => true,
            (actor, assigned) => actor >= Role::Admin && assigned < actor,
        }
    }

    /// Whether a member of this role may hand out `invited` by invite: the decision
    /// `create_invite` makes, and the one an invite is held to when it is accepted.
    pub fn may_invite(self, invited: Role) -> bool {
        let facts = ResourceFacts::Member { target: None, assigned: Some(invited) };
        decide(ActorFacts { role: Some(self) }, Action::InviteMember, facts) == Decision::Allow
    }

    /// Whether grants extend this role (some job action is [`Rule::IfGranted`] for it):
    /// only a member of such a role holds grants.
    pub fn takes_grants(self) -> bool {
        Action::ALL.into_iter().any(|a| a.is_job_scoped() && rule(self, a) == Rule::IfGranted)
    }

    /// Whether an actor of this role may change or remove a member holding `target`.
    /// The Owner's membership is never changed this way; an Admin acts only on roles
    /// below Admin.
    pub fn may_manage(self, target: Role) -> bool {
        match (self, target) {
            (_, Role::Owner) => false,
            (Role::Owner, _) => true,
            (actor, target) => actor >= Role::Admin && target < actor,
        }
    }
}

/// What a member's role justifies of what they hold or made. A role change keeps
/// exactly this, in the same transaction, and ends the rest, so that nothing a former
/// role justified comes back when that role is given again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Justified {
    /// Their grants on jobs stay ([`Role::takes_grants`]).
    pub grants: bool,
    /// Their pending invites for these roles stay ([`Role::may_invite`]); the others
    /// are revoked.
    pub invite_roles: Vec<Role>,
}

impl Justified {
    /// What `role` justifies.
    pub fn by(role: Role) -> Self {
        Justified {
            grants: role.takes_grants(),
            invite_roles: Role::ALL.into_iter().filter(|&r| role.may_invite(r)).collect(),
        }
    }
}

/// Everything an actor can ask to do to a workspace's data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Read the workspace itself.
    ViewWorkspace,
    /// Rename it or change its settings.
    UpdateWorkspace,
    /// List the members.
    ListMembers,
    /// Create an invite link.
    InviteMember,
    /// List and revoke pending invites.
    ManageInvites,
    /// Change a member's role.
    ChangeRole,
    /// Remove a member.
    RemoveMember,
    /// Hand ownership to another member.
    TransferOwnership,
    /// Read and verify the audit log.
    ViewAudit,
    /// Create a job.
    CreateJob,
    /// List jobs (a Restricted member's list holds only granted jobs).
    ListJobs,
    /// Read a job.
    ViewJob,
    /// Edit a job.
    UpdateJob,
    /// Delete a job (to trash).
    DeleteJob,
    /// Grant or revoke a Restricted member's access to a job.
    ManageGrants,
    /// List and revoke another member's sessions (sign them out).
    ManageSessions,
    /// Download a photo's original bytes, which may hold its location (everyone who
    /// sees the job sees the stripped variants).
    ViewOriginal,
    /// Share a job's report, photo or gallery through a public read-only link; list,
    /// revoke and see the views of the job's links.
    ShareJob,
    /// List and read the assets.
    ViewAssets,
    /// Create and edit assets.
    EditAssets,
    /// Move assets to trash, restore and purge them.
    DeleteAssets,
    /// Import assets from CSV (creating and updating many at once).
    ImportAssets,
    /// Export the workspace's records (assets, tickets) as CSV.
    ExportRecords,
    /// List tickets (a Restricted member's list holds only those assigned to them).
    ListTickets,
    /// Open a ticket on the team's side.
    CreateTicket,
    /// Read a ticket and its thread.
    ViewTicket,
    /// Work a ticket: reply, change its status or priority.
    WorkTicket,
    /// Hand a ticket to a member.
    AssignTicket,
    /// Create, rotate and turn off the workspace's public submit link.
    ManageSubmitLinks,
}

impl Action {
    /// Every action, in table order.
    pub const ALL: [Action; 29] = [
        Action::ViewWorkspace,
        Action::UpdateWorkspace,
        Action::ListMembers,
        Action::InviteMember,
        Action::ManageInvites,
        Action::ChangeRole,
        Action::RemoveMember,
        Action::TransferOwnership,
        Action::ViewAudit,
        Action::CreateJob,
        Action::ListJobs,
        Action::ViewJob,
        Action::UpdateJob,
        Action::DeleteJob,
        Action::ManageGrants,
        Action::ManageSessions,
        Action::ViewOriginal,
        Action::ShareJob,
        Action::ViewAssets,
        Action::EditAssets,
        Action::DeleteAssets,
        Action::ImportAssets,
        Action::ExportRecords,
        Action::ListTickets,
        Action::CreateTicket,
        Action::ViewTicket,
        Action::WorkTicket,
        Action::AssignTicket,
        Action::ManageSubmitLinks,
    ];

    /// Whether the action is about one job (and so a grant can extend it).
    pub const fn is_job_scoped(self) -> bool {
        matches!(
            self,
            Action::ViewJob
                | Action::UpdateJob
                | Action::DeleteJob
                | Action::ManageGrants
                | Action::ViewOriginal
                | Action::ShareJob
        )
    }

    /// Whether the action is about one ticket (and so its assignment extends it to a
    /// Restricted member, as a grant does a job).
    pub const fn is_ticket_scoped(self) -> bool {
        matches!(self, Action::ViewTicket | Action::WorkTicket)
    }

    /// Whether the action is about another member (and so their role matters).
    pub const fn targets_member(self) -> bool {
        matches!(self, Action::ChangeRole | Action::RemoveMember | Action::ManageSessions)
    }
}

/// What the table says of one (role, action) cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// Allowed on everything of the workspace.
    Allow,
    /// Allowed only on jobs the member is granted (and tickets assigned to them).
    IfGranted,
    /// Never.
    Deny,
}

/// The policy table.
pub const fn rule(role: Role, action: Action) -> Rule {
    use Action::*;
    use Rule::{Allow, Deny, IfGranted};
    match role {
        Role::Owner => Allow,
        Role::Admin => match action {
            TransferOwnership => Deny,
            _ => Allow,
        },
        Role::Member => match action {
            ViewWorkspace | ListMembers | CreateJob | ListJobs | ViewJob | UpdateJob | ShareJob | ViewAssets
            | EditAssets | ListTickets | CreateTicket | ViewTicket | WorkTicket | AssignTicket => Allow,
            _ => Deny,
        },
        Role::Restricted => match action {
            ViewWorkspace | ListJobs | ListTickets => Allow,
            ViewJob | UpdateJob | ShareJob | ViewTicket | WorkTicket => IfGranted,
            _ => Deny,
        },
    }
}

/// The actor's standing in the resource's workspace, as the store found it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ActorFacts {
    /// The actor's role there, or `None` when they are not a member.
    pub role: Option<Role>,
}

/// What the policy needs to know of the resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceFacts {
    /// The workspace as a whole.
    Workspace,
    /// One job, and whether the actor holds a grant on it.
    Job {
        /// A grant for the actor on this job exists.
        granted: bool,
    },
    /// One ticket, and whether it is assigned to the actor.
    Ticket {
        /// The actor is its assignee.
        assigned: bool,
    },
    /// A member (or, for an invite, the role being handed out).
    Member {
        /// The target's current role; `None` for an invite.
        target: Option<Role>,
        /// The role being assigned, if any.
        assigned: Option<Role>,
    },
}

/// Why a request is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DenyReason {
    /// Not a member of the workspace: answer as if it did not exist.
    NotMember,
    /// A Restricted member without a grant on the job: answer as if it did not exist.
    NotGranted,
    /// The role does not allow the action.
    RoleInsufficient,
    /// The target member is out of the actor's reach (the Owner, or a peer).
    TargetOutOfReach,
    /// The role being handed out is out of the actor's reach.
    RoleNotAssignable,
}

impl DenyReason {
    /// Whether the refusal must look like "not found", so existence is not leaked.
    pub const fn hides_existence(self) -> bool {
        matches!(self, DenyReason::NotMember | DenyReason::NotGranted)
    }
}

/// The outcome of [`decide`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Go ahead.
    Allow,
    /// Refused, with the reason.
    Deny(DenyReason),
}

impl Decision {
    /// Turns the decision into a `Result`.
    pub fn into_result(self) -> Result<(), DenyReason> {
        match self {
            Decision::Allow => Ok(()),
            Decision::Deny(reason) => Err(reason),
        }
    }
}

/// Decides one request. Pure: the facts come from the store, in the same statement
/// that read the resource.
pub fn decide(actor: ActorFacts, action: Action, resource: ResourceFacts) -> Decision {
    let Some(role) = actor.role else {
        return Decision::Deny(DenyReason::NotMember);
    };
    // A Restricted member cannot learn that an ungranted job (or a ticket not assigned
    // to them) exists, whatever they ask.
    if let (Role::Restricted, ResourceFacts::Job { granted: false } | ResourceFacts::Ticket { assigned: false }) =
        (role, resource)
    {
        return Decision::Deny(DenyReason::NotGranted);
    }
    match rule(role, action) {
        Rule::Deny => return Decision::Deny(DenyReason::RoleInsufficient),
        Rule::IfGranted
            if !matches!(resource, ResourceFacts::Job { granted: true } | ResourceFacts::Ticket { assigned: true }) =>
        {
            return Decision::Deny(DenyReason::NotGranted);
        }
        Rule::Allow | Rule::IfGranted => {}
    }
    if let ResourceFacts::Member { target, assigned } = resource {
        if target.is_some_and(|t| !role.may_manage(t)) {
            return Decision::Deny(DenyReason::TargetOutOfReach);
        }
        if assigned.is_some_and(|a| !role.may_assign(a)) {
            return Decision::Deny(DenyReason::RoleNotAssignable);
        }
    }
    Decision::Allow
}

#[cfg(test)]
mod tests;
