use serde_json::json;

use super::{Ctx, Workvault};
use crate::audit::AuditEvent;
use crate::audit::ChainReport;
use crate::error::{Error, field};
use crate::id::WorkspaceId;
use crate::model::{Membership, Workspace, WorkspaceSettings};
use crate::page::{Page, PageRequest};
use crate::policy::{Action, ActorFacts, ResourceFacts, Role, decide};
use crate::text::Name;

/// A change to a workspace; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct WorkspaceChange {
    /// New name.
    pub name: Option<String>,
    /// Whether Owners and Admins may read photo locations.
    pub show_photo_location: Option<bool>,
    /// Days to keep share link views (1–3650), or `Some(None)` for the instance's default.
    pub share_view_retention_days: Option<Option<u32>>,
}

/// The longest a workspace may keep share link views: ten years.
pub const MAX_VIEW_RETENTION_DAYS: u16 = 3650;

impl Workvault {
    /// Creates a workspace; the caller becomes its one Owner.
    pub async fn create_workspace(&self, ctx: &Ctx, name: &str) -> Result<(Workspace, Role), Error> {
        let name = Name::parse(name).map_err(field("name"))?;
        let now = self.now();
        let ws = Workspace {
            id: WorkspaceId::generate(&*self.clock, &*self.rng),
            name,
            created_at: now,
            settings: WorkspaceSettings::default(),
        };
        let owner = Membership { workspace_id: ws.id, user_id: ctx.user, role: Role::Owner, created_at: now };
        let audit =
            self.audit(ctx, ws.id, "workspace.created", ("workspace", ws.id.to_string()), json!({"name": ws.name}));
        self.store.create_workspace(&ws, &owner, audit).await?;
        Ok((ws, Role::Owner))
    }

    /// The workspaces the caller belongs to, newest first.
    pub async fn my_workspaces(&self, ctx: &Ctx, page: PageRequest) -> Result<Page<(Workspace, Role)>, Error> {
        Ok(self.store.workspaces_of(ctx.user, page).await?)
    }

    /// Checks `action` on the workspace as a whole, in one statement; returns the workspace and role.
    pub(super) async fn authorize_workspace(
        &self,
        ctx: &Ctx,
        ws: WorkspaceId,
        action: Action,
    ) -> Result<(Workspace, Role), Error> {
        let found = self.store.workspace_for(ctx.user, ws).await?;
        let role = found.as_ref().map(|(_, r)| *r);
        decide(ActorFacts { role }, action, ResourceFacts::Workspace).into_result().map_err(Error::denied)?;
        found.ok_or(Error::NotFound)
    }

    /// One workspace, with the caller's role.
    pub async fn workspace(&self, ctx: &Ctx, ws: WorkspaceId) -> Result<(Workspace, Role), Error> {
        self.authorize_workspace(ctx, ws, Action::ViewWorkspace).await
    }

    /// Changes a workspace's name and settings; nothing to change still needs the right.
    pub async fn update_workspace(
        &self,
        ctx: &Ctx,
        ws: WorkspaceId,
        change: WorkspaceChange,
    ) -> Result<(Workspace, Role), Error> {
        let name = change.name.as_deref().map(Name::parse).transpose().map_err(field("name"))?;
        let retention =
            change.share_view_retention_days.map(|days| days.map(retention_days).transpose()).transpose()?;
        let (current, role) = self.authorize_workspace(ctx, ws, Action::UpdateWorkspace).await?;
        let mut settings = current.settings;
        if let Some(show) = change.show_photo_location {
            settings.show_photo_location = show;
        }
        if let Some(days) = retention {
            settings.share_view_retention_days = days;
        }
        let name = name.unwrap_or_else(|| current.name.clone());
        if name == current.name && settings == current.settings {
            return Ok((current, role));
        }
        let mut details = serde_json::Map::new();
        if name != current.name {
            details.insert("name".into(), json!({"from": current.name, "to": name}));
        }
        if settings.show_photo_location != current.settings.show_photo_location {
            details.insert("show_photo_location".into(), json!(settings.show_photo_location));
        }
        if settings.share_view_retention_days != current.settings.share_view_retention_days {
            details.insert("share_view_retention_days".into(), json!(settings.share_view_retention_days));
        }
        let action = if settings == current.settings { "workspace.renamed" } else { "workspace.updated" };
        let audit = self.audit(ctx, ws, action, ("workspace", ws.to_string()), details.into());
        Ok((self.store.update_workspace(ws, &name, settings, audit).await?, role))
    }

    /// A page of the audit log, newest first.
    pub async fn audit_events(&self, ctx: &Ctx, ws: WorkspaceId, page: PageRequest) -> Result<Page<AuditEvent>, Error> {
        self.authorize_workspace(ctx, ws, Action::ViewAudit).await?;
        Ok(self.store.audit_events(ws, page).await?)
    }

    /// Verifies the workspace's audit chain, for a member allowed to read it.
    pub async fn verify_audit(&self, ctx: &Ctx, ws: WorkspaceId) -> Result<ChainReport, Error> {
        self.authorize_workspace(ctx, ws, Action::ViewAudit).await?;
        self.verify_audit_chain(ws).await
    }

    /// Verifies a workspace's audit chain from its first event (operator CLI; no actor).
    /// `NotFound` when the workspace has no chain (it does not exist).
    pub async fn verify_audit_chain(&self, ws: WorkspaceId) -> Result<ChainReport, Error> {
        crate::audit::verify_stored_chain(&*self.store, ws).await?.ok_or(Error::NotFound)
    }
}

fn retention_days(days: u32) -> Result<u16, Error> {
    u16::try_from(days)
        .ok()
        .filter(|d| (1..=MAX_VIEW_RETENTION_DAYS).contains(d))
        .ok_or_else(|| Error::invalid("share_view_retention_days", "must be 1 to 3650 days"))
}
