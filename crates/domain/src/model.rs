//! The records of the foundation slice: workspaces, users, memberships, grants, jobs,
//! invites, sessions and sign-in links.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::id::{InviteId, JobId, SessionId, UserId, WorkspaceId};
use crate::policy::Role;
use crate::secret::TokenHash;
use crate::text::{Address, Email, LongText, Name};

/// An isolated tenant. Nothing of one workspace is reachable from another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workspace {
    /// Its id.
    pub id: WorkspaceId,
    /// Display name.
    pub name: Name,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// What its Owner and Admins chose.
    pub settings: WorkspaceSettings,
}

/// A workspace's settings.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WorkspaceSettings {
    /// Whether Owners and Admins may read the GPS location kept in a photo's encrypted
    /// original (off by default: the location is personal data nobody needs to see).
    pub show_photo_location: bool,
    /// How many days the views of its share links are kept (1–3650); `None`: the
    /// instance's default.
    pub share_view_retention_days: Option<u16>,
}

/// A person known to this instance, keyed by `(issuer, subject)` of their identity
/// provider, never by email alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Its id.
    pub id: UserId,
    /// The identity provider's issuer (`local` for sign-in links).
    pub issuer: String,
    /// The subject at that issuer.
    pub subject: String,
    /// The verified email address.
    pub email: Email,
    /// First sign-in.
    pub created_at: DateTime<Utc>,
}

/// A user's role in one workspace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    /// The workspace.
    pub workspace_id: WorkspaceId,
    /// The member.
    pub user_id: UserId,
    /// Their role.
    pub role: Role,
    /// When they joined.
    pub created_at: DateTime<Utc>,
}

/// A membership with the member's email, as listed to other members.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// The membership.
    pub membership: Membership,
    /// The member's email.
    pub email: Email,
}

/// A Restricted member's access to one job (and so to its photos and reports).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// The workspace.
    pub workspace_id: WorkspaceId,
    /// The job.
    pub job_id: JobId,
    /// The member granted.
    pub user_id: UserId,
    /// Who granted it.
    pub granted_by: UserId,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// Where a job stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    /// Not started.
    Open,
    /// Under way.
    InProgress,
    /// Done.
    Completed,
    /// Kept for the record, no longer worked.
    Archived,
}

impl JobStatus {
    /// The stable name used in the API and the stores.
    pub const fn as_str(self) -> &'static str {
        match self {
            JobStatus::Open => "open",
            JobStatus::InProgress => "in_progress",
            JobStatus::Completed => "completed",
            JobStatus::Archived => "archived",
        }
    }

    /// Parses a stable name.
    pub fn parse(s: &str) -> Option<Self> {
        [JobStatus::Open, JobStatus::InProgress, JobStatus::Completed, JobStatus::Archived]
            .into_iter()
            .find(|v| v.as_str() == s)
    }
}

/// A unit of work that holds photos and reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    /// Its id.
    pub id: JobId,
    /// Its workspace.
    pub workspace_id: WorkspaceId,
    /// Title.
    pub title: Name,
    /// Free-text description.
    pub description: Option<LongText>,
    /// Site address (kept inside the workspace, never shared by default).
    pub address: Option<Address>,
    /// Status.
    pub status: JobStatus,
    /// Creator.
    pub created_by: UserId,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

/// A change to a job; `None` leaves a field as it is, `Some(None)` clears it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobPatch {
    /// New title.
    pub title: Option<Name>,
    /// New description.
    pub description: Option<Option<LongText>>,
    /// New address.
    pub address: Option<Option<Address>>,
    /// New status.
    pub status: Option<JobStatus>,
}

impl JobPatch {
    /// Whether the patch changes nothing.
    pub fn is_empty(&self) -> bool {
        self == &JobPatch::default()
    }

    /// The job with the patch applied (the store writes exactly this).
    pub fn apply(&self, job: &Job, at: DateTime<Utc>) -> Job {
        Job {
            title: self.title.clone().unwrap_or_else(|| job.title.clone()),
            description: self.description.clone().unwrap_or_else(|| job.description.clone()),
            address: self.address.clone().unwrap_or_else(|| job.address.clone()),
            status: self.status.unwrap_or(job.status),
            updated_at: at,
            ..job.clone()
        }
    }
}

/// A single-use, expiring invitation into a workspace with a given role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invite {
    /// Its id (the token itself is never stored).
    pub id: InviteId,
    /// The workspace it admits to.
    pub workspace_id: WorkspaceId,
    /// The role it grants.
    pub role: Role,
    /// If set, only a user with this verified email may accept.
    pub email: Option<Email>,
    /// SHA-256 of the token.
    pub token_hash: TokenHash,
    /// Who created it.
    pub created_by: UserId,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Expires (not usable from this instant on).
    pub expires_at: DateTime<Utc>,
    /// Accepted, by whom.
    pub accepted: Option<(UserId, DateTime<Utc>)>,
    /// Revoked.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// Why a link (invite or sign-in link) cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkState {
    /// Usable now.
    Usable,
    /// Past its expiry.
    Expired,
    /// Already used once.
    Used,
    /// Revoked by its creator.
    Revoked,
}

