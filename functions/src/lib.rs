//! The endpoints, one module each; `src/bin/<name>.rs` runs one as its own Lambda
//! function. Every handler reads top to bottom: parse input → authenticate →
//! one store call → the documented response.

pub mod admin_revoke_sessions;
/// Not a route: the Lambda authorizer other APIs attach (their callers' sessions).
pub mod authorize;
pub mod delete_device;
/// The "Your devices" page, served on the API's origin (HTML, no DynamoDB).
pub mod devices_page;
pub mod get_current_session;
pub mod get_device;
pub mod list_devices;
pub mod list_security_events;
pub mod list_sessions;
/// Not a route: the table stream's consumer, publishing security events to EventBridge.
pub mod publish_events;
pub mod register_session;
pub mod rename_device;
pub mod revoke_all_sessions;
pub mod revoke_session;
pub mod route_not_found;
pub mod session_heartbeat;
pub mod trust_device;
pub mod untrust_device;
