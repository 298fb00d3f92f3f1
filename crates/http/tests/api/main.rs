//! HTTP tests through the production app factory (`workvault_http::app`), on the real
//! SQLite store: routing, extractors, serialisation, authorization and problem bodies.

mod assets;
mod authz;
mod flows;
mod harness;
mod openapi;
mod photos;
mod problems;
mod reports;
mod security;
mod share;
mod tickets;
