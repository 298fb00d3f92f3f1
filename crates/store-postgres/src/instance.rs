//! Bulk dump and restore of every record (`workvault migrate-store`, and later full
//! export and import). Pages are keyset on the primary key.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Timestamptz};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;
use workvault_domain::instance::{InstanceStore, Record, RecordKind, RecordPage};
use workvault_domain::ports::{StoreError, StoreResult};

use crate::assets::{AssetRow, FieldRow};
use crate::queue::TaskRow;
use crate::reports::{ReportRow, insert_items, items_of};
use crate::rows::{
    AuditRow, GrantRow, InviteRow, JobRow, MembershipRow, PhotoRow, SessionRow, SignInLinkRow, UserRow, WorkspaceRow,
    corrupt,
};
use crate::schema::{
    asset_fields, assets, audit_events, audit_heads, grants, invites, jobs, memberships, photos, reports, sessions,
    share_links, share_views, sign_in_links, submit_links, tasks, ticket_attachments, ticket_replies, tickets, users,
    workspaces,
};
use crate::share::{LinkRow, ViewRow};
use crate::tickets::{AttachmentRow, ReplyRow, SubmitLinkRow, TicketRow};
use crate::{Db, PgStore, read, write_tx};

fn next<T>(rows: &[T], limit: u32, key: impl Fn(&T) -> String) -> Option<String> {
    (rows.len() == limit as usize).then(|| rows.last().map(key)).flatten()
}

/// A share view cursor, `link|at (µs)|id`; the start when there is none.
fn view_cursor(cursor: Option<&str>) -> Result<(Uuid, DateTime<Utc>, Uuid), Db> {
    let Some(c) = cursor else { return Ok((Uuid::nil(), DateTime::UNIX_EPOCH, Uuid::nil())) };
    let mut parts = c.splitn(3, '|');
    let link = parts.next().and_then(|l| l.parse().ok());
    let at = parts.next().and_then(|a| a.parse().ok()).and_then(DateTime::from_timestamp_micros);
    let id = parts.next().and_then(|i| i.parse().ok());
    match (link, at, id) {
        (Some(link), Some(at), Some(id)) => Ok((link, at, id)),
        _ => Err(Db(corrupt("cursor", c))),
    }
}

/// An audit event cursor, `workspace|seq`; the start when there is none.
fn audit_cursor(cursor: Option<&str>) -> Result<(Uuid, i64), Db> {
    let Some(c) = cursor else { return Ok((Uuid::nil(), i64::MIN)) };
    c.split_once('|')
        .and_then(|(ws, seq)| Some((ws.parse().ok()?, seq.parse().ok()?)))
        .ok_or_else(|| Db(corrupt("cursor", c)))
}

fn uuid(cursor: Option<&str>) -> Result<Uuid, Db> {
    cursor.map_or(Ok(Uuid::nil()), |c| Uuid::parse_str(c).map_err(|_| Db(corrupt("cursor", c))))
}

fn pair(cursor: Option<&str>) -> Result<(Uuid, Uuid), Db> {
    match cursor {
        None => Ok((Uuid::nil(), Uuid::nil())),
        Some(c) => {
            let (a, b) = c.split_once('|').ok_or_else(|| Db(corrupt("cursor", c)))?;
            Ok((uuid(Some(a))?, uuid(Some(b))?))
        }
    }
}

fn all<T>(rows: Vec<T>, f: impl Fn(T) -> Result<Record, StoreError>) -> Result<Vec<Record>, Db> {
    Ok(rows.into_iter().map(f).collect::<Result<_, _>>()?)
}

