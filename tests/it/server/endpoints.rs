//! HTTPS endpoints (`https_endpoints/config.json`) over the real server: validation by secret
//! and by signature, application and system authentication, the `(request, response)`
//! function signature, `respond_result`, JSON and Extended JSON, and the errors.

use std::path::{Path, PathBuf};

use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};

use super::{Response, Server};

const APP_ID: &str = "expanse-endpoints";
const ENDPOINT_SECRET: &str = "endpoint-secret-value-42";
const JWT_KEY: &str = "endpoint-jwt-signing-key-0123456789abcdef";

fn app_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/server/endpoints_app")
}

fn start() -> Server {
    Server::start_app(
        &app_dir(),
        &[],
        &[
            ("EXPANSE_SECRET_endpointSecret", ENDPOINT_SECRET),
            ("EXPANSE_SECRET_endpointJwtKey", JWT_KEY),
        ],
    )
}

fn url(route: &str) -> String {
    format!("/app/{APP_ID}/endpoint{route}")
}

fn json(r: &Response) -> serde_json::Value {
    assert_eq!(r.status, 200, "{r:?}");
    r.json()
}

fn login(server: &Server) -> (String, String) {
    let r = server.request(
        "POST",
        &format!("/api/client/v2.0/app/{APP_ID}/auth/providers/anon-user/login"),
        &[("Content-Type", "application/json")],
        b"{}",
    );
    let j = json(&r);
    (
        j["access_token"].as_str().unwrap().to_owned(),
        j["user_id"].as_str().unwrap().to_owned(),
    )
}

fn jwt(sub: &str) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims =
        serde_json::json!({"sub": sub, "aud": APP_ID, "iat": now, "exp": now + 600, "name": "Jo"});
    encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(JWT_KEY.as_bytes()),
    )
    .unwrap()
}

fn sign(body: &[u8], key: &str) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key.as_bytes());
    let tag = ring::hmac::sign(&key, body);
    let hex: String = tag.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

#[test]
fn system_endpoints_get_query_headers_and_body_without_credentials() {
    let server = start();
    let r = server.request(
        "POST",
        &format!("{}?a=1&a=2&b=x%20y", url("/system")),
        &[("Content-Type", "text/plain")],
        b"hello body",
    );
    let j = json(&r);
    assert_eq!(j["query"], serde_json::json!({"a": "1", "b": "x y"}));
    assert_eq!(j["contentType"], serde_json::json!(["text/plain"]));
    assert_eq!(j["body"], "hello body");
    assert_eq!(j["system"], true);
    assert_eq!(j["rawQueryString"], "a=1&a=2&b=x%20y");
    // `*` takes any method; no body is `undefined`
    let r = server.request("DELETE", &url("/system"), &[], b"");
    assert_eq!(json(&r)["body"], serde_json::Value::Null);
    // the App Services client-API prefix serves the same endpoints
    let r = server.request(
        "GET",
        &format!("/api/client/v2.0/app/{APP_ID}/endpoint/system"),
        &[],
        b"",
    );
    assert_eq!(json(&r)["system"], true);
}

#[test]
fn a_secret_query_parameter_is_checked_and_hidden_from_the_function() {
    let server = start();
    let ok = server.request(
        "GET",
        &format!("{}?x=1&secret={ENDPOINT_SECRET}", url("/secret")),
        &[],
        b"",
    );
    let j = json(&ok);
    assert_eq!(j["query"], serde_json::json!({"x": "1"}));
    assert_eq!(j["rawQueryString"], "x=1");
    for query in [
        "?x=1",
        "?secret=wrong",
        "?secret=",
        "?Secret=endpoint-secret-value-42",
    ] {
        let r = server.request("GET", &format!("{}{query}", url("/secret")), &[], b"");
        r.assert_error(401, "IncomingWebhookAuthFailed");
        assert!(!r.body.contains(ENDPOINT_SECRET), "{r:?}");
    }
}

