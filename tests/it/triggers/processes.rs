//! `expanse triggers` processes against the test server: one killed (SIGKILL) mid-stream and
//! restarted while events keep arriving; two at once, then the lease holder killed. A JavaScript
//! function records each run into a collection, so every run — duplicates included — is counted.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bson::{doc, oid::ObjectId, Document};
use futures_util::TryStreamExt;
use mongodb::{Client, Collection};

use super::wait_for;
use crate::common;
use crate::common::apps::write_app;

struct Setup {
    _dir: tempfile::TempDir,
    app_dir: String,
    uri: String,
    client: Client,
    db: String,
    key: String,
}

impl Setup {
    async fn new(test: &str) -> Option<Setup> {
        let uri = common::mongodb_uri(test)?;
        let db = format!("trgp_{}", ObjectId::new().to_hex());
        let app_name = format!("proc_{}", ObjectId::new().to_hex());
        let function = format!(
            r#"exports = async function (event) {{
  const runs = context.services.get("mongodb-atlas").db("{db}").collection("runs");
  await runs.insertOne({{ n: event.fullDocument.n, at: new Date() }});
}};"#
        );
        let trigger = format!(
            r#"{{"name": "record", "type": "DATABASE", "config": {{"service_name": "mongodb-atlas", "database": "{db}", "collection": "events", "operation_types": ["INSERT"], "full_document": true}}, "event_processors": {{"FUNCTION": {{"config": {{"function_name": "record"}}}}}}}}"#
        );
        let dir = write_app(&[
            ("root_config.json", &format!(r#"{{"name": "{app_name}"}}"#)),
            (
                "data_sources/mongodb-atlas/config.json",
                r#"{"name": "mongodb-atlas", "type": "mongodb-atlas"}"#,
            ),
            (
                "functions/config.json",
                r#"[{"name": "record", "private": true}]"#,
            ),
            ("functions/record.js", &function),
            ("triggers/record.json", &trigger),
        ]);
        let client = Client::with_uri_str(&uri).await.unwrap();
        Some(Setup {
            app_dir: dir.path().display().to_string(),
            _dir: dir,
            uri,
            client,
            db,
            key: format!("{app_name}/record"),
        })
    }

    fn spawn(&self, lease_ttl: &str) -> Child {
        Command::new(env!("CARGO_BIN_EXE_expanse"))
            .args([
                "triggers",
                &self.app_dir,
                "--mongodb",
                &self.uri,
                "--lease-ttl",
                lease_ttl,
                "--poll",
                "0.1",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    }

    fn coll(&self, name: &str) -> Collection<Document> {
        self.client.database(&self.db).collection(name)
    }

    fn meta(&self, name: &str) -> Collection<Document> {
        self.client.database("__expanse").collection(name)
    }

    async fn started(&self) {
        wait_for(
            "a process to open the stream",
            Duration::from_secs(30),
            || async {
                self.meta("triggers")
                    .find_one(doc! {"_id": &self.key, "heartbeat": {"$ne": null}})
                    .await
                    .unwrap()
                    .is_some()
            },
        )
        .await;
    }

    /// The `n` of every run, in the order they ran.
    async fn runs(&self) -> Vec<i64> {
        let docs: Vec<Document> = self
            .coll("runs")
            .find(doc! {})
            .sort(doc! {"at": 1, "_id": 1})
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap();
        docs.iter()
            .map(|d| {
                d.get_i64("n")
                    .or_else(|_| d.get_i32("n").map(i64::from))
                    .or_else(|_| d.get_f64("n").map(|f| f as i64))
                    .unwrap()
            })
            .collect()
    }

    async fn distinct(&self) -> usize {
        let mut runs = self.runs().await;
        runs.sort();
        runs.dedup();
        runs.len()
    }

    async fn holder(&self) -> Option<String> {
        self.meta("trigger_leases")
            .find_one(doc! {"_id": &self.key})
            .await
            .unwrap()
            .and_then(|d| d.get_str("holder").ok().map(str::to_owned))
    }

    async fn clean(&self) {
        self.client.database(&self.db).drop().await.unwrap();
        for c in ["triggers", "trigger_leases"] {
            self.meta(c)
                .delete_one(doc! {"_id": &self.key})
                .await
                .unwrap();
        }
    }

    /// Inserts `n` in `range`, one every `gap`.
    fn write(&self, range: std::ops::Range<i64>, gap: Duration) -> tokio::task::JoinHandle<()> {
        let events = self.coll("events");
        tokio::spawn(async move {
            for n in range {
                events.insert_one(doc! {"n": n}).await.unwrap();
                tokio::time::sleep(gap).await;
            }
        })
    }
}

/// Runs the killed process finished but never counted: its state is written after each
/// function, so at most the one run whose count the kill interrupted.
fn killed_runs_lost(runs: &[i64]) -> i64 {
    let back_steps = runs.windows(2).filter(|w| w[1] <= w[0]).count();
    back_steps as i64
}

/// The pid in a lease holder's name (`host-pid-objectid`).
fn pid_of(holder: &str) -> u32 {
    holder.rsplit('-').nth(1).unwrap().parse().unwrap()
}

fn stop(mut child: Child) {
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// `expanse serve` runs the app's database triggers too, and stops them when it shuts down.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_runs_the_apps_database_triggers() {
    let Some(setup) = Setup::new("serve_runs_the_apps_database_triggers").await else {
        return;
    };
    let child = Command::new(env!("CARGO_BIN_EXE_expanse"))
        .args([
            "serve",
            &setup.app_dir,
            "--mongodb",
            &setup.uri,
            "--listen",
            "127.0.0.1:0",
            "--app-id",
            "serve-triggers",
        ])
        .env(
            "EXPANSE_JWT_SECRET",
            "serve-triggers-secret-0123456789abcdef",
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    setup.started().await;
    setup.write(0..5, Duration::from_millis(5)).await.unwrap();
    wait_for(
        "the five events to run",
        Duration::from_secs(30),
        || async { setup.distinct().await == 5 },
    )
    .await;
    stop(child);
    assert_eq!(setup.runs().await, vec![0, 1, 2, 3, 4]);
    setup.clean().await;
}

/// Checks the runs of an ordered trigger over `0..total`: every event ran, in order except for
/// replays after a restart (at most `restarts` steps back); returns the duplicates.
fn check_ordered(runs: &[i64], total: i64, restarts: usize) -> usize {
    let mut seen = std::collections::BTreeSet::new();
    let mut first_order = Vec::new();
    for n in runs {
        if seen.insert(*n) {
            first_order.push(*n);
        }
    }
    assert_eq!(
        first_order,
        (0..total).collect::<Vec<_>>(),
        "an event was skipped or ran out of order"
    );
    let back_steps = runs.windows(2).filter(|w| w[1] <= w[0]).count();
    assert!(
        back_steps <= restarts,
        "{back_steps} replays for {restarts} restarts: {runs:?}"
    );
    let forward_ok = runs.windows(2).all(|w| w[1] == w[0] + 1 || w[1] <= w[0]);
    assert!(forward_ok, "an ordered trigger jumped ahead: {runs:?}");
    runs.len() - total as usize
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_stream_then_restart_skips_nothing() {
    let Some(setup) = Setup::new("sigkill_restart").await else {
        return;
    };
    let total = 300;
    let first = setup.spawn("1");
    setup.started().await;
    let writer = setup.write(0..total, Duration::from_millis(5));
    wait_for("100 runs", Duration::from_secs(60), || async {
        setup.runs().await.len() >= 100
    })
    .await;
    let mut first = first;
    first.kill().unwrap(); // SIGKILL
    first.wait().unwrap();
    let killed_at = setup.runs().await.len();
    // Events keep arriving while nothing runs the trigger.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let second = setup.spawn("1");
    writer.await.unwrap();
    wait_for("every event to run", Duration::from_secs(90), || async {
        setup.distinct().await == total as usize
    })
    .await;
    stop(second);
    let runs = setup.runs().await;
    let duplicates = check_ordered(&runs, total, 1);
    eprintln!(
        "sigkill_mid_stream: {total} events, killed after {killed_at} runs, {} runs in all, {duplicates} duplicate(s)",
        runs.len()
    );
    // Ordered: only the event whose function finished as the process died can run twice.
    assert!(duplicates <= 1, "{duplicates} duplicates");
    // The status the CLI shows: every run counted (duplicates included), no process running.
    let out = Command::new(env!("CARGO_BIN_EXE_expanse"))
        .args([
            "triggers",
            "status",
            &setup.app_dir,
            "--mongodb",
            &setup.uri,
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let record = &status[0];
    assert_eq!(record["name"], "record");
    assert_eq!(record["condition"], "stopped", "{record}");
    assert_eq!(
        record["events_processed"].as_i64(),
        Some(runs.len() as i64 - killed_runs_lost(&runs)),
        "{record}"
    );
    let human = Command::new(env!("CARGO_BIN_EXE_expanse"))
        .args([
            "triggers",
            "status",
            &setup.app_dir,
            "--mongodb",
            &setup.uri,
        ])
        .output()
        .unwrap();
    let human = String::from_utf8_lossy(&human.stdout).into_owned();
    assert!(human.starts_with("record (DATABASE): stopped"), "{human}");
    let unknown = Command::new(env!("CARGO_BIN_EXE_expanse"))
        .args([
            "triggers",
            "resume",
            &setup.app_dir,
            "nope",
            "--mongodb",
            &setup.uri,
        ])
        .output()
        .unwrap();
    assert_eq!(unknown.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no trigger named \"nope\""));
    setup.clean().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_fire_once_and_the_survivor_takes_over_within_the_bound() {
    let Some(setup) = Setup::new("two_processes").await else {
        return;
    };
    let (ttl, poll) = (1.5, 0.1);
    let a = setup.spawn("1.5");
    let b = setup.spawn("1.5");
    setup.started().await;
    setup.write(0..100, Duration::from_millis(5)).await.unwrap();
    wait_for("100 runs", Duration::from_secs(60), || async {
        setup.distinct().await == 100
    })
    .await;
    // Both live: each event once.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        setup.runs().await.len(),
        100,
        "an event ran twice while both processes lived"
    );

    let holder = setup.holder().await.unwrap();
    let (mut victim, survivor) = if pid_of(&holder) == a.id() {
        (a, b)
    } else {
        (b, a)
    };
    assert_eq!(pid_of(&holder), victim.id());
    let writer = setup.write(100..200, Duration::from_millis(5));
    victim.kill().unwrap(); // SIGKILL: the lease is not given back
    let killed = Instant::now();
    victim.wait().unwrap();
    wait_for(
        "the survivor to take the lease",
        Duration::from_secs(30),
        || async { setup.holder().await.is_some_and(|h| h != holder) },
    )
    .await;
    let takeover = killed.elapsed();
    writer.await.unwrap();
    wait_for("every event to run", Duration::from_secs(90), || async {
        setup.distinct().await == 200
    })
    .await;
    stop(survivor);
    let runs = setup.runs().await;
    let duplicates = check_ordered(&runs, 200, 1);
    eprintln!(
        "two_processes: takeover {:.2} s after SIGKILL (bound: lease TTL {ttl} s + poll {poll} s), {} runs for 200 events, {duplicates} duplicate(s)",
        takeover.as_secs_f64(),
        runs.len()
    );
    // The documented bound, plus one second for process scheduling on a loaded test machine.
    assert!(
        takeover.as_secs_f64() <= ttl + poll + 1.0,
        "takeover took {takeover:?}"
    );
    assert!(duplicates <= 1, "{duplicates} duplicates");
    setup.clean().await;
}