async fn dump(
    c: &mut AsyncPgConnection,
    kind: RecordKind,
    after: Option<String>,
    limit: u32,
) -> Result<RecordPage, Db> {
    let n = i64::from(limit);
    let after = after.as_deref();
    Ok(match kind {
        RecordKind::User => {
            let rows: Vec<UserRow> = users::table
                .filter(users::id.gt(uuid(after)?))
                .order(users::id)
                .limit(n)
                .select(UserRow::as_select())
                .load(c)
                .await?;
            let cursor = next(&rows, limit, |r| r.id.to_string());
            (all(rows, |r| r.into_domain().map(Record::User))?, cursor)
        }
        RecordKind::Workspace => {
            let rows: Vec<WorkspaceRow> = workspaces::table
                .filter(workspaces::id.gt(uuid(after)?))
                .order(workspaces::id)
                .limit(n)
                .select(WorkspaceRow::as_select())
                .load(c)
                .await?;
            let cursor = next(&rows, limit, |r| r.id.to_string());
            (all(rows, |r| r.into_domain().map(Record::Workspace))?, cursor)
        }
        RecordKind::Membership => {
            let (ws, user) = pair(after)?;
            let rows: Vec<MembershipRow> = memberships::table
                .filter(
                    memberships::workspace_id
                        .gt(ws)
                        .or(memberships::workspace_id.eq(ws).and(memberships::user_id.gt(user))),
                )
                .order((memberships::workspace_id, memberships::user_id))
                .limit(n)
                .select(MembershipRow::as_select())
                .load(c)
                .await?;
            let cursor = next(&rows, limit, |r| format!("{}|{}", r.workspace_id, r.user_id));
            (all(rows, |r| r.into_domain().map(Record::Membership))?, cursor)
        }
        RecordKind::Job => {
            let rows: Vec<(JobRow, Option<DateTime<Utc>>)> = jobs::table
                .filter(jobs::id.gt(uuid(after)?))
                .order(jobs::id)
                .limit(n)
                .select((JobRow::as_select(), jobs::deleted_at))
                .load(c)
                .await?;
            let cursor = next(&rows, limit, |r| r.0.id.to_string());
            (all(rows, |(j, d)| Ok(Record::Job(j.into_domain()?, d)))?, cursor)
        }
        RecordKind::Photo => {
            let rows: Vec<PhotoRow> = photos::table
                .filter(photos::id.gt(uuid(after)?))
                .order(photos::id)
                .limit(n)
                .select(PhotoRow::as_select())
                .load(c)
                .await?;
            let cursor = next(&rows, limit, |r| r.id.to_string());
            (all(rows, |r| Ok(Record::Photo(r.into_domain()?)))?, cursor)
        }
        RecordKind::Report => {
            let rows: Vec<ReportRow> = reports::table
                .filter(reports::id.gt(uuid(after)?))
                .order(reports::id)
                .limit(n)
                .select(ReportRow::as_select())
                .load(c)
                .await?;
            let cursor = next(&rows, limit, |r| r.id.to_string());
            let mut items = items_of(c, rows.iter().map(|r| r.id).collect()).await?;
            let records = rows
                .into_iter()
                .map(|r| {
                    let its = items.remove(&r.id).unwrap_or_default();
                    r.into_domain(its).map(Record::Report)
                })
                .collect::<Result<_, _>>()?;
            (records, cursor)
        }
        RecordKind::ShareLink => {
            let rows: Vec<LinkRow> = share_links::table
                .filter(share_links::id.gt(uuid(after)?))
                .order(share_links::id)
                .limit(n)
                .select(LinkRow::as_select())
                .load(c)
                .await?;
            let cursor = next(&rows, limit, |r| r.id.to_string());
            (all(rows, |r| Ok(Record::ShareLink(r.into_domain()?)))?, cursor)
        }
        RecordKind::ShareView => {
            // In the embedded store's order (its table's key), so dumps compare alike.
            let (link, at, id) = view_cursor(after)?;
            let rows: Vec<ViewRow> = share_views::table
                .filter(
                    sql::<Bool>("(link_id, at, id) > (")
                        .bind::<diesel::sql_types::Uuid, _>(link)
                        .sql(", ")
                        .bind::<Timestamptz, _>(at)
                        .sql(", ")
                        .bind::<diesel::sql_types::Uuid, _>(id)
                        .sql(")"),
                )
                .order((share_views::link_id, share_views::at, share_views::id))
                .limit(n)
                .select(ViewRow::as_select())
                .load(c)
                .await?;
            let cursor = next(&rows, limit, |r| format!("{}|{}|{}", r.link_id, r.at.timestamp_micros(), r.id));
            (all(rows, |r| Ok(Record::ShareView(r.into_domain()?)))?, cursor)
        }
        RecordKind::AssetField => {
            let (ws, key) = match after {
                Some(a) => a
                    .split_once('|')
                    .map(|(w, k)| (w.to_owned(), k.to_owned()))
                    .ok_or_else(|| Db(corrupt("cursor", a)))?,
                None => (String::new(), String::new()),
            };
            let ws = if ws.is_empty() { Uuid::nil() } else { ws.parse().map_err(|_| Db(corrupt("cursor", &ws)))? };
            let rows: Vec<FieldRow> = asset_fields::table
                .filter(
                    asset_fields::workspace_id
                        .gt(ws)
                        .or(asset_fields::workspace_id.eq(ws).and(asset_fields::key.gt(&key))),
                )
                .order((asset_fields::workspace_id, asset_fields::key))
                .limit(n)
                .select(FieldRow::as_select())
                .load(c)
                .await?;
            let cursor = next(&rows, limit, |r| format!("{}|{}", r.workspace_id, r.key));
            (all(rows, |r| r.into_domain().map(Record::AssetField))?, cursor)
        }
        RecordKind::Asset => {
            let rows: Vec<AssetRow> = assets::table
                .filter(assets::id.gt(uuid(after)?))
                .order(assets::id)
                .limit(n)
                .select(AssetRow::as_select())
                .load(c)
                .await?;
            let cursor = next(&rows, limit, |r| r.id.to_string());
            (all(rows, |r| r.into_domain(None).map(Record::Asset))?, cursor)
        }
        RecordKind::SubmitLink => {
            let rows: Vec<SubmitLinkRow> = submit_links::table
                .filter(submit_links::id.gt(uuid(after)?))
                .order(submit_links::id)
                .limit(n)
                .select(SubmitLinkRow::as_select())
                .load(c)
                .await?;
            let cursor = next(&rows, limit, |r| r.id.to_string());
            (all(rows, |r| r.into_domain().map(Record::SubmitLink))?, cursor)
        }
        RecordKind::Ticket => {
            let rows: Vec<TicketRow> = tickets::table
                .filter(tickets::id.gt(uuid(after)?))
                .order(tickets::id)
                .limit(n)
                .select(TicketRow::as_select())
                .load(c)
                .await?;
            let cursor = next(&rows, limit, |r| r.id.to_string());
            (all(rows, |r| r.into_domain(None).map(Record::Ticket))?, cursor)
        }
        RecordKind::TicketReply => {
            let rows: Vec<ReplyRow> = ticket_replies::table
                .filter(ticket_replies::id.gt(uuid(after)?))
                .order(ticket_replies::id)
                .limit(n)
                .select(ReplyRow::as_select())
                .load(c)
                .await?;
            let cursor = next(&rows, limit, |r| r.id.to_string());
            (all(rows, |r| r.into_domain(None).map(Record::TicketReply))?, cursor)
        }
        RecordKind::TicketAttachment => {
            let rows: Vec<AttachmentRow> = ticket_attachments::table
                .filter(ticket_attachments::id.gt(uuid(after)?))
                .order(ticket_attachments::id)
                .limit(n)
                .select(AttachmentRow::as_select())
                .load(c)
                .await?;
            let cursor = next(&rows, limit, |r| r.id.to_string());
            (all(rows, |r| r.into_domain().map(Record::TicketAttachment))?, cursor)
        }
        RecordKind::Grant => {
            let (job, user) = pair(after)?;
            let rows: Vec<GrantRow> = grants::table
                .filter(grants::job_id.gt(job).or(grants::job_id.eq(job).and(grants::user_id.gt(user))))
                .order((grants::job_id, grants::user_id))
                .limit(n)
                .select(GrantRow::as_select())
                .load(c)
                .await?;
            let cursor = next(&rows, limit, |r| format!("{}|{}", r.job_id, r.user_id));
            (all(rows, |r| Ok(Record::Grant(r.into_domain())))?, cursor)
        }
        RecordKind::Invite => {
            let rows: Vec<InviteRow> = invites::table
                .filter(invites::id.gt(uuid(after)?))
                .order(invites::id)
                .limit(n)
                .select(InviteRow::as_select())
                .load(c)
                .await?;
            let cursor = next(&rows, limit, |r| r.id.to_string());
            (all(rows, |r| r.into_domain().map(Record::Invite))?, cursor)
        }
        RecordKind::Session => {
            let rows: Vec<SessionRow> = sessions::table
                .filter(sessions::id.gt(uuid(after)?))
                .order(sessions::id)
                .limit(n)
                .select(SessionRow::as_select())
                .load(c)
                .await?;
            let cursor = next(&rows, limit, |r| r.id.to_string());
            (
                all(rows, |r| {
                    let revoked = r.revoked_at;
                    Ok(Record::Session(r.into_domain()?, revoked))
                })?,
                cursor,
            )
        }
        RecordKind::SignInLink => {
            let after_hash = after.map(hex_decode).transpose()?.unwrap_or_default();
            let rows: Vec<SignInLinkRow> = sign_in_links::table
                .filter(sign_in_links::token_hash.gt(after_hash))
                .order(sign_in_links::token_hash)
                .limit(n)
                .select(SignInLinkRow::as_select())
                .load(c)
                .await?;
            let cursor = next(&rows, limit, |r| hex::encode(&r.token_hash));
            (all(rows, |r| r.into_domain().map(Record::SignInLink))?, cursor)
        }
        RecordKind::AuditEvent => {
            // Each workspace's chain in order, as the embedded store keeps it.
            let (ws, seq) = audit_cursor(after)?;
            let rows: Vec<AuditRow> = audit_events::table
                .filter(
                    sql::<Bool>("(workspace_id, seq) > (")
                        .bind::<diesel::sql_types::Uuid, _>(ws)
                        .sql(", ")
                        .bind::<BigInt, _>(seq)
                        .sql(")"),
                )
                .order((audit_events::workspace_id, audit_events::seq))
                .limit(n)
                .select(AuditRow::as_select())
                .load(c)
                .await?;
            let cursor = next(&rows, limit, |r| format!("{}|{}", r.workspace_id, r.seq));
            (all(rows, |r| r.into_domain().map(Record::AuditEvent))?, cursor)
        }
        RecordKind::Task => {
            let rows: Vec<TaskRow> = tasks::table
                .filter(tasks::id.gt(uuid(after)?))
                .order(tasks::id)
                .limit(n)
                .select(TaskRow::as_select())
                .load(c)
                .await?;
            let cursor = next(&rows, limit, |r| r.id.to_string());
            (all(rows, |r| r.into_domain().map(Record::Task))?, cursor)
        }
    })
}

