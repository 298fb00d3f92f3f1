//! Share links on PostgreSQL: links with their access facts in one statement, what a
//! link shows read without an actor (only live content), views appended with their
//! audit event, and fixed-window attempt counters (one upsert).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;
use workvault_domain::audit::AuditDraft;
use workvault_domain::id::{JobId, PhotoId, ReportId, ShareLinkId, ShareViewId, UserId, WorkspaceId};
use workvault_domain::page::{Cursor, Page, PageRequest};
use workvault_domain::policy::Role;
use workvault_domain::ports::{JobAccess, StoreError, StoreResult};
use workvault_domain::secret::TokenHash;
use workvault_domain::share::{
    GALLERY_LIMIT, ListedLink, ShareLink, ShareStore, ShareTarget, ShareView, Shared, Viewed,
};

use crate::audit::append;
use crate::jobs::cursor_time;
use crate::reports::{ItemRead, ReportRow, report_and_entries};
use crate::rows::{JobRow, PhotoRow, corrupt, hash, role};
use crate::schema::{grants, jobs, memberships, photos, rate_limits, report_items, reports, share_links, share_views};
use crate::{Db, PgStore, read, write_tx};

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = share_links)]
pub(crate) struct LinkRow {
    pub id: Uuid,
    pub workspace_id: Uuid,
    pub job_id: Uuid,
    pub target_kind: String,
    pub report_id: Option<Uuid>,
    pub photo_id: Option<Uuid>,
    pub token_hash: Vec<u8>,
    pub password_hash: Option<String>,
    pub allow_download: bool,
    pub expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
}

impl LinkRow {
    pub fn from_domain(l: &ShareLink) -> Self {
        let (report_id, photo_id) = match l.target {
            ShareTarget::Report(r) => (Some(*r.as_uuid()), None),
            ShareTarget::Photo(p) => (None, Some(*p.as_uuid())),
            ShareTarget::Job => (None, None),
        };
        Self {
            id: *l.id.as_uuid(),
            workspace_id: *l.workspace_id.as_uuid(),
            job_id: *l.job_id.as_uuid(),
            target_kind: l.target.kind().to_owned(),
            report_id,
            photo_id,
            token_hash: l.token_hash.as_bytes().to_vec(),
            password_hash: l.password_hash.clone(),
            allow_download: l.allow_download,
            expires_at: l.expires_at,
            revoked_at: l.revoked_at,
            created_by: *l.created_by.as_uuid(),
            created_at: l.created_at,
        }
    }

    pub fn into_domain(self) -> Result<ShareLink, StoreError> {
        let target = match (self.target_kind.as_str(), self.report_id, self.photo_id) {
            ("report", Some(r), None) => ShareTarget::Report(ReportId::from_uuid(r)),
            ("photo", None, Some(p)) => ShareTarget::Photo(PhotoId::from_uuid(p)),
            ("job", None, None) => ShareTarget::Job,
            (kind, _, _) => return Err(corrupt("share link target", kind)),
        };
        Ok(ShareLink {
            id: ShareLinkId::from_uuid(self.id),
            workspace_id: WorkspaceId::from_uuid(self.workspace_id),
            job_id: JobId::from_uuid(self.job_id),
            target,
            token_hash: hash(&self.token_hash)?,
            password_hash: self.password_hash,
            allow_download: self.allow_download,
            expires_at: self.expires_at,
            revoked_at: self.revoked_at,
            created_by: UserId::from_uuid(self.created_by),
            created_at: self.created_at,
        })
    }
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = share_views)]
pub(crate) struct ViewRow {
    pub id: Uuid,
    pub workspace_id: Uuid,
    pub link_id: Uuid,
    pub at: DateTime<Utc>,
    pub viewed: String,
    pub network: String,
    pub browser: String,
}

impl ViewRow {
    pub fn from_domain(v: &ShareView) -> Self {
        Self {
            id: *v.id.as_uuid(),
            workspace_id: *v.workspace_id.as_uuid(),
            link_id: *v.link_id.as_uuid(),
            at: v.at,
            viewed: v.viewed.as_str().to_owned(),
            network: v.network.clone(),
            browser: v.browser.clone(),
        }
    }

    pub fn into_domain(self) -> Result<ShareView, StoreError> {
        Ok(ShareView {
            id: ShareViewId::from_uuid(self.id),
            workspace_id: WorkspaceId::from_uuid(self.workspace_id),
            link_id: ShareLinkId::from_uuid(self.link_id),
            at: self.at,
            viewed: Viewed::parse(&self.viewed).ok_or_else(|| corrupt("viewed", &self.viewed))?,
            network: self.network,
            browser: self.browser,
        })
    }
}

