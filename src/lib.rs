//! phonetree: an IVR (phone menu) engine.
//!
//! Admins describe call flows in YAML; phonetree compiles them into a checked
//! state machine, answers a telephony provider's voice webhooks with TwiML and
//! records every caller's path.
//!
//! # Layout
//!
//! Dependencies point down this list, never up.
//!
//! - [`cli`]: the `phonetree` command line (clap); `main.rs` only calls it.
//! - [`server`]: axum routes for Twilio, the signature check, the flow registry
//!   (versions, reload), graceful shutdown.
//! - [`tools`]: `simulate`, scenario tests and diagrams; they drive [`call`]
//!   in process, without HTTP.
//! - [`store`]: the [`store::Store`] trait for sessions and the call log; SQLite
//!   with one writer thread and group commit.
//! - [`lookup`]: the HTTP client for lookup nodes, bounded by timeouts.
//! - [`twiml`]: provider-neutral verbs to TwiML; the only module that knows TwiML.
//! - [`call`]: the pure state machine, `step(flows, session, event, now)`: no I/O,
//!   no clock, no tokio.
//! - [`flow`]: the flow language: parsing (`flow::parse`, the only user of
//!   serde_yaml), validation (`flow::compile`), the compiled model, diagnostics,
//!   prompts and recordings, opening hours.

pub mod call;
pub mod cli;
pub mod flow;
pub mod lookup;
pub mod server;
pub mod store;
pub mod tools;
pub mod twiml;

pub use flow::{Compiled, Diagnostic, Flow, FlowSet};