impl Invite {
    /// Whether the invite can be accepted at `now`. An invite expires exactly at
    /// `expires_at`.
    pub fn state(&self, now: DateTime<Utc>) -> LinkState {
        link_state(self.accepted.is_some(), self.revoked_at.is_some(), self.expires_at, now)
    }
}

fn link_state(used: bool, revoked: bool, expires_at: DateTime<Utc>, now: DateTime<Utc>) -> LinkState {
    if revoked {
        LinkState::Revoked
    } else if used {
        LinkState::Used
    } else if now >= expires_at {
        LinkState::Expired
    } else {
        LinkState::Usable
    }
}

/// A one-time sign-in link of the local identity provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignInLink {
    /// SHA-256 of the token.
    pub token_hash: TokenHash,
    /// Who it signs in.
    pub email: Email,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Expires (not usable from this instant on).
    pub expires_at: DateTime<Utc>,
    /// When it was used.
    pub used_at: Option<DateTime<Utc>>,
}

impl SignInLink {
    /// Whether the link can be used at `now`.
    pub fn state(&self, now: DateTime<Utc>) -> LinkState {
        link_state(self.used_at.is_some(), false, self.expires_at, now)
    }
}

/// A verified identity, as an identity provider vouches for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// Issuer (`local` for sign-in links, the OIDC issuer URL otherwise).
    pub issuer: String,
    /// Subject at the issuer.
    pub subject: String,
    /// Verified email.
    pub email: Email,
}

/// A server-side browser session. The cookie holds the token; the store its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Its id.
    pub id: SessionId,
    /// SHA-256 of the cookie token.
    pub token_hash: TokenHash,
    /// The signed-in user.
    pub user_id: UserId,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Hard end, whatever the activity.
    pub expires_at: DateTime<Utc>,
    /// Last request seen (idle timeout counts from here).
    pub last_seen_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn invite(expires_at: DateTime<Utc>) -> Invite {
        let t = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).single().expect("valid time");
        Invite {
            id: InviteId::from_uuid(uuid::Uuid::nil()),
            workspace_id: WorkspaceId::from_uuid(uuid::Uuid::nil()),
            role: Role::Member,
            email: None,
            token_hash: TokenHash::from_bytes([0; 32]),
            created_by: UserId::from_uuid(uuid::Uuid::nil()),
            created_at: t,
            expires_at,
            accepted: None,
            revoked_at: None,
        }
    }

    #[test]
    fn invite_expires_exactly_at_its_expiry() {
        let exp = Utc.with_ymd_and_hms(2026, 1, 8, 12, 0, 0).single().expect("valid time");
        let inv = invite(exp);
        let micro = chrono::Duration::microseconds(1);
        assert_eq!(inv.state(exp - micro), LinkState::Usable);
        assert_eq!(inv.state(exp), LinkState::Expired);
        assert_eq!(inv.state(exp + micro), LinkState::Expired);
    }

    #[test]
    fn used_and_revoked_invites_are_not_usable_even_before_expiry() {
        let exp = Utc.with_ymd_and_hms(2026, 1, 8, 12, 0, 0).single().expect("valid time");
        let before = exp - chrono::Duration::days(1);
        let mut used = invite(exp);
        used.accepted = Some((UserId::from_uuid(uuid::Uuid::nil()), before));
        assert_eq!(used.state(before), LinkState::Used);
        let mut revoked = used.clone();
        revoked.revoked_at = Some(before);
        assert_eq!(revoked.state(before), LinkState::Revoked);
    }

    #[test]
    fn job_patch_changes_only_what_it_names() {
        let t = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).single().expect("valid time");
        let job = Job {
            id: JobId::from_uuid(uuid::Uuid::nil()),
            workspace_id: WorkspaceId::from_uuid(uuid::Uuid::nil()),
            title: Name::parse("Roof").expect("valid"),
            description: LongText::parse("leaks").ok(),
            address: None,
            status: JobStatus::Open,
            created_by: UserId::from_uuid(uuid::Uuid::nil()),
            created_at: t,
            updated_at: t,
        };
        let later = t + chrono::Duration::hours(1);
        let patch = JobPatch { status: Some(JobStatus::Completed), description: Some(None), ..Default::default() };
        let out = patch.apply(&job, later);
        assert_eq!(out.title, job.title);
        assert_eq!(out.description, None);
        assert_eq!(out.status, JobStatus::Completed);
        assert_eq!(out.updated_at, later);
        assert!(JobPatch::default().is_empty());
    }
}