/// Whether a link's target is live in its job (and the job in its workspace); the rows
/// read are held (`FOR SHARE`) until the transaction ends.
async fn target_is_live(c: &mut AsyncPgConnection, link: &ShareLink) -> Result<bool, Db> {
    let (ws, job) = (*link.workspace_id.as_uuid(), *link.job_id.as_uuid());
    let live: Option<Uuid> = jobs::table
        .find(job)
        .filter(jobs::workspace_id.eq(ws))
        .filter(jobs::deleted_at.is_null())
        .select(jobs::id)
        .for_share()
        .first(c)
        .await
        .optional()?;
    if live.is_none() {
        return Ok(false);
    }
    let found: Option<Uuid> = match link.target {
        ShareTarget::Job => Some(job),
        ShareTarget::Report(r) => reports::table
            .find(*r.as_uuid())
            .filter(reports::job_id.eq(job))
            .filter(reports::deleted_at.is_null())
            .select(reports::id)
            .for_share()
            .first(c)
            .await
            .optional()?,
        ShareTarget::Photo(p) => photos::table
            .find(*p.as_uuid())
            .filter(photos::job_id.eq(job))
            .filter(photos::deleted_at.is_null())
            .select(photos::id)
            .for_share()
            .first(c)
            .await
            .optional()?,
    };
    Ok(found.is_some())
}

/// What a live link shows, read without an actor.
async fn shared(c: &mut AsyncPgConnection, link: &ShareLink) -> Result<Option<Shared>, Db> {
    let (ws, job) = (*link.workspace_id.as_uuid(), *link.job_id.as_uuid());
    let job_row: Option<JobRow> = jobs::table
        .find(job)
        .filter(jobs::workspace_id.eq(ws))
        .filter(jobs::deleted_at.is_null())
        .select(JobRow::as_select())
        .first(c)
        .await
        .optional()?;
    let Some(job_row) = job_row else { return Ok(None) };
    match link.target {
        ShareTarget::Report(r) => {
            let rows: Vec<ItemRead> = reports::table
                .left_join(report_items::table.on(report_items::report_id.eq(reports::id)))
                .left_join(photos::table.on(photos::id.eq(report_items::photo_id)))
                .filter(reports::id.eq(*r.as_uuid()))
                .filter(reports::job_id.eq(job))
                .filter(reports::deleted_at.is_null())
                .order(report_items::position)
                .select((
                    ReportRow::as_select(),
                    (report_items::position, report_items::caption).nullable(),
                    photos::all_columns.nullable(),
                ))
                .load(c)
                .await?;
            Ok(report_and_entries(rows)?.map(|(report, entries)| Shared::Report(report, entries)))
        }
        ShareTarget::Photo(p) => {
            let row: Option<PhotoRow> = photos::table
                .find(*p.as_uuid())
                .filter(photos::job_id.eq(job))
                .filter(photos::deleted_at.is_null())
                .select(PhotoRow::as_select())
                .first(c)
                .await
                .optional()?;
            let Some(row) = row else { return Ok(None) };
            Ok(Some(Shared::Photos(job_row.into_domain()?, vec![row.into_domain()?])))
        }
        ShareTarget::Job => {
            let rows: Vec<PhotoRow> = photos::table
                .filter(photos::job_id.eq(job))
                .filter(photos::deleted_at.is_null())
                .order((photos::created_at.desc(), photos::id.desc()))
                .limit(i64::from(GALLERY_LIMIT))
                .select(PhotoRow::as_select())
                .load(c)
                .await?;
            let photos = rows.into_iter().map(PhotoRow::into_domain).collect::<Result<Vec<_>, _>>()?;
            Ok(Some(Shared::Photos(job_row.into_domain()?, photos)))
        }
    }
}

diesel::alias!(memberships as makers: MakerMemberships, grants as maker_grants: MakerGrants);

/// A link maker's access facts from their (left-joined) membership role and grant.
fn maker_access<G>(role_name: Option<String>, grant: Option<G>) -> Result<Option<JobAccess>, StoreError> {
    role_name.map(|r| Ok(JobAccess { role: role(&r)?, granted: grant.is_some() })).transpose()
}

fn keyset(page: &PageRequest) -> Result<(DateTime<Utc>, Uuid), StoreError> {
    match page.after {
        Some(a) => Ok((cursor_time(a.key)?, a.id)),
        None => Ok((DateTime::<Utc>::MAX_UTC, Uuid::max())),
    }
}

