//! The runner of one scheduled trigger while it holds the lease: at each tick of the schedule
//! (UTC) the function runs with no arguments, and the tick is stored once it finished. Ticks
//! missed while no process ran the trigger fire once, not once each — or not at all with
//! `skip_catchup_events` (a tick more than a minute late counts as missed).

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::lease::Lease;
use super::model::ScheduledTrigger;
use super::state::{Saved, StateHandle};
use super::{fire, pause, record, Outcome, Shared, TriggerError};
use crate::store::ChangeStreams;

/// How late a tick may fire before it counts as missed (for `skip_catchup_events`).
const MISSED_AFTER_MS: i64 = 60_000;
/// How far back missed ticks are looked for.
const LOOK_BACK_MS: i64 = 400 * 86_400_000;

fn now_ms() -> i64 {
    bson::DateTime::now().timestamp_millis()
}

/// Runs the trigger until stopped or the lease is lost.
pub(crate) async fn run<S: ChangeStreams + Clone + 'static>(
    shared: &Arc<Shared<S>>,
    trigger: &ScheduledTrigger,
    lease: &Lease,
    stop: &mut watch::Receiver<bool>,
) -> Result<Outcome, TriggerError> {
    let mut handle = StateHandle::load(
        shared.store.clone(),
        &shared.app_key,
        &trigger.name,
        "SCHEDULED",
    )
    .await?;
    let from_now =
        handle.state.skip_to_now || (handle.state.disabled && trigger.skip_catchup_events);
    if handle.state.last_tick.is_none() || from_now {
        // First start (or re-enabled skipping): ticks before now are not owed.
        handle.state.last_tick = Some(now_ms());
    }
    handle.state.disabled = false;
    handle.state.skip_to_now = false;
    handle.state.suspended = None;
    if handle.save().await? == Saved::Conflict {
        return Ok(Outcome::LeaseLost);
    }
    let mut beat = Instant::now();
    loop {
        if *stop.borrow() {
            return Ok(Outcome::Stopped);
        }
        if !lease.held() {
            return Ok(Outcome::LeaseLost);
        }
        let now = now_ms();
        let last = handle
            .state
            .last_tick
            .unwrap_or(now)
            .max(now - LOOK_BACK_MS);
        if let Some(tick) = trigger.schedule.last_in(last, now) {
            if trigger.skip_catchup_events && now - tick > MISSED_AFTER_MS {
                tracing::info!(trigger = %trigger.name, "missed runs skipped (skip_catchup_events)");
            } else {
                let result = fire(
                    &shared.functions,
                    &trigger.name,
                    &trigger.function,
                    trigger.error_handler.as_deref(),
                    None,
                )
                .await;
                record(&mut handle.state, None, &result);
                if let Some(last) = handle.state.last_event.as_mut() {
                    last.insert("tick", bson::DateTime::from_millis(tick));
                }
            }
            handle.state.last_tick = Some(tick);
            beat = Instant::now();
            if handle.save().await? == Saved::Conflict {
                return Ok(Outcome::LeaseLost);
            }
            continue;
        }
        if beat.elapsed() >= shared.options.heartbeat {
            beat = Instant::now();
            if handle.save().await? == Saved::Conflict {
                return Ok(Outcome::LeaseLost);
            }
        }
        let next = trigger.schedule.next_after(now).unwrap_or(now + 3_600_000);
        let wait = Duration::from_millis(u64::try_from((next - now).max(1)).unwrap_or(1));
        if pause(wait.min(shared.options.poll_interval), stop).await {
            return Ok(Outcome::Stopped);
        }
    }
}
