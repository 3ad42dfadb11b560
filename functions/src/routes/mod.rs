//! The API's routes, one module each, named after the function that serves it
//! (`shared::routes::ROUTES` is the table of them).

pub mod admin_revoke_sessions;
/// The devices page's one-time hand-off codes: made by the app, redeemed by the page.
pub mod create_page_code;
pub mod delete_device;
/// The "Your devices" page, served on the API's origin (HTML, no DynamoDB).
pub mod devices_page;
pub mod get_current_session;
pub mod get_device;
pub mod list_devices;
pub mod list_security_events;
pub mod list_sessions;
/// The "This wasn't me" page of new-device sign-in mails, and the two calls it makes.
pub mod not_me_confirm;
pub mod not_me_lookup;
pub mod not_me_page;
pub mod redeem_page_code;
pub mod register_session;
pub mod rename_device;
pub mod revoke_all_sessions;
pub mod revoke_session;
pub mod route_not_found;
pub mod session_heartbeat;
pub mod trust_device;
pub mod untrust_device;
