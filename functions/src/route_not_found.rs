//! API Gateway's `$default` route: every request no route matched. A known path with
//! another method is 405 with `Allow`; anything else 404 — in the envelope, like every
//! other answer. No token is needed to learn that a route does not exist.

use shared::routes::allowed_methods;
use shared::{Error, Reply, Request, RequestExt};

pub const FAILURE: &str = "Failed to route request";

pub async fn handle(_app: &shared::App, request: Request) -> Result<Reply, Error> {
    // The route path without the stage prefix, as the routes are written.
    let context_path = request.raw_http_path();
    let path = if context_path.is_empty() {
        request.uri().path()
    } else {
        context_path
    };
    let allowed = allowed_methods(path);
    if allowed.is_empty() {
        Err(Error::RouteNotFound)
    } else {
        Err(Error::MethodNotAllowed {
            allow: allowed.join(", "),
        })
    }
}
