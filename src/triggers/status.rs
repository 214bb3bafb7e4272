//! What each trigger is doing, read from MongoDB (`expanse triggers status`), and resuming a
//! suspended trigger (`expanse triggers resume`).

use bson::{DateTime, Document};

use super::error::TriggerError;
use super::state::{self, TriggerState};
use super::{app_key, lease};
use crate::app::App;
use crate::store::{Store, StoreError};

/// One trigger's status.
#[derive(Debug, Clone, PartialEq)]
pub struct TriggerStatus {
    /// The trigger's name.
    pub name: String,
    /// `DATABASE`, `SCHEDULED` or `AUTHENTICATION`.
    pub kind: String,
    /// `disabled` in the app's configuration.
    pub disabled: bool,
    /// The stored state (none until a runner first took the trigger).
    pub state: Option<TriggerState>,
    /// The process holding the lease and until when (absent or expired: no process runs it).
    pub lease: Option<(String, DateTime)>,
}

impl TriggerStatus {
    /// `disabled`, `suspended`, `running` (a live lease) or `stopped`.
    pub fn condition(&self) -> &'static str {
        if self.disabled {
            "disabled"
        } else if self.state.as_ref().is_some_and(|s| s.suspended.is_some()) {
            "suspended"
        } else if self
            .lease
            .as_ref()
            .is_some_and(|(_, until)| until.timestamp_millis() > DateTime::now().timestamp_millis())
        {
            "running"
        } else {
            "stopped"
        }
    }
}

/// The status of every database and scheduled trigger of `app`.
pub async fn status<S: Store>(app: &App, store: &S) -> Result<Vec<TriggerStatus>, StoreError> {
    let key = app_key(app);
    let mut out = Vec::new();
    for t in app.triggers.values() {
        if !matches!(t.trigger_type.as_str(), "DATABASE" | "SCHEDULED") {
            continue;
        }
        let id = state::key(&key, &t.name);
        let state = state::read(store, &id)
            .await?
            .map(|d| TriggerState::from_document(&d));
        let lease = lease::read(store, &id).await?.and_then(|d: Document| {
            Some((
                d.get_str("holder").ok()?.to_owned(),
                *d.get_datetime("expires").ok()?,
            ))
        });
        out.push(TriggerStatus {
            name: t.name.clone(),
            kind: t.trigger_type.clone(),
            disabled: t.disabled,
            state,
            lease,
        });
    }
    Ok(out)
}

/// Resumes a suspended trigger: with its resume token (`keep_token`; events since are fired)
/// or from the present (events since are skipped), as App Services' resume with or without
/// `disable_token`. A running trigger's runner picks it up within its poll interval.
pub async fn resume<S: Store + Clone>(
    app: &App,
    store: &S,
    name: &str,
    keep_token: bool,
) -> Result<TriggerState, TriggerError> {
    let Some(config) = app.triggers.get(name) else {
        return Err(TriggerError::Unknown(name.to_owned()));
    };
    let kind = config.trigger_type.clone();
    Ok(state::update(store, &app_key(app), name, &kind, |s| {
        s.suspended = None;
        if !keep_token {
            s.skip_to_now = true;
        }
    })
    .await?)
}
