//! `context.http` in JavaScript functions against a real local HTTP server: App Services'
//! request and response shapes, the app's allowed hosts (requests and redirects), the response
//! size limit, the function's time limit, and the configuration's errors.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::RawQuery;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::Router;
use bson::Bson;
use expanse::functions::Functions;
use expanse::store::MemoryStore;
use expanse::{App, User};

use crate::common::apps::write_app;

/// Echoes the request as JSON, with status 201, a custom header and a cookie.
async fn echo(
    method: Method,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let header = |name: &str| {
        headers
            .get_all(name)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    let out = serde_json::json!({
        "method": method.as_str(),
        "query": query,
        "x": header("x-custom"),
        "contentType": header("content-type"),
        "cookie": header("cookie"),
        "authorization": header("authorization"),
        "body": String::from_utf8_lossy(&body),
    });
    (
        StatusCode::CREATED,
        [
            ("content-type", "application/json"),
            ("x-answer", "42"),
            ("set-cookie", "session=abc; Path=/"),
        ],
        out.to_string(),
    )
        .into_response()
}

/// `/slow` requests whose handler was dropped (the client went away) before answering.
static SLOW_ABANDONED: AtomicUsize = AtomicUsize::new(0);

struct NoteDrop;

impl Drop for NoteDrop {
    fn drop(&mut self) {
        SLOW_ABANDONED.fetch_add(1, Ordering::SeqCst);
    }
}

async fn server() -> u16 {
    let router = Router::new()
        .route("/echo", any(echo))
        .route(
            "/teapot",
            get(|| async { (StatusCode::IM_A_TEAPOT, "short and stout") }),
        )
        .route(
            "/slow",
            get(|| async {
                let _noted = NoteDrop;
                tokio::time::sleep(Duration::from_secs(20)).await;
                "late"
            }),
        )
        .route("/big", get(|| async { "x".repeat(64 * 1024) }))
        .route(
            "/redirect",
            any(|RawQuery(to): RawQuery| async move {
                (
                    StatusCode::FOUND,
                    [("location", to.unwrap_or_default())],
                    "",
                )
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    port
}

/// An app whose root config is `root` and whose function `f` is `source`.
fn functions(
    root: &str,
    source: &str,
    limit: Duration,
) -> (tempfile::TempDir, Functions<MemoryStore>) {
    let dir = write_app(&[
        ("root_config.json", root),
        ("functions/config.json", r#"[{"name": "f"}]"#),
        ("functions/f.js", source),
    ]);
    let app = Arc::new(App::load(dir.path()).unwrap().app);
    let f = Functions::builder(app, MemoryStore::new())
        .time_limit(limit)
        .build()
        .unwrap()
        .0;
    (dir, f)
}

const ALLOW_LOOPBACK: &str = r#"{"name": "t", "expanse": {"http": {"allowed_hosts": ["127.0.0.1"], "max_response_bytes": 16384}}}"#;

async fn run(root: &str, source: &str, port: u16) -> Result<Bson, String> {
    let (_dir, f) = functions(
        root,
        &source.replace("PORT", &port.to_string()),
        Duration::from_secs(10),
    );
    f.call(&User::new("alice"), "f", vec![], None)
        .await
        .map_err(|e| e.to_string())
}

fn doc(b: Bson) -> bson::Document {
    match b {
        Bson::Document(d) => d,
        other => panic!("not a document: {other:?}"),
    }
}

#[tokio::test]
async fn get_and_post_round_trip_with_the_reference_shapes() {
    let port = server().await;
    let out = doc(run(
        ALLOW_LOOPBACK,
        r#"exports = async () => {
          const r = await context.http.post({
            url: "http://127.0.0.1:PORT/echo?a=1",
            headers: { "X-Custom": ["one", "two"] },
            cookies: { flavour: "oat" },
            body: { n: 1, id: new BSON.ObjectId("5f1b2c3d4e5f6a7b8c9d0e1f") },
            encodeBodyAsJSON: true,
          });
          const sent = JSON.parse(r.body.text());
          const g = await context.http.get({ scheme: "http", host: "127.0.0.1:PORT", path: "/echo", query: { q: ["x y"] }, username: "u", password: "p" });
          const h = await context.http.head({ url: "http://127.0.0.1:PORT/echo", body: undefined, headers: undefined });
          return {
            status: r.status, statusCode: r.statusCode, answer: r.headers["X-Answer"],
            contentType: r.headers["Content-Type"], cookies: r.cookies,
            isBinary: r.body instanceof BSON.Binary, lengthMatches: r.contentLength === r.body.length(),
            sent,
            get: JSON.parse(g.body.text()),
            headBody: h.body.length(), headStatus: h.statusCode,
          };
        }"#,
        port,
    )
    .await
    .unwrap());
    assert_eq!(out.get_str("status").unwrap(), "201 Created");
    assert_eq!(out.get_i32("statusCode").unwrap(), 201);
    assert_eq!(out.get_array("answer").unwrap(), &vec![Bson::from("42")]);
    assert_eq!(
        out.get_array("contentType").unwrap(),
        &vec![Bson::from("application/json")]
    );
    assert_eq!(
        out.get_document("cookies").unwrap(),
        &bson::doc! {"session": "abc"}
    );
    assert!(out.get_bool("isBinary").unwrap());
    assert!(out.get_bool("lengthMatches").unwrap());
    let sent = out.get_document("sent").unwrap();
    assert_eq!(sent.get_str("method").unwrap(), "POST");
    assert_eq!(sent.get_str("query").unwrap(), "a=1");
    assert_eq!(
        sent.get_array("x").unwrap(),
        &vec![Bson::from("one"), Bson::from("two")]
    );
    assert_eq!(
        sent.get_array("cookie").unwrap(),
        &vec![Bson::from("flavour=oat")]
    );
    assert_eq!(
        sent.get_array("contentType").unwrap(),
        &vec![Bson::from("application/json")]
    );
    // EJSON (relaxed) of the body object
    let body: serde_json::Value = serde_json::from_str(sent.get_str("body").unwrap()).unwrap();
    assert_eq!(
        body,
        serde_json::json!({"n": 1, "id": {"$oid": "5f1b2c3d4e5f6a7b8c9d0e1f"}})
    );
    let get = out.get_document("get").unwrap();
    assert_eq!(get.get_str("method").unwrap(), "GET");
    assert_eq!(get.get_str("query").unwrap(), "q=x+y");
    // username/password become basic authentication
    assert_eq!(
        get.get_array("authorization").unwrap(),
        &vec![Bson::from("Basic dTpw")]
    );
    assert_eq!(out.get_i32("headStatus").unwrap(), 201);
    assert_eq!(out.get_i32("headBody").unwrap(), 0);
}

#[tokio::test]
async fn error_statuses_resolve_and_bodies_are_capped() {
    let port = server().await;
    let out = doc(run(
        ALLOW_LOOPBACK,
        r#"exports = async () => {
          const r = await context.http.get({ url: "http://127.0.0.1:PORT/teapot" });
          return { status: r.status, code: r.statusCode, text: r.body.text() };
        }"#,
        port,
    )
    .await
    .unwrap());
    assert_eq!(out.get_i32("code").unwrap(), 418);
    assert_eq!(out.get_str("status").unwrap(), "418 I'm a teapot");
    assert_eq!(out.get_str("text").unwrap(), "short and stout");
    // 64 KiB against max_response_bytes 16384
    let err = run(
        ALLOW_LOOPBACK,
        r#"exports = () => context.http.get({ url: "http://127.0.0.1:PORT/big" });"#,
        port,
    )
    .await
    .unwrap_err();
    assert!(err.contains("larger than 16384 bytes"), "{err}");
}

#[tokio::test]
async fn hosts_not_allowed_are_refused() {
    let port = server().await;
    // a host not on the list: a rejected promise the function can catch, naming the host
    let out = run(
        ALLOW_LOOPBACK,
        r#"exports = async () => {
          try { await context.http.get({ url: "http://localhost:PORT/echo" }); return "sent"; }
          catch (e) { return e.message; }
        }"#,
        port,
    )
    .await
    .unwrap();
    let message = out.as_str().unwrap();
    assert!(
        message.contains(r#"the host "localhost" is not allowed"#),
        "{message}"
    );

    // a redirect to a host not on the list, with followRedirects
    let err = run(
        ALLOW_LOOPBACK,
        r#"exports = () => context.http.get({ url: "http://127.0.0.1:PORT/redirect?http://localhost:PORT/echo", followRedirects: true });"#,
        port,
    )
    .await
    .unwrap_err();
    assert!(
        err.contains(r#"a redirect to the host "localhost" was refused"#),
        "{err}"
    );

    // a redirect within the allowed hosts is followed (and the method becomes GET after a
    // POST's 302); without followRedirects the 302 itself is the answer
    let out = doc(run(
        ALLOW_LOOPBACK,
        r#"exports = async () => {
          const followed = await context.http.post({ url: "http://127.0.0.1:PORT/redirect?/echo", body: "x", followRedirects: true });
          const not = await context.http.get({ url: "http://127.0.0.1:PORT/redirect?/echo" });
          return { followed: followed.statusCode, method: JSON.parse(followed.body.text()).method, not: not.statusCode, location: not.headers.Location };
        }"#,
        port,
    )
    .await
    .unwrap());
    assert_eq!(out.get_i32("followed").unwrap(), 201);
    assert_eq!(out.get_str("method").unwrap(), "GET");
    assert_eq!(out.get_i32("not").unwrap(), 302);
    assert_eq!(
        out.get_array("location").unwrap(),
        &vec![Bson::from("/echo")]
    );

    // no allowed hosts: disabled, saying how to enable it
    let err = run(
        r#"{"name": "t"}"#,
        r#"exports = () => context.http.get({ url: "http://127.0.0.1:PORT/echo" });"#,
        port,
    )
    .await
    .unwrap_err();
    assert!(
        err.contains("context.http is disabled") && err.contains("allowed_hosts"),
        "{err}"
    );

    // refused clearly: digestAuth, form, a body object without encodeBodyAsJSON
    for (request, expected) in [
        (
            r#"{ url: "http://127.0.0.1:PORT/echo", digestAuth: true }"#,
            "digestAuth is not supported",
        ),
        (
            r#"{ url: "http://127.0.0.1:PORT/echo", form: { a: "b" } }"#,
            "form is not supported",
        ),
        (
            r#"{ url: "http://127.0.0.1:PORT/echo", body: { a: 1 } }"#,
            "encodeBodyAsJSON",
        ),
        (r#"{ url: "ftp://127.0.0.1/x" }"#, "http:// or https://"),
        (r#""http://127.0.0.1:PORT/echo""#, "request object"),
    ] {
        let err = run(
            ALLOW_LOOPBACK,
            &format!("exports = () => context.http.post({request});"),
            port,
        )
        .await
        .unwrap_err();
        assert!(err.contains(expected), "{request}: {err}");
    }
}

#[tokio::test]
async fn a_slow_server_is_stopped_by_the_time_limit() {
    let port = server().await;
    let (_dir, f) = functions(
        ALLOW_LOOPBACK,
        &r#"exports = () => context.http.get({ url: "http://127.0.0.1:PORT/slow" });"#
            .replace("PORT", &port.to_string()),
        Duration::from_millis(700),
    );
    let started = Instant::now();
    let err = f
        .call(&User::new("alice"), "f", vec![], None)
        .await
        .unwrap_err();
    // (the code is ExecutionTimeLimitExceeded or, when the stop is seen inside the JavaScript
    // run, FunctionExecutionError; the message names the limit either way)
    assert!(err.to_string().contains("time limit"), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    // the request was cancelled with the call: the server saw its client go away
    let waited = Instant::now();
    while SLOW_ABANDONED.load(Ordering::SeqCst) == 0 {
        assert!(
            waited.elapsed() < Duration::from_secs(5),
            "the server still serves the request"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[test]
fn allowed_hosts_are_validated_where_written() {
    for (http, expected) in [
        (
            r#"{"allowed_hosts": ["https://api.example.com"]}"#,
            "without scheme or path",
        ),
        (
            r#"{"allowed_hosts": ["api.example.com:443"]}"#,
            "without a port",
        ),
        (r#"{"allowed_hosts": ["a.*.com"]}"#, "leading"),
        (r#"{"allowed_hosts": [3]}"#, "must be a string"),
        (
            r#"{"allowed_hosts": "api.example.com"}"#,
            "must be an array",
        ),
        (r#"{"max_response_bytes": -1}"#, "positive whole number"),
        (r#"{"allowed_host": []}"#, "did you mean \"allowed_hosts\""),
    ] {
        let root = format!("{{\"name\": \"t\",\n \"expanse\": {{\"http\": {http}}}}}");
        let dir = write_app(&[("root_config.json", &root)]);
        let err = App::load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("root_config.json:2:"), "{http}: {err}");
        assert!(err.contains(expected), "{http}: {err}");
    }
    let dir = write_app(&[(
        "root_config.json",
        r#"{"expanse": {"http": {"allowed_hosts": ["API.example.com", "*.example.org", "10.0.0.1", "[::1]"]}}}"#,
    )]);
    let app = App::load(dir.path()).unwrap().app;
    assert_eq!(app.http.allowed_hosts[0], "api.example.com");
    assert!(app.http.allows("eu.example.org") && app.http.allows("::1"));
}
