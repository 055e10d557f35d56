//! The engagement report of the stored events, on every core: one thread reads the events
//! from the store and hands them, in batches, to builders that each own a share of the
//! accounts (by a hash of the customer's name id); their reports are merged at the end.

use std::sync::mpsc::{sync_channel, SyncSender};
use std::sync::Arc;

use anyhow::{anyhow, Result};
use chrono::NaiveDate;
use northstar_engagement::{EngagementBuilder, EngagementReport, InternedEvent};
use northstar_store::{InternedEventRef, Store};

/// Events per batch sent to a builder thread.
const BATCH: usize = 4096;
/// Batches in flight per builder thread (bounds the memory between reader and builders).
const IN_FLIGHT: usize = 4;

/// The engagement report of the stored events as of `as_of`; `None` without events.
///
/// The window's events are read first, then the earlier ones, with
/// [`EngagementBuilder::window_complete`] in between: the builders then keep only the sessions
/// that start in the window, not those of the whole history.
pub fn engagement_on(store: &dyn Store, as_of: NaiveDate) -> Result<Option<EngagementReport>> {
    if store.dataset_counts()?.events == 0 {
        return Ok(None);
    }
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get().min(4));
    let window_start = EngagementBuilder::new(as_of).window_start_ms();
    let builders = std::thread::scope(|scope| -> Result<Vec<EngagementBuilder>> {
        let mut senders = Vec::with_capacity(workers);
        let mut threads = Vec::with_capacity(workers);
        for _ in 0..workers {
            let (sender, receiver) = sync_channel::<Message>(IN_FLIGHT);
            senders.push(sender);
            threads.push(scope.spawn(move || {
                let mut builder = EngagementBuilder::new(as_of);
                for message in receiver {
                    match message {
                        Message::Events(batch) => batch.push_into(&mut builder),
                        Message::WindowComplete => builder.window_complete(),
                    }
                }
                builder
            }));
        }
        let mut router = Router::new(senders);
        let read = (|| -> Result<()> {
            store.for_each_interned_event(Some(window_start), None, &mut |e, names| {
                router.route(e, names)
            })?;
            router.window_complete()?;
            store.for_each_interned_event(None, Some(window_start), &mut |e, names| {
                router.route(e, names)
            })?;
            router.flush_all()
        })();
        let failed = router.failed;
        // Dropping the senders ends the builder threads' loops.
        drop(router);
        let builders = threads
            .into_iter()
            .map(|t| t.join())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| anyhow!("an engagement thread failed unexpectedly"))?;
        read?;
        if failed {
            return Err(anyhow!("an engagement thread stopped early"));
        }
        Ok(builders)
    })?;
    Ok(Some(EngagementBuilder::finish_all(builders)?))
}

enum Message {
    Events(Batch),
    WindowComplete,
}

/// Events for one builder: their session ids are ranges of one string.
struct Batch {
    names: Arc<Vec<String>>,
    events: Vec<BatchedEvent>,
    sessions: String,
}

struct BatchedEvent {
    timestamp_ms: i64,
    customer: u32,
    user: u32,
    feature: Option<u32>,
    /// Byte range of the session id in [`Batch::sessions`].
    session: Option<(u32, u32)>,
}

impl Batch {
    fn new(names: Arc<Vec<String>>) -> Self {
        Batch {
            names,
            events: Vec::with_capacity(BATCH),
            sessions: String::new(),
        }
    }

    fn push(&mut self, e: &InternedEventRef<'_>) {
        let session = e.session_id.map(|s| {
            let start = self.sessions.len() as u32;
            self.sessions.push_str(s);
            (start, self.sessions.len() as u32)
        });
        self.events.push(BatchedEvent {
            timestamp_ms: e.timestamp_ms,
            customer: e.customer,
            user: e.user,
            feature: e.feature,
            session,
        });
    }

    fn push_into(&self, builder: &mut EngagementBuilder) {
        let name = |id: u32| self.names.get(id as usize).map_or("", String::as_str);
        for e in &self.events {
            let event = InternedEvent {
                customer: e.customer,
                user: e.user,
                timestamp_ms: e.timestamp_ms,
                feature: e.feature,
                session_id: e
                    .session
                    .map(|(start, end)| &self.sessions[start as usize..end as usize]),
            };
            builder.push_interned(&event, name);
        }
    }
}

/// Sends each event to the builder that owns its account.
struct Router {
    senders: Vec<SyncSender<Message>>,
    batches: Vec<Batch>,
    names: Arc<Vec<String>>,
    /// A builder thread hung up (it can only have panicked); events are then dropped.
    failed: bool,
}

impl Router {
    fn new(senders: Vec<SyncSender<Message>>) -> Self {
        let names = Arc::new(Vec::new());
        let batches = senders.iter().map(|_| Batch::new(names.clone())).collect();
        Router {
            senders,
            batches,
            names,
            failed: false,
        }
    }

    fn route(&mut self, e: &InternedEventRef<'_>, names: &[String]) {
        if self.failed {
            return;
        }
        if names.len() != self.names.len() {
            // A new scan's name table (names are only ever appended, so ids keep their names).
            self.flush_all_quietly();
            self.names = Arc::new(names.to_vec());
            for batch in &mut self.batches {
                batch.names = self.names.clone();
            }
        }
        // Fibonacci hashing spreads ids that come in a pattern (e.g. every other id).
        let worker = (e.customer.wrapping_mul(0x9E37_79B9) >> 16) as usize % self.senders.len();
        self.batches[worker].push(e);
        if self.batches[worker].events.len() >= BATCH {
            self.flush(worker);
        }
    }

    fn flush(&mut self, worker: usize) {
        if self.batches[worker].events.is_empty() {
            return;
        }
        let batch = std::mem::replace(&mut self.batches[worker], Batch::new(self.names.clone()));
        if self.senders[worker].send(Message::Events(batch)).is_err() {
            self.failed = true;
        }
    }

    fn flush_all_quietly(&mut self) {
        for worker in 0..self.senders.len() {
            self.flush(worker);
        }
    }

    fn flush_all(&mut self) -> Result<()> {
        self.flush_all_quietly();
        if self.failed {
            return Err(anyhow!("an engagement thread stopped early"));
        }
        Ok(())
    }

    /// Every event of the window has been routed.
    fn window_complete(&mut self) -> Result<()> {
        self.flush_all()?;
        for sender in &self.senders {
            if sender.send(Message::WindowComplete).is_err() {
                self.failed = true;
            }
        }
        self.flush_all()
    }
}
