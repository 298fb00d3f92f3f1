//! Request and response bodies of the API. They live only here: the domain never sees
//! them. Requests refuse unknown fields.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::{IntoParams, ToSchema};
use workvault_domain::audit::{AuditEvent, ChainProblem, ChainReport};
use workvault_domain::model::{Grant, Invite, Job, JobStatus, Member, User, Workspace};
use workvault_domain::page::{Cursor, PageRequest};
use workvault_domain::policy::Role;

use crate::problem::{ApiError, INVALID_QUERY};

/// Tells an absent field (`None`) from an explicit `null` (`Some(None)`).
pub(crate) fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// A page of a list, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct List<T: ToSchema> {
    /// The items.
    pub items: Vec<T>,
    /// Pass as `?cursor=` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

impl<T: ToSchema> List<T> {
    /// A list from a domain page.
    pub fn page<U>(page: workvault_domain::page::Page<U>, f: impl FnMut(U) -> T) -> Self {
        let next_cursor = page.next.map(|c| c.encode());
        Self { items: page.items.into_iter().map(f).collect(), next_cursor }
    }

    /// A list that is always complete.
    pub fn all(items: Vec<T>) -> Self {
        Self { items, next_cursor: None }
    }
}

/// `?limit=&cursor=`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Page size, 1 to 200 (default 50).
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

impl ListQuery {
    /// The page asked for.
    pub fn page(&self) -> Result<PageRequest, ApiError> {
        let after = self
            .cursor
            .as_deref()
            .map(Cursor::decode)
            .transpose()
            .map_err(|_| ApiError::new(INVALID_QUERY, "cursor is not valid: pass a next_cursor back unchanged"))?;
        PageRequest::new(self.limit, after).map_err(|e| ApiError::new(INVALID_QUERY, e.to_string()))
    }
}

/// A role name.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RoleDto {
    /// Exactly one per workspace.
    Owner,
    /// Manages members and settings.
    Admin,
    /// Works every job.
    Member,
    /// Sees only granted jobs.
    Restricted,
}

impl From<Role> for RoleDto {
    fn from(r: Role) -> Self {
        match r {
            Role::Owner => RoleDto::Owner,
            Role::Admin => RoleDto::Admin,
            Role::Member => RoleDto::Member,
            Role::Restricted => RoleDto::Restricted,
        }
    }
}

impl From<RoleDto> for Role {
    fn from(r: RoleDto) -> Self {
        match r {
            RoleDto::Owner => Role::Owner,
            RoleDto::Admin => Role::Admin,
            RoleDto::Member => Role::Member,
            RoleDto::Restricted => Role::Restricted,
        }
    }
}

/// A job status.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobStatusDto {
    /// Not started.
    Open,
    /// Under way.
    InProgress,
    /// Done.
    Completed,
    /// Kept for the record.
    Archived,
}

impl From<JobStatus> for JobStatusDto {
    fn from(s: JobStatus) -> Self {
        match s {
            JobStatus::Open => JobStatusDto::Open,
            JobStatus::InProgress => JobStatusDto::InProgress,
            JobStatus::Completed => JobStatusDto::Completed,
            JobStatus::Archived => JobStatusDto::Archived,
        }
    }
}

impl From<JobStatusDto> for JobStatus {
    fn from(s: JobStatusDto) -> Self {
        match s {
            JobStatusDto::Open => JobStatus::Open,
            JobStatusDto::InProgress => JobStatus::InProgress,
            JobStatusDto::Completed => JobStatus::Completed,
            JobStatusDto::Archived => JobStatus::Archived,
        }
    }
}

/// The signed-in user.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserOut {
    /// User id.
    pub id: String,
    /// Verified email.
    pub email: String,
}

impl From<&User> for UserOut {
    fn from(u: &User) -> Self {
        Self { id: u.id.to_string(), email: u.email.to_string() }
    }
}

/// The current session.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionOut {
    /// Who is signed in.
    pub user: UserOut,
    /// Their workspaces and roles.
    pub workspaces: Vec<WorkspaceOut>,
    /// When the browser session ends at the latest; `null` when the caller uses a
    /// bearer token (its expiry is the token's own).
    pub expires_at: Option<DateTime<Utc>>,
}

/// A workspace, with the caller's role in it.
#[derive(Debug, Serialize, ToSchema)]
pub struct WorkspaceOut {
    /// Workspace id.
    pub id: String,
    /// Name.
    pub name: String,
    /// The caller's role.
    pub role: RoleDto,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// What its Owner and Admins chose.
    pub settings: SettingsOut,
}

/// A workspace's settings.
#[derive(Debug, Serialize, ToSchema)]
pub struct SettingsOut {
    /// Whether Owners and Admins may read the GPS location kept in a photo's original
    /// (`GET …/photos/{photo}/location`); off by default.
    pub show_photo_location: bool,
    /// Days the views of its share links are kept before they are deleted; `null`: the
    /// instance's default (`sharing.view_retention_days`, 180 unless set).
    pub share_view_retention_days: Option<u16>,
}