#[test]
fn a_payload_signature_is_checked() {
    let server = start();
    let body = br#"{"n": 1}"#;
    let ok = server.request(
        "POST",
        &url("/signed"),
        &[("Endpoint-Signature", &sign(body, ENDPOINT_SECRET))],
        body,
    );
    assert_eq!(json(&ok)["body"], r#"{"n": 1}"#);
    let tampered = server.request(
        "POST",
        &url("/signed"),
        &[("Endpoint-Signature", &sign(body, ENDPOINT_SECRET))],
        br#"{"n": 2}"#,
    );
    tampered.assert_error(401, "IncomingWebhookAuthFailed");
    for signature in [sign(body, "another key").as_str(), "sha256=zz", "abc", ""] {
        let r = server.request(
            "POST",
            &url("/signed"),
            &[("Endpoint-Signature", signature)],
            body,
        );
        r.assert_error(401, "IncomingWebhookAuthFailed");
    }
    let unsigned = server.request("POST", &url("/signed"), &[], body);
    unsigned.assert_error(401, "IncomingWebhookAuthFailed");
}

#[test]
fn a_secret_that_is_not_set_refuses_every_request() {
    let server = Server::start_app(&app_dir(), &[], &[]);
    let r = server.request(
        "GET",
        &format!("{}?secret=anything", url("/secret")),
        &[],
        b"",
    );
    r.assert_error(401, "IncomingWebhookAuthFailed");
}

#[test]
fn application_authentication_by_bearer_token() {
    let server = start();
    let (access, user_id) = login(&server);
    let auth = format!("Bearer {access}");
    let r = server.request(
        "GET",
        &format!("{}?q=1", url("/echo")),
        &[("Authorization", &auth), ("Accept", "application/json")],
        b"",
    );
    let j = json(&r);
    assert_eq!(j["user"], user_id.as_str());
    assert_eq!(j["system"], false);
    assert_eq!(j["hasResponse"], true);
    assert_eq!(j["query"], serde_json::json!({"q": "1"}));
    assert_eq!(j["accept"], serde_json::json!(["application/json"]));
    // credentials never reach the function
    assert_eq!(j["credentialHeaders"], serde_json::json!([]));
    // no credentials, a bad token
    server
        .request("GET", &url("/echo"), &[], b"")
        .assert_error(401, "MissingAuthReq");
    server
        .request(
            "GET",
            &url("/echo"),
            &[("Authorization", "Bearer not-a-token")],
            b"",
        )
        .assert_error(401, "InvalidSession");
}

#[test]
fn application_authentication_by_jwt_header_creates_users_only_when_configured() {
    let server = start();
    // create_user_on_auth: true → a new user
    let r = server.request(
        "GET",
        &url("/echo"),
        &[("jwtTokenString", &jwt("jo-1"))],
        b"",
    );
    let first = json(&r)["user"].as_str().unwrap().to_owned();
    assert_eq!(json(&r)["credentialHeaders"], serde_json::json!([]));
    // the same identity is the same user
    let again = server.request(
        "GET",
        &url("/echo"),
        &[("jwtTokenString", &jwt("jo-1"))],
        b"",
    );
    assert_eq!(json(&again)["user"], first.as_str());
    // create_user_on_auth: false → an unknown identity is refused, a known one accepted
    let r = server.request(
        "POST",
        &url("/echo/strict"),
        &[("jwtTokenString", &jwt("jo-2"))],
        b"",
    );
    assert_eq!(r.status, 401, "{r:?}");
    let r = server.request(
        "POST",
        &url("/echo/strict"),
        &[("jwtTokenString", &jwt("jo-1"))],
        b"",
    );
    assert_eq!(json(&r)["user"], first.as_str());
    // a token signed with another key
    let forged = encode(
        &Header::new(Algorithm::HS256),
        &serde_json::json!({"sub": "jo-1", "aud": APP_ID, "exp": 4_000_000_000u64}),
        &EncodingKey::from_secret(b"some-other-key-0123456789abcdef0123"),
    )
    .unwrap();
    let r = server.request("GET", &url("/echo"), &[("jwtTokenString", &forged)], b"");
    assert_eq!(r.status, 401, "{r:?}");
    assert!(!r.body.contains(&forged));
}

#[test]
fn custom_user_data_is_fetched_only_when_configured() {
    let server = start();
    let (access, user_id) = login(&server);
    let auth = format!("Bearer {access}");
    let seeded = server.request(
        "POST",
        &format!("{}?owner={user_id}&label=x&custom=Zed", url("/seed")),
        &[],
        b"",
    );
    assert_eq!(seeded.status, 200, "{seeded:?}");
    // the token predates the document: log in again with a JWT for fresh data
    let r = server.request(
        "GET",
        &url("/echo"),
        &[("jwtTokenString", &jwt("cd-1"))],
        b"",
    );
    let jwt_user = json(&r)["user"].as_str().unwrap().to_owned();
    server.request(
        "POST",
        &format!("{}?owner={jwt_user}&label=y&custom=Kay", url("/seed")),
        &[],
        b"",
    );
    let fetched = server.request(
        "GET",
        &url("/echo"),
        &[("jwtTokenString", &jwt("cd-1"))],
        b"",
    );
    assert_eq!(json(&fetched)["customData"]["nickname"], "Kay");
    let not_fetched = server.request(
        "POST",
        &url("/echo/strict"),
        &[("jwtTokenString", &jwt("cd-1"))],
        b"",
    );
    assert_eq!(json(&not_fetched)["customData"], serde_json::json!({}));
    let bearer = server.request(
        "POST",
        &url("/echo/strict"),
        &[("Authorization", &auth)],
        b"",
    );
    assert_eq!(json(&bearer)["customData"], serde_json::json!({}));
}

#[test]
fn an_endpoints_can_evaluate_sees_the_request() {
    let server = start();
    let allowed = server.request("GET", &url("/guarded"), &[("X-Allow", "yes")], b"");
    assert_eq!(json(&allowed)["system"], true);
    server
        .request("GET", &url("/guarded"), &[("X-Allow", "no")], b"")
        .assert_error(403, "NotCallable");
    server
        .request("GET", &url("/guarded"), &[], b"")
        .assert_error(403, "NotCallable");
}

#[test]
fn an_endpoint_can_run_its_function_as_the_system() {
    let server = start();
    // the function needs application authentication, the endpoint says run_as_system
    let r = server.request("GET", &url("/as-system"), &[], b"");
    assert_eq!(json(&r)["system"], true);
    // run_as_user_id: that user, without credentials
    let r = server.request("GET", &url("/as-user"), &[], b"");
    assert_eq!(json(&r)["system"], false);
    assert_eq!(json(&r)["user"], "fixed-user-1");
}

#[test]
fn rules_apply_to_the_authenticated_caller() {
    rules_apply(&start());
}

#[test]
fn rules_apply_to_the_authenticated_caller_on_mongodb() {
    let Some(uri) =
        crate::common::mongodb_uri("rules_apply_to_the_authenticated_caller_on_mongodb")
    else {
        return;
    };
    let prefix = format!("endpoints{}_", std::process::id());
    let server = Server::start_app(
        &app_dir(),
        &[
            "--mongodb",
            uri.as_str(),
            "--database-prefix",
            prefix.as_str(),
        ],
        &[("EXPANSE_SECRET_endpointSecret", ENDPOINT_SECRET)],
    );
    rules_apply(&server);
}

fn rules_apply(server: &Server) {
    let (alice, alice_id) = login(server);
    let (bob, bob_id) = login(server);
    for (owner, label) in [(&alice_id, "a1"), (&alice_id, "a2"), (&bob_id, "b1")] {
        let r = server.request(
            "POST",
            &format!("{}?owner={owner}&label={label}", url("/seed")),
            &[],
            b"",
        );
        assert_eq!(r.status, 200, "{r:?}");
    }
    let mine = |token: &str| {
        let r = server.request(
            "GET",
            &url("/mine"),
            &[("Authorization", &format!("Bearer {token}"))],
            b"",
        );
        json(&r)
    };
    assert_eq!(mine(&alice), serde_json::json!(["a1", "a2"]));
    assert_eq!(mine(&bob), serde_json::json!(["b1"]));
}

#[test]
fn the_function_sets_status_headers_and_body() {
    let server = start();
    let r = server.request("POST", &url("/respond"), &[], b"a note");
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(r.body, "created: a note");
    assert_eq!(r.header("content-type"), Some("text/plain"));
    let kinds: Vec<&str> = r
        .headers
        .iter()
        .filter(|(k, _)| k == "x-kind")
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(kinds, ["second"]);
    let extras: Vec<&str> = r
        .headers
        .iter()
        .filter(|(k, _)| k == "x-extra")
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(extras, ["a", "b"]);
    // a Binary body is sent as its bytes
    let r = server.request("POST", &format!("{}?binary=1", url("/respond")), &[], b"");
    assert_eq!((r.status, r.body.as_str()), (201, "hi"));
    // an invalid status code is the function's error
    let r = server.request("POST", &format!("{}?bad=1", url("/respond")), &[], b"");
    r.assert_error(400, "FunctionExecutionError");
}

#[test]
fn respond_result_off_answers_204_and_on_the_value_in_ejson_or_json() {
    let server = start();
    let quiet = server.request("GET", &url("/quiet"), &[], b"");
    assert_eq!((quiet.status, quiet.body.as_str()), (204, ""));
    let ejson = server.request("GET", &url("/value/ejson"), &[], b"");
    assert_eq!(
        json(&ejson),
        serde_json::json!({"when": {"$date": {"$numberLong": "0"}}, "count": {"$numberLong": "5"},
                           "id": {"$oid": "5f1f1f1f1f1f1f1f1f1f1f1f"}})
    );
    let plain = server.request("GET", &url("/value/json"), &[], b"");
    let j = json(&plain);
    assert_eq!(j["count"], 5);
    assert_eq!(j["id"], "5f1f1f1f1f1f1f1f1f1f1f1f");
    assert!(
        j["when"]
            .as_str()
            .unwrap()
            .starts_with("1970-01-01T00:00:00"),
        "{j}"
    );
    // the client may ask for Extended JSON
    let asked = server.request(
        "GET",
        &url("/value/json"),
        &[("Accept", "application/ejson")],
        b"",
    );
    assert_eq!(
        json(&asked)["count"],
        serde_json::json!({"$numberLong": "5"})
    );
}

#[test]
fn unknown_routes_wrong_methods_disabled_endpoints_and_throwing_functions() {
    let server = start();
    server
        .request("GET", &url("/nowhere"), &[], b"")
        .assert_error(404, "NotFound");
    server
        .request("GET", &url("/off"), &[], b"")
        .assert_error(404, "NotFound");
    server
        .request("PUT", &url("/signed"), &[], b"")
        .assert_error(405, "NotFound");
    server
        .request("GET", "/app/another-app/endpoint/system", &[], b"")
        .assert_error(404, "InvalidParameter");
    let r = server.request("GET", &url("/fail"), &[], b"");
    r.assert_error(400, "FunctionExecutionError");
    assert!(r.json()["error"]
        .as_str()
        .unwrap()
        .contains("the endpoint function gave up"));
}

#[test]
fn expanse_check_reports_bad_endpoints() {
    let dir = tempfile::tempdir().unwrap();
    let w = |path: &str, text: &str| {
        let p = dir.path().join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    };
    w("root_config.json", r#"{"name": "bad-endpoints"}"#);
    w("functions/config.json", r#"[{"name": "hello"}]"#);
    w("functions/hello.js", "exports = () => 1;");
    w(
        "http_endpoints/config.json",
        r#"[
  {"route": "hello", "http_method": "GET", "function_name": "hello"},
  {"route": "/a", "http_method": "FETCH", "function_name": "hello"},
  {"route": "/b", "http_method": "GET", "function_name": "helo"},
  {"route": "/c", "http_method": "GET", "function_name": "hello", "validation_method": "VERIFY_PAYLOAD"},
  {"route": "/d", "http_method": "GET", "function_name": "hello", "validation_method": "SECRET_IN_QUERY", "secret_name": "s"},
  {"route": "/e", "http_method": "GET", "function_name": "hello", "respond_reslt": true}
]"#,
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_expanse"))
        .arg("check")
        .arg(dir.path())
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{text}");
    for needle in [
        "config.json:2:13: an endpoint route must start with \"/\"",
        "config.json:3:34: unknown http_method \"FETCH\"",
        "calls function \"helo\", which the app does not have",
        "did you mean \"hello\"?",
        "validation_method VERIFY_PAYLOAD needs a \"secret_name\"",
        "unknown validation_method \"SECRET_IN_QUERY\"",
        "unknown key \"respond_reslt\" in an endpoint",
        "did you mean \"respond_result\"?",
    ] {
        assert!(text.contains(needle), "{needle:?} not in\n{text}");
    }
    // a legacy service webhook is not served, and says so
    w(
        "http_endpoints/shop/incoming_webhooks/order/config.json",
        r#"{"name": "order"}"#,
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_expanse"))
        .arg("check")
        .arg(dir.path())
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        text.contains("incoming_webhooks/order:1:1: legacy incoming webhooks are not served"),
        "{text}"
    );
    // both layouts at once is refused
    w("https_endpoints/config.json", "[]");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_expanse"))
        .arg("check")
        .arg(dir.path())
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("configure endpoints; keep one"), "{text}");
}

#[tokio::test]
async fn a_rust_function_sets_the_response_through_its_context() {
    use bson::{doc, Bson};
    use expanse::functions::{Context, EndpointCaller, Functions};
    use expanse::store::MemoryStore;

    let app = std::sync::Arc::new(expanse::App::load(app_dir()).unwrap().app);
    let (functions, _) = Functions::builder(app.clone(), MemoryStore::new())
        .register(
            "endpoint/value",
            |ctx: Context<MemoryStore>, args: Vec<Bson>| async move {
                let response = ctx.endpoint_response().ok_or("not an endpoint call")?;
                let mut response = response.lock().map_err(|_| "poisoned")?;
                response.set_status(202).map_err(|e| e.to_string())?;
                response.set_header("X-From", "rust");
                let request = args.first().cloned().unwrap_or(Bson::Null);
                Ok(request)
            },
        )
        .build()
        .unwrap();
    let endpoint = app.endpoints.iter().find(|e| e.route == "/quiet").unwrap();
    let outcome = functions
        .call_endpoint(
            EndpointCaller::System,
            endpoint,
            doc! {"query": {"a": "1"}, "headers": {}},
            doc! {},
        )
        .await
        .unwrap();
    assert_eq!(outcome.response.status, Some(202));
    assert_eq!(
        outcome.response.headers,
        [("X-From".to_owned(), "rust".to_owned())]
    );
    assert_eq!(
        outcome.result,
        Bson::Document(doc! {"query": {"a": "1"}, "headers": {}})
    );
    // outside an endpoint call there is no response
    let plain = functions.call_as_system("endpoint/value", vec![]).await;
    assert!(plain
        .unwrap_err()
        .to_string()
        .contains("not an endpoint call"));
}

#[test]
fn application_authentication_by_email_password_and_api_key_headers() {
    use expanse::auth::{Auth, TokenConfig, TokenIssuer};
    use expanse::store::MemoryStore;

    // an account and a server API key, made with the library in the store file the server
    // then serves
    let dir = tempfile::tempdir().unwrap();
    let store_file = dir.path().join("store.json");
    let key = tokio::runtime::Runtime::new().unwrap().block_on(async {
        let app = std::sync::Arc::new(expanse::App::load(app_dir()).unwrap().app);
        let store = MemoryStore::open(&store_file).unwrap();
        let tokens = TokenIssuer::new(TokenConfig::hs256(vec![b'k'; 32]).unwrap()).unwrap();
        let auth = Auth::new(app, store, tokens);
        auth.register("pat@example.com", "a-long-password-1")
            .await
            .unwrap();
        auth.create_server_api_key("reporting")
            .await
            .unwrap()
            .key
            .unwrap()
    });
    let server = Server::start_app(
        &app_dir(),
        &["--store-file", store_file.to_str().unwrap()],
        &[],
    );
    let by_password = server.request(
        "GET",
        &url("/echo"),
        &[
            ("email", "pat@example.com"),
            ("password", "a-long-password-1"),
        ],
        b"",
    );
    let pat = json(&by_password)["user"].as_str().unwrap().to_owned();
    assert_eq!(
        json(&by_password)["credentialHeaders"],
        serde_json::json!([])
    );
    let again = server.request(
        "GET",
        &url("/echo"),
        &[
            ("email", "pat@example.com"),
            ("password", "a-long-password-1"),
        ],
        b"",
    );
    assert_eq!(json(&again)["user"], pat.as_str());
    let wrong = server.request(
        "GET",
        &url("/echo"),
        &[
            ("email", "pat@example.com"),
            ("password", "not-the-password"),
        ],
        b"",
    );
    assert_eq!(wrong.status, 401, "{wrong:?}");
    assert!(!wrong.body.contains("not-the-password"));
    let by_key = server.request("GET", &url("/echo"), &[("apiKey", &key)], b"");
    let key_user = json(&by_key)["user"].as_str().unwrap().to_owned();
    assert_ne!(key_user, pat);
    let bad_key = server.request("GET", &url("/echo"), &[("apiKey", "not-a-key")], b"");
    assert_eq!(bad_key.status, 401, "{bad_key:?}");
}
