//! Malformed requests get the right 4xx in App Services' error shape — never a 5xx, never a
//! crash: bad JSON, wrong types, huge bodies, unknown routes and methods, missing or wrong
//! tokens, garbage on the wire.

use super::{Server, APP_ID};

fn call_path() -> String {
    format!("/api/client/v2.0/app/{APP_ID}/functions/call")
}

#[test]
fn malformed_bodies_are_400_bad_request() {
    let mut server = Server::start(&[], &[]);
    let (access, _) = server.anonymous();
    let auth = format!("Bearer {access}");
    let headers = [
        ("Authorization", auth.as_str()),
        ("Content-Type", "application/json"),
    ];
    let cases: &[(&[u8], &str)] = &[
        (b"{", "BadRequest"),
        (b"", "BadRequest"),
        (b"not json", "BadRequest"),
        (b"[1, 2]", "BadRequest"),
        (b"\"name\"", "BadRequest"),
        (b"null", "BadRequest"),
        (b"{\"name\": \"sum\", \"arguments\": [1, 2]", "BadRequest"),
        (b"\xff\xfe{}", "BadRequest"),
        (
            br#"{"name": "sum", "arguments": [{"$numberInt": "x"}]}"#,
            "BadRequest",
        ),
        (
            br#"{"name": "sum", "arguments": [{"$oid": "zz"}]}"#,
            "BadRequest",
        ),
        (
            br#"{"name": "sum", "arguments": [{"$date": []}]}"#,
            "BadRequest",
        ),
        (br#"{"arguments": []}"#, "MissingParameter"),
        (br#"{"name": 5, "arguments": []}"#, "InvalidParameter"),
        (br#"{"name": ["sum"]}"#, "InvalidParameter"),
        (
            br#"{"name": "sum", "arguments": "1, 2"}"#,
            "InvalidParameter",
        ),
        (
            br#"{"name": "sum", "arguments": {"0": 1}}"#,
            "InvalidParameter",
        ),
        (
            br#"{"name": "sum", "arguments": [], "service": 7}"#,
            "InvalidParameter",
        ),
    ];
    for (body, code) in cases {
        let r = server.request("POST", &call_path(), &headers, body);
        r.assert_error(400, code);
    }
    // service calls the dispatcher cannot read
    let service_cases: &[(&[u8], u16, &str)] = &[
        (br#"{"name": "find", "service": "mongodb-atlas", "arguments": []}"#, 400, "InvalidParameter"),
        (br#"{"name": "find", "service": "mongodb-atlas", "arguments": [1]}"#, 400, "InvalidParameter"),
        (br#"{"name": "find", "service": "mongodb-atlas", "arguments": [{"collection": "items"}]}"#, 400, "InvalidParameter"),
        (br#"{"name": "find", "service": "mongodb-atlas", "arguments": [{"database": 1, "collection": "items"}]}"#, 400, "InvalidParameter"),
        (br#"{"name": "find", "service": "mongodb-atlas", "arguments": [{"database": "todo", "collection": "items", "query": "all"}]}"#, 400, "InvalidParameter"),
        (br#"{"name": "find", "service": "mongodb-atlas", "arguments": [{"database": "todo", "collection": "items", "collation": {}}]}"#, 400, "InvalidParameter"),
        (br#"{"name": "updateOne", "service": "mongodb-atlas", "arguments": [{"database": "todo", "collection": "items", "query": {}, "update": [{"$set": {"a": 1}}]}]}"#, 400, "InvalidParameter"),
        (br#"{"name": "dropDatabase", "service": "mongodb-atlas", "arguments": [{"database": "todo", "collection": "items"}]}"#, 400, "ServiceCommandNotFound"),
        (br#"{"name": "find", "service": "no-such-service", "arguments": [{"database": "todo", "collection": "items"}]}"#, 404, "ServiceNotFound"),
        (br#"{"name": "find", "service": "mongodb-atlas", "arguments": [{"database": "todo", "collection": "items", "query": {"$where": "1"}}]}"#, 400, "MongoDBError"),
        (br#"{"name": "find", "service": "mongodb-atlas", "arguments": [{"database": "todo", "collection": "items", "query": {"a": {"$bogus": 1}}}]}"#, 400, "MongoDBError"),
    ];
    for (body, status, code) in service_cases {
        let r = server.request("POST", &call_path(), &headers, body);
        r.assert_error(*status, code);
    }
    // JSON nested past serde's and MongoDB's limits
    for depth in [99, 150, 5000] {
        let nested = format!("{}1{}", "[".repeat(depth), "]".repeat(depth));
        let deep_query = format!("{}1{}", r#"{"a": "#.repeat(depth), "}".repeat(depth));
        for body in [
            format!(r#"{{"name": "echo", "arguments": [{nested}]}}"#),
            format!(
                r#"{{"name": "find", "service": "mongodb-atlas", "arguments": [{{"database": "todo", "collection": "items", "query": {deep_query}}}]}}"#
            ),
        ] {
            let r = server.request("POST", &call_path(), &headers, body.as_bytes());
            assert!(r.status < 500, "depth {depth}: {r:?}");
            if depth > 100 {
                assert_eq!(r.status, 400, "depth {depth}: {r:?}");
            }
        }
    }
    assert!(server.alive());
}

#[test]
fn huge_bodies_are_413_and_the_server_stays_up() {
    let mut server = Server::start(&["--max-body-bytes", "4096"], &[]);
    let (access, _) = server.anonymous();
    let auth = format!("Bearer {access}");
    let headers = [
        ("Authorization", auth.as_str()),
        ("Content-Type", "application/json"),
    ];
    let big = format!(
        r#"{{"name": "echo", "arguments": ["{}"]}}"#,
        "x".repeat(10_000)
    );
    server
        .request("POST", &call_path(), &headers, big.as_bytes())
        .assert_error(413, "BadRequest");
    // a declared length far past the limit, body never sent
    let r = server.raw(
        format!(
            "POST {} HTTP/1.1\r\nHost: x\r\nAuthorization: {auth}\r\nContent-Length: 100000000000\r\nConnection: close\r\n\r\n{{",
            call_path()
        )
        .as_bytes(),
    );
    r.assert_error(413, "BadRequest");
    // a login body past the limit too
    let login = format!(r#"{{"x": "{}"}}"#, "y".repeat(10_000));
    server
        .request(
            "POST",
            &format!("/api/client/v2.0/app/{APP_ID}/auth/providers/anon-user/login"),
            &[("Content-Type", "application/json")],
            login.as_bytes(),
        )
        .assert_error(413, "BadRequest");
    // just under the limit works
    let ok = format!(
        r#"{{"name": "echo", "arguments": ["{}"]}}"#,
        "x".repeat(3000)
    );
    assert_eq!(
        server
            .request("POST", &call_path(), &headers, ok.as_bytes())
            .status,
        200
    );
    assert!(server.alive());
}

#[test]
fn unknown_routes_methods_and_apps_are_404_or_405() {
    let mut server = Server::start(&[], &[]);
    for path in [
        "/",
        "/nope",
        "/api/client/v2.0",
        "/api/client/v2.0/app",
        "/api/client/v2.0/app/expanse-realm-web",
        "/api/client/v2.0/app/expanse-realm-web/unknown",
        "/api/client/v2.0/app/expanse-realm-web/functions/call/extra",
        "/api/client/v2.0/auth/nothing",
        "/api/client/v3.0/app/expanse-realm-web/location",
    ] {
        server
            .request("GET", path, &[], b"")
            .assert_error(404, "NotFound");
    }
    // another app's id
    server
        .request("GET", "/api/client/v2.0/app/other-app/location", &[], b"")
        .assert_error(404, "InvalidParameter");
    server
        .request(
            "POST",
            "/api/client/v2.0/app/other-app/auth/providers/anon-user/login",
            &[],
            b"{}",
        )
        .assert_error(404, "InvalidParameter");
    // percent-encoded junk in a path parameter
    let r = server.request("GET", "/api/client/v2.0/app/%FF%FE/location", &[], b"");
    assert!(r.status == 400 || r.status == 404, "{r:?}");
    assert!(r.json()["error_code"].is_string());
    // wrong methods
    for (method, path) in [
        ("PUT", "/api/client/v2.0/auth/session"),
        ("GET", "/api/client/v2.0/auth/session"),
        ("POST", "/api/client/v2.0/auth/profile"),
        ("DELETE", "/api/client/v2.0/app/expanse-realm-web/location"),
        (
            "PATCH",
            "/api/client/v2.0/app/expanse-realm-web/functions/call",
        ),
    ] {
        let r = server.request(method, path, &[], b"");
        assert_eq!(r.status, 405, "{method} {path}: {r:?}");
        assert!(r.json()["error_code"].is_string());
    }
    // an unknown provider
    server
        .request(
            "POST",
            &format!("/api/client/v2.0/app/{APP_ID}/auth/providers/no-such-provider/login"),
            &[],
            b"{}",
        )
        .assert_error(404, "AuthProviderNotFound");
    assert!(server.alive());
}

#[test]
fn missing_and_wrong_tokens_are_401() {
    let mut server = Server::start(&[], &[]);
    let (access, refresh) = server.anonymous();
    let body = br#"{"name": "sum", "arguments": [1, 2]}"#;
    let call = |auth: Option<&str>| {
        let mut headers = vec![("Content-Type", "application/json")];
        if let Some(a) = auth {
            headers.push(("Authorization", a));
        }
        server.request("POST", &call_path(), &headers, body)
    };
    call(None).assert_error(401, "MissingAuthReq");
    for bad in [
        "Bearer",
        "Bearer ",
        "Basic dXNlcjpwYXNz",
        "Bearer not-a-token",
        "Bearer a.b.c",
        "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.",
    ] {
        let r = call(Some(bad));
        assert_eq!(r.status, 401, "{bad}: {r:?}");
    }
    // a refresh token is not an access token, nor the reverse
    call(Some(&format!("Bearer {refresh}"))).assert_error(401, "InvalidSession");
    server
        .request(
            "POST",
            "/api/client/v2.0/auth/session",
            &[("Authorization", &format!("Bearer {access}"))],
            b"",
        )
        .assert_error(401, "InvalidSession");
    // a token signed with another secret
    let other = Server::start(
        &[],
        &[("EXPANSE_JWT_SECRET", "another-secret-0123456789abcdef-xyz")],
    );
    let (foreign, _) = other.anonymous();
    call(Some(&format!("Bearer {foreign}"))).assert_error(401, "InvalidSession");
    // a tampered token
    let mut tampered = access.clone();
    tampered.insert(access.len() / 2, 'A');
    call(Some(&format!("Bearer {tampered}"))).assert_error(401, "InvalidSession");
    // the profile and delete routes need a token too
    server
        .request("GET", "/api/client/v2.0/auth/profile", &[], b"")
        .assert_error(401, "MissingAuthReq");
    server
        .request("DELETE", "/api/client/v2.0/auth/delete", &[], b"")
        .assert_error(401, "MissingAuthReq");
    server
        .request("DELETE", "/api/client/v2.0/auth/session", &[], b"")
        .assert_error(401, "MissingAuthReq");
    // and the right token works
    assert_eq!(call(Some(&format!("Bearer {access}"))).status, 200);
    assert!(server.alive());
}

#[test]
fn garbage_on_the_wire_does_not_crash_the_server() {
    let mut server = Server::start(&[], &[]);
    for bytes in [
        &b"\x00\x01\x02\r\n\r\n"[..],
        b"GET\r\n\r\n",
        b"GET / HTTP/9.9\r\n\r\n",
        b"POST /health HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
        b"POST /health HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"GET /health HTTP/1.1\r\nHost: x\r\nX: \xff\xfe\r\nConnection: close\r\n\r\n",
    ] {
        let r = server.raw(bytes);
        assert!(
            r.status == 0 || (400..500).contains(&r.status) || r.status == 200,
            "{bytes:?}: {r:?}"
        );
    }
    assert_eq!(server.request("GET", "/health", &[], b"").status, 200);
    assert!(server.alive());
}

fn provider_path(provider: &str, route: &str) -> String {
    format!("/api/client/v2.0/app/{APP_ID}/auth/providers/{provider}/{route}")
}

#[test]
fn email_password_routes_refuse_malformed_bodies_with_400() {
    let mut server = Server::start(&[], &[]);
    let json = [("Content-Type", "application/json")];
    let routes: &[(&str, &[&str])] = &[
        ("register", &["email", "password"]),
        ("confirm", &["token", "tokenId"]),
        ("confirm/send", &["email"]),
        ("confirm/call", &["email"]),
        ("reset/send", &["email"]),
        ("reset", &["token", "tokenId", "password"]),
        ("reset/call", &["email", "password"]),
    ];
    for (route, fields) in routes {
        let path = provider_path("local-userpass", route);
        // not a document at all
        for body in [
            &b""[..],
            b"{",
            b"[]",
            b"\"x\"",
            b"{\"email\": {\"$oid\": \"zz\"}}",
        ] {
            server
                .request("POST", &path, &json, body)
                .assert_error(400, "BadRequest");
        }
        // each field missing, then each of the wrong type
        for missing in fields.iter() {
            let body: serde_json::Map<String, serde_json::Value> = fields
                .iter()
                .filter(|f| *f != missing)
                .map(|f| ((*f).to_owned(), serde_json::json!("user@example.com")))
                .collect();
            let body = serde_json::Value::Object(body).to_string();
            server
                .request("POST", &path, &json, body.as_bytes())
                .assert_error(400, "MissingParameter");
            let body: serde_json::Map<String, serde_json::Value> = fields
                .iter()
                .map(|f| {
                    let v = if f == missing {
                        serde_json::json!(["not", "a", "string"])
                    } else {
                        serde_json::json!("user@example.com")
                    };
                    ((*f).to_owned(), v)
                })
                .collect();
            let body = serde_json::Value::Object(body).to_string();
            server
                .request("POST", &path, &json, body.as_bytes())
                .assert_error(400, "InvalidParameter");
        }
        // another app, a provider of another type, a provider that does not exist
        let other = format!("/api/client/v2.0/app/other-app/auth/providers/local-userpass/{route}");
        server
            .request("POST", &other, &json, b"{}")
            .assert_error(404, "InvalidParameter");
        for provider in ["anon-user", "no-such-provider"] {
            server
                .request("POST", &provider_path(provider, route), &json, b"{}")
                .assert_error(404, "AuthProviderNotFound");
        }
        // GET is not a method of these routes
        let r = server.request("GET", &path, &[], b"");
        assert_eq!(r.status, 405, "{route}: {r:?}");
    }
    // the reset function's arguments must be an array
    server
        .request(
            "POST",
            &provider_path("local-userpass", "reset/call"),
            &json,
            br#"{"email": "a@example.com", "password": "long enough", "arguments": "42"}"#,
        )
        .assert_error(400, "InvalidParameter");
    // an invalid email or password is a bad request, not a server error
    for body in [
        &br#"{"email": "", "password": "long enough"}"#[..],
        br#"{"email": "no-at-sign", "password": "long enough"}"#,
        br#"{"email": "a@example.com", "password": "123"}"#,
    ] {
        server
            .request(
                "POST",
                &provider_path("local-userpass", "register"),
                &json,
                body,
            )
            .assert_error(400, "BadRequest");
    }
    // login bodies of the wrong shape for their provider
    for (provider, body) in [
        ("local-userpass", &b"{}"[..]),
        (
            "local-userpass",
            br#"{"username": 5, "password": "long enough"}"#,
        ),
        ("local-userpass", br#"{"username": "a@example.com"}"#),
        ("api-key", b"{}"),
        ("api-key", br#"{"key": ["k"]}"#),
        ("custom-token", b"{}"),
        ("custom-token", br#"{"token": {"a": 1}}"#),
    ] {
        server
            .request("POST", &provider_path(provider, "login"), &json, body)
            .assert_error(400, "BadRequest");
    }
    // credentials that are refused: 401 with the provider's code, nothing else
    for (provider, body, code) in [
        ("api-key", &br#"{"key": "no-such-key"}"#[..], "AuthError"),
        ("custom-token", br#"{"token": "a.b.c"}"#, "AuthError"),
        (
            "local-userpass",
            br#"{"username": "nobody@example.com", "password": "long enough"}"#,
            "InvalidPassword",
        ),
        ("custom-function", br#"{"pin": 1234}"#, "AuthError"),
    ] {
        server
            .request("POST", &provider_path(provider, "login"), &json, body)
            .assert_error(401, code);
    }
    assert!(server.alive());
}

#[test]
fn api_key_routes_need_a_refresh_token_and_well_formed_requests() {
    let mut server = Server::start(&[], &[]);
    let keys = "/api/client/v2.0/auth/api_keys";
    let one = format!("{keys}/0123456789abcdef01234567");
    let routes = [
        ("POST", keys.to_owned()),
        ("GET", keys.to_owned()),
        ("GET", one.clone()),
        ("DELETE", one.clone()),
        ("PUT", format!("{one}/enable")),
        ("PUT", format!("{one}/disable")),
    ];
    let (access, refresh) = server.anonymous();
    for (method, path) in &routes {
        let body: &[u8] = if *method == "POST" {
            br#"{"name": "k"}"#
        } else {
            b""
        };
        server
            .request(method, path, &[("Content-Type", "application/json")], body)
            .assert_error(401, "MissingAuthReq");
        // an access token is not a refresh token
        server
            .request(
                method,
                path,
                &[("Authorization", &format!("Bearer {access}"))],
                body,
            )
            .assert_error(401, "InvalidSession");
        server
            .request(
                method,
                path,
                &[("Authorization", "Bearer not-a-token")],
                body,
            )
            .assert_error(401, "InvalidSession");
    }
    let auth = format!("Bearer {refresh}");
    let headers = [
        ("Authorization", auth.as_str()),
        ("Content-Type", "application/json"),
    ];
    for (body, code) in [
        (&b""[..], "BadRequest"),
        (b"{", "BadRequest"),
        (b"[]", "BadRequest"),
        (b"{}", "MissingParameter"),
        (br#"{"name": 7}"#, "InvalidParameter"),
        (br#"{"name": null}"#, "InvalidParameter"),
        // an anonymous user cannot have keys; an empty name is refused too
        (br#"{"name": "k"}"#, "BadRequest"),
        (br#"{"name": ""}"#, "BadRequest"),
    ] {
        server
            .request("POST", keys, &headers, body)
            .assert_error(400, code);
    }
    // ids that are not ObjectIds, or nobody's
    for id in ["not-an-id", "0123456789abcdef01234567", "%00", "a%2Fb"] {
        let path = format!("{keys}/{id}");
        for (method, path) in [
            ("GET", path.clone()),
            ("DELETE", path.clone()),
            ("PUT", format!("{path}/enable")),
            ("PUT", format!("{path}/disable")),
        ] {
            server
                .request(method, &path, &headers, b"")
                .assert_error(404, "APIKeyNotFound");
        }
    }
    assert_eq!(server.request("GET", keys, &headers, b"").body, "[]");
    // wrong methods
    for (method, path) in [
        ("PUT", keys.to_owned()),
        ("POST", one.clone()),
        ("GET", format!("{one}/enable")),
    ] {
        let r = server.request(method, &path, &headers, b"");
        assert_eq!(r.status, 405, "{method} {path}: {r:?}");
    }
    assert!(server.alive());
}

#[test]
fn start_up_fails_when_the_database_refuses_the_users_store_indexes() {
    let Some(uri) = crate::common::mongodb_uri(
        "start_up_fails_when_the_database_refuses_the_users_store_indexes",
    ) else {
        return;
    };
    let prefix = format!("idx{}_", std::process::id());
    // two API keys with one hash: the unique index on key_hash cannot be built
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let database = format!("{prefix}__expanse");
    runtime.block_on(async {
        let client = mongodb::Client::with_uri_str(&uri).await.unwrap();
        let keys = client
            .database(&database)
            .collection::<bson::Document>("api_keys");
        keys.insert_many([
            bson::doc! {"key_hash": "same", "owner": "a", "name": "x"},
            bson::doc! {"key_hash": "same", "owner": "b", "name": "y"},
        ])
        .await
        .unwrap();
    });
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_expanse"))
        .arg("serve")
        .arg(super::app_dir())
        .args(["--listen", "127.0.0.1:0", "--mongodb", &uri])
        .args(["--database-prefix", &prefix])
        .env_remove("MONGODB_URI")
        .env("EXPANSE_JWT_SECRET", super::SECRET)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // a server that starts anyway would serve forever: stop it after a while and fail
    let started = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() && started.elapsed().as_secs() < 30 {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    if child.try_wait().unwrap().is_none() {
        let _ = child.kill();
    }
    let output = child.wait_with_output().unwrap();
    runtime.block_on(async {
        let client = mongodb::Client::with_uri_str(&uri).await.unwrap();
        client.database(&database).drop().await.unwrap();
    });
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("cannot prepare the users and sessions store"),
        "{stderr}"
    );
    assert!(!stderr.contains("listening on"), "{stderr}");
}
