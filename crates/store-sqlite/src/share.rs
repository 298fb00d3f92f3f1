//! Share links on SQLite: links with their access facts in one statement, what a link
//! shows read without an actor (only live content), views appended with their audit
//! event, and fixed-window attempt counters.

use async_trait::async_trait;
use std::collections::HashSet;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::BigInt;
use diesel::sqlite::SqliteConnection;
use tokio::sync::oneshot;
use workvault_domain::audit::AuditDraft;
use workvault_domain::id::{ShareLinkId, UserId, WorkspaceId};
use workvault_domain::page::{Cursor, Page, PageRequest};
use workvault_domain::policy::Role;
use workvault_domain::ports::{JobAccess, StoreError, StoreResult};
use workvault_domain::share::{
    GALLERY_LIMIT, ListedLink, ShareLink, ShareStore, ShareTarget, ShareView, Shared, ViewHour, Viewed,
};

use crate::audit::{append, append_all};
use crate::engine::{Engine, stopped};
use crate::journal::Entry;
use crate::reports::{ItemRead, ReportRow, report_and_entries};
use crate::rows::{JobRow, PhotoRow, corrupt, hash, id, micros, opt_time, role, time};
use crate::schema::{
    grants, jobs, memberships, photos, rate_limits, report_items, reports, share_links, share_views, view_journal,
};
use crate::{Db, SqliteStore, Thread};

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = share_links)]
pub(crate) struct LinkRow {
    pub id: String,
    pub workspace_id: String,
    pub job_id: String,
    pub target_kind: String,
    pub report_id: Option<String>,
    pub photo_id: Option<String>,
    pub token_hash: Vec<u8>,
    pub password_hash: Option<String>,
    pub allow_download: bool,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
    pub created_by: String,
    pub created_at: i64,
}

impl LinkRow {
    pub fn from_domain(l: &ShareLink) -> Self {
        let (report_id, photo_id) = match l.target {
            ShareTarget::Report(r) => (Some(r.to_string()), None),
            ShareTarget::Photo(p) => (None, Some(p.to_string())),
            ShareTarget::Job => (None, None),
        };
        Self {
            id: l.id.to_string(),
            workspace_id: l.workspace_id.to_string(),
            job_id: l.job_id.to_string(),
            target_kind: l.target.kind().to_owned(),
            report_id,
            photo_id,
            token_hash: l.token_hash.as_bytes().to_vec(),
            password_hash: l.password_hash.clone(),
            allow_download: l.allow_download,
            expires_at: micros(l.expires_at),
            revoked_at: l.revoked_at.map(micros),
            created_by: l.created_by.to_string(),
            created_at: micros(l.created_at),
        }
    }

    pub fn into_domain(self) -> Result<ShareLink, StoreError> {
        let target = match (self.target_kind.as_str(), &self.report_id, &self.photo_id) {
            ("report", Some(r), None) => ShareTarget::Report(id(r)?),
            ("photo", None, Some(p)) => ShareTarget::Photo(id(p)?),
            ("job", None, None) => ShareTarget::Job,
            (kind, _, _) => return Err(corrupt("share link target", kind)),
        };
        Ok(ShareLink {
            id: id(&self.id)?,
            workspace_id: id(&self.workspace_id)?,
            job_id: id(&self.job_id)?,
            target,
            token_hash: hash(&self.token_hash)?,
            password_hash: self.password_hash,
            allow_download: self.allow_download,
            expires_at: time(self.expires_at)?,
            revoked_at: opt_time(self.revoked_at)?,
            created_by: id(&self.created_by)?,
            created_at: time(self.created_at)?,
        })
    }
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = share_views)]
pub(crate) struct ViewRow {
    pub id: String,
    pub workspace_id: String,
    pub link_id: String,
    pub at: i64,
    pub viewed: String,
    pub network: String,
    pub browser: String,
}

impl ViewRow {
    pub fn from_domain(v: &ShareView) -> Self {
        Self {
            id: v.id.to_string(),
            workspace_id: v.workspace_id.to_string(),
            link_id: v.link_id.to_string(),
            at: micros(v.at),
            viewed: v.viewed.as_str().to_owned(),
            network: v.network.clone(),
            browser: v.browser.clone(),
        }
    }

    pub fn into_domain(self) -> Result<ShareView, StoreError> {
        Ok(ShareView {
            id: id(&self.id)?,
            workspace_id: id(&self.workspace_id)?,
            link_id: id(&self.link_id)?,
            at: time(self.at)?,
            viewed: Viewed::parse(&self.viewed).ok_or_else(|| corrupt("viewed", &self.viewed))?,
            network: self.network,
            browser: self.browser,
        })
    }
}

