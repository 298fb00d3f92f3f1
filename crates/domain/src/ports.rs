//! The ports: traits the adapters implement. Every port is object-safe (held as
//! `Arc<dyn …>`), `Send + Sync`, speaks domain types only, and is atomic where the
//! domain needs it: each mutating method appends its [`AuditDraft`] to the
//! workspace's chain in the same transaction as the change.
//!
//! The contracts stated here are enforced by `workvault-store-contract`, which every
//! store runs.

use std::fmt;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

pub use crate::asset::AssetStore;
use crate::audit::{AuditDraft, AuditEvent};
use crate::id::{InviteId, JobId, SessionId, TaskId, UserId, WorkspaceId};
use crate::instance::InstanceStore;
use crate::model::{
    Grant, Identity, Invite, Job, Member, Membership, Session, SignInLink, User, Workspace, WorkspaceSettings,
};
use crate::page::{Page, PageRequest};
pub use crate::photo::PhotoStore;
use crate::policy::{Action, ActorFacts, DenyReason, Justified, ResourceFacts, Role, decide};
use crate::queue::{NewTask, Task, TaskState};
pub use crate::report::ReportStore;
use crate::secret::TokenHash;
pub use crate::share::ShareStore;
use crate::text::Name;
pub use crate::ticket::TicketStore;

/// The time source. The domain never reads the system clock itself.
pub trait Clock: Send + Sync + fmt::Debug {
    /// Now.
    fn now(&self) -> DateTime<Utc>;
}

/// The source of randomness for ids and tokens (a CSPRNG in production).
pub trait Rng: Send + Sync + fmt::Debug {
    /// Fills `dest` with random bytes.
    fn fill(&self, dest: &mut [u8]);
}

/// Runs CPU-heavy work (argon2id password hashing: tens of milliseconds, 19 MiB) where
/// it holds up no request: the server hands it to its pool of blocking threads.
/// [`Inline`] runs it on the spot (tests, tools, embedders without a runtime).
#[async_trait]
pub trait Offload: Send + Sync + fmt::Debug {
    /// Runs `work` and waits for it. Work that is dropped unrun (its thread panicked,
    /// the pool shut down) is an unavailable service to the caller.
    async fn run(&self, work: Box<dyn FnOnce() + Send>);
}

/// Runs offloaded work on the calling thread.
#[derive(Debug, Default, Clone, Copy)]
pub struct Inline;

#[async_trait]
impl Offload for Inline {
    async fn run(&self, work: Box<dyn FnOnce() + Send>) {
        work();
    }
}

/// Which invariant a write ran into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conflict {
    /// A row with the same identity exists already.
    Duplicate,
    /// The user is a member of the workspace already.
    AlreadyMember,
    /// The link (invite, sign-in link) was used, revoked or expired meanwhile.
    LinkNotPending,
    /// The Owner's membership cannot be changed or removed this way.
    OwnerProtected,
    /// The actor is no longer the Owner (a concurrent transfer won).
    NotOwner,
    /// The worker's lease on a task expired and another worker took it.
    LeaseLost,
    /// The facts a decision was made on changed before the write (a role changed
    /// meanwhile); nothing was written.
    Stale,
    /// A report's selection names a photo that is not a live photo of the report's job
    /// (another job's, another workspace's, trashed or purged); nothing was written.
    ForeignPhoto,
    /// A thread holds as many replies (or a ticket as many files) as it takes.
    Full,
}

/// A store's failure. A database failure is never reported as `NotFound`.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The row the write is about does not exist (or not in that workspace).
    #[error("not found")]
    NotFound,
    /// An invariant refused the write; nothing was changed.
    #[error("conflict: {0:?}")]
    Conflict(Conflict),
    /// The store cannot be reached or failed; nothing is known to have changed.
    #[error("store unavailable: {0}")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A stored row does not hold a valid value (manual edit, bad migration).
    #[error("corrupt record: {0}")]
    Corrupt(String),
    /// The member a write was made for no longer holds the standing it needs (removed,
    /// demoted, their grant revoked meanwhile: [`Standing`]); nothing was written.
    #[error("standing lost: {0:?}")]
    Denied(DenyReason),
}

/// Shorthand for store results.
pub type StoreResult<T> = Result<T, StoreError>;

