//! Load generator for `expanse serve` (BENCHMARKS.md, "The HTTP server"): requests per second
//! and p50/p99 latency of `functions/call` — a MongoDB `find` by owner through the service call,
//! and a trivial function — at 1, 16 and 64 concurrent clients, beside the raw driver doing the
//! same `find` in the same run.
//!
//! `scripts/bench serve` runs it: it starts the test server and a release `expanse serve` over
//! it, and passes `EXPANSE_BENCH_URL` (the server), `EXPANSE_BENCH_PREFIX` (its database
//! prefix), `EXPANSE_BENCH_APP_ID` and `MONGODB_URI`. `EXPANSE_BENCH_DOCUMENTS` (default
//! 100 000), `EXPANSE_BENCH_SECONDS` (per measurement, default 5), `EXPANSE_BENCH_CLIENTS`
//! (default `1,16,64`), `EXPANSE_BENCH_CASES` (default `find,trivial,driver`).
//!
//! Each client keeps one HTTP/1.1 connection open (as an SDK's fetch does) and sends its next
//! request when the previous one is answered. With `EXPANSE_BENCH_RATE=R` (requests per second,
//! all clients together) the clients are paced instead: each sends one request every
//! `clients / R` seconds (staggered), so a rate below the database's ceiling measures latency
//! without the queue that saturation builds.
//!
//! The case `paired` measures what the server adds where the database's own latency moves from
//! one second to the next: each client sends, at each tick, the raw driver's `find` and the same
//! `find` through `functions/call`, one right after the other (the order alternating), so both
//! meet the database in the same state; it reports both latencies and the median (and quartiles)
//! of the per-tick differences.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use bson::{doc, Bson, Document};
use futures_util::TryStreamExt;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// One keep-alive HTTP/1.1 connection.
struct Connection {
    stream: BufReader<TcpStream>,
    host: String,
}

impl Connection {
    async fn open(address: &str) -> Connection {
        let stream = TcpStream::connect(address).await.expect("connect");
        stream.set_nodelay(true).unwrap();
        Connection {
            stream: BufReader::new(stream),
            host: address.to_owned(),
        }
    }

    /// POSTs `body`; returns the status and the body.
    async fn post(&mut self, path: &str, token: Option<&str>, body: &str) -> (u16, String) {
        let auth = token
            .map(|t| format!("Authorization: Bearer {t}\r\n"))
            .unwrap_or_default();
        let request = format!(
            "POST {path} HTTP/1.1\r\nHost: {}\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            self.host,
            body.len()
        );
        self.stream
            .get_mut()
            .write_all(request.as_bytes())
            .await
            .unwrap();
        let mut line = String::new();
        self.stream.read_line(&mut line).await.unwrap();
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .expect("a status line");
        let mut length = 0usize;
        loop {
            line.clear();
            self.stream.read_line(&mut line).await.unwrap();
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((k, v)) = header.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    length = v.trim().parse().unwrap();
                }
            }
        }
        let mut body = vec![0u8; length];
        self.stream.read_exact(&mut body).await.unwrap();
        (status, String::from_utf8_lossy(&body).into_owned())
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

struct Measure {
    requests: usize,
    seconds: f64,
    p50: Duration,
    p99: Duration,
}

fn summarize(mut latencies: Vec<Duration>, seconds: f64) -> Measure {
    latencies.sort();
    Measure {
        requests: latencies.len(),
        seconds,
        p50: percentile(&latencies, 0.50),
        p99: percentile(&latencies, 0.99),
    }
}