/// Whether a link's target is live in its job (and the job in its workspace).
fn target_is_live(c: &mut SqliteConnection, link: &ShareLink) -> Result<bool, Db> {
    let (ws, job) = (link.workspace_id.to_string(), link.job_id.to_string());
    let job_live: bool = diesel::select(diesel::dsl::exists(
        jobs::table.find(&job).filter(jobs::workspace_id.eq(&ws)).filter(jobs::deleted_at.is_null()),
    ))
    .get_result(c)?;
    Ok(job_live
        && match link.target {
            ShareTarget::Job => true,
            ShareTarget::Report(r) => diesel::select(diesel::dsl::exists(
                reports::table
                    .find(r.to_string())
                    .filter(reports::job_id.eq(&job))
                    .filter(reports::deleted_at.is_null()),
            ))
            .get_result(c)?,
            ShareTarget::Photo(p) => diesel::select(diesel::dsl::exists(
                photos::table.find(p.to_string()).filter(photos::job_id.eq(&job)).filter(photos::deleted_at.is_null()),
            ))
            .get_result(c)?,
        })
}

/// What a live link shows, read without an actor.
fn shared(c: &mut SqliteConnection, link: &ShareLink) -> Result<Option<Shared>, Db> {
    let (ws, job) = (link.workspace_id.to_string(), link.job_id.to_string());
    let job_row: Option<JobRow> = jobs::table
        .find(&job)
        .filter(jobs::workspace_id.eq(&ws))
        .filter(jobs::deleted_at.is_null())
        .select(JobRow::as_select())
        .first(c)
        .optional()?;
    let Some(job_row) = job_row else { return Ok(None) };
    match link.target {
        ShareTarget::Report(r) => {
            let rows: Vec<ItemRead> = reports::table
                .left_join(report_items::table.on(report_items::report_id.eq(reports::id)))
                .left_join(photos::table.on(photos::id.eq(report_items::photo_id)))
                .filter(reports::id.eq(r.to_string()))
                .filter(reports::job_id.eq(&job))
                .filter(reports::deleted_at.is_null())
                .order(report_items::position)
                .select((
                    ReportRow::as_select(),
                    (report_items::position, report_items::caption).nullable(),
                    photos::all_columns.nullable(),
                ))
                .load(c)?;
            Ok(report_and_entries(rows)?.map(|(report, entries)| Shared::Report(report, entries)))
        }
        ShareTarget::Photo(p) => {
            let row: Option<PhotoRow> = photos::table
                .find(p.to_string())
                .filter(photos::job_id.eq(&job))
                .filter(photos::deleted_at.is_null())
                .select(PhotoRow::as_select())
                .first(c)
                .optional()?;
            let Some(row) = row else { return Ok(None) };
            Ok(Some(Shared::Photos(job_row.into_domain()?, vec![row.into_domain()?])))
        }
        ShareTarget::Job => {
            let rows: Vec<PhotoRow> = photos::table
                .filter(photos::job_id.eq(&job))
                .filter(photos::deleted_at.is_null())
                .order((photos::created_at.desc(), photos::id.desc()))
                .limit(i64::from(GALLERY_LIMIT))
                .select(PhotoRow::as_select())
                .load(c)?;
            let photos = rows.into_iter().map(PhotoRow::into_domain).collect::<Result<Vec<_>, _>>()?;
            Ok(Some(Shared::Photos(job_row.into_domain()?, photos)))
        }
    }
}

#[async_trait]
impl ShareStore for SqliteStore {
    async fn create_link(&self, link: &ShareLink, audit: AuditDraft) -> StoreResult<()> {
        let link = link.clone();
        self.write(move |c| {
            if !target_is_live(c, &link)? {
                return Err(Db(StoreError::NotFound));
            }
            diesel::insert_into(share_links::table).values(LinkRow::from_domain(&link)).execute(c)?;
            append(c, audit)?;
            Ok(())
        })
        .await
    }

