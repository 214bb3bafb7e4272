//! Scheduled triggers: runs missed while no process ran fire once, or not at all with
//! `skip_catchup_events`.

use std::time::Duration;

use bson::{doc, DateTime};
use expanse::store::{Store, Write};
use expanse::triggers::{self, Triggers};

use super::{app, quick, recorders, store, wait_for, Log};

fn scheduled(name: &str, function: &str, schedule: &str, skip: bool) -> (String, String) {
    (
        name.to_owned(),
        format!(
            r#"{{"name": "{name}", "type": "SCHEDULED", "config": {{"schedule": "{schedule}", "skip_catchup_events": {skip}}}, "event_processors": {{"FUNCTION": {{"config": {{"function_name": "{function}"}}}}}}}}"#
        ),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missed_runs_fire_once_or_are_skipped() {
    let Some(store) = store("missed_runs").await else {
        return;
    };
    let (_dir, app) = app(
        &[
            scheduled("hourly", "onHour", "0 * * * *", false),
            scheduled("hourlySkip", "onHourSkip", "0 * * * *", true),
            scheduled("yearly", "onYear", "0 0 1 JAN *", false),
        ],
        &["onHour", "onHourSkip", "onYear"],
    );
    // The last runs were five hours ago: five hourly ticks were missed.
    let key = triggers::app_key(&app);
    let five_hours_ago = DateTime::now().timestamp_millis() - 5 * 3_600_000;
    for name in ["hourly", "hourlySkip", "yearly"] {
        store
            .apply(
                &triggers::state_namespace(),
                vec![Write::Insert(doc! {"_id": format!("{key}/{name}"), "app": &key, "trigger": name, "type": "SCHEDULED", "last_tick": DateTime::from_millis(five_hours_ago)})],
            )
            .await
            .unwrap();
    }
    let log = Log::default();
    let functions = recorders(
        app.clone(),
        store.clone(),
        &["onHour", "onHourSkip", "onYear"],
        &log,
        Duration::ZERO,
    );
    let started_at = DateTime::now().timestamp_millis();
    let running = Triggers::start(app.clone(), store.clone(), functions, quick());
    let latest_hour = DateTime::now().timestamp_millis() / 3_600_000 * 3_600_000;
    wait_for(
        "every trigger to catch up",
        Duration::from_secs(20),
        || async {
            let status = triggers::status(&app, &store).await.unwrap();
            ["hourly", "hourlySkip"].iter().all(|n| {
                status.iter().any(|s| {
                    &s.name == n
                        && s.state.as_ref().and_then(|st| st.last_tick) == Some(latest_hour)
                })
            })
        },
    )
    .await;
    // Let a wrongly repeated catch-up show.
    tokio::time::sleep(Duration::from_millis(500)).await;
    running.stop().await;
    let runs: Vec<String> = log.lock().unwrap().iter().map(|(f, _)| f.clone()).collect();
    // Within the hour's first minute its tick is not missed yet: the skipping trigger runs it.
    let on_time = started_at - latest_hour <= 60_000;
    let expected: &[&str] = if on_time {
        &["onHour", "onHourSkip"]
    } else {
        &["onHour"]
    };
    let mut sorted = runs.clone();
    sorted.sort();
    assert_eq!(
        sorted, expected,
        "one catch-up run, none when skipping, none for a tick not missed"
    );
    // The function got no arguments.
    assert!(log.lock().unwrap().iter().all(|(_, args)| args.is_none()));
    let status = triggers::status(&app, &store).await.unwrap();
    let hourly = status
        .iter()
        .find(|s| s.name == "hourly")
        .unwrap()
        .state
        .clone()
        .unwrap();
    assert_eq!(hourly.events_processed, 1);
    assert_eq!(
        hourly
            .last_event
            .unwrap()
            .get_datetime("tick")
            .unwrap()
            .timestamp_millis(),
        latest_hour
    );
    store.drop_prefixed_databases().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_start_owes_no_earlier_runs() {
    let Some(store) = store("first_start").await else {
        return;
    };
    let (_dir, app) = app(
        &[scheduled("minutely", "tick", "* * * * *", false)],
        &["tick"],
    );
    let log = Log::default();
    let functions = recorders(app.clone(), store.clone(), &["tick"], &log, Duration::ZERO);
    let running = Triggers::start(app.clone(), store.clone(), functions, quick());
    wait_for("the trigger to start", Duration::from_secs(20), || async {
        triggers::status(&app, &store).await.unwrap()[0]
            .state
            .is_some()
    })
    .await;
    let started = DateTime::now().timestamp_millis();
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Unless a minute began meanwhile, nothing ran.
    if DateTime::now().timestamp_millis() / 60_000 == started / 60_000 {
        assert!(log.lock().unwrap().is_empty());
    }
    running.stop().await;
    store.drop_prefixed_databases().await.unwrap();
}
