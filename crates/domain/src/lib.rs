#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

pub mod asset;
pub mod asset_csv;
pub mod audit;
pub mod blob;
pub mod error;
pub mod id;
pub mod identity;
pub mod images;
pub mod instance;
pub mod model;
pub mod page;
pub mod photo;
pub mod policy;
pub mod ports;
pub mod queue;
pub mod report;
pub mod secret;
pub mod service;
pub mod share;
pub mod signin;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod text;
pub mod ticket;

pub use error::Error;
pub use service::{AuthorizationReply, Ctx, Lifetimes, Limits, SessionStart, SignInRedirect, Workvault};