    async fn link_for(
        &self,
        actor: UserId,
        ws: WorkspaceId,
        link: ShareLinkId,
    ) -> StoreResult<Option<(ShareLink, JobAccess)>> {
        self.run(move |c| {
            let row: Option<(LinkRow, String, Option<String>)> = share_links::table
                .inner_join(jobs::table.on(jobs::id.eq(share_links::job_id).and(jobs::deleted_at.is_null())))
                .inner_join(
                    memberships::table.on(memberships::workspace_id
                        .eq(share_links::workspace_id)
                        .and(memberships::user_id.eq(actor.to_string()))),
                )
                .left_join(
                    grants::table
                        .on(grants::job_id.eq(share_links::job_id).and(grants::user_id.eq(memberships::user_id))),
                )
                .filter(share_links::id.eq(link.to_string()))
                .filter(share_links::workspace_id.eq(ws.to_string()))
                .select((LinkRow::as_select(), memberships::role, grants::user_id.nullable()))
                .first(c)
                .optional()?;
            let Some((row, actor_role, grant)) = row else { return Ok(None) };
            Ok(Some((row.into_domain()?, JobAccess { role: role(&actor_role)?, granted: grant.is_some() })))
        })
        .await
    }

    async fn links_for(
        &self,
        actor: UserId,
        ws: WorkspaceId,
        page: PageRequest,
    ) -> StoreResult<Option<(Role, Page<ListedLink>)>> {
        self.run(move |c| {
            let actor_role: Option<String> = memberships::table
                .find((ws.to_string(), actor.to_string()))
                .select(memberships::role)
                .first(c)
                .optional()?;
            let Some(actor_role) = actor_role else { return Ok(None) };
            let (key, after) = match page.after {
                Some(a) => (a.key, a.id.to_string()),
                None => (i64::MAX, String::from("~")),
            };
            let rows: Vec<(LinkRow, Option<String>, Option<String>, Option<String>)> = share_links::table
                .inner_join(jobs::table.on(jobs::id.eq(share_links::job_id).and(jobs::deleted_at.is_null())))
                .left_join(
                    grants::table.on(grants::job_id.eq(share_links::job_id).and(grants::user_id.eq(actor.to_string()))),
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
                .filter(share_links::workspace_id.eq(ws.to_string()))
                .filter(
                    share_links::created_at.lt(key).or(share_links::created_at.eq(key).and(share_links::id.lt(after))),
                )
                .order((share_links::created_at.desc(), share_links::id.desc()))
                .limit(i64::from(page.limit) + 1)
                .select((
                    LinkRow::as_select(),
                    grants::user_id.nullable(),
                    makers.field(memberships::role).nullable(),
                    maker_grants.field(grants::user_id).nullable(),
                ))
                .load(c)?;
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
                key: micros(l.link.created_at),
                id: *l.link.id.as_uuid(),
            });
            Ok(Some((role(&actor_role)?, page)))
        })
        .await
    }

    async fn revoke_link(
        &self,
        ws: WorkspaceId,
        link: ShareLinkId,
        at: DateTime<Utc>,
        audit: AuditDraft,
    ) -> StoreResult<()> {
        self.write(move |c| {
            let n = diesel::update(share_links::table.find(link.to_string()))
                .filter(share_links::workspace_id.eq(ws.to_string()))
                .filter(share_links::revoked_at.is_null())
                .set(share_links::revoked_at.eq(micros(at)))
                .execute(c)?;
            if n == 0 {
                return Err(Db(StoreError::NotFound));
            }
            append(c, audit)?;
            Ok(())
        })
        .await
    }

    async fn link_by_token(
        &self,
        token: &workvault_domain::secret::TokenHash,
    ) -> StoreResult<Option<(ShareLink, Option<JobAccess>)>> {
        let token = token.as_bytes().to_vec();
        self.run(move |c| {
            let row: Option<(LinkRow, Option<String>, Option<String>)> = share_links::table
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
                .optional()?;
            let Some((row, maker_role, maker_grant)) = row else { return Ok(None) };
            Ok(Some((row.into_domain()?, maker_access(maker_role, maker_grant)?)))
        })
        .await
    }

    async fn shared(&self, link: &ShareLink) -> StoreResult<Option<Shared>> {
        let link = link.clone();
        self.run(move |c| shared(c, &link)).await
    }

    async fn record_views(&self, views: Vec<(ShareView, AuditDraft)>) -> StoreResult<()> {
        match self.engine.journal() {
            Some(_) => journal_views(&self.engine, views),
            None => self.on_thread(Thread::Writer, move |c| write_views(c, views)).await,
        }
    }

    async fn shared_viewed(&self, link: &ShareLink, view: (ShareView, AuditDraft)) -> StoreResult<Option<Shared>> {
        let (tx, rx) = oneshot::channel();
        let (engine, link) = (self.engine.clone(), link.clone());
        self.engine.read(Box::new(move |c| {
            let answer = match shared(c, &link).map_err(StoreError::from) {
                Ok(Some(content)) if content.shows_anything(&link.target) => match engine.journal() {
                    Some(_) => journal_views(&engine, vec![view]),
                    None => write_views(c, vec![view]),
                }
                .map(|()| Some(content)),
                other => other,
            };
            drop(tx.send(answer));
        }))?;
        rx.await.map_err(|_| stopped())?
    }

    async fn views_of(&self, ws: WorkspaceId, link: ShareLinkId, page: PageRequest) -> StoreResult<Page<ShareView>> {
        self.settle().await?;
        self.run(move |c| {
            let (key, after) = match page.after {
                Some(a) => (a.key, a.id.to_string()),
                None => (i64::MAX, String::from("~")),
            };
            let rows: Vec<ViewRow> = share_views::table
                .filter(share_views::workspace_id.eq(ws.to_string()))
                .filter(share_views::link_id.eq(link.to_string()))
                .filter(share_views::at.lt(key).or(share_views::at.eq(key).and(share_views::id.lt(after))))
                .order((share_views::at.desc(), share_views::id.desc()))
                .limit(i64::from(page.limit) + 1)
                .select(ViewRow::as_select())
                .load(c)?;
            let views = rows.into_iter().map(ViewRow::into_domain).collect::<Result<Vec<_>, _>>()?;
            Ok(Page::from_rows(views, page.limit, |v| Cursor { key: micros(v.at), id: *v.id.as_uuid() }))
        })
        .await
    }

    async fn prune_views(&self, now: DateTime<Utc>, default_days: u16) -> StoreResult<u64> {
        const DAY: i64 = 86_400_000_000;
        self.write(move |c| {
            // Link by link (CROSS JOIN keeps links outside), each against its own
            // workspace's retention: a seek on the views' key to the link's oldest view,
            // and only those older than the retention read.
            let n = diesel::sql_query(
                "DELETE FROM share_views WHERE (link_id, at, id) IN ( \
                   SELECT v.link_id, v.at, v.id FROM share_links l CROSS JOIN share_views v \
                   ON v.link_id = l.id AND v.at < ?1 - ?3 * COALESCE( \
                     (SELECT w.share_view_retention_days FROM workspaces w WHERE w.id = l.workspace_id), ?2))",
            )
            .bind::<BigInt, _>(micros(now))
            .bind::<BigInt, _>(i64::from(default_days))
            .bind::<BigInt, _>(DAY)
            .execute(c)?;
            let spent = micros(now) - i64::from(default_days) * DAY;
            diesel::delete(rate_limits::table.filter(rate_limits::window_start.lt(spent))).execute(c)?;
            Ok(n as u64)
        })
        .await
    }

    async fn count_attempt(&self, key: &str, window: DateTime<Utc>) -> StoreResult<u32> {
        let key = key.to_owned();
        self.write(move |c| {
            let n: i32 = diesel::insert_into(rate_limits::table)
                .values((
                    rate_limits::key.eq(&key),
                    rate_limits::window_start.eq(micros(window)),
                    rate_limits::count.eq(1),
                ))
                .on_conflict((rate_limits::key, rate_limits::window_start))
                .do_update()
                .set(rate_limits::count.eq(rate_limits::count + 1))
                .returning(rate_limits::count)
                .get_result(c)?;
            Ok(u32::try_from(n).unwrap_or(u32::MAX))
        })
        .await
    }

    async fn uncount_attempt(&self, key: &str, window: DateTime<Utc>) -> StoreResult<()> {
        let key = key.to_owned();
        self.write(move |c| {
            diesel::update(rate_limits::table)
                .filter(rate_limits::key.eq(&key))
                .filter(rate_limits::window_start.eq(micros(window)))
                .filter(rate_limits::count.gt(0))
                .set(rate_limits::count.eq(rate_limits::count - 1))
                .execute(c)?;
            Ok(())
        })
        .await
    }
}

