//! Endpoint tests: every route against DynamoDB Local through the real
//! SDK, one module per concern. Each test signs in its own user, so they all run in
//! parallel against one table.

mod auth;
mod authorizer;
mod binding;
mod bounded;
mod conflicts;
mod control;
mod devices;
mod devices_bounded;
mod events;
mod faults;
mod front;
mod handoff;
mod interleavings;
mod limits;
mod published_keys;
mod races;
mod registration;
mod report;
mod routing;
mod sessions;
mod stream;
mod support;
mod swept;
