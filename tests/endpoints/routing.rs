//! Requests no route matches (API Gateway's `$default` route) still answer in the
//! envelope: 405 with `Allow` for a known path, 404 for anything else.

use crate::support::*;

#[tokio::test]
async fn unexpected_methods_are_405_with_allow() {
    let t = TestApp::new().await;
    let cases = [
        ("PUT", "/devices", "GET"),
        (
            "PATCH",
            "/devices/3f1c2a9e-8d4b-4c61-9a2f-6b7e5d4c3b2a",
            "DELETE, GET",
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
