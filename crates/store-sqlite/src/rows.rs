//! Rows as diesel reads and writes them, and their conversion to and from domain types.
//! A stored value that does not convert is reported as `Corrupt`, never skipped.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use workvault_domain::audit::{AuditActor, AuditEvent};
use workvault_domain::id::{AuditEventId, InviteId, JobId, RequestId, SessionId, UserId, WorkspaceId};
use workvault_domain::identity::AuthFlow;
use workvault_domain::model::{
    Grant, Invite, Job, JobStatus, Member, Membership, Session, SignInLink, User, Workspace, WorkspaceSettings,
};
use workvault_domain::photo::{ImageFacts, ImageType, Photo, PhotoStatus};
use workvault_domain::policy::Role;
use workvault_domain::ports::StoreError;
use workvault_domain::secret::{Token, TokenHash};
use workvault_domain::text::{Address, Email, LongText, Name};

use crate::schema::{
    audit_events, auth_flows, grants, invites, jobs, memberships, photos, sessions, sign_in_links, users, workspaces,
};

pub(crate) fn corrupt(what: &str, value: &str) -> StoreError {
    StoreError::Corrupt(format!("{what}: {value:.64}"))
}

pub(crate) fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

pub(crate) fn time(us: i64) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_micros(us).ok_or_else(|| corrupt("timestamp", &us.to_string()))
}

pub(crate) fn opt_time(us: Option<i64>) -> Result<Option<DateTime<Utc>>, StoreError> {
    us.map(time).transpose()
}

pub(crate) fn id<T: std::str::FromStr>(s: &str) -> Result<T, StoreError> {
    s.parse().map_err(|_| corrupt("id", s))
}

pub(crate) fn role(s: &str) -> Result<Role, StoreError> {
    Role::parse(s).ok_or_else(|| corrupt("role", s))
}

pub(crate) fn hash(bytes: &[u8]) -> Result<TokenHash, StoreError> {
    TokenHash::from_slice(bytes).ok_or_else(|| corrupt("token hash", &bytes.len().to_string()))
}

pub(crate) fn digest(bytes: &[u8]) -> Result<[u8; 32], StoreError> {
    <[u8; 32]>::try_from(bytes).map_err(|_| corrupt("digest", &bytes.len().to_string()))
}

pub(crate) fn text<T>(
    what: &str,
    s: &str,
    parse: impl Fn(&str) -> Result<T, workvault_domain::text::TextError>,
) -> Result<T, StoreError> {
    parse(s).map_err(|_| corrupt(what, s))
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = workspaces)]
pub(crate) struct WorkspaceRow {
    pub id: String,
    pub name: String,
    pub created_at: i64,
    pub show_photo_location: bool,
    pub share_view_retention_days: Option<i32>,
}

impl WorkspaceRow {
    pub fn from_domain(w: &Workspace) -> Self {
        Self {
            id: w.id.to_string(),
            name: w.name.to_string(),
            created_at: micros(w.created_at),
            show_photo_location: w.settings.show_photo_location,
            share_view_retention_days: w.settings.share_view_retention_days.map(i32::from),
        }
    }
    pub fn into_domain(self) -> Result<Workspace, StoreError> {
        Ok(Workspace {
            id: id(&self.id)?,
            name: text("name", &self.name, Name::parse)?,
            created_at: time(self.created_at)?,
            settings: WorkspaceSettings {
                show_photo_location: self.show_photo_location,
                share_view_retention_days: self
                    .share_view_retention_days
                    .map(|d| u16::try_from(d).map_err(|_| corrupt("workspace retention", &self.id)))
                    .transpose()?,
            },
        })
    }
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = users)]
pub(crate) struct UserRow {
    pub id: String,
    pub issuer: String,
    pub subject: String,
    pub email: String,
    pub created_at: i64,
}

impl UserRow {
    pub fn into_domain(self) -> Result<User, StoreError> {
        Ok(User {
            id: id(&self.id)?,
            issuer: self.issuer,
            subject: self.subject,
            email: text("email", &self.email, Email::parse)?,
            created_at: time(self.created_at)?,
        })
    }
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = memberships)]
pub(crate) struct MembershipRow {
    pub workspace_id: String,
    pub user_id: String,
    pub role: String,
    pub created_at: i64,
}

