//! Several `expanse serve` processes over one MongoDB behave as one server: a token issued by
//! one is accepted by the other, and a logout on one is refused on the other.

use super::{Server, APP_ID};

fn call(server: &Server, access: &str) -> super::Response {
    server.request(
        "POST",
        &format!("/api/client/v2.0/app/{APP_ID}/functions/call"),
        &[
            ("Authorization", &format!("Bearer {access}")),
            ("Content-Type", "application/json"),
        ],
        br#"{"name": "sum", "arguments": [1, 2]}"#,
    )
}

#[test]
fn a_logout_on_one_instance_is_refused_on_the_other() {
    let Some(uri) = crate::common::mongodb_uri("a_logout_on_one_instance_is_refused_on_the_other")
    else {
        return;
    };
    let prefix = format!("scale{}_", std::process::id());
    let args = [
        "--mongodb",
        uri.as_str(),
        "--database-prefix",
        prefix.as_str(),
    ];
    let a = Server::start_on_mongodb(&args);
    let b = Server::start_on_mongodb(&args);
    let (access, refresh) = a.anonymous();
    assert_eq!(call(&b, &access).status, 200, "B accepts A's token");
    let renewed = b.request(
        "POST",
        "/api/client/v2.0/auth/session",
        &[("Authorization", &format!("Bearer {refresh}"))],
        b"",
    );
    assert_eq!(renewed.status, 201, "B refreshes A's session: {renewed:?}");
    let logout = a.request(
        "DELETE",
        "/api/client/v2.0/auth/session",
        &[("Authorization", &format!("Bearer {refresh}"))],
        b"",
    );
    assert_eq!(logout.status, 204, "{logout:?}");
    // The refresh token is refused on B at once (sessions are read from MongoDB)…
    b.request(
        "POST",
        "/api/client/v2.0/auth/session",
        &[("Authorization", &format!("Bearer {refresh}"))],
        b"",
    )
    .assert_error(401, "InvalidSession");
    // …and the access token within the documented revocation bound (10 s per instance).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let answer = call(&b, &access);
        if answer.status == 401 {
            answer.assert_error(401, "InvalidSession");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "B still accepts the logged-out access token after 15 s: {answer:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
}
