//! Requests no route matches (API Gateway's `$default` route) still answer in the
//! envelope: 405 with `Allow` for a known path, 404 for anything else — except a
//! browser's CORS preflight, which is 204 with the API's CORS policy on any path.

use crate::support::*;

#[tokio::test]
async fn unexpected_methods_are_405_with_allow() {
    let t = TestApp::new().await;
    let cases = [
        ("PUT", "/devices", "GET"),
        (
            "PUT",
            "/devices/3f1c2a9e-8d4b-4c61-9a2f-6b7e5d4c3b2a",
            "DELETE, GET, PATCH",
        ),
        ("GET", "/devices/trust", "POST"),
        ("DELETE", "/sessions", "GET, POST"),
        ("GET", "/sessions/revoke-all", "POST"),
        ("GET", "/sessions/s1/heartbeat", "POST"),
    ];
    for (method, path, allow) in cases {
        let answer = t
            .request(Route::Unmatched)
            .method_and_path(method, path)
            .send()
            .await;
        answer.assert_status(405);
        assert_eq!(answer.code(), "METHOD_NOT_ALLOWED", "{method} {path}");
        assert_eq!(answer.headers["allow"], allow, "{method} {path}");
        assert_eq!(answer.body["success"], false);
    }
}

#[tokio::test]
async fn unknown_paths_are_404_in_the_envelope() {
    let t = TestApp::new().await;
    for path in [
        "/",
        "/admin",
        "/devices/a/b",
        "/sessions/x/refresh",
        "/../etc/passwd",
    ] {
        let answer = t
            .request(Route::Unmatched)
            .method_and_path("GET", path)
            .send()
            .await;
        answer.assert_status(404);
        assert_eq!(answer.code(), "ROUTE_NOT_FOUND", "{path}");
        assert_eq!(answer.body["error"], "Route not found");
    }
}

const APP_ORIGIN: &str = "https://app.flashback.tech";

#[tokio::test]
async fn browser_preflights_are_2xx_with_the_cors_policy_on_every_path() {
    let t = TestApp::with(&[(
        "CORS_ALLOWED_ORIGINS",
        "https://app.flashback.tech, https://admin.flashback.tech",
    )])
    .await;
    let paths = [
        ("POST", "/sessions/s1/revoke"),
        ("POST", "/sessions/revoke-all"),
        ("DELETE", "/devices/3f1c2a9e-8d4b-4c61-9a2f-6b7e5d4c3b2a"),
        (
            "POST",
            "/devices/3f1c2a9e-8d4b-4c61-9a2f-6b7e5d4c3b2a/untrust",
        ),
        ("GET", "/devices"),
        ("POST", "/sessions"),
        ("GET", "/no/such/route"),
    ];
    for (method, path) in paths {
        let answer = t
            .request(Route::Unmatched)
            .method_and_path("OPTIONS", path)
            .header("origin", APP_ORIGIN)
            .header("access-control-request-method", method)
            .header(
                "access-control-request-headers",
                "authorization,content-type,dpop",
            )
            .send()
            .await;
        answer.assert_status(204);
        let header = |name: &str| answer.headers[name].to_str().unwrap().to_string();
        assert_eq!(header("access-control-allow-origin"), APP_ORIGIN, "{path}");
        assert!(
            header("access-control-allow-methods").contains(method),
            "{path}"
        );
        let allowed_headers = header("access-control-allow-headers");
        assert!(
            allowed_headers.contains("authorization")
                && allowed_headers.contains("content-type")
                && allowed_headers.contains("dpop")
        );
        assert!(header("access-control-expose-headers").contains("retry-after"));
        assert_eq!(header("access-control-max-age"), "600");
        assert_eq!(header("vary"), "Origin");
    }
}

#[tokio::test]
async fn a_preflight_from_an_origin_the_policy_does_not_name_gets_no_grant() {
    let t = TestApp::with(&[("CORS_ALLOWED_ORIGINS", APP_ORIGIN)]).await;
    let answer = t
        .request(Route::Unmatched)
        .method_and_path("OPTIONS", "/sessions/s1/revoke")
        .header("origin", "https://evil.example")
        .header("access-control-request-method", "POST")
        .send()
        .await;
    answer.assert_status(204);
    assert!(!answer.headers.contains_key("access-control-allow-origin"));
    // An OPTIONS that is no preflight is an unmatched method, as before.
    let plain = t
        .request(Route::Unmatched)
        .method_and_path("OPTIONS", "/sessions/s1/revoke")
        .send()
        .await;
    plain.assert_status(405);
    assert_eq!(plain.headers["allow"], "POST");
}