impl MembershipRow {
    pub fn from_domain(m: &Membership) -> Self {
        Self {
            workspace_id: m.workspace_id.to_string(),
            user_id: m.user_id.to_string(),
            role: m.role.as_str().to_owned(),
            created_at: micros(m.created_at),
        }
    }
    pub fn into_domain(self) -> Result<Membership, StoreError> {
        Ok(Membership {
            workspace_id: id(&self.workspace_id)?,
            user_id: id(&self.user_id)?,
            role: role(&self.role)?,
            created_at: time(self.created_at)?,
        })
    }
    pub fn into_member(self, email: &str) -> Result<Member, StoreError> {
        Ok(Member { membership: self.into_domain()?, email: text("email", email, Email::parse)? })
    }
}

#[derive(Queryable, Selectable, Insertable, AsChangeset, QueryableByName)]
#[diesel(table_name = jobs)]
pub(crate) struct JobRow {
    pub id: String,
    pub workspace_id: String,
    pub title: String,
    pub description: Option<String>,
    pub address: Option<String>,
    pub status: String,
    pub created_by: String,
    pub created_at: i64,
    pub updated_at: i64,
}

impl JobRow {
    pub fn from_domain(j: &Job) -> Self {
        Self {
            id: j.id.to_string(),
            workspace_id: j.workspace_id.to_string(),
            title: j.title.to_string(),
            description: j.description.as_ref().map(|d| d.to_string()),
            address: j.address.as_ref().map(|a| a.to_string()),
            status: j.status.as_str().to_owned(),
            created_by: j.created_by.to_string(),
            created_at: micros(j.created_at),
            updated_at: micros(j.updated_at),
        }
    }
    pub fn into_domain(self) -> Result<Job, StoreError> {
        Ok(Job {
            id: id::<JobId>(&self.id)?,
            workspace_id: id(&self.workspace_id)?,
            title: text("title", &self.title, Name::parse)?,
            description: self.description.as_deref().map(|d| text("description", d, LongText::parse)).transpose()?,
            address: self.address.as_deref().map(|a| text("address", a, Address::parse)).transpose()?,
            status: JobStatus::parse(&self.status).ok_or_else(|| corrupt("status", &self.status))?,
            created_by: id(&self.created_by)?,
            created_at: time(self.created_at)?,
            updated_at: time(self.updated_at)?,
        })
    }
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = grants)]
pub(crate) struct GrantRow {
    pub job_id: String,
    pub user_id: String,
    pub workspace_id: String,
    pub granted_by: String,
    pub created_at: i64,
}

impl GrantRow {
    pub fn from_domain(g: &Grant) -> Self {
        Self {
            job_id: g.job_id.to_string(),
            user_id: g.user_id.to_string(),
            workspace_id: g.workspace_id.to_string(),
            granted_by: g.granted_by.to_string(),
            created_at: micros(g.created_at),
        }
    }
    pub fn into_domain(self) -> Result<Grant, StoreError> {
        Ok(Grant {
            workspace_id: id(&self.workspace_id)?,
            job_id: id(&self.job_id)?,
            user_id: id(&self.user_id)?,
            granted_by: id(&self.granted_by)?,
            created_at: time(self.created_at)?,
        })
    }
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = invites)]
pub(crate) struct InviteRow {
    pub id: String,
    pub workspace_id: String,
    pub role: String,
    pub email: Option<String>,
    pub token_hash: Vec<u8>,
    pub created_by: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub accepted_by: Option<String>,
    pub accepted_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

impl InviteRow {
    pub fn from_domain(i: &Invite) -> Self {
        Self {
            id: i.id.to_string(),
            workspace_id: i.workspace_id.to_string(),
            role: i.role.as_str().to_owned(),
            email: i.email.as_ref().map(|e| e.to_string()),
            token_hash: i.token_hash.as_bytes().to_vec(),
            created_by: i.created_by.to_string(),
            created_at: micros(i.created_at),
            expires_at: micros(i.expires_at),
            accepted_by: i.accepted.map(|(u, _)| u.to_string()),
            accepted_at: i.accepted.map(|(_, t)| micros(t)),
            revoked_at: i.revoked_at.map(micros),
        }
    }
    pub fn into_domain(self) -> Result<Invite, StoreError> {
        let accepted = match (self.accepted_by, self.accepted_at) {
            (Some(u), Some(t)) => Some((id::<UserId>(&u)?, time(t)?)),
            _ => None,
        };
        Ok(Invite {
            id: id::<InviteId>(&self.id)?,
            workspace_id: id(&self.workspace_id)?,
            role: role(&self.role)?,
            email: self.email.as_deref().map(|e| text("email", e, Email::parse)).transpose()?,
            token_hash: hash(&self.token_hash)?,
            created_by: id(&self.created_by)?,
            created_at: time(self.created_at)?,
            expires_at: time(self.expires_at)?,
            accepted,
            revoked_at: opt_time(self.revoked_at)?,
        })
    }
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = sign_in_links)]
pub(crate) struct SignInLinkRow {
    pub token_hash: Vec<u8>,
    pub email: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
}

