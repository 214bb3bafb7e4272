//! The runner of one database trigger while it holds the lease: open the change stream at the
//! stored resume token, run the function on each event (ordered: one at a time, in the stream's
//! cluster-time order; unordered: up to a bound at once), store the token of the last event
//! whose function finished (unordered: of the last event before which every function finished).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bson::Document;
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::event::{ends_stream, pipeline};
use super::lease::Lease;
use super::model::DatabaseTrigger;
use super::state::{Saved, StateHandle};
use super::{fire, pause, record, Outcome, Shared, TriggerError};
use crate::store::{ChangeStream, ChangeStreams, WatchError, WatchOptions};

/// The longest a stream waits for an event before the runner looks at its lease and stop signal.
const MAX_WAIT: Duration = Duration::from_millis(500);

/// Runs the trigger until stopped, suspended or the lease is lost.
pub(crate) async fn run<S: ChangeStreams + Clone + 'static>(
    shared: &Arc<Shared<S>>,
    trigger: &DatabaseTrigger,
    lease: &Lease,
    stop: &mut watch::Receiver<bool>,
) -> Result<Outcome, TriggerError> {
    let load = || {
        StateHandle::load(
            shared.store.clone(),
            &shared.app_key,
            &trigger.name,
            "DATABASE",
        )
    };
    let mut handle = load().await?;
    while handle.state.suspended.is_some() {
        if pause(shared.options.poll_interval, stop).await {
            return Ok(Outcome::Stopped);
        }
        if !lease.held() {
            return Ok(Outcome::LeaseLost);
        }
        handle = load().await?;
    }
    let from_now =
        handle.state.skip_to_now || (handle.state.disabled && trigger.skip_catchup_events);
    let token = if from_now {
        None
    } else {
        handle.state.resume_token.clone()
    };
    let mut options = WatchOptions {
        pipeline: pipeline(trigger),
        full_document: trigger.full_document,
        full_document_before_change: trigger.full_document_before_change,
        resume_after: token.clone(),
        max_await: Some(shared.options.poll_interval.min(MAX_WAIT)),
    };
    let mut stream = match shared
        .store
        .watch(&trigger.namespace, options.clone())
        .await
    {
        Ok(s) => s,
        Err(WatchError::Resume(reason)) if trigger.tolerate_resume_errors => {
            handle.state.error(format!(
                "could not resume ({reason}); tolerate_resume_errors: continuing from the present, the events in between are not fired"
            ));
            options.resume_after = None;
            shared.store.watch(&trigger.namespace, options).await?
        }
        Err(WatchError::Resume(reason)) => {
            return suspend(&mut handle, format!(
                "the change stream cannot resume from the stored token: {reason}. Resume with `expanse triggers resume APP_DIR {} --mongodb URI` (events since then are skipped)",
                trigger.name
            ))
            .await;
        }
        Err(e) => return Err(e.into()),
    };
    if token.is_none() {
        handle.state.resume_token = stream.resume_token();
    }
    handle.state.disabled = false;
    handle.state.skip_to_now = false;
    if handle.save().await? == Saved::Conflict {
        return Ok(Outcome::LeaseLost);
    }
    if trigger.unordered {
        unordered(shared, trigger, lease, stop, &mut handle, &mut stream).await
    } else {
        ordered(shared, trigger, lease, stop, &mut handle, &mut stream).await
    }
}

/// Suspends the trigger with a reason (it stays suspended until resumed from the CLI).
async fn suspend<S: ChangeStreams + Clone + 'static>(
    handle: &mut StateHandle<S>,
    reason: String,
) -> Result<Outcome, TriggerError> {
    tracing::error!(trigger = %handle.state.trigger, reason = %reason, "trigger suspended");
    handle.state.suspended = Some(reason);
    Ok(match handle.save().await? {
        Saved::Written => Outcome::Suspended,
        Saved::Conflict => Outcome::LeaseLost,
    })
}

/// Why the stream ended, for the suspension reason.
fn ending_reason(event: &Document) -> String {
    let op = event.get_str("operationType").unwrap_or("invalidate");
    format!(
        "the change stream ended with a {op:?} event (the collection or database was dropped or renamed); resume with `expanse triggers resume`"
    )
}

/// Writes the idle stream's resume token when it moved, and the heartbeat.
async fn heartbeat<S: ChangeStreams + Clone + 'static>(
    shared: &Shared<S>,
    handle: &mut StateHandle<S>,
    token: Option<Document>,
    last: &mut Instant,
) -> Result<bool, TriggerError> {
    if token.is_some() && token != handle.state.resume_token
        || last.elapsed() >= shared.options.heartbeat
    {
        if token.is_some() {
            handle.state.resume_token = token;
        }
        *last = Instant::now();
        return Ok(handle.save().await? == Saved::Written);
    }
    Ok(true)
}

async fn ordered<S: ChangeStreams + Clone + 'static>(
    shared: &Arc<Shared<S>>,
    trigger: &DatabaseTrigger,
    lease: &Lease,
    stop: &mut watch::Receiver<bool>,
    handle: &mut StateHandle<S>,
    stream: &mut ChangeStream,
) -> Result<Outcome, TriggerError> {
    let mut beat = Instant::now();
    loop {
        if *stop.borrow() {
            return Ok(Outcome::Stopped);
        }
        if !lease.held() {
            return Ok(Outcome::LeaseLost);
        }
        let event = match stream.next().await {
            Ok(Some(event)) => event,
            Ok(None) => {
                if !heartbeat(shared, handle, stream.resume_token(), &mut beat).await? {
                    return Ok(Outcome::LeaseLost);
                }
                continue;
            }
            Err(WatchError::Resume(reason)) => {
                return suspend(
                    handle,
                    format!("the change stream's history was lost: {reason}"),
                )
                .await
            }
            Err(e) => return Err(e.into()),
        };
        if ends_stream(&event) {
            return suspend(handle, ending_reason(&event)).await;
        }
        let token = event.get_document("_id").ok().cloned();
        let result = fire(
            &shared.functions,
            &trigger.name,
            &trigger.function,
            trigger.error_handler.as_deref(),
            Some(event.clone()),
        )
        .await;
        record(&mut handle.state, Some(&event), &result);
        handle.state.resume_token = token.or_else(|| stream.resume_token());
        beat = Instant::now();
        if handle.save().await? == Saved::Conflict {
            return Ok(Outcome::LeaseLost);
        }
    }
}

