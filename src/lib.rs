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
//! - [`flow`]: the flow language: parsing (`flow::parse`, the only user of
//!   serde_yaml), validation (`flow::compile`), the compiled model, diagnostics,
//!   prompts and recordings, opening hours.

pub mod call;
pub mod cli;
pub mod flow;
pub mod server;
pub mod store;
pub mod tools;
pub mod twiml;

pub use flow::{Compiled, Diagnostic, Flow, FlowSet};