impl SignInLinkRow {
    pub fn from_domain(l: &SignInLink) -> Self {
        Self {
            token_hash: l.token_hash.as_bytes().to_vec(),
            email: l.email.to_string(),
            created_at: micros(l.created_at),
            expires_at: micros(l.expires_at),
            used_at: l.used_at.map(micros),
        }
    }
    pub fn into_domain(self) -> Result<SignInLink, StoreError> {
        Ok(SignInLink {
            token_hash: hash(&self.token_hash)?,
            email: text("email", &self.email, Email::parse)?,
            created_at: time(self.created_at)?,
            expires_at: time(self.expires_at)?,
            used_at: opt_time(self.used_at)?,
        })
    }
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = sessions)]
pub(crate) struct SessionRow {
    pub id: String,
    pub token_hash: Vec<u8>,
    pub user_id: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub last_seen_at: i64,
    pub revoked_at: Option<i64>,
}

impl SessionRow {
    pub fn from_domain(s: &Session) -> Self {
        Self {
            id: s.id.to_string(),
            token_hash: s.token_hash.as_bytes().to_vec(),
            user_id: s.user_id.to_string(),
            created_at: micros(s.created_at),
            expires_at: micros(s.expires_at),
            last_seen_at: micros(s.last_seen_at),
            revoked_at: None,
        }
    }
    pub fn into_domain(self) -> Result<Session, StoreError> {
        Ok(Session {
            id: id::<SessionId>(&self.id)?,
            token_hash: hash(&self.token_hash)?,
            user_id: id(&self.user_id)?,
            created_at: time(self.created_at)?,
            expires_at: time(self.expires_at)?,
            last_seen_at: time(self.last_seen_at)?,
        })
    }
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = audit_events)]
pub(crate) struct AuditRow {
    pub id: String,
    pub workspace_id: String,
    pub seq: i64,
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub target_kind: String,
    pub target_id: String,
    pub details: String,
    pub request_id: Option<String>,
    pub prev_hash: Vec<u8>,
    pub hash: Vec<u8>,
}

impl AuditRow {
    pub fn from_domain(e: &AuditEvent) -> Self {
        Self {
            id: e.id.to_string(),
            workspace_id: e.workspace_id.to_string(),
            seq: e.seq,
            at: micros(e.at),
            actor: e.actor.encode(),
            action: e.action.clone(),
            target_kind: e.target_kind.clone(),
            target_id: e.target_id.clone(),
            details: e.details.clone(),
            request_id: e.request_id.map(|r| r.to_string()),
            prev_hash: e.prev_hash.to_vec(),
            hash: e.hash.to_vec(),
        }
    }
    pub fn into_domain(self) -> Result<AuditEvent, StoreError> {
        Ok(AuditEvent {
            id: id::<AuditEventId>(&self.id)?,
            seq: self.seq,
            at: time(self.at)?,
            workspace_id: id::<WorkspaceId>(&self.workspace_id)?,
            actor: AuditActor::decode(&self.actor).ok_or_else(|| corrupt("actor", &self.actor))?,
            action: self.action,
            target_kind: self.target_kind,
            target_id: self.target_id,
            details: self.details,
            request_id: self.request_id.as_deref().map(id::<RequestId>).transpose()?,
            prev_hash: digest(&self.prev_hash)?,
            hash: digest(&self.hash)?,
        })
    }
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = auth_flows)]
pub(crate) struct AuthFlowRow {
    pub state_hash: Vec<u8>,
    pub nonce: String,
    pub pkce_verifier: String,
    pub created_at: i64,
    pub expires_at: i64,
}