/// The two latencies of each tick of the `paired` case, and what the server added.
fn report_pairs(pairs: &[(Duration, Duration)], clients: usize, seconds: f64) {
    let driver = summarize(pairs.iter().map(|p| p.0).collect(), seconds);
    let server = summarize(pairs.iter().map(|p| p.1).collect(), seconds);
    let mut added: Vec<f64> = pairs
        .iter()
        .map(|(d, h)| (h.as_secs_f64() - d.as_secs_f64()) * 1000.0)
        .collect();
    added.sort_by(f64::total_cmp);
    let at = |p: f64| added[((added.len() as f64 - 1.0) * p).round() as usize];
    let rate = pairs.len() as f64 / seconds;
    println!(
        "| paired: raw driver find | {clients} | {rate:.0} | {} | {} |",
        ms(driver.p50),
        ms(driver.p99)
    );
    println!(
        "| paired: functions/call → find by owner | {clients} | {rate:.0} | {} | {} |",
        ms(server.p50),
        ms(server.p99)
    );
    if !added.is_empty() {
        println!(
            "| paired: added by the server (per tick: server − driver) | {clients} | {} pairs | median {:.2} ms | quartiles {:.2} … {:.2} ms |",
            pairs.len(),
            at(0.5),
            at(0.25),
            at(0.75)
        );
    }
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

#[tokio::main]
async fn main() {
    let url = std::env::var("EXPANSE_BENCH_URL").expect("EXPANSE_BENCH_URL");
    let address = url.trim_start_matches("http://").to_owned();
    let app_id =
        std::env::var("EXPANSE_BENCH_APP_ID").unwrap_or_else(|_| "expanse-realm-web".into());
    let prefix = std::env::var("EXPANSE_BENCH_PREFIX").unwrap_or_default();
    let uri = std::env::var("MONGODB_URI").expect("MONGODB_URI");
    let documents: usize = std::env::var("EXPANSE_BENCH_DOCUMENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let seconds: u64 = std::env::var("EXPANSE_BENCH_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let levels: Vec<usize> = std::env::var("EXPANSE_BENCH_CLIENTS")
        .unwrap_or_else(|_| "1,16,64".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let cases =
        std::env::var("EXPANSE_BENCH_CASES").unwrap_or_else(|_| "find,trivial,driver".into());
    let max_clients = levels.iter().copied().max().unwrap_or(1);
    let rate: Option<f64> = std::env::var("EXPANSE_BENCH_RATE")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|r: &f64| *r > 0.0);

    // one anonymous user per client
    let login = format!("/api/client/v2.0/app/{app_id}/auth/providers/anon-user/login");
    let mut users = Vec::new();
    let mut c = Connection::open(&address).await;
    for _ in 0..max_clients {
        let (status, body) = c.post(&login, None, r#"{"options":{"device":{}}}"#).await;
        assert_eq!(status, 200, "{body}");
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        users.push((
            json["user_id"].as_str().unwrap().to_owned(),
            json["access_token"].as_str().unwrap().to_owned(),
        ));
    }

    // the data: 100 documents per benchmark user, the rest owned by others; an index on owner
    let client = mongodb::Client::with_uri_str(&uri).await.unwrap();
    let items = client
        .database(&format!("{prefix}todo"))
        .collection::<Document>("items");
    items.drop().await.ok();
    let mut batch = Vec::with_capacity(1000);
    for i in 0..documents {
        let owner = if i < users.len() * 100 {
            users[i / 100].0.clone()
        } else {
            format!("other-{}", i % 997)
        };
        batch.push(
            doc! {"owner_id": owner, "title": format!("item {i}"), "public": false, "n": i as i64},
        );
        if batch.len() == 1000 {
            items.insert_many(std::mem::take(&mut batch)).await.unwrap();
        }
    }
    if !batch.is_empty() {
        items.insert_many(batch).await.unwrap();
    }
    items
        .create_index(
            mongodb::IndexModel::builder()
                .keys(doc! {"owner_id": 1})
                .build(),
        )
        .await
        .unwrap();
    eprintln!("seeded {documents} documents");

    let call = format!("/api/client/v2.0/app/{app_id}/functions/call");
    let duration = Duration::from_secs(seconds);
    println!("| case | clients | requests/s | p50 | p99 |");
    println!("|---|---|---|---|---|");
    for case in cases.split(',') {
        for &clients in &levels {
            let started = Instant::now();
            let mut tasks = Vec::new();
            for (index, (user_id, token)) in users.iter().take(clients).enumerate() {
                let (user_id, token) = (user_id.clone(), token.clone());
                let pace = rate.map(|rate| {
                    let period = Duration::from_secs_f64(clients as f64 / rate);
                    let first =
                        tokio::time::Instant::now() + period.mul_f64(index as f64 / clients as f64);
                    let mut pace = tokio::time::interval_at(first, period);
                    pace.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                    pace
                });
                let address = address.clone();
                let call = call.clone();
                let items = items.clone();
                let case = case.to_owned();
                tasks.push(tokio::spawn(async move {
                    let mut latencies = Vec::new();
                    let mut paired = Vec::new();
                    let body = match case.as_str() {
                        "find" | "paired" => Bson::Document(doc! {
                            "name": "find", "service": "mongodb-atlas",
                            "arguments": [{"database": "todo", "collection": "items", "query": {"owner_id": user_id.clone()}}],
                        })
                        .into_canonical_extjson()
                        .to_string(),
                        _ => r#"{"name":"sum","arguments":[{"$numberInt":"1"},{"$numberInt":"2"}]}"#.into(),
                    };
                    let mut connection = Connection::open(&address).await;
                    let end = Instant::now() + duration;
                    let mut pace = pace;
                    while Instant::now() < end {
                        if let Some(pace) = pace.as_mut() {
                            pace.tick().await;
                        }
                        let driver = || async {
                            let t = Instant::now();
                            let docs: Vec<Document> = items
                                .find(doc! {"owner_id": user_id.clone()})
                                .await
                                .unwrap()
                                .try_collect()
                                .await
                                .unwrap();
                            assert_eq!(docs.len(), 100);
                            t.elapsed()
                        };
                        match case.as_str() {
                            "driver" => latencies.push(driver().await),
                            "paired" => {
                                let driver_first = paired.len() % 2 == 0;
                                let mut d = Duration::ZERO;
                                if driver_first {
                                    d = driver().await;
                                }
                                let t = Instant::now();
                                let (status, text) =
                                    connection.post(&call, Some(&token), &body).await;
                                assert_eq!(status, 200, "{text}");
                                let h = t.elapsed();
                                if !driver_first {
                                    d = driver().await;
                                }
                                paired.push((d, h));
                            }
                            _ => {
                                let t = Instant::now();
                                let (status, text) =
                                    connection.post(&call, Some(&token), &body).await;
                                assert_eq!(status, 200, "{text}");
                                latencies.push(t.elapsed());
                            }
                        }
                    }
                    (latencies, paired)
                }));
            }
            let mut all = Vec::new();
            let mut pairs = Vec::new();
            for t in tasks {
                let (latencies, paired) = t.await.unwrap();
                all.extend(latencies);
                pairs.extend(paired);
            }
            let seconds = started.elapsed().as_secs_f64();
            if case == "paired" {
                report_pairs(&pairs, clients, seconds);
                continue;
            }
            let m = summarize(all, seconds);
            let label = match case {
                "find" => "functions/call → find by owner (100 of 100 000 documents)",
                "trivial" => "functions/call → trivial function (sum)",
                _ => "raw driver: the same find",
            };
            println!(
                "| {label} | {clients} | {:.0} | {} | {} |",
                m.requests as f64 / m.seconds,
                ms(m.p50),
                ms(m.p99)
            );
        }
    }
}
