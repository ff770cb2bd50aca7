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
//! - [`server`]: the webhook server: a hyper listener with header and body
//!   timeouts and a shutdown deadline; the request extractor (form, signature,
//!   CallSid); the handlers; settling a webhook (its time budget, conflicts, a
//!   failing store); the flow registry (versions kept in the store, reload on save
//!   and SIGHUP); session expiry.
//! - [`report`]: analytics over the call log in one streamed pass (`phonetree
//!   report`): text, JSON, and a self-contained HTML page that lays out the flow's
//!   diagram (from [`tools`]) with its traffic.
//! - [`tools`]: `simulate`, scenario tests and diagrams; they drive [`call`]
//!   in process, without HTTP.
//! - [`store`]: the [`store::Store`] trait for sessions, the call log and flow
//!   versions, with the schema's migrations; SQLite (one writer thread, group
//!   commit) and PostgreSQL (several servers on one database). The store orders
//!   each call's webhooks.
//! - [`lookup`]: the HTTP client for lookup nodes, bounded by timeouts.
//! - [`twiml`]: provider-neutral verbs to TwiML; the only module that knows TwiML.
//! - [`call`]: the pure state machine, `step(flows, session, event, now)`: no I/O,
//!   no clock, no tokio.
//! - [`flow`]: the flow language: parsing (`flow::parse`, the only user of
//!   granit-parser), validation (`flow::compile`), the compiled model, diagnostics,
//!   prompts and recordings, Twilio's voices by locale (`flow::voices`), numbers
//!   composed from recorded fragments (`flow::numbers`), opening hours.
//!
//! # Example
//!
//! Compile a flow and take a call through it, without HTTP:
//!
//! ```
//! use phonetree::call::{At, CallEvent, Verb, start_call, step};
//! use phonetree::flow::{compile_sources, parse::SourceFile};
//!
//! let prompts = tempfile::tempdir()?;
//! std::fs::write(prompts.path().join("en.yaml"), "hello: \"For sales press 1.\"\n")?;
//! let yaml = r#"
//! languages: [en]
//! start: main
//! nodes:
//!   main:
//!     menu: { prompt: hello, options: { "1": sales } }
//!   sales:
//!     transfer: { to: "+14155550100" }
//! "#;
//! let compiled = compile_sources(vec![SourceFile::new("flows/demo.yaml", yaml)], prompts.path());
//! let flows = compiled.flows.expect("compiles");
//! let flow = flows.get("demo").expect("demo").clone();
//! let now = "2026-11-24T15:00:00Z".parse()?;
//!
//! let first = start_call(&flows, &flow, "CA1", "+15551230000", "+14155550199", now);
//! assert!(matches!(first.verbs[0], Verb::Gather { .. }));
//! let main = At { node: flow.node_by_name("main").expect("main"), attempt: 1, visit: first.session.visit() };
//! let next = step(&flows, &first.session, &CallEvent::Digits { at: main, digits: "1".into() }, now);
//! assert!(matches!(next.verbs[0], Verb::Dial { .. }));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod call;
pub mod cli;
pub mod flow;
pub mod lookup;
pub mod report;
pub mod server;
pub mod store;
pub mod tools;
pub mod twiml;

pub use flow::{Compiled, Diagnostic, Flow, FlowSet};