/// Workspaces. Contract: `workspace_for` returns nothing for a non-member, so no
/// workspace is reachable with another tenant's ids.
#[async_trait]
pub trait WorkspaceStore: Send + Sync {
    /// Creates the workspace, its Owner membership and the first audit event, at once.
    async fn create_workspace(&self, ws: &Workspace, owner: &Membership, audit: AuditDraft) -> StoreResult<()>;
    /// The workspace with the actor's role, in one statement; `None` if either is missing.
    async fn workspace_for(&self, actor: UserId, ws: WorkspaceId) -> StoreResult<Option<(Workspace, Role)>>;
    /// Every workspace the user belongs to, with their role, newest first.
    async fn workspaces_of(&self, user: UserId, page: PageRequest) -> StoreResult<Page<(Workspace, Role)>>;
    /// Sets the workspace's name and settings.
    async fn update_workspace(
        &self,
        ws: WorkspaceId,
        name: &Name,
        settings: WorkspaceSettings,
        audit: AuditDraft,
    ) -> StoreResult<Workspace>;
}

/// The roles of an actor and of a target member in one workspace, read together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemberFacts {
    /// The actor's role, if a member.
    pub actor: Option<Role>,
    /// The target's role, if a member.
    pub target: Option<Role>,
}

/// The roles a member-management decision was made on. The store writes only if they
/// still hold when it writes, so a role changed meanwhile cannot be bypassed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decided {
    /// Who acts.
    pub actor: UserId,
    /// The actor's role when decided.
    pub actor_role: Role,
    /// The target's role when decided.
    pub target_role: Role,
}

/// The standing a write needs of the member it is made for, checked again by the
/// store inside the writing transaction (an upload runs for seconds, and the member
/// may be removed, demoted or lose their grant meanwhile): the store reads the
/// member's role there, and their grant on the job or whether the ticket is theirs,
/// and writes only if [`Standing::check`] passes. The decision is the policy's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Standing {
    /// The member the write is for.
    pub user: UserId,
    /// The action it needs.
    pub action: Action,
}

impl Standing {
    /// Whether a member with `role` (`None`: no longer a member) may still do the
    /// action on `resource`; `StoreError::Denied` with the reason if not.
    pub fn check(self, role: Option<Role>, resource: ResourceFacts) -> StoreResult<()> {
        decide(ActorFacts { role }, self.action, resource).into_result().map_err(StoreError::Denied)
    }
}

/// A member's new role, and what it still justifies of what they hold or made
/// ([`Justified::by`] the role): the store ends the rest in the same transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleChange {
    /// The new role.
    pub role: Role,
    /// What it keeps.
    pub keeps: Justified,
    /// When (the revocation time of the invites it ends).
    pub at: DateTime<Utc>,
}

impl RoleChange {
    /// A change to `role` at `at`.
    pub fn to(role: Role, at: DateTime<Utc>) -> Self {
        RoleChange { role, keeps: Justified::by(role), at }
    }
}

/// What a role change ended: grants (by job) and pending invites its new role no
/// longer justifies. The store records them in the change's audit event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ended {
    /// The jobs whose grants were deleted.
    pub grants: Vec<JobId>,
    /// The invites revoked.
    pub invites: Vec<InviteId>,
}

impl Ended {
    /// Adds `grants_revoked` and `invites_revoked` (ids) to the audit event's details.
    pub fn record_in(&self, audit: &mut AuditDraft) {
        if let Some(details) = audit.details.as_object_mut() {
            details.insert("grants_revoked".into(), serde_json::json!(self.grants));
            details.insert("invites_revoked".into(), serde_json::json!(self.invites));
        }
    }
}

