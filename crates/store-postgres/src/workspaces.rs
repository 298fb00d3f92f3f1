use async_trait::async_trait;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use workvault_domain::audit::AuditDraft;
use workvault_domain::id::{UserId, WorkspaceId};
use workvault_domain::model::{Membership, Workspace, WorkspaceSettings};
use workvault_domain::page::{Cursor, Page, PageRequest};
use workvault_domain::policy::Role;
use workvault_domain::ports::{Health, StoreError, StoreResult, WorkspaceStore};
use workvault_domain::text::Name;

use crate::audit::append;
use crate::rows::{MembershipRow, WorkspaceRow, role};
use crate::schema::{memberships, workspaces};
use crate::{PgStore, read, write_tx};

fn with_role(rows: Vec<(WorkspaceRow, String)>) -> Result<Vec<(Workspace, Role)>, StoreError> {
    rows.into_iter().map(|(w, r)| Ok((w.into_domain()?, role(&r)?))).collect()
}

#[async_trait]
impl WorkspaceStore for PgStore {
    async fn create_workspace(&self, ws: &Workspace, owner: &Membership, audit: AuditDraft) -> StoreResult<()> {
        let (ws, owner) = (WorkspaceRow::from_domain(ws), MembershipRow::from_domain(owner));
        write_tx!(self, |c| {
            diesel::insert_into(workspaces::table).values(&ws).execute(c).await?;
            diesel::insert_into(memberships::table).values(&owner).execute(c).await?;
            append(c, audit).await?;
            Ok(())
        })
    }

    async fn workspace_for(&self, actor: UserId, ws: WorkspaceId) -> StoreResult<Option<(Workspace, Role)>> {
        read!(self, |c| {
            let rows = workspaces::table
                .inner_join(memberships::table)
                .filter(workspaces::id.eq(*ws.as_uuid()))
                .filter(memberships::user_id.eq(*actor.as_uuid()))
                .select((WorkspaceRow::as_select(), memberships::role))
                .load(c)
                .await?;
            Ok(with_role(rows)?.pop())
        })
    }

    async fn workspaces_of(&self, user: UserId, page: PageRequest) -> StoreResult<Page<(Workspace, Role)>> {
        read!(self, |c| {
            let mut q = workspaces::table
                .inner_join(memberships::table)
                .filter(memberships::user_id.eq(*user.as_uuid()))
                .order((workspaces::created_at.desc(), workspaces::id.desc()))
                .limit(i64::from(page.limit) + 1)
                .select((WorkspaceRow::as_select(), memberships::role))
                .into_boxed();
            if let Some(after) = page.after {
                let at = crate::jobs::cursor_time(after.key)?;
                q = q.filter(
                    workspaces::created_at.lt(at).or(workspaces::created_at.eq(at).and(workspaces::id.lt(after.id))),
                );
            }
            let rows = with_role(q.load(c).await?)?;
            Ok(Page::from_rows(rows, page.limit, |(w, _)| Cursor {
                key: w.created_at.timestamp_micros(),
                id: *w.id.as_uuid(),
            }))
        })
    }

    async fn update_workspace(
        &self,
        ws: WorkspaceId,
        name: &Name,
        settings: WorkspaceSettings,
        audit: AuditDraft,
    ) -> StoreResult<Workspace> {
        let name = name.to_string();
        write_tx!(self, |c| {
            let row: WorkspaceRow = diesel::update(workspaces::table.find(*ws.as_uuid()))
                .set((
                    workspaces::name.eq(name),
                    workspaces::show_photo_location.eq(settings.show_photo_location),
                    workspaces::share_view_retention_days.eq(settings.share_view_retention_days.map(i32::from)),
                ))
                .returning(WorkspaceRow::as_returning())
                .get_result(c)
                .await?;
            append(c, audit).await?;
            Ok(row.into_domain()?)
        })
    }
}

#[async_trait]
impl Health for PgStore {
    async fn ping(&self) -> StoreResult<()> {
        read!(self, |c| {
            diesel::sql_query("SELECT 1").execute(c).await?;
            Ok(())
        })
    }
}
