//! Running database triggers to quiescence, for fixtures: after each operation, every event
//! the writes caused (and the writes of the functions those events ran, and so on) is handed to
//! its triggers before anything is checked.

use std::time::Duration;

use super::event::{ends_stream, pipeline};
use super::model::{runnable, DatabaseTrigger, Trigger};
use super::{fire, TriggerError};
use crate::app::App;
use crate::functions::Functions;
use crate::store::{ChangeStream, ChangeStreams, WatchOptions};

/// The most functions one settle runs (a trigger that writes what it watches never settles).
pub const MAX_SETTLE_RUNS: usize = 10_000;

/// The app's database triggers over one store, each at the end of its change stream.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use std::sync::Arc;
/// use expanse::functions::Functions;
/// use expanse::store::MemoryStore;
/// use expanse::triggers::Settler;
/// let app = Arc::new(expanse::App::load("fixtures/app").unwrap().app);
/// let store = MemoryStore::new();
/// let (functions, _) = Functions::builder(app.clone(), store.clone()).build().unwrap();
/// let mut settler = Settler::open(&app, &store, functions).await.unwrap();
/// assert_eq!(settler.settle().await.unwrap().runs, 0);
/// # });
/// ```
pub struct Settler<S: ChangeStreams + Clone + 'static> {
    functions: Functions<S>,
    streams: Vec<(DatabaseTrigger, ChangeStream)>,
}

/// What a settle did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Settled {
    /// Functions run.
    pub runs: usize,
    /// The failures of those that failed (`trigger: message`).
    pub errors: Vec<String>,
}

/// Triggers that did not settle.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SettleError {
    /// More than [`MAX_SETTLE_RUNS`] functions ran: the triggers keep causing each other.
    #[error("database triggers did not settle after {MAX_SETTLE_RUNS} function runs (a trigger writing to what it watches?)")]
    Unsettled,
    /// A change stream failed.
    #[error(transparent)]
    Trigger(#[from] TriggerError),
}

impl<S: ChangeStreams + Clone + 'static> Settler<S> {
    /// Opens a stream for each enabled database trigger of `app`, from now.
    pub async fn open(
        app: &App,
        store: &S,
        functions: Functions<S>,
    ) -> Result<Settler<S>, TriggerError> {
        let mut streams = Vec::new();
        for trigger in runnable(app).0 {
            let Trigger::Database(t) = trigger else {
                continue;
            };
            let options = WatchOptions {
                pipeline: pipeline(&t),
                full_document: t.full_document,
                full_document_before_change: t.full_document_before_change,
                resume_after: None,
                max_await: Some(Duration::ZERO),
            };
            let stream = store.watch(&t.namespace, options).await?;
            streams.push((t, stream));
        }
        Ok(Settler { functions, streams })
    }

    /// Whether the app has database triggers to settle.
    pub fn is_empty(&self) -> bool {
        self.streams.is_empty()
    }

    /// Runs triggers on every pending event until none is left.
    pub async fn settle(&mut self) -> Result<Settled, SettleError> {
        let mut settled = Settled::default();
        loop {
            let mut any = false;
            for (trigger, stream) in &mut self.streams {
                while let Some(event) = stream.next().await.map_err(TriggerError::from)? {
                    if ends_stream(&event) {
                        continue;
                    }
                    any = true;
                    settled.runs += 1;
                    if settled.runs > MAX_SETTLE_RUNS {
                        return Err(SettleError::Unsettled);
                    }
                    let r = fire(
                        &self.functions,
                        &trigger.name,
                        &trigger.function,
                        trigger.error_handler.as_deref(),
                        Some(event),
                    )
                    .await;
                    if let Err(e) = r {
                        settled.errors.push(format!("{}: {e}", trigger.name));
                    }
                }
            }
            if !any {
                return Ok(settled);
            }
        }
    }
}
