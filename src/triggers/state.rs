//! Each trigger's state in MongoDB — the resume token of the last event whose function finished,
//! the last scheduled run, suspension, counters, the last error — one document per trigger in
//! `__expanse.triggers` (`_id: "<app>/<trigger>"`). Only the lease holder writes it (and the
//! CLI's `resume`); every write is conditional on the version last read, so a process that lost
//! its lease cannot overwrite a newer state.

use bson::{doc, Bson, DateTime, Document};

use crate::store::{FindOptions, Namespace, Store, StoreError, Write};

/// The database holding Expanse's own collections.
pub const STATE_DATABASE: &str = "__expanse";
/// The collection of trigger states.
pub const STATE_COLLECTION: &str = "triggers";

/// The state namespace.
pub fn state_namespace() -> Namespace {
    Namespace::new(STATE_DATABASE, STATE_COLLECTION)
}

/// The key of a trigger's state and lease documents.
pub fn key(app: &str, trigger: &str) -> String {
    format!("{app}/{trigger}")
}

/// A trigger's state, as stored.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TriggerState {
    /// The app's name.
    pub app: String,
    /// The trigger's name.
    pub trigger: String,
    /// `DATABASE` or `SCHEDULED`.
    pub kind: String,
    /// Where a database trigger's stream continues: after the last event whose function finished
    /// (or, while idle, after everything the stream has passed over).
    pub resume_token: Option<Document>,
    /// The last scheduled time a scheduled trigger handled (ran or skipped), Unix ms.
    pub last_tick: Option<i64>,
    /// Why the trigger is suspended; `None` while it runs.
    pub suspended: Option<String>,
    /// The trigger was disabled in the app's configuration when a runner last saw it.
    pub disabled: bool,
    /// The next start begins at the present, not at the resume token (after a resume without
    /// the token, or a re-enable with `skip_catchup_events`).
    pub skip_to_now: bool,
    /// Functions run to completion (successfully or not).
    pub events_processed: i64,
    /// Functions that failed.
    pub errors: i64,
    /// The last event handled: `operationType`, `documentKey`, `clusterTime`, `at`.
    pub last_event: Option<Document>,
    /// The last error: `message`, `at`.
    pub last_error: Option<Document>,
    /// When the runner last wrote (it writes at least every heartbeat while it holds the lease).
    pub heartbeat: Option<DateTime>,
    /// Incremented by every write; a write applies only over the version it read.
    pub version: i64,
}

impl TriggerState {
    fn to_document(&self) -> Document {
        let opt = |d: &Option<Document>| d.clone().map(Bson::Document).unwrap_or(Bson::Null);
        doc! {
            "_id": key(&self.app, &self.trigger),
            "app": &self.app,
            "trigger": &self.trigger,
            "type": &self.kind,
            "resume_token": opt(&self.resume_token),
            "last_tick": self.last_tick.map(|t| Bson::DateTime(DateTime::from_millis(t))).unwrap_or(Bson::Null),
            "suspended": self.suspended.clone().map(Bson::String).unwrap_or(Bson::Null),
            "disabled": self.disabled,
            "skip_to_now": self.skip_to_now,
            "events_processed": self.events_processed,
            "errors": self.errors,
            "last_event": opt(&self.last_event),
            "last_error": opt(&self.last_error),
            "heartbeat": self.heartbeat.map(Bson::DateTime).unwrap_or(Bson::Null),
            "version": self.version,
        }
    }

    /// Reads a stored state document.
    pub fn from_document(d: &Document) -> TriggerState {
        let sub = |k: &str| d.get_document(k).ok().cloned();
        TriggerState {
            app: d.get_str("app").unwrap_or_default().to_owned(),
            trigger: d.get_str("trigger").unwrap_or_default().to_owned(),
            kind: d.get_str("type").unwrap_or_default().to_owned(),
            resume_token: sub("resume_token"),
            last_tick: d
                .get_datetime("last_tick")
                .ok()
                .map(|t| t.timestamp_millis()),
            suspended: d.get_str("suspended").ok().map(str::to_owned),
            disabled: d.get_bool("disabled").unwrap_or(false),
            skip_to_now: d.get_bool("skip_to_now").unwrap_or(false),
            events_processed: number(d.get("events_processed")),
            errors: number(d.get("errors")),
            last_event: sub("last_event"),
            last_error: sub("last_error"),
            heartbeat: d.get_datetime("heartbeat").ok().copied(),
            version: number(d.get("version")),
        }
    }