impl WorkspaceOut {
    /// From the domain pair.
    pub fn new((ws, role): (Workspace, Role)) -> Self {
        Self {
            id: ws.id.to_string(),
            name: ws.name.to_string(),
            role: role.into(),
            created_at: ws.created_at,
            settings: SettingsOut {
                show_photo_location: ws.settings.show_photo_location,
                share_view_retention_days: ws.settings.share_view_retention_days,
            },
        }
    }
}

/// Create a workspace.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWorkspace {
    /// 1–200 characters.
    pub name: String,
}

/// Change a workspace.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateWorkspace {
    /// New name, 1–200 characters.
    pub name: Option<String>,
    /// Settings to change; absent ones stay.
    pub settings: Option<SettingsIn>,
}

/// Settings to change.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SettingsIn {
    /// Whether Owners and Admins may read photo locations.
    pub show_photo_location: Option<bool>,
    /// Days to keep share link views (1–3650), or `null` for the instance's default.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<u32>)]
    pub share_view_retention_days: Option<Option<u32>>,
}

/// A member.
#[derive(Debug, Serialize, ToSchema)]
pub struct MemberOut {
    /// User id.
    pub user_id: String,
    /// Email.
    pub email: String,
    /// Role.
    pub role: RoleDto,
    /// Joined.
    pub joined_at: DateTime<Utc>,
}

impl From<Member> for MemberOut {
    fn from(m: Member) -> Self {
        Self {
            user_id: m.membership.user_id.to_string(),
            email: m.email.to_string(),
            role: m.membership.role.into(),
            joined_at: m.membership.created_at,
        }
    }
}

/// One of a member's live sessions (its token is never shown).
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionInfoOut {
    /// Session id.
    pub id: String,
    /// Signed in.
    pub created_at: DateTime<Utc>,
    /// Last request seen (to the minute).
    pub last_seen_at: DateTime<Utc>,
    /// Ends at the latest.
    pub expires_at: DateTime<Utc>,
}

impl From<workvault_domain::model::Session> for SessionInfoOut {
    fn from(s: workvault_domain::model::Session) -> Self {
        Self { id: s.id.to_string(), created_at: s.created_at, last_seen_at: s.last_seen_at, expires_at: s.expires_at }
    }
}

/// Change a member's role.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateMember {
    /// The new role (not `owner`: transfer ownership instead).
    pub role: RoleDto,
}

/// Transfer ownership.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransferOwnership {
    /// The member who becomes Owner.
    pub user_id: String,
}

/// Create an invite.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateInvite {
    /// Role it grants (default `member`).
    pub role: Option<RoleDto>,
    /// Lifetime in seconds (default 7 days, at most the configured maximum).
    pub expires_in: Option<i64>,
    /// Only this email may accept.
    pub email: Option<String>,
}

/// A pending invite (its token is never shown again).
#[derive(Debug, Serialize, ToSchema)]
pub struct InviteOut {
    /// Invite id.
    pub id: String,
    /// Role it grants.
    pub role: RoleDto,
    /// Email it is restricted to.
    pub email: Option<String>,
    /// Who created it.
    pub created_by: String,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Not usable from this instant.
    pub expires_at: DateTime<Utc>,
}

impl From<&Invite> for InviteOut {
    fn from(i: &Invite) -> Self {
        Self {
            id: i.id.to_string(),
            role: i.role.into(),
            email: i.email.as_ref().map(|e| e.to_string()),
            created_by: i.created_by.to_string(),
            created_at: i.created_at,
            expires_at: i.expires_at,
        }
    }
}

/// A new invite: the link is shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct InviteCreated {
    /// The invite.
    #[serde(flatten)]
    pub invite: InviteOut,
    /// The single-use link to hand to the invitee.
    pub url: String,
}

/// An accepted invite.
#[derive(Debug, Serialize, ToSchema)]
pub struct Joined {
    /// The workspace joined, with the new role.
    pub workspace: WorkspaceOut,
}

/// A job.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobOut {
    /// Job id.
    pub id: String,
    /// Workspace id.
    pub workspace_id: String,
    /// Title.
    pub title: String,
    /// Description.
    pub description: Option<String>,
    /// Site address.
    pub address: Option<String>,
    /// Status.
    pub status: JobStatusDto,
    /// Creator.
    pub created_by: String,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

impl From<Job> for JobOut {
    fn from(j: Job) -> Self {
        Self {
            id: j.id.to_string(),
            workspace_id: j.workspace_id.to_string(),
            title: j.title.to_string(),
            description: j.description.map(|d| d.to_string()),
            address: j.address.map(|a| a.to_string()),
            status: j.status.into(),
            created_by: j.created_by.to_string(),
            created_at: j.created_at,
            updated_at: j.updated_at,
        }
    }
}

