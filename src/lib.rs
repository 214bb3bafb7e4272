//! Expanse: MongoDB Atlas App Services rule expressions, collection rules, custom user data and
//! functions, reproduced on your own MongoDB.
//!
//! The crate is layered one way: [`json`] reads located JSON and Extended JSON, [`query`] holds
//! MongoDB's matching semantics, and [`expr`] compiles App Services rule expressions into an
//! AST that evaluates (and explains itself) against a [`expr::Bindings`].

pub mod diagnostic;
pub mod expr;
mod grammar;
mod header_name;
mod hex;
pub mod json;
mod location;
pub mod query;
pub mod suggest;

pub use app::{App, LoadError, Loaded, NoMatchingRule};
pub use diagnostic::Diagnostic;
pub use location::Location;
pub use user::{User, UserType};
pub mod app;
pub mod auth;
pub mod check;
pub mod cli;
pub mod fixture;
pub mod functions;
pub mod fuzzing;
pub mod guard;
pub mod limits;
pub mod operation;
pub mod rules;
pub mod server;
pub mod store;
pub mod triggers;
pub mod update;
mod user;
pub mod users;