#[async_trait]
impl ShareStore for PgStore {
    async fn create_link(&self, link: &ShareLink, audit: AuditDraft) -> StoreResult<()> {
        write_tx!(self, |c| {
            if !target_is_live(c, link).await? {
                return Err(Db(StoreError::NotFound));
            }
            diesel::insert_into(share_links::table).values(LinkRow::from_domain(link)).execute(c).await?;
            append(c, audit).await?;
            Ok(())
        })
    }

    async fn link_for(
        &self,
        actor: UserId,
        ws: WorkspaceId,
        link: ShareLinkId,
    ) -> StoreResult<Option<(ShareLink, JobAccess)>> {
        read!(self, |c| {
            let row: Option<(LinkRow, String, Option<Uuid>)> = share_links::table
                .inner_join(jobs::table.on(jobs::id.eq(share_links::job_id).and(jobs::deleted_at.is_null())))
                .inner_join(
                    memberships::table.on(memberships::workspace_id
                        .eq(share_links::workspace_id)
                        .and(memberships::user_id.eq(*actor.as_uuid()))),
                )
                .left_join(
                    grants::table
                        .on(grants::job_id.eq(share_links::job_id).and(grants::user_id.eq(memberships::user_id))),
                )
                .filter(share_links::id.eq(*link.as_uuid()))
                .filter(share_links::workspace_id.eq(*ws.as_uuid()))
                .select((LinkRow::as_select(), memberships::role, grants::user_id.nullable()))
                .first(c)
                .await
                .optional()?;
            let Some((row, actor_role, grant)) = row else { return Ok(None) };
            Ok(Some((row.into_domain()?, JobAccess { role: role(&actor_role)?, granted: grant.is_some() })))
        })
    }

    async fn links_for(
        &self,
        actor: UserId,
        ws: WorkspaceId,
        page: PageRequest,
    ) -> StoreResult<Option<(Role, Page<ListedLink>)>> {
        let (at, after) = keyset(&page)?;
        read!(self, |c| {
            let actor_role: Option<String> = memberships::table
                .find((*ws.as_uuid(), *actor.as_uuid()))
                .select(memberships::role)
                .first(c)
                .await
                .optional()?;
            let Some(actor_role) = actor_role else { return Ok(None) };
            let rows: Vec<(LinkRow, Option<Uuid>, Option<String>, Option<Uuid>)> = share_links::table
                .inner_join(jobs::table.on(jobs::id.eq(share_links::job_id).and(jobs::deleted_at.is_null())))
                .left_join(
                    grants::table.on(grants::job_id.eq(share_links::job_id).and(grants::user_id.eq(*actor.as_uuid()))),
                )
                .left_join(
                    makers.on(makers
                        .field(memberships::workspace_id)
                        .eq(share_links::workspace_id)
                        .and(makers.field(memberships::user_id).eq(share_links::created_by))),
                )
                .left_join(
                    maker_grants.on(maker_grants
                        .field(grants::job_id)
                        .eq(share_links::job_id)
                        .and(maker_grants.field(grants::user_id).eq(share_links::created_by))),
                )
                .filter(share_links::workspace_id.eq(*ws.as_uuid()))
                .filter(
                    share_links::created_at.lt(at).or(share_links::created_at.eq(at).and(share_links::id.lt(after))),
                )
                .order((share_links::created_at.desc(), share_links::id.desc()))
                .limit(i64::from(page.limit) + 1)
                .select((
                    LinkRow::as_select(),
                    grants::user_id.nullable(),
                    makers.field(memberships::role).nullable(),
                    maker_grants.field(grants::user_id).nullable(),
                ))
                .load(c)
                .await?;
            let links = rows
                .into_iter()
                .map(|(l, g, maker_role, maker_grant)| {
                    Ok(ListedLink {
                        link: l.into_domain()?,
                        actor_granted: g.is_some(),
                        maker: maker_access(maker_role, maker_grant)?,
                    })
                })
                .collect::<Result<Vec<_>, StoreError>>()?;
            let page = Page::from_rows(links, page.limit, |l| Cursor {
                key: l.link.created_at.timestamp_micros(),
                id: *l.link.id.as_uuid(),
            });
            Ok(Some((role(&actor_role)?, page)))
        })
    }

    async fn revoke_link(
        &self,
        ws: WorkspaceId,
        link: ShareLinkId,
        at: DateTime<Utc>,
        audit: AuditDraft,
    ) -> StoreResult<()> {
        write_tx!(self, |c| {
            let n = diesel::update(share_links::table.find(*link.as_uuid()))
                .filter(share_links::workspace_id.eq(*ws.as_uuid()))
                .filter(share_links::revoked_at.is_null())
                .set(share_links::revoked_at.eq(at))
                .execute(c)
                .await?;
            if n == 0 {
                return Err(Db(StoreError::NotFound));
            }
            append(c, audit).await?;
            Ok(())
        })
    }

