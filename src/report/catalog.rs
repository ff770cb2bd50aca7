//! The flows the calls of a report were on, by version: what the call log's node ids
//! and keys mean (node kinds, prompts, options leading to a transfer, NPS variables).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use crate::flow::{FlowSet, compile_paths};
use crate::store::Store;

/// Compiled flow sets by version: from the bundle the store keeps under each version,
/// else the flows directory when it compiles to that version. Each version is read and
/// compiled once.
pub struct FlowCatalog {
    store: Arc<dyn Store>,
    prompts_dir: PathBuf,
    current: Option<Arc<FlowSet>>,
    by_version: HashMap<String, Option<Arc<FlowSet>>>,
    warnings: Vec<String>,
}

impl FlowCatalog {
    /// A catalog over `store`; `flows_dir` (when it compiles) stands in for versions the
    /// store does not keep, and is the newest set when the store keeps none.
    pub fn new(store: Arc<dyn Store>, flows_dir: PathBuf, prompts_dir: PathBuf) -> FlowCatalog {
        let current = match compile_paths(std::slice::from_ref(&flows_dir), &prompts_dir) {
            Ok(compiled) => compiled.flows.map(Arc::new),
            Err(_) => None,
        };
        FlowCatalog {
            store,
            prompts_dir,
            current,
            by_version: HashMap::new(),
            warnings: Vec::new(),
        }
    }

    /// The flows directory's set, when it compiled.
    pub fn current(&self) -> Option<&Arc<FlowSet>> {
        self.current.as_ref()
    }

    /// The set of `version`, or `None` when neither the store nor the flows directory
    /// has it (a version from before versions were kept); the reason is kept in
    /// [`FlowCatalog::warnings`].
    pub async fn version(&mut self, version: &str) -> Option<Arc<FlowSet>> {
        if let Some(found) = self.by_version.get(version) {
            return found.clone();
        }
        let found = self.load(version).await;
        self.by_version.insert(version.to_owned(), found.clone());
        found
    }

    async fn load(&mut self, version: &str) -> Option<Arc<FlowSet>> {
        if let Some(current) = self.current.as_ref().filter(|c| c.version == version) {
            return Some(current.clone());
        }
        match self.store.flow_version(version).await {
            Ok(Some(bundle)) => {
                let prompts_dir = self.prompts_dir.clone();
                let wanted = version.to_owned();
                let compiled = tokio::task::spawn_blocking(move || {
                    crate::flow::sources::compile_bundle(&bundle, &prompts_dir, &wanted)
                })
                .await;
                match compiled {
                    Ok(Ok(set)) => Some(Arc::new(set)),
                    Ok(Err(e)) => {
                        self.warnings
                            .push(format!("flow version {version} does not compile: {e}"));
                        None
                    }
                    Err(e) => {
                        self.warnings
                            .push(format!("compiling flow version {version} failed: {e}"));
                        None
                    }
                }
            }
            Ok(None) => {
                self.warnings.push(format!(
                    "flow version {version} is not kept in the store: its calls are counted, \
                     but node kinds and options are unknown"
                ));
                None
            }
            Err(e) => {
                self.warnings
                    .push(format!("reading flow version {version}: {e}"));
                None
            }
        }
    }

    /// The set of `version` if [`FlowCatalog::version`] has already read it (the flows
    /// directory's set counts as read).
    pub fn loaded(&self, version: &str) -> Option<Arc<FlowSet>> {
        match self.by_version.get(version) {
            Some(found) => found.clone(),
            None => self.current.clone().filter(|c| c.version == version),
        }
    }

    /// Versions that could not be had, and why.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }
}
