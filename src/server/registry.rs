//! The compiled flows being served, swapped atomically on reload.
//!
//! A call stays on the version it started with, so recent versions are kept
//! until no call can still need them.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};

use crate::flow::{Compiled, FlowSet, ProjectError, compile_paths};

/// How many earlier versions stay loaded for calls that started on them.
const KEPT_VERSIONS: usize = 8;

/// Why a (re)load did not produce a servable flow set.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// A directory could not be read.
    #[error(transparent)]
    Project(#[from] ProjectError),
    /// The flows have errors; the rendered diagnostics follow.
    #[error("{count} error(s) in flows:\n{rendered}")]
    Invalid {
        /// Number of errors.
        count: usize,
        /// Every diagnostic, rendered.
        rendered: String,
    },
}

/// Where the flows come from and which versions are loaded.
pub struct FlowRegistry {
    flows_dir: PathBuf,
    prompts_dir: PathBuf,
    // A std lock: it is held only to clone an `Arc`, never across `.await`.
    versions: RwLock<VecDeque<Arc<FlowSet>>>,
    last_error: RwLock<Option<String>>,
    // One reload at a time (SIGHUP and a save may coincide): otherwise a compile
    // of older files could finish last and push the older version in front.
    reloading: Mutex<()>,
}

impl FlowRegistry {
    /// Compiles the flows; fails when they do not compile.
    pub fn load(flows_dir: PathBuf, prompts_dir: PathBuf) -> Result<FlowRegistry, LoadError> {
        let set = compile(&flows_dir, &prompts_dir)?;
        Ok(FlowRegistry::with_set(flows_dir, prompts_dir, set))
    }

    /// A registry serving an already compiled set.
    pub fn with_set(flows_dir: PathBuf, prompts_dir: PathBuf, set: FlowSet) -> FlowRegistry {
        FlowRegistry {
            flows_dir,
            prompts_dir,
            versions: RwLock::new(VecDeque::from([Arc::new(set)])),
            last_error: RwLock::new(None),
            reloading: Mutex::new(()),
        }
    }

    /// The version new calls start on.
    pub fn current(&self) -> Arc<FlowSet> {
        let versions = self.versions.read().unwrap_or_else(|e| e.into_inner());
        // The deque is never empty: it starts with one set and only grows or drops from the back.
        versions
            .front()
            .cloned()
            .unwrap_or_else(|| Arc::new(empty_set()))
    }

    /// A loaded version, if still kept.
    pub fn version(&self, version: &str) -> Option<Arc<FlowSet>> {
        let versions = self.versions.read().unwrap_or_else(|e| e.into_inner());
        versions.iter().find(|s| s.version == version).cloned()
    }

    /// Compiles again; on success new calls use the new version, on failure the last good one keeps serving.
    pub fn reload(&self) -> Result<Arc<FlowSet>, LoadError> {
        let _one_at_a_time = self.reloading.lock().unwrap_or_else(|e| e.into_inner());
        match compile(&self.flows_dir, &self.prompts_dir) {
            Ok(set) => {
                let set = Arc::new(set);
                let mut versions = self.versions.write().unwrap_or_else(|e| e.into_inner());
                if versions.front().map(|s| s.version.as_str()) != Some(set.version.as_str()) {
                    versions.push_front(set.clone());
                    versions.truncate(KEPT_VERSIONS);
                }
                *self.last_error.write().unwrap_or_else(|e| e.into_inner()) = None;
                Ok(set)
            }
            Err(e) => {
                *self.last_error.write().unwrap_or_else(|e| e.into_inner()) = Some(e.to_string());
                Err(e)
            }
        }
    }

    /// Why the last reload failed, if it did.
    pub fn last_error(&self) -> Option<String> {
        self.last_error
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The directory the flows are compiled from.
    pub fn flows_dir(&self) -> &std::path::Path {
        &self.flows_dir
    }

    /// The prompts directory recordings are served from.
    pub fn prompts_dir(&self) -> &std::path::Path {
        &self.prompts_dir
    }
}

fn compile(
    flows_dir: &std::path::Path,
    prompts_dir: &std::path::Path,
) -> Result<FlowSet, LoadError> {
    let Compiled { flows, diagnostics } = compile_paths(&[flows_dir.to_path_buf()], prompts_dir)?;
    match flows {
        Some(set) => {
            for d in diagnostics.iter().filter(|d| !d.is_error()) {
                tracing::warn!("{d}");
            }
            Ok(set)
        }
        None => {
            let count = diagnostics.iter().filter(|d| d.is_error()).count();
            let rendered = diagnostics
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join("\n");
            Err(LoadError::Invalid { count, rendered })
        }
    }
}

fn empty_set() -> FlowSet {
    FlowSet {
        version: String::new(),
        flows: Default::default(),
        numbers: Default::default(),
        default_flow: None,
        prompts_dir: PathBuf::new(),
        sources: Default::default(),
    }
}
