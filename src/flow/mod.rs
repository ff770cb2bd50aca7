//! The flow language: YAML files under `flows/` and `prompts/` compiled into a
//! checked, immutable [`FlowSet`].
//!
//! `yaml` is the only place that parses YAML (into a tree that keeps positions),
//! `raw` mirrors the YAML, `parse` reads raw types from the tree, `compile` validates raw flows into the `model` types, `diagnostic` renders
//! what is wrong with file, line, column and a hint. `voices` is Twilio's table of voices by
//! locale, `numbers` composes numbers from recorded fragments by each language's rules.

pub mod compile;
pub mod diagnostic;
pub mod duration;
pub mod graph_check;
pub mod hours;
pub mod model;
pub mod numbers;
pub mod parse;
pub mod prompts;
pub mod raw;
pub mod recording;
pub mod sources;
pub mod template;
pub mod voices;
pub mod yaml;

pub use compile::{
    Compiled, FlowsAsFar, ProjectError, check_paths, compile_flow_sources, compile_paths,
    compile_sources, flow_files,
};
pub use diagnostic::{Code, Diagnostic, Severity};
pub use model::*;
pub use sources::{BundleError, FlowSources};

/// JSON Schema of a flow file, generated from the same types the parser uses.
pub fn json_schema() -> serde_json::Value {
    let schema = schemars::schema_for!(raw::RawFlowFile);
    serde_json::to_value(schema).unwrap_or_default()
}

/// JSON Schema of a scenario file (`flows/<flow>.test.yaml`): a list of scenarios.
pub fn scenario_json_schema() -> serde_json::Value {
    let schema = schemars::schema_for!(raw::RawScenarioFile);
    serde_json::to_value(schema).unwrap_or_default()
}

/// JSON Schema of a prompt catalog (`prompts/<lang>.yaml`): prompt ids to texts or sequences.
pub fn catalog_json_schema() -> serde_json::Value {
    let schema = schemars::schema_for!(raw::RawCatalogFile);
    serde_json::to_value(schema).unwrap_or_default()
}