diesel::alias!(memberships as makers: MakerMemberships, grants as maker_grants: MakerGrants);

/// A link maker's access facts from their (left-joined) membership role and grant.
fn maker_access(role_name: Option<String>, grant: Option<String>) -> Result<Option<JobAccess>, StoreError> {
    role_name.map(|r| Ok(JobAccess { role: role(&r)?, granted: grant.is_some() })).transpose()
}

/// The hours of a batch that have a view stored already: their audit event was
/// appended with that view (a seek per hour on the views' `(link_id, at)` key).
fn stored_hours(c: &mut SqliteConnection, hours: &[ViewHour]) -> QueryResult<HashSet<ViewHour>> {
    let mut stored = HashSet::new();
    for hour in hours {
        let found: bool = diesel::select(diesel::dsl::exists(
            share_views::table
                .filter(share_views::link_id.eq(hour.link.to_string()))
                .filter(share_views::at.ge(micros(hour.start)))
                .filter(share_views::at.lt(micros(hour.end())))
                .filter(share_views::viewed.eq(hour.viewed.as_str())),
        ))
        .get_result(c)?;
        if found {
            stored.insert(*hour);
        }
    }
    Ok(stored)
}

/// Writes views with their audit events in one write transaction (an in-memory
/// database, which keeps no journal).
fn write_views(c: &mut SqliteConnection, views: Vec<(ShareView, AuditDraft)>) -> StoreResult<()> {
    c.immediate_transaction(|c| {
        let stored = stored_hours(c, &ViewHour::of_batch(&views))?;
        // One row per statement: the statement is prepared once per connection and
        // cached, where a many-row insert is new SQL for every batch size.
        for (view, _) in &views {
            diesel::insert_into(share_views::table).values(ViewRow::from_domain(view)).execute(c)?;
        }
        append_all(c, ViewHour::audited(&views, &stored))
    })
    .map_err(StoreError::from)
}

