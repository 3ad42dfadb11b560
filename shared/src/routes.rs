//! The one table of the API's routes: method, path and the function (binary, and
//! module of `functions::routes`) that serves it. template.yaml, the local router in
//! Cargo.toml, events/, openapi.yaml, functions/src/bin, the endpoint tests' `Route`
//! and the README's route map are checked against it (tests/contract/test_routes_agree.py).
//! The one function that answers everything else (`route-not-found`, API Gateway's
//! `$default` route) reads it too: 405 with `Allow` for a known path with another
//! method, 404 otherwise — both in the envelope.

/// `(method, path template, function)` of every route.
pub const ROUTES: &[(&str, &str, &str)] = &[
    ("GET", "/devices", "list-devices"),
    ("GET", "/devices/{id}", "get-device"),
    ("POST", "/devices/trust", "trust-device"),
    ("POST", "/devices/{id}/untrust", "untrust-device"),
    ("DELETE", "/devices/{id}", "delete-device"),
    ("PATCH", "/devices/{id}", "rename-device"),
    ("POST", "/devices/{id}/heartbeat", "session-heartbeat"),
    ("GET", "/sessions", "list-sessions"),
    ("POST", "/sessions", "register-session"),
    ("POST", "/sessions/revoke-all", "revoke-all-sessions"),
    ("POST", "/sessions/{id}/revoke", "revoke-session"),
    ("POST", "/sessions/{id}/heartbeat", "session-heartbeat"),
    ("GET", "/sessions/current", "get-current-session"),
    ("GET", "/security-events", "list-security-events"),
    ("GET", "/account/devices", "devices-page"),
    ("POST", "/account/devices/codes", "create-page-code"),
    ("POST", "/account/devices/codes/redeem", "redeem-page-code"),
    ("GET", "/account/not-me", "not-me-page"),
    ("POST", "/account/not-me/lookup", "not-me-lookup"),
    ("POST", "/account/not-me/confirm", "not-me-confirm"),
    (
        "POST",
        "/admin/users/{userId}/revoke-sessions",
        "admin-revoke-sessions",
    ),
    (
        "POST",
        "/admin/users/{userId}/devices/{id}/revoke-sessions",
        "admin-revoke-sessions",
    ),
];

/// The methods served on `path`, or none when no route has that path. Static
/// segments win over `{id}` (`/devices/trust` is not a device id), as in API Gateway.
pub fn allowed_methods(path: &str) -> Vec<&'static str> {
    let mut methods: Vec<&str> = routes_of(path).iter().map(|(m, _, _)| *m).collect();
    methods.sort_unstable();
    methods.dedup();
    methods
}

/// The function serving `method` on `path`; `route-not-found` for anything else (the
/// name metrics are reported under: docs/operations.md#metrics).
pub fn function_of(method: &str, path: &str) -> &'static str {
    routes_of(path)
        .iter()
        .find(|(m, _, _)| *m == method)
        .map_or("route-not-found", |(_, _, function)| *function)
}

/// The routes whose path template `path` matches, static segments first.
fn routes_of(path: &str) -> Vec<&'static (&'static str, &'static str, &'static str)> {
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    let matches = |template: &str| {
        let pattern: Vec<&str> = template.split('/').collect();
        pattern.len() == segments.len()
            && pattern
                .iter()
                .zip(&segments)
                .all(|(p, s)| p == s || (p.starts_with('{') && !s.is_empty()))
    };
    let exact = |template: &str| !template.contains('{') && matches(template);
    let statics: Vec<_> = ROUTES.iter().filter(|(_, t, _)| exact(t)).collect();
    if statics.is_empty() {
        ROUTES.iter().filter(|(_, t, _)| matches(t)).collect()
    } else {
        statics
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_paths_say_which_methods_they_take() {
        assert_eq!(allowed_methods("/devices"), ["GET"]);
        assert_eq!(allowed_methods("/devices/"), ["GET"]);
        assert_eq!(allowed_methods("/devices/abc"), ["DELETE", "GET", "PATCH"]);
        assert_eq!(allowed_methods("/sessions/current"), ["GET"]);
        assert_eq!(allowed_methods("/admin/users/u1/revoke-sessions"), ["POST"]);
        assert_eq!(
            allowed_methods("/admin/users/u1/devices/d1/revoke-sessions"),
            ["POST"]
        );
        assert_eq!(allowed_methods("/devices/trust"), ["POST"]);
        assert_eq!(allowed_methods("/sessions"), ["GET", "POST"]);
        assert_eq!(allowed_methods("/sessions/revoke-all"), ["POST"]);
        assert_eq!(allowed_methods("/sessions/x/heartbeat"), ["POST"]);
    }

    #[test]
    fn each_request_names_the_function_that_serves_it() {
        assert_eq!(function_of("GET", "/devices"), "list-devices");
        assert_eq!(function_of("POST", "/devices/trust"), "trust-device");
        assert_eq!(function_of("POST", "/devices/d1/untrust"), "untrust-device");
        assert_eq!(
            function_of("POST", "/devices/d1/heartbeat"),
            "session-heartbeat"
        );
        assert_eq!(function_of("POST", "/sessions/s1/revoke"), "revoke-session");
        assert_eq!(function_of("OPTIONS", "/devices"), "route-not-found");
        assert_eq!(function_of("GET", "/nope"), "route-not-found");
    }

    #[test]
    fn unknown_paths_take_nothing() {
        for path in [
            "/",
            "/nope",
            "/devices/a/b",
            "/sessions/x/other",
            "/devices//untrust",
        ] {
            assert!(allowed_methods(path).is_empty(), "{path}");
        }
    }
}