    async fn link_by_token(&self, token: &TokenHash) -> StoreResult<Option<(ShareLink, Option<JobAccess>)>> {
        let token = token.as_bytes().to_vec();
        read!(self, |c| {
            let row: Option<(LinkRow, Option<String>, Option<Uuid>)> = share_links::table
                .left_join(
                    memberships::table.on(memberships::workspace_id
                        .eq(share_links::workspace_id)
                        .and(memberships::user_id.eq(share_links::created_by))),
                )
                .left_join(
                    grants::table
                        .on(grants::job_id.eq(share_links::job_id).and(grants::user_id.eq(share_links::created_by))),
                )
                .filter(share_links::token_hash.eq(token))
                .select((LinkRow::as_select(), memberships::role.nullable(), grants::user_id.nullable()))
                .first(c)
                .await
                .optional()?;
            let Some((row, maker_role, maker_grant)) = row else { return Ok(None) };
            Ok(Some((row.into_domain()?, maker_access(maker_role, maker_grant)?)))
        })
    }

    async fn shared(&self, link: &ShareLink) -> StoreResult<Option<Shared>> {
        read!(self, |c| shared(c, link).await)
    }

    async fn record_views(&self, views: Vec<(ShareView, AuditDraft)>) -> StoreResult<()> {
        // With the views of other requests arriving meanwhile, in one transaction.
        self.views.record(self, views).await
    }

    async fn views_of(&self, ws: WorkspaceId, link: ShareLinkId, page: PageRequest) -> StoreResult<Page<ShareView>> {
        let (at, after) = keyset(&page)?;
        read!(self, |c| {
            let rows: Vec<ViewRow> = share_views::table
                .filter(share_views::workspace_id.eq(*ws.as_uuid()))
                .filter(share_views::link_id.eq(*link.as_uuid()))
                .filter(share_views::at.lt(at).or(share_views::at.eq(at).and(share_views::id.lt(after))))
                .order((share_views::at.desc(), share_views::id.desc()))
                .limit(i64::from(page.limit) + 1)
                .select(ViewRow::as_select())
                .load(c)
                .await?;
            let views = rows.into_iter().map(ViewRow::into_domain).collect::<Result<Vec<_>, _>>()?;
            Ok(Page::from_rows(views, page.limit, |v| Cursor { key: v.at.timestamp_micros(), id: *v.id.as_uuid() }))
        })
    }

    async fn prune_views(&self, now: DateTime<Utc>, default_days: u16) -> StoreResult<u64> {
        write_tx!(self, |c| {
            // Each view against its own workspace's retention; the shortest possible
            // (one day) bounds the scan on the `at` index.
            let n = diesel::sql_query(
                "DELETE FROM share_views v USING workspaces w \
                 WHERE w.id = v.workspace_id AND v.at < $1 - interval '1 day' \
                   AND v.at < $1 - make_interval(days => COALESCE(w.share_view_retention_days, $2))",
            )
            .bind::<diesel::sql_types::Timestamptz, _>(now)
            .bind::<diesel::sql_types::Integer, _>(i32::from(default_days))
            .execute(c)
            .await?;
            let spent = now - chrono::Duration::days(i64::from(default_days));
            diesel::delete(rate_limits::table.filter(rate_limits::window_start.lt(spent))).execute(c).await?;
            Ok(n as u64)
        })
    }

    async fn count_attempt(&self, key: &str, window: DateTime<Utc>) -> StoreResult<u32> {
        let key = key.to_owned();
        read!(self, |c| {
            let n: i32 = diesel::insert_into(rate_limits::table)
                .values((rate_limits::key.eq(&key), rate_limits::window_start.eq(window), rate_limits::count.eq(1)))
                .on_conflict((rate_limits::key, rate_limits::window_start))
                .do_update()
                .set(rate_limits::count.eq(rate_limits::count + 1))
                .returning(rate_limits::count)
                .get_result(c)
                .await?;
            Ok(u32::try_from(n).unwrap_or(u32::MAX))
        })
    }

    async fn uncount_attempt(&self, key: &str, window: DateTime<Utc>) -> StoreResult<()> {
        let key = key.to_owned();
        read!(self, |c| {
            diesel::update(rate_limits::table)
                .filter(rate_limits::key.eq(&key))
                .filter(rate_limits::window_start.eq(window))
                .filter(rate_limits::count.gt(0))
                .set(rate_limits::count.eq(rate_limits::count - 1))
                .execute(c)
                .await?;
            Ok(())
        })
    }
}