/// Memberships. Contract: at every moment a workspace has exactly one Owner, even under
/// concurrent transfers; `remove_member` also deletes the member's grants there and
/// revokes their sessions, atomically.
#[async_trait]
pub trait MemberStore: Send + Sync {
    /// Members, newest first.
    async fn members(&self, ws: WorkspaceId, page: PageRequest) -> StoreResult<Page<Member>>;
    /// The actor's and the target's roles, in one statement.
    async fn member_facts(&self, ws: WorkspaceId, actor: UserId, target: UserId) -> StoreResult<MemberFacts>;
    /// Sets a member's role, only if the roles it was decided on still hold
    /// (`Conflict(Stale)`). `Conflict(OwnerProtected)` for the Owner, `NotFound` for a
    /// non-member. In the same transaction, deletes the member's grants and revokes
    /// their pending invites that `change.keeps` does not keep, and records them in
    /// the audit event ([`Ended`]): a role given back later revives none of them
    /// (contract: `a_role_round_trip_revives_no_grant_and_no_invite`).
    async fn change_role(
        &self,
        ws: WorkspaceId,
        user: UserId,
        change: RoleChange,
        decided: Decided,
        audit: AuditDraft,
    ) -> StoreResult<Member>;
    /// Removes a member with their grants and their pending invites, and revokes their
    /// sessions, only if the roles it was decided on still hold (`Conflict(Stale)`).
    async fn remove_member(
        &self,
        ws: WorkspaceId,
        user: UserId,
        at: DateTime<Utc>,
        decided: Decided,
        audit: AuditDraft,
    ) -> StoreResult<()>;
    /// Makes `to` the Owner and `from` an Admin, at once. `Conflict(NotOwner)` if `from`
    /// is no longer the Owner; `NotFound` if `to` is not a member. Like
    /// [`MemberStore::change_role`], each keeps only what [`Justified::by`] their new
    /// role (`from` loses their pending Admin invites, `to` their grants).
    async fn transfer_ownership(
        &self,
        ws: WorkspaceId,
        from: UserId,
        to: UserId,
        at: DateTime<Utc>,
        audit: AuditDraft,
    ) -> StoreResult<()>;
}

/// Invites. Contract: an invite is accepted at most once, never after expiry or revocation.
#[async_trait]
pub trait InviteStore: Send + Sync {
    /// Stores a new invite.
    async fn create_invite(&self, invite: &Invite, audit: AuditDraft) -> StoreResult<()>;
    /// Invites neither accepted, revoked nor expired at `now`, newest first.
    async fn pending_invites(
        &self,
        ws: WorkspaceId,
        now: DateTime<Utc>,
        page: PageRequest,
    ) -> StoreResult<Page<Invite>>;
    /// Revokes a pending invite; `NotFound` if there is none with that id in `ws`.
    async fn revoke_invite(
        &self,
        ws: WorkspaceId,
        id: InviteId,
        at: DateTime<Utc>,
        audit: AuditDraft,
    ) -> StoreResult<()>;
    /// The invite with this token hash, whatever its state.
    async fn invite_by_token(&self, hash: &TokenHash) -> StoreResult<Option<Invite>>;
    /// Marks the invite accepted and adds the membership, at once, only if the invite is
    /// still pending at `membership.created_at` (`Conflict(LinkNotPending)`) and the user
    /// is not a member yet (`Conflict(AlreadyMember)`).
    async fn accept_invite(&self, invite: InviteId, membership: &Membership, audit: AuditDraft) -> StoreResult<()>;
}

/// What the policy needs of the actor for one job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobAccess {
    /// The actor's role in the job's workspace.
    pub role: Role,
    /// Whether the actor holds a grant on the job.
    pub granted: bool,
}

/// Jobs and grants. Contract: reads take the actor and return the access facts with
/// the row in one statement; a trashed job is not found.
#[async_trait]
pub trait JobStore: Send + Sync {
    /// Stores a new job.
    async fn create_job(&self, job: &Job, audit: AuditDraft) -> StoreResult<()>;
    /// The job with the actor's access facts; `None` if the job is not in `ws` or the
    /// actor is not a member there.
    async fn job_for(&self, actor: UserId, ws: WorkspaceId, job: JobId) -> StoreResult<Option<(Job, JobAccess)>>;
    /// The actor's role and a page of the jobs they may see (a Restricted member's
    /// granted jobs only), each with whether the actor holds a grant on it, newest
    /// first; `None` if the actor is not a member.
    async fn jobs_for(
        &self,
        actor: UserId,
        ws: WorkspaceId,
        page: PageRequest,
    ) -> StoreResult<Option<(Role, Page<(Job, bool)>)>>;
    /// Writes the job's new state (as made by `JobPatch::apply`), only if the job was
    /// not changed since `read_at` (its `updated_at` when read): `Conflict(Stale)`.
    async fn update_job(&self, job: &Job, read_at: DateTime<Utc>, audit: AuditDraft) -> StoreResult<()>;
    /// Moves the job to trash.
    async fn trash_job(&self, ws: WorkspaceId, job: JobId, at: DateTime<Utc>, audit: AuditDraft) -> StoreResult<()>;
    /// Grants a member access to a job; `Ok(false)` if the grant existed already
    /// (nothing written, no audit event).
    async fn put_grant(&self, grant: &Grant, audit: AuditDraft) -> StoreResult<bool>;
    /// Revokes a grant; `NotFound` if there was none.
    async fn revoke_grant(&self, ws: WorkspaceId, job: JobId, user: UserId, audit: AuditDraft) -> StoreResult<()>;
    /// The grants on a job, newest first.
    async fn grants(&self, ws: WorkspaceId, job: JobId) -> StoreResult<Vec<Grant>>;
}

