use serde_json::json;

use super::{Ctx, Workvault};
use crate::error::{Error, field};
use crate::id::{JobId, UserId, WorkspaceId};
use crate::model::{Grant, Job, JobPatch, JobStatus};
use crate::page::{Page, PageRequest};
use crate::policy::{Action, ActorFacts, Decision, ResourceFacts, Role, decide};
use crate::ports::JobAccess;
use crate::text::{Address, LongText, Name};

/// The fields of a new job, as received.
#[derive(Debug, Clone, Default)]
pub struct NewJob {
    /// Title (required).
    pub title: String,
    /// Description.
    pub description: Option<String>,
    /// Site address.
    pub address: Option<String>,
    /// Status (default `open`).
    pub status: Option<JobStatus>,
}

/// A change to a job, as received: `Some(None)` clears an optional field.
#[derive(Debug, Clone, Default)]
pub struct JobChange {
    /// New title.
    pub title: Option<String>,
    /// New description.
    pub description: Option<Option<String>>,
    /// New address.
    pub address: Option<Option<String>>,
    /// New status.
    pub status: Option<JobStatus>,
}

impl JobChange {
    fn validate(self) -> Result<JobPatch, Error> {
        Ok(JobPatch {
            title: self.title.as_deref().map(Name::parse).transpose().map_err(field("title"))?,
            description: self
                .description
                .map(|d| d.as_deref().map(LongText::parse).transpose())
                .transpose()
                .map_err(field("description"))?,
            address: self
                .address
                .map(|a| a.as_deref().map(Address::parse).transpose())
                .transpose()
                .map_err(field("address"))?,
            status: self.status,
        })
    }
}

impl Workvault {
    /// Creates a job.
    pub async fn create_job(&self, ctx: &Ctx, ws: WorkspaceId, new: NewJob) -> Result<Job, Error> {
        let title = Name::parse(&new.title).map_err(field("title"))?;
        let description = new.description.as_deref().map(LongText::parse).transpose().map_err(field("description"))?;
        let address = new.address.as_deref().map(Address::parse).transpose().map_err(field("address"))?;
        self.authorize_workspace(ctx, ws, Action::CreateJob).await?;
        let now = self.now();
        let job = Job {
            id: JobId::generate(&*self.clock, &*self.rng),
            workspace_id: ws,
            title,
            description,
            address,
            status: new.status.unwrap_or(JobStatus::Open),
            created_by: ctx.user,
            created_at: now,
            updated_at: now,
        };
        let audit = self.audit(ctx, ws, "job.created", ("job", job.id.to_string()), json!({"title": job.title}));
        self.store.create_job(&job, audit).await?;
        Ok(job)
    }

    /// The jobs the caller may see, newest first.
    pub async fn jobs(&self, ctx: &Ctx, ws: WorkspaceId, page: PageRequest) -> Result<Page<Job>, Error> {
        let (role, jobs) = self.store.jobs_for(ctx.user, ws, page).await?.ok_or(Error::NotFound)?;
        let actor = ActorFacts { role: Some(role) };
        decide(actor, Action::ListJobs, ResourceFacts::Workspace).into_result().map_err(Error::denied)?;
        // The store filtered in SQL; the policy re-checks every row it returned.
        let visible = |granted: bool| decide(actor, Action::ViewJob, ResourceFacts::Job { granted }) == Decision::Allow;
        let Page { items, next } = jobs;
        let items = items.into_iter().filter(|(_, granted)| visible(*granted)).map(|(job, _)| job).collect();
        Ok(Page { items, next })
    }

    /// Reads one job and checks `action` on it, in one store statement.
    pub(super) async fn authorize_job(
        &self,
        ctx: &Ctx,
        ws: WorkspaceId,
        job: JobId,
        action: Action,
    ) -> Result<(Job, JobAccess), Error> {
        let found = self.store.job_for(ctx.user, ws, job).await?;
        let Some((job, access)) = found else {
            return Err(Error::NotFound);
        };
        decide(ActorFacts { role: Some(access.role) }, action, ResourceFacts::Job { granted: access.granted })
            .into_result()
            .map_err(Error::denied)?;
        Ok((job, access))
    }

