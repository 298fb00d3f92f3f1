use async_trait::async_trait;
use diesel::prelude::*;
use workvault_domain::audit::AuditDraft;
use workvault_domain::id::{UserId, WorkspaceId};
use workvault_domain::model::{Membership, Workspace, WorkspaceSettings};
use workvault_domain::page::{Cursor, Page, PageRequest};
use workvault_domain::policy::Role;
use workvault_domain::ports::{Health, StoreError, StoreResult, WorkspaceStore};
use workvault_domain::text::Name;

use crate::audit::append;
use crate::rows::{MembershipRow, WorkspaceRow, micros, role};
use crate::schema::{memberships, workspaces};
use crate::{Db, SqliteStore};

fn with_role(rows: Vec<(WorkspaceRow, String)>) -> Result<Vec<(Workspace, Role)>, StoreError> {
    rows.into_iter().map(|(w, r)| Ok((w.into_domain()?, role(&r)?))).collect()
}

#[async_trait]
impl WorkspaceStore for SqliteStore {
    async fn create_workspace(&self, ws: &Workspace, owner: &Membership, audit: AuditDraft) -> StoreResult<()> {
        let (ws, owner) = (WorkspaceRow::from_domain(ws), MembershipRow::from_domain(owner));
        self.write(move |c| {
            diesel::insert_into(workspaces::table).values(&ws).execute(c)?;
            diesel::insert_into(memberships::table).values(&owner).execute(c)?;
            append(c, audit)?;
            Ok(())
        })
        .await
    }

    async fn workspace_for(&self, actor: UserId, ws: WorkspaceId) -> StoreResult<Option<(Workspace, Role)>> {
        self.run(move |c| {
            let rows = workspaces::table
                .inner_join(memberships::table)
                .filter(workspaces::id.eq(ws.to_string()))
                .filter(memberships::user_id.eq(actor.to_string()))
                .select((WorkspaceRow::as_select(), memberships::role))
                .load(c)?;
            Ok(with_role(rows)?.pop())
        })
        .await
    }

    async fn workspaces_of(&self, user: UserId, page: PageRequest) -> StoreResult<Page<(Workspace, Role)>> {
        self.run(move |c| {
            let mut q = workspaces::table
                .inner_join(memberships::table)
                .filter(memberships::user_id.eq(user.to_string()))
                .order((workspaces::created_at.desc(), workspaces::id.desc()))
                .limit(i64::from(page.limit) + 1)
                .select((WorkspaceRow::as_select(), memberships::role))
                .into_boxed();
            if let Some(after) = page.after {
                let id = after.id.to_string();
                q = q.filter(
                    workspaces::created_at
                        .lt(after.key)
                        .or(workspaces::created_at.eq(after.key).and(workspaces::id.lt(id))),
                );
            }
            let rows = with_role(q.load(c)?)?;
            Ok(Page::from_rows(rows, page.limit, |(w, _)| Cursor { key: micros(w.created_at), id: *w.id.as_uuid() }))
        })
        .await
    }

    async fn update_workspace(
        &self,
        ws: WorkspaceId,
        name: &Name,
        settings: WorkspaceSettings,
        audit: AuditDraft,
    ) -> StoreResult<Workspace> {
        let name = name.to_string();
        self.write(move |c| {
            let row: WorkspaceRow = diesel::update(workspaces::table.find(ws.to_string()))
                .set((
                    workspaces::name.eq(name),
                    workspaces::show_photo_location.eq(settings.show_photo_location),
                    workspaces::share_view_retention_days.eq(settings.share_view_retention_days.map(i32::from)),
                ))
                .returning(WorkspaceRow::as_returning())
                .get_result(c)?;
            append(c, audit)?;
            Ok(row.into_domain()?)
        })
        .await
    }
}

#[async_trait]
impl Health for SqliteStore {
    async fn ping(&self) -> StoreResult<()> {
        self.run(|c| {
            diesel::sql_query("SELECT 1").execute(c).map_err(Db::from)?;
            Ok(())
        })
        .await
    }
}