/// The audit log. Contract: appends never fork a chain; events are never changed.
#[async_trait]
pub trait AuditStore: Send + Sync {
    /// Events, newest first (the cursor key is the sequence number).
    async fn audit_events(&self, ws: WorkspaceId, page: PageRequest) -> StoreResult<Page<AuditEvent>>;
    /// Up to `limit` events after `after_seq`, in chain order (for verification).
    async fn audit_chain(&self, ws: WorkspaceId, after_seq: i64, limit: u32) -> StoreResult<Vec<AuditEvent>>;
    /// The head of the chain (last sequence number and hash); `None` if the workspace
    /// has no chain.
    async fn audit_head(&self, ws: WorkspaceId) -> StoreResult<Option<(i64, [u8; 32])>>;
    /// Appends an event that comes with no other change (something sensitive was read).
    async fn record(&self, audit: AuditDraft) -> StoreResult<()>;
}

/// An audit event about a user rather than one workspace (a sign-in): the store appends
/// it to the chain of every workspace the user belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserAuditDraft {
    /// The draft; its `workspace_id` is replaced for each workspace.
    pub draft: AuditDraft,
}

impl UserAuditDraft {
    /// The draft for one workspace's chain.
    pub fn for_workspace(&self, ws: WorkspaceId) -> AuditDraft {
        AuditDraft { workspace_id: ws, ..self.draft.clone() }
    }
}

/// Users, sessions and sign-in links.
#[async_trait]
pub trait IdentityStore: Send + Sync {
    /// The user with this `(issuer, subject)`, created with `new_id` if unknown; the
    /// email is refreshed from the identity.
    async fn upsert_user(&self, identity: &Identity, new_id: UserId, at: DateTime<Utc>) -> StoreResult<User>;
    /// A user by id.
    async fn user(&self, id: UserId) -> StoreResult<Option<User>>;
    /// The user with this `(issuer, subject)`, if any (read only: the bearer-token path).
    async fn user_by_identity(&self, issuer: &str, subject: &str) -> StoreResult<Option<User>>;
    /// Whether any user exists (a fresh instance has none).
    async fn has_users(&self) -> StoreResult<bool>;
    /// Stores a sign-in link.
    async fn create_sign_in_link(&self, link: &SignInLink) -> StoreResult<()>;
    /// The sign-in link with this hash, whatever its state.
    async fn sign_in_link(&self, hash: &TokenHash) -> StoreResult<Option<SignInLink>>;
    /// Marks the link used, only if still unused and unexpired at `at` (`Conflict(LinkNotPending)`).
    async fn consume_sign_in_link(&self, hash: &TokenHash, at: DateTime<Utc>) -> StoreResult<()>;
    /// Stores a session and audits the sign-in in the user's workspaces.
    async fn create_session(&self, session: &Session, audit: UserAuditDraft) -> StoreResult<()>;
    /// The live session with this hash (not revoked, before its hard expiry, and seen
    /// within `idle` of `now`), marked as seen at `now`. A store may skip rewriting a
    /// mark less than a minute old, so the common case is a single read.
    async fn touch_session(
        &self,
        hash: &TokenHash,
        now: DateTime<Utc>,
        idle: chrono::Duration,
    ) -> StoreResult<Option<Session>>;
    /// Stores a redirect sign-in in progress (`Conflict(Duplicate)` for a state hash
    /// that exists already).
    async fn create_auth_flow(&self, flow: &AuthFlow) -> StoreResult<()>;
    /// Takes the sign-in flow with this state hash out of the store, at once: the flow if
    /// it was there and live at `now`, `None` otherwise. A second take of the same state
    /// finds nothing, so a replayed answer is refused; an expired flow is deleted too.
    async fn take_auth_flow(&self, state_hash: &TokenHash, now: DateTime<Utc>) -> StoreResult<Option<AuthFlow>>;
    /// Deletes sessions, sign-in links and sign-in flows that ended (expired, used or
    /// revoked) before `before`; returns how many went.
    async fn prune_credentials(&self, before: DateTime<Utc>) -> StoreResult<u64>;
    /// The live sessions of a user (not revoked, before their hard expiry), newest first.
    async fn sessions_of(&self, user: UserId, now: DateTime<Utc>) -> StoreResult<Vec<Session>>;
    /// Revokes one live session of `user` by id, with its audit event; `NotFound` if it
    /// is not theirs or already ended.
    async fn revoke_session_of(
        &self,
        user: UserId,
        session: SessionId,
        at: DateTime<Utc>,
        audit: AuditDraft,
    ) -> StoreResult<()>;
    /// Revokes one session (sign-out).
    async fn revoke_session(&self, hash: &TokenHash, at: DateTime<Utc>, audit: UserAuditDraft) -> StoreResult<()>;
}

