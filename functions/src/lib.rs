//! What runs where: `routes/` holds the API's routes, one module each; beside them,
//! the two functions that are not routes. `src/bin/<name>.rs` runs one of them as its
//! own Lambda function. Every route reads top to bottom: parse input → authenticate →
//! one use case or store call → the documented response (docs/api.md).

pub mod routes;

/// Not a route: the Lambda authorizer other APIs attach (docs/authorizer.md).
pub mod authorize;
/// Not a route: the table stream's consumer, publishing security events to
/// EventBridge (docs/security-events.md).
pub mod publish_events;
