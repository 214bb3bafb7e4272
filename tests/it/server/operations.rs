//! Running the server: health, metrics, CORS from `allowed_request_origins`, the request time
//! limit, one log line per request without tokens or values, graceful shutdown.

use std::time::Duration;

use super::{Server, APP_ID};

#[test]
fn health_and_metrics() {
    let server = Server::start(&[], &[]);
    let r = server.request("GET", "/health", &[], b"");
    assert_eq!((r.status, r.json()["status"].as_str()), (200, Some("ok")));
    let (access, _) = server.anonymous();
    let auth = format!("Bearer {access}");
    let call = |name: &str| {
        server.request(
            "POST",
            &format!("/api/client/v2.0/app/{APP_ID}/functions/call"),
            &[
                ("Authorization", &auth),
                ("Content-Type", "application/json"),
            ],
            format!(r#"{{"name": "{name}", "arguments": [1, 2]}}"#).as_bytes(),
        )
    };
    assert_eq!(call("sum").status, 200);
    assert_eq!(call("secret").status, 403);
    let m = server.request("GET", "/metrics", &[], b"");
    assert_eq!(m.status, 200);
    assert!(m.header("content-type").unwrap().starts_with("text/plain"));
    for line in [
        "expanse_http_requests_total{route=\"/api/client/v2.0/app/{app}/functions/call\",method=\"POST\",status=\"200\"} 1",
        "expanse_http_requests_total{route=\"/api/client/v2.0/app/{app}/functions/call\",method=\"POST\",status=\"403\"} 1",
        "expanse_rule_decisions_total{decision=\"allowed\"} 1",
        "expanse_rule_decisions_total{decision=\"denied\"} 1",
        "expanse_http_request_duration_seconds_count{route=\"/health\"} 1",
    ] {
        assert!(m.body.contains(line), "{line} not in\n{}", m.body);
    }
}

#[test]
fn cors_follows_allowed_request_origins() {
    let server = Server::start(&[], &[]);
    let preflight = |origin: &str| {
        server.request(
            "OPTIONS",
            &format!("/api/client/v2.0/app/{APP_ID}/functions/call"),
            &[
                ("Origin", origin),
                ("Access-Control-Request-Method", "POST"),
                (
                    "Access-Control-Request-Headers",
                    "authorization, content-type",
                ),
            ],
            b"",
        )
    };
    let allowed = preflight("http://allowed.example");
    assert!(allowed.status < 300, "{allowed:?}");
    assert_eq!(
        allowed.header("access-control-allow-origin"),
        Some("http://allowed.example")
    );
    let refused = preflight("http://evil.example");
    assert_eq!(
        refused.header("access-control-allow-origin"),
        None,
        "{refused:?}"
    );
    let r = server.request(
        "GET",
        &format!("/api/client/v2.0/app/{APP_ID}/location"),
        &[("Origin", "http://allowed.example")],
        b"",
    );
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("http://allowed.example")
    );
}

#[test]
fn a_request_past_the_time_limit_is_504_and_the_server_goes_on() {
    let mut server = Server::start(&["--request-timeout", "1"], &[]);
    let (access, _) = server.anonymous();
    let auth = format!("Bearer {access}");
    let started = std::time::Instant::now();
    let r = server.request(
        "POST",
        &format!("/api/client/v2.0/app/{APP_ID}/functions/call"),
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/json"),
        ],
        br#"{"name": "spin", "arguments": []}"#,
    );
    r.assert_error(504, "ExecutionTimeLimitExceeded");
    assert!(started.elapsed() < Duration::from_secs(10));
    // the spinning function was cancelled: the server still answers quickly
    let r = server.request(
        "POST",
        &format!("/api/client/v2.0/app/{APP_ID}/functions/call"),
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/json"),
        ],
        br#"{"name": "sum", "arguments": [1, 2]}"#,
    );
    assert_eq!((r.status, r.body.as_str()), (200, r#"{"$numberInt":"3"}"#));
    assert!(server.alive());
}

#[test]
fn one_log_line_per_request_without_tokens_or_values_and_a_clean_shutdown() {
    let server = Server::start(&[], &[]);
    let (access, refresh) = server.anonymous();
    let auth = format!("Bearer {access}");
    let r = server.request(
        "POST",
        &format!("/api/client/v2.0/app/{APP_ID}/functions/call"),
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/json"),
        ],
        br#"{"name": "echo", "arguments": ["a-secret-value-1234"]}"#,
    );
    assert_eq!(r.status, 200);
    let request_id = r.header("x-request-id").unwrap().to_owned();
    let code = server.terminate_keep_log();
    let (status, log) = code;
    assert_eq!(status, Some(0), "{log}");
    let lines: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("expanse::http"))
        .collect();
    assert_eq!(lines.len(), 2, "{log}");
    let call = lines.iter().find(|l| l.contains(&request_id)).unwrap();
    for field in [
        "method=POST",
        "status=200",
        "route=/api/client/v2.0/app/{app}/functions/call",
        "latency_us=",
    ] {
        assert!(call.contains(field), "{field} in {call}");
    }
    assert!(
        call.contains("user_id=") && !call.contains("user_id= "),
        "{call}"
    );
    for secret in [
        access.as_str(),
        refresh.as_str(),
        "a-secret-value-1234",
        super::SECRET,
    ] {
        assert!(!log.contains(secret), "the log holds a secret");
    }
    assert!(log.contains("shutting down"), "{log}");
}