/// The background task queue. Contract: two workers never hold the same task at once;
/// a task whose lease expired is taken again; a completion after losing the lease is
/// refused (`Conflict(LeaseLost)`), so every task completes at most once.
#[async_trait]
pub trait TaskQueue: Send + Sync {
    /// Enqueues a task on its own. (Port methods of changes that need background work
    /// enqueue in their own transaction instead.)
    async fn enqueue(&self, task: &NewTask) -> StoreResult<()>;
    /// Leases the next due task to `worker` until `now + lease`, starting an attempt;
    /// running tasks whose lease expired are due again (and dead after their last attempt).
    async fn claim(&self, worker: &str, now: DateTime<Utc>, lease: chrono::Duration) -> StoreResult<Option<Task>>;
    /// Extends `worker`'s lease on a running task to `until` (a heartbeat while a long
    /// task runs); `Conflict(LeaseLost)` if the worker no longer holds it.
    async fn extend_lease(&self, task: TaskId, worker: &str, until: DateTime<Utc>) -> StoreResult<()>;
    /// Marks a task done, if `worker` still holds it.
    async fn complete(&self, task: TaskId, worker: &str, now: DateTime<Utc>) -> StoreResult<()>;
    /// Records a failed attempt: ready again at `retry_at`, or dead after the last
    /// attempt. Refused if `worker` no longer holds the task. Returns the new state.
    async fn fail(
        &self,
        task: TaskId,
        worker: &str,
        error: &str,
        now: DateTime<Utc>,
        retry_at: DateTime<Utc>,
    ) -> StoreResult<TaskState>;
    /// A task by id.
    async fn task(&self, task: TaskId) -> StoreResult<Option<Task>>;
    /// Withdraws a task that has not started (`ready`); a running or finished one stays.
    async fn cancel(&self, task: TaskId) -> StoreResult<()>;
}

/// Reachability, for `/readyz`.
#[async_trait]
pub trait Health: Send + Sync {
    /// Succeeds when the store answers.
    async fn ping(&self) -> StoreResult<()>;
}

/// Every store port at once: what the binary hands the use cases.
pub trait Store:
    WorkspaceStore
    + MemberStore
    + InviteStore
    + JobStore
    + PhotoStore
    + ReportStore
    + ShareStore
    + AssetStore
    + TicketStore
    + AuditStore
    + IdentityStore
    + TaskQueue
    + InstanceStore
    + Health
{
}

impl<T> Store for T where
    T: WorkspaceStore
        + MemberStore
        + InviteStore
        + JobStore
        + PhotoStore
        + ReportStore
        + ShareStore
        + AssetStore
        + TicketStore
        + AuditStore
        + IdentityStore
        + TaskQueue
        + InstanceStore
        + Health
{
}

pub use crate::identity::{
    AuthFlow, AuthorizationRequest, BearerIdentity, IdentityError, IdentityProvider, SignInCallback, SignInMethod,
};
