//! Admission of uploads: the slots a node hands out (one pool for everything, a smaller
//! one that anonymous senders draw from as well) and the idle timeout every upload body
//! reads under. Every handler that streams a body into the blob store takes a slot
//! first and reads its body through [`IdleTimeout`].

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::error::PayloadError;
use bytes::Bytes;
use futures_util::Stream;
use tokio::time::{Instant, Sleep, sleep};

/// Seconds a client is told to wait when every slot is taken.
pub const BUSY_RETRY_AFTER_SECS: u32 = 5;

/// A count of the uploads in flight on this node, against a limit. Each upload holds
/// a few sealed parts in memory (about 17 MiB on local disk), so the limit bounds
/// what uploads can take of the node's memory. (Capacity, not permission: nothing
/// about who may do what is kept in memory.)
#[derive(Debug, Clone)]
pub struct UploadSlots {
    limit: usize,
    in_flight: Arc<AtomicUsize>,
}

/// One upload's slot, given back when dropped.
#[derive(Debug)]
pub struct UploadSlot(Arc<AtomicUsize>);

impl Drop for UploadSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl UploadSlots {
    /// At most `limit` uploads at once (at least one).
    pub fn new(limit: usize) -> Self {
        Self { limit: limit.max(1), in_flight: Arc::default() }
    }

    /// A slot, if one is free.
    pub fn take(&self) -> Option<UploadSlot> {
        self.in_flight
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < self.limit).then_some(n + 1))
            .ok()
            .map(|_| UploadSlot(self.in_flight.clone()))
    }
}

/// The slots an anonymous upload holds: one of the public pool and one of the node's.
#[derive(Debug)]
pub struct PublicSlot {
    _public: UploadSlot,
    _node: UploadSlot,
}

impl crate::HttpSettings {
    /// A slot for a signed-in member's upload, if one is free.
    pub fn upload_slot(&self) -> Option<UploadSlot> {
        self.upload_slots.take()
    }

    /// Slots for an anonymous upload (the public submit form), if both pools have one:
    /// anonymous senders never hold more than the public pool, and count against the
    /// node's pool like everyone.
    pub fn public_upload_slot(&self) -> Option<PublicSlot> {
        let public = self.public_upload_slots.take()?;
        let node = self.upload_slots.take()?;
        Some(PublicSlot { _public: public, _node: node })
    }

    /// `body`, cut off once it sends nothing for the configured idle timeout.
    pub fn idle_limited<S>(&self, body: S) -> IdleTimeout<S> {
        IdleTimeout::new(body, self.upload_idle_timeout)
    }
}

/// A request body that fails with a timeout (and then ends) once no bytes came for
/// `idle`: a client that stalls mid-upload cannot hold its slot, its thread and the
/// buffered parts for longer.
pub struct IdleTimeout<S> {
    body: S,
    idle: Duration,
    timer: Pin<Box<Sleep>>,
    done: bool,
}

impl<S> std::fmt::Debug for IdleTimeout<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdleTimeout").field("idle", &self.idle).field("done", &self.done).finish_non_exhaustive()
    }
}

impl<S> IdleTimeout<S> {
    /// Wraps `body`; the clock starts now.
    pub fn new(body: S, idle: Duration) -> Self {
        Self { body, idle, timer: Box::pin(sleep(idle)), done: false }
    }
}

impl<S> Stream for IdleTimeout<S>
where
    S: Stream<Item = Result<Bytes, PayloadError>> + Unpin,
{
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.done {
            return Poll::Ready(None);
        }
        match Pin::new(&mut this.body).poll_next(cx) {
            Poll::Ready(item) => {
                let next = Instant::now() + this.idle;
                this.timer.as_mut().reset(next);
                this.done = item.is_none();
                Poll::Ready(item)
            }
            Poll::Pending => match this.timer.as_mut().poll(cx) {
                Poll::Ready(()) => {
                    this.done = true;
                    let why = format!("the body sent nothing for {} s", this.idle.as_secs_f32());
                    Poll::Ready(Some(Err(PayloadError::Io(std::io::Error::new(std::io::ErrorKind::TimedOut, why)))))
                }
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;

    #[tokio::test]
    async fn a_body_that_stops_sending_is_cut_off_and_a_steady_one_is_not() {
        let steady = futures_util::stream::iter([Ok(Bytes::from_static(b"a")), Ok(Bytes::from_static(b"b"))]);
        let got: Vec<_> = IdleTimeout::new(steady, Duration::from_millis(200)).collect().await;
        assert_eq!(got.len(), 2);
        assert!(got.iter().all(Result::is_ok));

        let stalled = futures_util::stream::iter([Ok(Bytes::from_static(b"a"))])
            .chain(futures_util::stream::pending::<Result<Bytes, PayloadError>>());
        let mut body = IdleTimeout::new(Box::pin(stalled), Duration::from_millis(300));
        assert!(body.next().await.is_some_and(|r| r.is_ok()));
        let started = Instant::now();
        let cut = body.next().await;
        assert!(matches!(cut, Some(Err(PayloadError::Io(ref e))) if e.kind() == std::io::ErrorKind::TimedOut));
        assert!(started.elapsed() >= Duration::from_millis(300), "after the idle time, not before");
        assert!(body.next().await.is_none(), "and the body ends");
    }
}