/// Appends views to the database file's journal; the writer thread is told when the
/// journal was empty, and writes them within [`crate::journal::FLUSH_EVERY`] (at once
/// when [`crate::journal::WRITE_AT`] views are waiting).
fn journal_views(engine: &Engine, views: Vec<(ShareView, AuditDraft)>) -> StoreResult<()> {
    let journal = engine.journal().ok_or_else(stopped)?;
    let notice = journal.append(views).map_err(|e| StoreError::Unavailable(Box::new(e)))?;
    engine.journalled(notice);
    Ok(())
}

/// Writes a journal segment's views with their audit events, in one transaction that
/// also records the segment as written; a segment recorded already is skipped, so a
/// segment written just before its process stopped is not written again. A view of a
/// link deleted since is not kept (its link's views went with it); its audit event is.
/// Segments named in `forget` (written, their files deleted) are forgotten.
pub(crate) fn write_journalled(
    c: &mut SqliteConnection,
    segment: &str,
    entries: &[Entry],
    forget: &[String],
) -> Result<(), Db> {
    c.immediate_transaction(|c| {
        if !forget.is_empty() {
            diesel::delete(view_journal::table.filter(view_journal::segment.eq_any(forget))).execute(c)?;
        }
        let done: bool = diesel::select(diesel::dsl::exists(view_journal::table.find(segment))).get_result(c)?;
        if done {
            return Ok(());
        }
        let stored = stored_hours(c, &ViewHour::of_batch(entries))?;
        // Views of links deleted since are dropped; the rest go in one row per (cached)
        // statement, a view already there (written by an earlier try) ignored.
        let mut links: Vec<String> = entries.iter().map(|(v, _)| v.link_id.to_string()).collect();
        links.sort_unstable();
        links.dedup();
        let mut live = HashSet::with_capacity(links.len());
        for some in links.chunks(500) {
            live.extend(
                share_links::table.filter(share_links::id.eq_any(some)).select(share_links::id).load::<String>(c)?,
            );
        }
        for (view, _) in entries {
            let row = ViewRow::from_domain(view);
            if live.contains(&row.link_id) {
                // Columns named one by one: a statement with a static id, prepared once
                // and cached (a derived insert builds its SQL on every run).
                diesel::insert_or_ignore_into(share_views::table)
                    .values((
                        share_views::id.eq(row.id),
                        share_views::workspace_id.eq(row.workspace_id),
                        share_views::link_id.eq(row.link_id),
                        share_views::at.eq(row.at),
                        share_views::viewed.eq(row.viewed),
                        share_views::network.eq(row.network),
                        share_views::browser.eq(row.browser),
                    ))
                    .execute(c)?;
            }
        }
        append_all(c, ViewHour::audited(entries, &stored))?;
        diesel::insert_into(view_journal::table).values(view_journal::segment.eq(segment)).execute(c)?;
        Ok(())
    })
}

/// Forgets the written segments named before `before` but those in `keep` (whose
/// files are still there).
pub(crate) fn forget_segments_older_than(c: &mut SqliteConnection, before: &str, keep: &[String]) -> Result<(), Db> {
    diesel::delete(
        view_journal::table.filter(view_journal::segment.lt(before)).filter(view_journal::segment.ne_all(keep)),
    )
    .execute(c)?;
    Ok(())
}