    /// Records an error.
    pub fn error(&mut self, message: String) {
        self.last_error = Some(doc! {"message": message, "at": DateTime::now()});
    }
}

fn number(v: Option<&Bson>) -> i64 {
    match v {
        Some(Bson::Int32(i)) => i64::from(*i),
        Some(Bson::Int64(i)) => *i,
        Some(Bson::Double(d)) => *d as i64,
        _ => 0,
    }
}

/// A trigger's state document, written only over the version last read.
pub struct StateHandle<S> {
    store: S,
    /// The state as this process last read or wrote it.
    pub state: TriggerState,
    stored: Option<Document>,
}

/// What [`StateHandle::save`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Saved {
    /// Written.
    Written,
    /// Someone else wrote the state since it was read (another process or the CLI): re-read.
    Conflict,
}

impl<S: Store> StateHandle<S> {
    /// Reads the state (a fresh one when none is stored yet).
    pub async fn load(
        store: S,
        app: &str,
        trigger: &str,
        kind: &str,
    ) -> Result<StateHandle<S>, StoreError> {
        let stored = read(&store, &key(app, trigger)).await?;
        let state = match &stored {
            Some(d) => TriggerState::from_document(d),
            None => TriggerState {
                app: app.to_owned(),
                trigger: trigger.to_owned(),
                kind: kind.to_owned(),
                ..TriggerState::default()
            },
        };
        Ok(StateHandle {
            store,
            state,
            stored,
        })
    }

    /// Writes the state if nobody else wrote since it was read: on MongoDB one update by `_id`
    /// and version, elsewhere a write over the whole document read.
    pub async fn save(&mut self) -> Result<Saved, StoreError> {
        self.state.heartbeat = Some(DateTime::now());
        let read_version = self.state.version;
        self.state.version = read_version + 1;
        let post = self.state.to_document();
        if let Some(pre) = &self.stored {
            let filter = doc! {"_id": pre.get("_id").cloned().unwrap_or(Bson::Null), "version": pre.get("version").cloned().unwrap_or(Bson::Null)};
            let mut fields = post.clone();
            fields.remove("_id");
            let update = doc! {"$set": fields};
            match self
                .store
                .update_one_where(&state_namespace(), &filter, &update)
                .await
            {
                Ok(Some((1, _))) => {
                    self.stored = Some(post);
                    return Ok(Saved::Written);
                }
                Ok(Some(_)) => {
                    self.state.version = read_version;
                    return Ok(Saved::Conflict);
                }
                Ok(None) => {}
                Err(e) => {
                    self.state.version = read_version;
                    return Err(e);
                }
            }
        }
        let write = match self.stored.take() {
            Some(pre) => Write::Replace {
                pre: pre.clone(),
                post: post.clone(),
            },
            None => Write::Insert(post.clone()),
        };
        let pre = match &write {
            Write::Replace { pre, .. } => Some(pre.clone()),
            _ => None,
        };
        match self.store.apply(&state_namespace(), vec![write]).await {
            Ok(()) => {
                self.stored = Some(post);
                Ok(Saved::Written)
            }
            Err(StoreError::Conflict) | Err(StoreError::DuplicateKey { .. }) => {
                self.stored = pre;
                self.state.version = read_version;
                Ok(Saved::Conflict)
            }
            Err(e) => {
                self.stored = pre;
                self.state.version = read_version;
                Err(e)
            }
        }
    }
}

/// One stored state document.
pub async fn read<S: Store>(store: &S, id: &str) -> Result<Option<Document>, StoreError> {
    Ok(store
        .find(
            &state_namespace(),
            &doc! {"_id": id},
            &FindOptions::default(),
        )
        .await?
        .into_iter()
        .next())
}

/// Changes a stored state with `change` over the version read (retrying a few times when
/// another writer wins); creates it when missing.
pub async fn update<S: Store + Clone>(
    store: &S,
    app: &str,
    trigger: &str,
    kind: &str,
    change: impl Fn(&mut TriggerState),
) -> Result<TriggerState, StoreError> {
    for _ in 0..10 {
        let mut handle = StateHandle::load(store.clone(), app, trigger, kind).await?;
        change(&mut handle.state);
        if handle.save().await? == Saved::Written {
            return Ok(handle.state);
        }
    }
    Err(StoreError::Conflict)
}