    /// One job.
    pub async fn job(&self, ctx: &Ctx, ws: WorkspaceId, job: JobId) -> Result<Job, Error> {
        Ok(self.authorize_job(ctx, ws, job, Action::ViewJob).await?.0)
    }

    /// Edits a job; returns its new state.
    pub async fn update_job(&self, ctx: &Ctx, ws: WorkspaceId, job: JobId, change: JobChange) -> Result<Job, Error> {
        let patch = change.validate()?;
        let (current, _) = self.authorize_job(ctx, ws, job, Action::UpdateJob).await?;
        let updated = patch.apply(&current, self.now());
        if updated == JobPatch::default().apply(&current, updated.updated_at) {
            return Ok(current);
        }
        let mut changed = Vec::new();
        for (name, differs) in [
            ("title", updated.title != current.title),
            ("description", updated.description != current.description),
            ("address", updated.address != current.address),
            ("status", updated.status != current.status),
        ] {
            if differs {
                changed.push(name);
            }
        }
        let audit = self.audit(
            ctx,
            ws,
            "job.updated",
            ("job", job.to_string()),
            json!({"fields": changed, "status": updated.status}),
        );
        self.store.update_job(&updated, current.updated_at, audit).await?;
        Ok(updated)
    }

    /// Moves a job to trash.
    pub async fn delete_job(&self, ctx: &Ctx, ws: WorkspaceId, job: JobId) -> Result<(), Error> {
        self.authorize_job(ctx, ws, job, Action::DeleteJob).await?;
        let audit = self.audit(ctx, ws, "job.trashed", ("job", job.to_string()), json!({}));
        Ok(self.store.trash_job(ws, job, self.now(), audit).await?)
    }

    async fn authorize_grant(&self, ctx: &Ctx, ws: WorkspaceId, job: JobId, user: UserId) -> Result<(), Error> {
        self.authorize_job(ctx, ws, job, Action::ManageGrants).await?;
        let facts = self.store.member_facts(ws, ctx.user, user).await?;
        match facts.target {
            None => Err(Error::NotFound),
            Some(Role::Restricted) => Ok(()),
            Some(_) => Err(Error::GrantNeedsRestricted),
        }
    }

    /// Grants a Restricted member access to a job. Returns whether a grant was created.
    pub async fn grant_job(
        &self,
        ctx: &Ctx,
        ws: WorkspaceId,
        job: JobId,
        user: UserId,
    ) -> Result<(Grant, bool), Error> {
        self.authorize_grant(ctx, ws, job, user).await?;
        let grant =
            Grant { workspace_id: ws, job_id: job, user_id: user, granted_by: ctx.user, created_at: self.now() };
        let audit = self.audit(ctx, ws, "grant.created", ("job", job.to_string()), json!({"user_id": user}));
        let created = self.store.put_grant(&grant, audit).await?;
        Ok((grant, created))
    }

    /// Revokes a grant; effective on the member's very next request.
    pub async fn revoke_grant(&self, ctx: &Ctx, ws: WorkspaceId, job: JobId, user: UserId) -> Result<(), Error> {
        self.authorize_job(ctx, ws, job, Action::ManageGrants).await?;
        let audit = self.audit(ctx, ws, "grant.revoked", ("job", job.to_string()), json!({"user_id": user}));
        Ok(self.store.revoke_grant(ws, job, user, audit).await?)
    }

    /// The grants on a job.
    pub async fn grants(&self, ctx: &Ctx, ws: WorkspaceId, job: JobId) -> Result<Vec<Grant>, Error> {
        self.authorize_job(ctx, ws, job, Action::ManageGrants).await?;
        Ok(self.store.grants(ws, job).await?)
    }
}
