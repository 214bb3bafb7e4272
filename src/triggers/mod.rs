//! Database and scheduled triggers that run (reference §6): each enabled trigger of an app gets a
//! runner that takes the trigger's lease in MongoDB (so one process of many fires it), reads the
//! trigger's state (resume token, last scheduled run), and calls the trigger's function as the
//! system user — with each change event for a database trigger, with no arguments on a
//! scheduled trigger's ticks.
//!
//! Delivery is at-least-once: the resume token (or the scheduled time) is stored only after the
//! function finished, so a process killed mid-function runs that event again when it (or
//! another process) resumes; nothing is skipped unless the configuration says so
//! (`skip_catchup_events`, `tolerate_resume_errors`) or an operator resumes a suspended trigger
//! without its token.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use expanse::functions::Functions;
//! use expanse::store::MongoStore;
//! use expanse::triggers::{TriggerOptions, Triggers};
//!
//! let app = Arc::new(expanse::App::load("fixtures/app")?.app);
//! let store = MongoStore::connect("mongodb://127.0.0.1:27017").await?;
//! let (functions, _) = Functions::builder(app.clone(), store.clone()).build()?;
//! let running = Triggers::start(app, store, functions, TriggerOptions::default());
//! // … serve …
//! running.stop().await;
//! # Ok(()) }
//! ```

mod cron;
mod database;
mod error;
mod event;
mod lease;
mod model;
mod scheduled;
mod settle;
mod state;
mod status;

use std::sync::Arc;
use std::time::Duration;

use bson::{doc, Bson, Document};
use tokio::sync::watch;

pub use cron::{CronError, Schedule};
pub use error::{ConfigError, TriggerError};
pub use event::{ends_stream, pipeline, ENDING_EVENTS};
pub use lease::{lease_namespace, Lease, LEASE_COLLECTION};
pub use model::{
    parse, runnable, DatabaseTrigger, ScheduledTrigger, Trigger, DEFAULT_MAX_IN_FLIGHT,
};
pub use settle::{SettleError, Settled, Settler, MAX_SETTLE_RUNS};
pub use state::{state_namespace, TriggerState, STATE_COLLECTION, STATE_DATABASE};
pub use status::{resume, status, TriggerStatus};

use crate::app::App;
use crate::functions::Functions;
use crate::store::ChangeStreams;

/// How runners behave.
#[derive(Debug, Clone)]
pub struct TriggerOptions {
    /// How long a lease lasts without renewal (renewed every third of it). Default 30 s.
    pub lease_ttl: Duration,
    /// How often a process without the lease tries to take it, and how long a change stream
    /// waits for events before the runner checks its lease and stop signal. Default 1 s.
    pub poll_interval: Duration,
    /// How often an idle runner writes its state (resume token, heartbeat). Default 5 s.
    pub heartbeat: Duration,
    /// This process's name in leases. Default: host name, process id and a random suffix.
    pub holder: String,
    /// The most events an unordered trigger runs at once. Default 10 000, as App Services.
    pub max_in_flight: usize,
}

impl Default for TriggerOptions {
    fn default() -> TriggerOptions {
        TriggerOptions {
            lease_ttl: Duration::from_secs(30),
            poll_interval: Duration::from_secs(1),
            heartbeat: Duration::from_secs(5),
            holder: default_holder(),
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
        }
    }
}

fn default_holder() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "host".into());
    format!(
        "{host}-{}-{}",
        std::process::id(),
        bson::oid::ObjectId::new()
    )
}

/// The name an app's trigger state and leases are kept under: the app's `name`, else its
/// directory's name.
pub fn app_key(app: &App) -> String {
    if !app.name.is_empty() {
        return app.name.clone();
    }
    app.dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "app".into())
}

/// What runners share.
pub(crate) struct Shared<S: ChangeStreams + Clone + 'static> {
    pub app_key: String,
    pub store: S,
    pub functions: Functions<S>,
    pub options: TriggerOptions,
}

/// Why a runner gave its lease back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Asked to stop.
    Stopped,
    /// The lease (or the state) was taken by another process.
    LeaseLost,
    /// The trigger was suspended.
    Suspended,
}

/// Starts the triggers of apps.
pub struct Triggers;

impl Triggers {
    /// Starts a runner for each enabled database and scheduled trigger of `app` (functions run
    /// through `functions`, as the system user). Triggers that cannot run are listed in
    /// [`Running::problems`] and logged. Call it within a Tokio runtime (the runners are tasks on
    /// it); stop them with [`Running::stop`] (dropping [`Running`] leaves them running).
    pub fn start<S: ChangeStreams + Clone + 'static>(
        app: Arc<App>,
        store: S,
        functions: Functions<S>,
        options: TriggerOptions,
    ) -> Running {
        let (triggers, problems) = runnable(&app);
        for p in &problems {
            tracing::warn!(error = %p, "trigger not started");
        }
        let shared = Arc::new(Shared {
            app_key: app_key(&app),
            store,
            functions,
            options,
        });
        let (stop, stopped) = watch::channel(false);
        let mut names = Vec::new();
        let mut tasks = Vec::new();
        for trigger in triggers {
            names.push(trigger.name().to_owned());
            tasks.push(tokio::spawn(supervise(
                shared.clone(),
                trigger,
                stopped.clone(),
            )));
        }
        let disabled: Vec<String> = app
            .triggers
            .values()
            .filter(|t| t.disabled && matches!(t.trigger_type.as_str(), "DATABASE" | "SCHEDULED"))
            .map(|t| t.name.clone())
            .collect();
        if !disabled.is_empty() {
            tasks.push(tokio::spawn(mark_disabled(shared, disabled)));
        }
        Running {
            stop,
            tasks,
            names,
            problems,
        }
    }
}

