//! API Gateway's `$default` route: every request no route matched. A browser's CORS
//! preflight is 204 with the API's CORS policy, on any path (see `shared::cors`); a
//! known path with another method is 405 with `Allow`; anything else 404 — in the
//! envelope, like every other answer. No token is needed to learn that a route does
//! not exist.

use shared::routes::allowed_methods;
use shared::{Error, Reply, Request, RequestExt, cors};

pub const FAILURE: &str = "Failed to route request";

pub async fn handle(app: &shared::App, request: Request) -> Result<Reply, Error> {
    if cors::is_preflight(&request) {
        let headers = cors::preflight_headers(&request, &app.config.cors_origins);
        return Ok(Reply::no_content(headers));
    }
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