fn hex_decode(s: &str) -> Result<Vec<u8>, Db> {
    hex::decode(s).map_err(|_| Db(corrupt("cursor", s)))
}

async fn restore_one(c: &mut AsyncPgConnection, record: &Record) -> Result<(), Db> {
    match record {
        Record::User(u) => {
            let row = UserRow {
                id: *u.id.as_uuid(),
                issuer: u.issuer.clone(),
                subject: u.subject.clone(),
                email: u.email.to_string(),
                created_at: u.created_at,
            };
            diesel::insert_into(users::table).values(row).execute(c).await?;
        }
        Record::Workspace(w) => {
            diesel::insert_into(workspaces::table).values(WorkspaceRow::from_domain(w)).execute(c).await?;
        }
        Record::Membership(m) => {
            diesel::insert_into(memberships::table).values(MembershipRow::from_domain(m)).execute(c).await?;
        }
        Record::Job(j, deleted) => {
            diesel::insert_into(jobs::table)
                .values((JobRow::from_domain(j), jobs::deleted_at.eq(*deleted)))
                .execute(c)
                .await?;
        }
        Record::Photo(p) => {
            diesel::insert_into(photos::table).values(PhotoRow::from_domain(p)).execute(c).await?;
        }
        Record::Report(r) => {
            diesel::insert_into(reports::table).values(ReportRow::from_domain(r)).execute(c).await?;
            insert_items(c, r).await?;
        }
        Record::ShareLink(l) => {
            diesel::insert_into(share_links::table).values(LinkRow::from_domain(l)).execute(c).await?;
        }
        Record::ShareView(v) => {
            diesel::insert_into(share_views::table).values(ViewRow::from_domain(v)).execute(c).await?;
        }
        Record::AssetField(f) => {
            diesel::insert_into(asset_fields::table).values(FieldRow::from_domain(f)).execute(c).await?;
        }
        Record::Asset(a) => {
            diesel::insert_into(assets::table).values(AssetRow::from_domain(a)).execute(c).await?;
        }
        Record::SubmitLink(l) => {
            diesel::insert_into(submit_links::table).values(SubmitLinkRow::from_domain(l)).execute(c).await?;
        }
        Record::Ticket(t) => {
            diesel::insert_into(tickets::table).values(TicketRow::from_domain(t)).execute(c).await?;
        }
        Record::TicketReply(r) => {
            diesel::insert_into(ticket_replies::table).values(ReplyRow::from_domain(r)).execute(c).await?;
        }
        Record::TicketAttachment(a) => {
            diesel::insert_into(ticket_attachments::table).values(AttachmentRow::from_domain(a)).execute(c).await?;
        }
        Record::Grant(g) => {
            diesel::insert_into(grants::table).values(GrantRow::from_domain(g)).execute(c).await?;
        }
        Record::Invite(i) => {
            diesel::insert_into(invites::table).values(InviteRow::from_domain(i)).execute(c).await?;
        }
        Record::Session(s, revoked) => {
            let row = SessionRow { revoked_at: *revoked, ..SessionRow::from_domain(s) };
            diesel::insert_into(sessions::table).values(row).execute(c).await?;
        }
        Record::SignInLink(l) => {
            diesel::insert_into(sign_in_links::table).values(SignInLinkRow::from_domain(l)).execute(c).await?;
        }
        Record::AuditEvent(e) => {
            diesel::insert_into(audit_events::table).values(AuditRow::from_domain(e)).execute(c).await?;
            // Keep the head at the chain's last event, whatever order events arrive in.
            let ws = *e.workspace_id.as_uuid();
            let head: Option<i64> =
                audit_heads::table.find(ws).select(audit_heads::seq).for_update().first(c).await.optional()?;
            if head.is_none_or(|h| h < e.seq) {
                diesel::insert_into(audit_heads::table)
                    .values((
                        audit_heads::workspace_id.eq(ws),
                        audit_heads::seq.eq(e.seq),
                        audit_heads::hash.eq(e.hash.to_vec()),
                    ))
                    .on_conflict(audit_heads::workspace_id)
                    .do_update()
                    .set((audit_heads::seq.eq(e.seq), audit_heads::hash.eq(e.hash.to_vec())))
                    .execute(c)
                    .await?;
            }
        }
        Record::Task(t) => {
            diesel::insert_into(tasks::table).values(TaskRow::from_domain(t)).execute(c).await?;
        }
    }
    Ok(())
}

#[async_trait]
impl InstanceStore for PgStore {
    async fn dump(&self, kind: RecordKind, after: Option<String>, limit: u32) -> StoreResult<RecordPage> {
        read!(self, |c| dump(c, kind, after, limit).await)
    }

    async fn restore(&self, records: &[Record]) -> StoreResult<()> {
        let records = records.to_vec();
        write_tx!(self, |c| {
            for r in &records {
                restore_one(c, r).await?;
            }
            Ok(())
        })
    }

    async fn is_empty(&self) -> StoreResult<bool> {
        read!(self, |c| {
            use diesel::dsl::exists;
            let any = diesel::select(
                exists(users::table.select(users::id))
                    .or(exists(workspaces::table.select(workspaces::id)))
                    .or(exists(audit_events::table.select(audit_events::id)))
                    .or(exists(sign_in_links::table.select(sign_in_links::email)))
                    .or(exists(tasks::table.select(tasks::id))),
            )
            .get_result::<bool>(c)
            .await?;
            Ok(!any)
        })
    }
}
