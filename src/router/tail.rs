//! The live tails' feed: every record the router routes, after de-duplication, for whoever watches.

use std::sync::Arc;

use bytes::Bytes;

use crate::sink::RecordKind;

/// A record as a live tail sees it.
#[derive(Debug, Clone)]
pub struct Tailed {
    pub tenant: Arc<str>,
    pub kind: RecordKind,
    pub json: Bytes,
}

/// Records kept for live tails: a watcher further behind than this misses records.
const TAIL_BUFFER: usize = 4096;

/// The live tails' feed. Its buffer (a few hundred KiB, filled in when made) is made when the first
/// watcher comes: an engine nobody tails does not hold it.
#[derive(Clone, Default)]
pub struct TailFeed(Arc<std::sync::OnceLock<tokio::sync::broadcast::Sender<Tailed>>>);

impl TailFeed {
    /// A new watcher: every record routed from now on, until it falls more than the buffer behind.
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<Tailed> {
        self.0
            .get_or_init(|| tokio::sync::broadcast::channel(TAIL_BUFFER).0)
            .subscribe()
    }

    /// The feed, while someone watches.
    pub(super) fn watched(&self) -> Option<&tokio::sync::broadcast::Sender<Tailed>> {
        self.0.get().filter(|t| t.receiver_count() > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_feed_has_no_buffer_until_someone_watches_and_then_carries_records() {
        let feed = TailFeed::default();
        assert!(feed.0.get().is_none(), "no buffer before a watcher");
        assert!(feed.watched().is_none());
        let clone = feed.clone();
        let mut rx = clone.subscribe();
        let tail = feed
            .watched()
            .expect("the clone's watcher is seen by every handle");
        tail.send(Tailed {
            tenant: Arc::from("acme"),
            kind: RecordKind::Event,
            json: Bytes::from_static(b"{}"),
        })
        .unwrap();
        assert_eq!(&*rx.recv().await.unwrap().tenant, "acme");
        drop(rx);
        assert!(
            feed.watched().is_none(),
            "nobody watches once the watcher left"
        );
    }
}
