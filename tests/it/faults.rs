//! Faults: the database stops and comes back mid-run. Operations fail with clear errors,
//! nothing panics, acknowledged writes are never lost, and service resumes.

use crate::common;

use std::process::Command;
use std::time::{Duration, Instant};

use bson::doc;
use expanse::guard::GuardError;
use expanse::store::{FindOptions, MongoStore, StoreError};
use expanse::{App, User};

struct Server {
    pid: String,
    port: String,
    data: String,
}

fn script(args: &[&str]) -> String {
    let out = Command::new("scripts/test-server")
        .args(args)
        .output()
        .expect("run scripts/test-server");
    assert!(
        out.status.success(),
        "scripts/test-server {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

impl Server {
    fn start(port: Option<&str>, data: Option<&str>) -> Server {
        let line = match (port, data) {
            (Some(p), Some(d)) => script(&["start-at", p, d]),
            _ => script(&["start"]),
        };
        let parts: Vec<&str> = line.split_whitespace().collect();
        Server {
            pid: parts[0].into(),
            port: parts[1].into(),
            data: parts[2].into(),
        }
    }

    fn uri(&self) -> String {
        format!("mongodb://127.0.0.1:{}/?directConnection=true&retryWrites=false&serverSelectionTimeoutMS=1500", self.port)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_stops_and_comes_back() {
    // Needs the test server's installation, which scripts/test provides.
    if common::mongodb_uri("the_database_stops_and_comes_back").is_none() {
        return;
    }
    let server = Server::start(None, None);
    let app = App::load("fixtures/app").unwrap().app;
    let store = MongoStore::connect(&server.uri()).await.unwrap();
    let alice = User::new("u1");
    let notes = app
        .collection(&store, &alice, "notes_app", "notes")
        .unwrap();
    let mut acknowledged = Vec::new();
    for i in 0..20 {
        let id = format!("before{i}");
        notes
            .insert_one(doc! {"_id": &id, "owner_id": "u1", "title": "t"})
            .await
            .unwrap();
        acknowledged.push(id);
    }

    script(&["kill", &server.pid]);
    let started = Instant::now();
    for attempt in 0..3 {
        match notes
            .insert_one(doc! {"_id": format!("during{attempt}"), "owner_id": "u1"})
            .await
        {
            Err(GuardError::Store(StoreError::Unavailable(message))) => {
                assert!(message.len() > 10, "{message}")
            }
            other => panic!("expected the database to be reported unavailable, got {other:?}"),
        }
        match notes.find(&doc! {}, &FindOptions::default()).await {
            Err(GuardError::Store(StoreError::Unavailable(_))) => {}
            other => panic!("expected unavailable, got {other:?}"),
        }
    }
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "failures are reported promptly"
    );
    assert!(
        MongoStore::connect(&server.uri()).await.is_err(),
        "connecting to a stopped server fails with an error"
    );

    let restarted = Server::start(Some(&server.port), Some(&server.data));
    let mut resumed = false;
    for _ in 0..50 {
        if notes
            .insert_one(doc! {"_id": "after", "owner_id": "u1"})
            .await
            .is_ok()
        {
            resumed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(resumed, "service resumes when the server returns");
    let stored: Vec<String> = notes
        .find(&doc! {}, &FindOptions::default())
        .await
        .unwrap()
        .iter()
        .map(|d| d.get_str("_id").unwrap().to_owned())
        .collect();
    for id in &acknowledged {
        assert!(
            stored.contains(id),
            "acknowledged write {id} was lost: {stored:?}"
        );
    }
    assert!(
        stored.iter().all(|id| !id.starts_with("during")),
        "a failed write must not be half-applied: {stored:?}"
    );
    script(&["stop", &restarted.pid, &restarted.data]);
}
