//! Group commit for share link views. Every page view must be recorded before its page
//! is sent, and on SQLite every write waits its turn for the one writer: one commit per
//! view made recording dominate the page (0.38 of the page without recording in
//! `bench/share-view`). Here a request hands its view to one recording task per worker
//! thread and waits for the acknowledgement; the task writes every view that arrived
//! meanwhile in one transaction, so many views share one commit. Nothing is lost or
//! acknowledged before it is stored.

use futures_channel::{mpsc, oneshot};
use futures_util::{SinkExt, StreamExt};
use workvault_domain::Workvault;
use workvault_domain::audit::AuditDraft;
use workvault_domain::share::ShareView;

/// The most views written in one transaction.
const BATCH: usize = 512;

type Pending = (ShareView, AuditDraft, oneshot::Sender<bool>);

/// Hands views to the recording task of this worker thread.
#[derive(Debug, Clone)]
pub struct ViewRecorder {
    tx: mpsc::Sender<Pending>,
    app: Workvault,
}

impl ViewRecorder {
    /// Starts the recording task on the current runtime.
    pub fn start(app: Workvault) -> Self {
        let (tx, rx) = mpsc::channel(BATCH);
        actix_web::rt::spawn(run(app.clone(), rx));
        Self { tx, app }
    }

    /// Records a view; returns once it is stored (`false` if it could not be).
    pub async fn record(&self, view: ShareView, audit: AuditDraft) -> bool {
        let (ack, done) = oneshot::channel();
        let mut tx = self.tx.clone();
        if tx.send((view.clone(), audit.clone(), ack)).await.is_err() {
            // The task is gone (the runtime is stopping): write it here instead.
            return self.app.record_share_views(vec![(view, audit)]).await.is_ok();
        }
        done.await.unwrap_or(false)
    }
}

async fn run(app: Workvault, mut rx: mpsc::Receiver<Pending>) {
    while let Some(first) = rx.next().await {
        let mut batch = vec![first];
        while batch.len() < BATCH {
            match rx.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let (views, acks): (Vec<_>, Vec<_>) = batch.into_iter().map(|(v, a, ack)| ((v, a), ack)).unzip();
        let stored = match app.record_share_views(views).await {
            Ok(()) => true,
            Err(e) => {
                tracing::error!(error = %e, "share link views could not be recorded");
                false
            }
        };
        for ack in acks {
            let _ = ack.send(stored);
        }
    }
}