/// Running triggers.
pub struct Running {
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    names: Vec<String>,
    problems: Vec<ConfigError>,
}

impl Running {
    /// The triggers started.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The enabled triggers that could not be started.
    pub fn problems(&self) -> &[ConfigError] {
        &self.problems
    }

    /// Stops every runner after the functions running finish (their resume tokens stored) and
    /// gives the leases back, so another process takes over at once.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

/// Records disabled triggers as such, so `skip_catchup_events` applies when they are enabled.
async fn mark_disabled<S: ChangeStreams + Clone + 'static>(
    shared: Arc<Shared<S>>,
    names: Vec<String>,
) {
    for name in names {
        let r = state::update(&shared.store, &shared.app_key, &name, "", |s| {
            s.disabled = true
        })
        .await;
        if let Err(e) = r {
            tracing::warn!(trigger = %name, error = %e, "cannot record the trigger as disabled");
        }
    }
}

/// One trigger's runner: take the lease, run, give it back, again, until stopped.
async fn supervise<S: ChangeStreams + Clone + 'static>(
    shared: Arc<Shared<S>>,
    trigger: Trigger,
    mut stop: watch::Receiver<bool>,
) {
    let id = state::key(&shared.app_key, trigger.name());
    let options = &shared.options;
    loop {
        if *stop.borrow() {
            break;
        }
        match Lease::acquire(&shared.store, &id, &options.holder, options.lease_ttl).await {
            Ok(Some(lease)) => {
                tracing::info!(trigger = %trigger.name(), holder = %options.holder, "lease taken");
                let outcome = match &trigger {
                    Trigger::Database(t) => database::run(&shared, t, &lease, &mut stop).await,
                    Trigger::Scheduled(t) => scheduled::run(&shared, t, &lease, &mut stop).await,
                };
                lease.release().await;
                match outcome {
                    Ok(Outcome::Stopped) => break,
                    Ok(other) => {
                        tracing::info!(trigger = %trigger.name(), outcome = ?other, "runner paused")
                    }
                    Err(e) => {
                        tracing::warn!(trigger = %trigger.name(), error = %e, "trigger runner failed; retrying")
                    }
                }
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(trigger = %trigger.name(), error = %e, "cannot take the trigger's lease")
            }
        }
        if pause(options.poll_interval, &mut stop).await {
            break;
        }
    }
}

/// Waits `d`; `true` when asked to stop meanwhile (or already).
pub(crate) async fn pause(d: Duration, stop: &mut watch::Receiver<bool>) -> bool {
    if *stop.borrow() {
        return true;
    }
    tokio::select! {
        _ = tokio::time::sleep(d) => *stop.borrow(),
        changed = stop.changed() => changed.is_err() || *stop.borrow(),
    }
}

/// Runs a trigger's function as the system user; on failure runs its error handler with
/// `({message, code, trigger}, event)` and returns the failure (with the handler's, if it
/// failed too).
pub(crate) async fn fire<S: ChangeStreams + Clone + 'static>(
    functions: &Functions<S>,
    trigger: &str,
    function: &str,
    error_handler: Option<&str>,
    event: Option<Document>,
) -> Result<(), String> {
    let args = event.clone().map(Bson::Document).into_iter().collect();
    let Err(e) = functions.call_as_system(function, args).await else {
        return Ok(());
    };
    let message = e.to_string();
    let Some(handler) = error_handler else {
        return Err(message);
    };
    let error = doc! {"message": &message, "code": e.code(), "trigger": trigger};
    let mut args = vec![Bson::Document(error)];
    args.extend(event.map(Bson::Document));
    match functions.call_as_system(handler, args).await {
        Ok(_) => Err(message),
        Err(h) => Err(format!("{message}; the error handler failed too: {h}")),
    }
}

/// Counts a finished function in the state.
pub(crate) fn record(
    state: &mut TriggerState,
    event: Option<&Document>,
    result: &Result<(), String>,
) {
    state.events_processed += 1;
    let mut last = Document::new();
    if let Some(e) = event {
        for k in ["operationType", "documentKey", "clusterTime"] {
            if let Some(v) = e.get(k) {
                last.insert(k, v.clone());
            }
        }
    }
    last.insert("at", bson::DateTime::now());
    state.last_event = Some(last);
    if let Err(message) = result {
        state.errors += 1;
        state.error(message.clone());
    }
}
