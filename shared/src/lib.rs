//! The common crate of the device and session service: everything the endpoint
//! binaries share lives here, once.
//!
//! - [`config`]: configuration read and validated once per cold start;
//! - [`auth`]: Bearer parsing, key selection and JWT verification;
//! - [`error`] and [`reply`]: one error type and one envelope (docs/api.md), each
//!   rendered in its own module;
//! - [`cors`]: the answer to browsers' preflights;
//! - [`input`]: the edge — path ids, query flags and JSON bodies parsed into types —
//!   and [`page`]: the lists' `limit` and `cursor`;
//! - [`domain`]: the model and its pure rules (ids, sessions, devices, the account,
//!   security events), free of HTTP and DynamoDB;
//! - [`useragent`]: naming a device from its User-Agent;
//! - [`store`]: the single-table DynamoDB layout, with the session guard folded into
//!   every read and write;
//! - [`views`]: the documented response objects;
//! - [`app`]: the composition root each binary starts and the tests reuse, and the
//!   caller's session guard;
//! - [`cascade`] and [`signin`]: the two use cases that read, decide and write again
//!   when a concurrent write overtakes them (ending sessions; signing in);
//! - [`handoff`]: the devices page's one-time codes, and the sealing of what they hand over;
//! - [`report`]: the codes of "This wasn't me" links, made and checked;
//! - [`runtime`]: the Lambda adapter (cold start, deadline, answer, logging), and
//!   [`metrics`]: one line of CloudWatch embedded metrics per invocation;
//! - [`routes`]: the one route table.

pub mod app;
pub mod auth;
pub mod cascade;
pub mod config;
pub mod cors;
pub mod domain;
pub mod error;
pub mod handoff;
pub mod input;
pub mod metrics;
pub mod page;
pub mod reply;
pub mod report;
pub mod routes;
pub mod runtime;
pub mod signin;
pub mod store;
pub mod useragent;
pub mod views;

pub use app::App;
pub use cascade::{Cascade, Principal};
pub use error::Error;
pub use lambda_http::{Request, RequestExt};
pub use reply::Reply;
pub use runtime::{Deadline, answer, serve};
