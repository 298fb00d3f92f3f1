//! Group commit of share link views.
//!
//! Every view of a shared page is stored before the page is sent, with its audit event
//! when it is the first of its link, kind and hour ([`ViewHour`]).
//! One transaction per view made each wait for the workspace's audit head (locked
//! `FOR UPDATE` by every append) and for its own commit. Here the views that arrive
//! while a transaction is writing wait together and go in the next one: one commit and
//! one head update for all of them.
//!
//! There is no background task. Whoever gets the turn takes everything queued and
//! writes it in a task of its own, which holds the turn until it commits; a request
//! that goes away meanwhile (its client gone) leaves the others' views written and
//! answered all the same.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use tokio::sync::oneshot;
use uuid::Uuid;
use workvault_domain::audit::AuditDraft;
use workvault_domain::ports::{StoreError, StoreResult};
use workvault_domain::share::{ShareView, ViewHour};

use crate::audit::append_all;
use crate::schema::{share_links, share_views};
use crate::share::ViewRow;
use crate::{Db, PgStore, write_tx};

/// Views waiting for a transaction, each call's with the answer it waits for.
type Waiting = Vec<(Vec<(ShareView, AuditDraft)>, oneshot::Sender<StoreResult<()>>)>;

/// The views of one store (shared by its clones).
#[derive(Default)]
pub(crate) struct ViewQueue {
    waiting: Mutex<Waiting>,
    /// The turn to write: held by the task writing a batch until it commits.
    turn: Arc<tokio::sync::Mutex<()>>,
}

impl ViewQueue {
    /// Stores `views` with the others waiting, in one transaction; returns once it
    /// committed (or failed).
    pub(crate) async fn record(&self, store: &PgStore, views: Vec<(ShareView, AuditDraft)>) -> StoreResult<()> {
        let (answer, answered) = oneshot::channel();
        self.lock().push((views, answer));
        let turn = Arc::clone(&self.turn).lock_owned().await;
        let batch = std::mem::take(&mut *self.lock());
        if batch.is_empty() {
            // Written by the batch before (which took these views along).
            drop(turn);
        } else {
            let store = store.clone();
            tokio::spawn(async move {
                let written = write(&store, &batch).await.map_err(|e| e.to_string());
                drop(turn);
                for (_, answer) in batch {
                    let _ = answer.send(written.clone().map_err(|e| StoreError::Unavailable(e.into())));
                }
            });
        }
        answered.await.unwrap_or_else(|_| Err(StoreError::Unavailable("the views' transaction was dropped".into())))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Waiting> {
        // Pushing and taking cannot leave the list half changed.
        self.waiting.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// One transaction for a batch: the views of links still there (a link deleted
/// meanwhile took its views with it), then every audit event, in arrival order.
async fn write(store: &PgStore, batch: &Waiting) -> StoreResult<()> {
    let views: Vec<&(ShareView, AuditDraft)> = batch.iter().flat_map(|(views, _)| views).collect();
    let mut links: Vec<Uuid> = views.iter().map(|(v, _)| *v.link_id.as_uuid()).collect();
    links.sort_unstable();
    links.dedup();
    write_tx!(store, |c| {
        // Locked against deletion until the commit (a view row needs its link).
        let live: HashSet<Uuid> = share_links::table
            .filter(share_links::id.eq_any(&links))
            .select(share_links::id)
            .for_key_share()
            .load::<Uuid>(c)
            .await?
            .into_iter()
            .collect();
        let rows: Vec<ViewRow> = views
            .iter()
            .filter(|(v, _)| live.contains(v.link_id.as_uuid()))
            .map(|(v, _)| ViewRow::from_domain(v))
            .collect();
        let stored = stored_hours(c, &ViewHour::of_batch(views.iter().copied())).await?;
        for chunk in rows.chunks(1_000) {
            diesel::insert_into(share_views::table).values(chunk).execute(c).await?;
        }
        append_all(c, ViewHour::audited(views.iter().copied(), &stored)).await?;
        Ok::<_, Db>(())
    })
}

/// The hours of a batch that have a view stored already: their audit event was
/// appended with that view (an index seek per hour on the views' `(link_id, at)` key).
/// Two nodes writing the first views of one hour at the same moment may each append
/// one: the bound is per node, not exact.
async fn stored_hours(c: &mut diesel_async::AsyncPgConnection, hours: &[ViewHour]) -> Result<HashSet<ViewHour>, Db> {
    let mut stored = HashSet::new();
    for hour in hours {
        let found: bool = diesel::select(diesel::dsl::exists(
            share_views::table
                .filter(share_views::link_id.eq(*hour.link.as_uuid()))
                .filter(share_views::at.ge(hour.start))
                .filter(share_views::at.lt(hour.end()))
                .filter(share_views::viewed.eq(hour.viewed.as_str())),
        ))
        .get_result(c)
        .await?;
        if found {
            stored.insert(*hour);
        }
    }
    Ok(stored)
}
