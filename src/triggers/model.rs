//! The runnable form of `triggers/<name>.json`: database and scheduled triggers, checked.

use bson::{Bson, Document};

use super::cron::Schedule;
use super::error::ConfigError;
use crate::app::{App, TriggerConfig};
use crate::store::Namespace;

/// App Services' default bound on the events an unordered trigger runs at once.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 10_000;

/// A database trigger (reference §6.2).
#[derive(Debug, Clone, PartialEq)]
pub struct DatabaseTrigger {
    /// The trigger's name.
    pub name: String,
    /// The function it runs.
    pub function: String,
    /// The error handler's function (`error_handler.config.function_name`, when enabled).
    pub error_handler: Option<String>,
    /// The data source (`service_name` or `service_id`).
    pub service: String,
    /// The watched collection.
    pub namespace: Namespace,
    /// Change-stream operation types (`insert`, `update`, `replace`, `delete`).
    pub operation_types: Vec<String>,
    /// `match` over the change event (empty: all).
    pub match_filter: Document,
    /// `project` over the change event (empty: none).
    pub project: Document,
    /// `full_document`.
    pub full_document: bool,
    /// `full_document_before_change`.
    pub full_document_before_change: bool,
    /// `unordered`.
    pub unordered: bool,
    /// `skip_catchup_events`.
    pub skip_catchup_events: bool,
    /// `tolerate_resume_errors`.
    pub tolerate_resume_errors: bool,
}

/// A scheduled trigger (reference §6.4).
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduledTrigger {
    /// The trigger's name.
    pub name: String,
    /// The function it runs (with no arguments).
    pub function: String,
    /// The error handler's function.
    pub error_handler: Option<String>,
    /// The parsed `schedule`.
    pub schedule: Schedule,
    /// `skip_catchup_events` (or the documented typo `skip_catchup_event`).
    pub skip_catchup_events: bool,
}

/// A trigger Expanse runs.
#[derive(Debug, Clone, PartialEq)]
pub enum Trigger {
    /// On change events.
    Database(DatabaseTrigger),
    /// On a CRON schedule.
    Scheduled(ScheduledTrigger),
}

impl Trigger {
    /// The trigger's name.
    pub fn name(&self) -> &str {
        match self {
            Trigger::Database(t) => &t.name,
            Trigger::Scheduled(t) => &t.name,
        }
    }
}

/// The app's enabled database and scheduled triggers, and the problems of those that cannot run.
///
/// ```
/// let app = expanse::App::load("fixtures/app").unwrap().app;
/// let (triggers, problems) = expanse::triggers::runnable(&app);
/// assert!(problems.is_empty());
/// # let _ = triggers;
/// ```
pub fn runnable(app: &App) -> (Vec<Trigger>, Vec<ConfigError>) {
    let mut triggers = Vec::new();
    let mut problems = Vec::new();
    for config in app.triggers.values() {
        if config.disabled {
            continue;
        }
        match parse(app, config) {
            Ok(Some(t)) => triggers.push(t),
            Ok(None) => {}
            Err(e) => problems.push(e),
        }
    }
    (triggers, problems)
}

/// One trigger's runnable form; `None` for authentication triggers (run by `auth`).
pub fn parse(app: &App, config: &TriggerConfig) -> Result<Option<Trigger>, ConfigError> {
    let fail = |message: String| ConfigError {
        trigger: config.name.clone(),
        message,
    };
    let c = &config.config;
    let function = || {
        config
            .function_name
            .clone()
            .ok_or_else(|| fail("names no function".into()))
    };
    match config.trigger_type.as_str() {
        "DATABASE" => {
            let service = string(c, "service_name")
                .or_else(|| string(c, "service_id"))
                .or_else(|| app.default_service().map(str::to_owned))
                .ok_or_else(|| fail("names no data source (service_name)".into()))?;
            let database = string(c, "database")
                .ok_or_else(|| fail("a database trigger needs config.database (database- and deployment-level triggers are not supported)".into()))?;
            let collection = string(c, "collection")
                .ok_or_else(|| fail("a database trigger needs config.collection (database- and deployment-level triggers are not supported)".into()))?;
            let mut operation_types = Vec::new();
            for op in &config.operation_types {
                let event = match op.as_str() {
                    "INSERT" => "insert",
                    "UPDATE" => "update",
                    "REPLACE" => "replace",
                    "DELETE" => "delete",
                    other => return Err(fail(format!("operation type {other:?} is not supported on a collection (INSERT, UPDATE, REPLACE, DELETE)"))),
                };
                operation_types.push(event.to_owned());
            }
            if operation_types.is_empty() {
                return Err(fail("config.operation_types is empty".into()));
            }
            Ok(Some(Trigger::Database(DatabaseTrigger {
                name: config.name.clone(),
                function: function()?,
                error_handler: error_handler(config),
                service,
                namespace: Namespace::new(database, collection),
                operation_types,
                match_filter: c.get_document("match").cloned().unwrap_or_default(),
                project: c.get_document("project").cloned().unwrap_or_default(),
                full_document: flag(c, "full_document"),
                full_document_before_change: flag(c, "full_document_before_change"),
                unordered: flag(c, "unordered"),
                skip_catchup_events: flag(c, "skip_catchup_events"),
                tolerate_resume_errors: flag(c, "tolerate_resume_errors"),
            })))
        }
        "SCHEDULED" => {
            let text =
                string(c, "schedule").ok_or_else(|| fail("config.schedule is missing".into()))?;
            let schedule = Schedule::parse(&text).map_err(|e| fail(e.to_string()))?;
            Ok(Some(Trigger::Scheduled(ScheduledTrigger {
                name: config.name.clone(),
                function: function()?,
                error_handler: error_handler(config),
                schedule,
                skip_catchup_events: flag(c, "skip_catchup_events")
                    || flag(c, "skip_catchup_event"),
            })))
        }
        _ => Ok(None),
    }
}

fn string(c: &Document, key: &str) -> Option<String> {
    c.get_str(key)
        .ok()
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

fn flag(c: &Document, key: &str) -> bool {
    matches!(c.get(key), Some(Bson::Boolean(true)))
}

/// `error_handler: {config: {enabled, function_name}}` (enabled unless `enabled: false`).
fn error_handler(config: &TriggerConfig) -> Option<String> {
    let handler = config.error_handler.as_ref()?;
    let c = handler.get_document("config").ok()?;
    if matches!(c.get("enabled"), Some(Bson::Boolean(false))) {
        return None;
    }
    string(c, "function_name")
}