/// An event handed to a task, in stream order.
struct InFlight {
    token: Option<Document>,
    event: Document,
    result: Option<Result<(), String>>,
}

async fn unordered<S: ChangeStreams + Clone + 'static>(
    shared: &Arc<Shared<S>>,
    trigger: &DatabaseTrigger,
    lease: &Lease,
    stop: &mut watch::Receiver<bool>,
    handle: &mut StateHandle<S>,
    stream: &mut ChangeStream,
) -> Result<Outcome, TriggerError> {
    let mut beat = Instant::now();
    let mut tasks: JoinSet<(u64, Result<(), String>)> = JoinSet::new();
    let mut window: VecDeque<InFlight> = VecDeque::new();
    let mut first_seq = 0u64;
    let limit = shared.options.max_in_flight.max(1);
    let outcome = loop {
        // Count what finished; move the token over the finished prefix.
        while let Some(done) = tasks.try_join_next() {
            finished(&mut window, first_seq, done);
        }
        let mut moved = false;
        while window.front().is_some_and(|f| f.result.is_some()) {
            if let Some(f) = window.pop_front() {
                first_seq += 1;
                if let Some(result) = &f.result {
                    record(&mut handle.state, Some(&f.event), result);
                }
                if f.token.is_some() {
                    handle.state.resume_token = f.token;
                }
                moved = true;
            }
        }
        if moved {
            beat = Instant::now();
            if handle.save().await? == Saved::Conflict {
                break Outcome::LeaseLost;
            }
        }
        if *stop.borrow() {
            break Outcome::Stopped;
        }
        if !lease.held() {
            tasks.abort_all();
            return Ok(Outcome::LeaseLost);
        }
        if tasks.len() >= limit {
            if let Some(done) = tasks.join_next().await {
                finished(&mut window, first_seq, done);
            }
            continue;
        }
        let event = match stream.next().await {
            Ok(Some(event)) => event,
            Ok(None) => {
                if window.is_empty()
                    && !heartbeat(shared, handle, stream.resume_token(), &mut beat).await?
                {
                    break Outcome::LeaseLost;
                }
                continue;
            }
            Err(WatchError::Resume(reason)) => {
                drain(&mut tasks, &mut window, first_seq).await;
                return suspend(
                    handle,
                    format!("the change stream's history was lost: {reason}"),
                )
                .await;
            }
            Err(e) => {
                drain(&mut tasks, &mut window, first_seq).await;
                return Err(e.into());
            }
        };
        if ends_stream(&event) {
            drain(&mut tasks, &mut window, first_seq).await;
            settle_window(handle, &mut window);
            return suspend(handle, ending_reason(&event)).await;
        }
        let seq = first_seq + window.len() as u64;
        window.push_back(InFlight {
            token: event.get_document("_id").ok().cloned(),
            event: event.clone(),
            result: None,
        });
        let shared = shared.clone();
        let (name, function, handler) = (
            trigger.name.clone(),
            trigger.function.clone(),
            trigger.error_handler.clone(),
        );
        tasks.spawn(async move {
            let r = fire(
                &shared.functions,
                &name,
                &function,
                handler.as_deref(),
                Some(event),
            )
            .await;
            (seq, r)
        });
    };
    // Stopping (or lost state): let the functions started finish, store what they finished.
    drain(&mut tasks, &mut window, first_seq).await;
    settle_window(handle, &mut window);
    if outcome == Outcome::Stopped {
        handle.save().await?;
    }
    Ok(outcome)
}

fn finished(
    window: &mut VecDeque<InFlight>,
    first_seq: u64,
    done: Result<(u64, Result<(), String>), tokio::task::JoinError>,
) {
    let (seq, result) = match done {
        Ok(d) => d,
        // A task that panicked or was aborted: its event counts as failed, not skipped.
        Err(e) => {
            tracing::error!(error = %e, "trigger task failed");
            return;
        }
    };
    if let Some(slot) = seq
        .checked_sub(first_seq)
        .and_then(|i| usize::try_from(i).ok())
        .and_then(|i| window.get_mut(i))
    {
        slot.result = Some(result);
    }
}

async fn drain(
    tasks: &mut JoinSet<(u64, Result<(), String>)>,
    window: &mut VecDeque<InFlight>,
    first_seq: u64,
) {
    while let Some(done) = tasks.join_next().await {
        finished(window, first_seq, done);
    }
}

/// Counts and moves the token over the finished prefix of the window.
fn settle_window<S>(handle: &mut StateHandle<S>, window: &mut VecDeque<InFlight>) {
    while window.front().is_some_and(|f| f.result.is_some()) {
        if let Some(f) = window.pop_front() {
            if let Some(result) = &f.result {
                record(&mut handle.state, Some(&f.event), result);
            }
            if f.token.is_some() {
                handle.state.resume_token = f.token;
            }
        }
    }
}