impl AuthFlowRow {
    pub fn from_domain(f: &AuthFlow) -> Self {
        Self {
            state_hash: f.state_hash.as_bytes().to_vec(),
            nonce: f.nonce.expose().to_owned(),
            pkce_verifier: f.pkce_verifier.expose().to_owned(),
            created_at: micros(f.created_at),
            expires_at: micros(f.expires_at),
        }
    }
    pub fn into_domain(self) -> Result<AuthFlow, StoreError> {
        let secret = |what: &str, v: &str| Token::parse(v).ok_or_else(|| corrupt(what, "[redacted]"));
        Ok(AuthFlow {
            state_hash: hash(&self.state_hash)?,
            nonce: secret("nonce", &self.nonce)?,
            pkce_verifier: secret("pkce_verifier", &self.pkce_verifier)?,
            created_at: time(self.created_at)?,
            expires_at: time(self.expires_at)?,
        })
    }
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = photos)]
pub(crate) struct PhotoRow {
    pub id: String,
    pub workspace_id: String,
    pub job_id: String,
    pub image_type: String,
    pub size: i64,
    pub sha256: Vec<u8>,
    pub file_name: Option<String>,
    pub created_by: String,
    pub created_at: i64,
    pub deleted_at: Option<i64>,
    pub status: String,
    pub width: Option<i32>,
    pub height: Option<i32>,
    pub taken_at: Option<String>,
    pub has_location: bool,
    pub large_size: Option<i64>,
    pub thumb_size: Option<i64>,
}

/// The stored form of a photo's processing outcome.
pub(crate) struct ProcessedCols {
    pub status: String,
    pub width: Option<i32>,
    pub height: Option<i32>,
    pub taken_at: Option<String>,
    pub has_location: bool,
    pub large_size: Option<i64>,
    pub thumb_size: Option<i64>,
}

impl ProcessedCols {
    pub fn of(status: PhotoStatus, facts: Option<ImageFacts>, large: Option<u64>, thumb: Option<u64>) -> Self {
        let size = |n: Option<u64>| n.map(|n| i64::try_from(n).unwrap_or(i64::MAX));
        let side = |n: u32| i32::try_from(n).unwrap_or(i32::MAX);
        Self {
            status: status.as_str().to_owned(),
            width: facts.map(|f| side(f.width)),
            height: facts.map(|f| side(f.height)),
            taken_at: facts.and_then(|f| f.taken_at).map(|t| t.format("%Y-%m-%dT%H:%M:%S").to_string()),
            has_location: facts.is_some_and(|f| f.has_location),
            large_size: size(large),
            thumb_size: size(thumb),
        }
    }
}

impl PhotoRow {
    pub fn from_domain(p: &Photo) -> Self {
        let cols = ProcessedCols::of(p.status, p.facts, p.large_size, p.thumb_size);
        Self {
            id: p.id.to_string(),
            workspace_id: p.workspace_id.to_string(),
            job_id: p.job_id.to_string(),
            image_type: p.image_type.as_str().to_owned(),
            size: i64::try_from(p.size).unwrap_or(i64::MAX),
            sha256: p.sha256.to_vec(),
            file_name: p.file_name.as_ref().map(|n| n.to_string()),
            created_by: p.created_by.to_string(),
            created_at: micros(p.created_at),
            deleted_at: p.deleted_at.map(micros),
            status: cols.status,
            width: cols.width,
            height: cols.height,
            taken_at: cols.taken_at,
            has_location: cols.has_location,
            large_size: cols.large_size,
            thumb_size: cols.thumb_size,
        }
    }
    pub fn into_domain(self) -> Result<Photo, StoreError> {
        let status = PhotoStatus::parse(&self.status).ok_or_else(|| corrupt("photo status", &self.status))?;
        let dim = |n: Option<i32>| n.and_then(|n| u32::try_from(n).ok());
        let facts = match (dim(self.width), dim(self.height)) {
            (Some(width), Some(height)) => Some(ImageFacts {
                width,
                height,
                taken_at: self
                    .taken_at
                    .as_deref()
                    .map(|t| {
                        chrono::NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S")
                            .map_err(|_| corrupt("taken_at", t))
                    })
                    .transpose()?,
                has_location: self.has_location,
            }),
            _ => None,
        };
        let size = |n: Option<i64>| n.and_then(|n| u64::try_from(n).ok());
        Ok(Photo {
            id: id(&self.id)?,
            workspace_id: id(&self.workspace_id)?,
            job_id: id(&self.job_id)?,
            image_type: ImageType::parse(&self.image_type).ok_or_else(|| corrupt("image type", &self.image_type))?,
            size: u64::try_from(self.size).map_err(|_| corrupt("size", &self.size.to_string()))?,
            sha256: digest(&self.sha256)?,
            file_name: self.file_name.as_deref().map(|n| text("file name", n, Name::parse)).transpose()?,
            created_by: id(&self.created_by)?,
            created_at: time(self.created_at)?,
            deleted_at: opt_time(self.deleted_at)?,
            status,
            facts,
            large_size: size(self.large_size),
            thumb_size: size(self.thumb_size),
        })
    }
}