/// Create a job.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateJob {
    /// 1–200 characters.
    pub title: String,
    /// Up to 10,000 characters.
    pub description: Option<String>,
    /// Up to 500 characters.
    pub address: Option<String>,
    /// Default `open`.
    pub status: Option<JobStatusDto>,
}

/// Change a job: absent fields stay, `null` clears an optional one.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateJob {
    /// New title.
    pub title: Option<String>,
    /// New description, or `null` to clear.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
    /// New address, or `null` to clear.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub address: Option<Option<String>>,
    /// New status.
    pub status: Option<JobStatusDto>,
}

/// A Restricted member's grant on a job.
#[derive(Debug, Serialize, ToSchema)]
pub struct GrantOut {
    /// Job id.
    pub job_id: String,
    /// Member's user id.
    pub user_id: String,
    /// Who granted it.
    pub granted_by: String,
    /// When.
    pub created_at: DateTime<Utc>,
}

impl From<Grant> for GrantOut {
    fn from(g: Grant) -> Self {
        Self {
            job_id: g.job_id.to_string(),
            user_id: g.user_id.to_string(),
            granted_by: g.granted_by.to_string(),
            created_at: g.created_at,
        }
    }
}

/// Who did it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ActorOut {
    /// `user`, `system` or `anonymous`.
    pub kind: &'static str,
    /// The user id, for `user`.
    pub id: Option<String>,
}

/// What it was done to.
#[derive(Debug, Serialize, ToSchema)]
pub struct TargetOut {
    /// Resource kind.
    pub kind: String,
    /// Resource id.
    pub id: String,
}

/// One audit event.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEventOut {
    /// Event id.
    pub id: String,
    /// Position in the workspace's chain, from 1.
    pub seq: i64,
    /// When.
    pub at: DateTime<Utc>,
    /// Who.
    pub actor: ActorOut,
    /// What (`member.role_changed`, …).
    pub action: String,
    /// On what.
    pub target: TargetOut,
    /// Further facts.
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
    /// The request that caused it.
    pub request_id: Option<String>,
    /// Hash of the previous event (hex).
    pub prev_hash: String,
    /// This event's hash (hex).
    pub hash: String,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl From<AuditEvent> for AuditEventOut {
    fn from(e: AuditEvent) -> Self {
        use workvault_domain::audit::AuditActor;
        let actor = match e.actor {
            AuditActor::User(u) => ActorOut { kind: "user", id: Some(u.to_string()) },
            AuditActor::System => ActorOut { kind: "system", id: None },
            AuditActor::Anonymous => ActorOut { kind: "anonymous", id: None },
        };
        Self {
            id: e.id.to_string(),
            seq: e.seq,
            at: e.at,
            actor,
            action: e.action,
            target: TargetOut { kind: e.target_kind, id: e.target_id },
            details: serde_json::from_str(&e.details).unwrap_or(serde_json::Value::String(e.details)),
            request_id: e.request_id.map(|r| r.to_string()),
            prev_hash: hex(&e.prev_hash),
            hash: hex(&e.hash),
        }
    }
}

/// The first broken link of a chain.
#[derive(Debug, Serialize, ToSchema)]
pub struct BrokenLinkOut {
    /// Sequence number of the first event that fails.
    pub seq: i64,
    /// Its id, when the event is there.
    pub event_id: Option<String>,
    /// `hash_mismatch`, `prev_hash_mismatch`, `sequence_gap` or `head_mismatch` (events
    /// removed from the end).
    pub problem: String,
}

/// The result of verifying a chain.
#[derive(Debug, Serialize, ToSchema)]
pub struct VerifyOut {
    /// Whether every link holds.
    pub intact: bool,
    /// Events checked.
    pub events: u64,
    /// The first broken link.
    pub first_broken: Option<BrokenLinkOut>,
}

impl From<ChainReport> for VerifyOut {
    fn from(r: ChainReport) -> Self {
        let problem = |p: ChainProblem| match p {
            ChainProblem::HashMismatch => "hash_mismatch",
            ChainProblem::PrevHashMismatch => "prev_hash_mismatch",
            ChainProblem::SequenceGap => "sequence_gap",
            ChainProblem::HeadMismatch => "head_mismatch",
        };
        Self {
            intact: r.is_intact(),
            events: r.events,
            first_broken: r.first_broken.map(|b| BrokenLinkOut {
                seq: b.seq,
                event_id: b.event_id.map(|id| id.to_string()),
                problem: problem(b.problem).to_owned(),
            }),
        }
    }
}

/// Health status.
#[derive(Debug, Serialize, ToSchema)]
pub struct HealthOut {
    /// `ok` or `unavailable`.
    pub status: &'static str,
}
