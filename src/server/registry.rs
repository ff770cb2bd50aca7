//! The compiled flows being served, swapped atomically on reload.
//!
//! A call stays on the version it started with. Given a store
//! ([`FlowRegistry::with_store`]), every version compiled here is kept there
//! (its [`crate::flow::FlowSources`] bundle) before new calls start on it, and a
//! version this process does not have in memory, from before a restart or from
//! another server, is compiled again from the store
//! ([`FlowRegistry::version_or_load`]). Memory holds recent versions only, as a
//! cache.

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use crate::flow::{Compiled, FlowSet, ProjectError, compile_paths};
use crate::store::Store;

/// How many versions compiled here stay in memory for calls that started on them.
const KEPT_VERSIONS: usize = 8;

/// How many versions loaded from the store stay in memory.
const KEPT_LOADED: usize = 16;

/// How long keeping a new version in the store may hold up serving it.
const KEEP_WAIT: Duration = Duration::from_secs(5);

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

/// The store versions are kept in, and the runtime that talks to it.
struct KeptIn {
    store: Arc<dyn Store>,
    // Reloads run on plain threads; the store's futures run here.
    runtime: tokio::runtime::Handle,
}

/// One load from the store that concurrent requests for the same version share.
type Loading = Arc<tokio::sync::OnceCell<Option<Arc<FlowSet>>>>;

/// Where the flows come from and which versions are loaded.
pub struct FlowRegistry {
    flows_dir: PathBuf,
    prompts_dir: PathBuf,
    // Std locks: they are held only to clone an `Arc`, never across `.await`.
    /// Versions compiled here, newest (the one new calls start on) first.
    versions: RwLock<VecDeque<Arc<FlowSet>>>,
    /// Versions compiled from the store, most recently loaded first.
    loaded: RwLock<VecDeque<Arc<FlowSet>>>,
    last_error: RwLock<Option<String>>,
    // One reload at a time (SIGHUP and a save may coincide): otherwise a compile
    // of older files could finish last and push the older version in front.
    reloading: Mutex<()>,
    kept_in: Option<KeptIn>,
    loading: Mutex<HashMap<String, Loading>>,
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
            loaded: RwLock::new(VecDeque::new()),
            last_error: RwLock::new(None),
            reloading: Mutex::new(()),
            kept_in: None,
            loading: Mutex::new(HashMap::new()),
        }
    }

    /// Keeps every version compiled from now on in `store`, starting with the current one
    /// (awaited here, so that it is kept before any call starts on it), and loads versions
    /// this process does not have from it. A store that fails is logged; serving goes on.
    ///
    /// Call it inside the runtime that serves: reloads use it to reach the store.
    pub async fn with_store(mut self, store: Arc<dyn Store>) -> FlowRegistry {
        let current = self.current();
        let stored = tokio::time::timeout(KEEP_WAIT, keep(store.clone(), &current)).await;
        if stored.is_err() {
            tracing::warn!(
                version = current.version,
                "keeping the flow version in the store is taking long; serving meanwhile"
            );
        }
        self.kept_in = Some(KeptIn {
            store,
            runtime: tokio::runtime::Handle::current(),
        });
        self
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

    /// A version in memory, if still there.
    pub fn version(&self, version: &str) -> Option<Arc<FlowSet>> {
        let find = |sets: &RwLock<VecDeque<Arc<FlowSet>>>| {
            let sets = sets.read().unwrap_or_else(|e| e.into_inner());
            sets.iter().find(|s| s.version == version).cloned()
        };
        find(&self.versions).or_else(|| find(&self.loaded))
    }

    /// A version from memory, else compiled from the bundle kept in the store (then kept in
    /// memory). `None` when neither has it (a version from before versions were kept, a
    /// pruned one, no store) or the store fails (logged). Concurrent requests for the same
    /// missing version share one load.
    pub async fn version_or_load(&self, version: &str) -> Option<Arc<FlowSet>> {
        if let Some(set) = self.version(version) {
            return Some(set);
        }
        let kept_in = self.kept_in.as_ref()?;
        let loading: Loading = {
            let mut loading = self.loading.lock().unwrap_or_else(|e| e.into_inner());
            loading.entry(version.to_owned()).or_default().clone()
        };
        let set = loading
            .get_or_init(|| self.load_stored(kept_in.store.clone(), version))
            .await
            .clone();
        // Later requests find the set in memory, or (when it was not found) try again.
        let mut pending = self.loading.lock().unwrap_or_else(|e| e.into_inner());
        if pending
            .get(version)
            .is_some_and(|l| Arc::ptr_eq(l, &loading))
        {
            pending.remove(version);
        }
        set
    }

    /// Reads a version's bundle from the store and compiles it on a blocking thread.
    async fn load_stored(&self, store: Arc<dyn Store>, version: &str) -> Option<Arc<FlowSet>> {
        let started = Instant::now();
        let bundle = match store.flow_version(version).await {
            Ok(Some(bundle)) => bundle,
            Ok(None) => {
                tracing::warn!(version, "flow version is neither loaded nor in the store");
                return None;
            }
            Err(e) => {
                tracing::error!(version, error = %e, "reading a flow version from the store failed");
                return None;
            }
        };
        let (prompts_dir, wanted) = (self.prompts_dir.clone(), version.to_owned());
        let compiled = tokio::task::spawn_blocking(move || {
            crate::flow::sources::compile_bundle(&bundle, &prompts_dir, &wanted)
        })
        .await;
        let set = match compiled {
            Ok(Ok(set)) => Arc::new(set),
            Ok(Err(e)) => {
                tracing::error!(version, "the stored flow version does not compile: {e}");
                return None;
            }
            Err(e) => {
                tracing::error!(version, "compiling a stored flow version failed: {e}");
                return None;
            }
        };
        tracing::info!(
            version,
            millis = started.elapsed().as_millis() as u64,
            "flow version loaded from the store"
        );
        let mut loaded = self.loaded.write().unwrap_or_else(|e| e.into_inner());
        loaded.push_front(set.clone());
        loaded.truncate(KEPT_LOADED);
        Some(set)
    }

    /// Keeps a newly compiled version in the store before it is served, waiting at most
    /// [`KEEP_WAIT`]; the outcome is logged by [`keep`].
    fn keep_before_serving(&self, set: &Arc<FlowSet>) {
        let Some(kept_in) = &self.kept_in else {
            return;
        };
        let (done, wait) = std::sync::mpsc::channel();
        let (store, set) = (kept_in.store.clone(), set.clone());
        kept_in.runtime.spawn(async move {
            keep(store, &set).await;
            let _ = done.send(());
        });
        // A thread driving a current-thread runtime would wait for itself: the version
        // is kept once it yields.
        let may_wait = tokio::runtime::Handle::try_current().map_or(true, |h| {
            h.runtime_flavor() != tokio::runtime::RuntimeFlavor::CurrentThread
        });
        if may_wait && wait.recv_timeout(KEEP_WAIT).is_err() {
            tracing::warn!(
                "keeping the flow version in the store is taking long; serving meanwhile"
            );
        }
    }

    /// Compiles again; on success new calls use the new version, on failure the last good one keeps serving.
    pub fn reload(&self) -> Result<Arc<FlowSet>, LoadError> {
        let _one_at_a_time = self.reloading.lock().unwrap_or_else(|e| e.into_inner());
        match compile(&self.flows_dir, &self.prompts_dir) {
            Ok(set) => {
                let set = Arc::new(set);
                if self.current().version != set.version {
                    // Before any call starts on it, so another server can load it.
                    self.keep_before_serving(&set);
                    let mut versions = self.versions.write().unwrap_or_else(|e| e.into_inner());
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

/// Puts a version's bundle in the store; a failure is logged, never returned: serving
/// does not depend on it.
async fn keep(store: Arc<dyn Store>, set: &FlowSet) {
    let bundle = set.sources.to_bundle();
    match store
        .put_flow_version(&set.version, &bundle, chrono::Utc::now())
        .await
    {
        Ok(()) => tracing::info!(
            version = set.version,
            bytes = bundle.len(),
            "flow version kept in the store"
        ),
        Err(e) => tracing::error!(
            version = set.version,
            error = %e,
            "keeping the flow version in the store failed; other servers cannot load it"
        ),
    }
}

/// A flow set with no flows.
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sqlite::SqliteStore;

    /// The shipped flows and prompts, copied so that a test can edit them.
    fn project() -> (tempfile::TempDir, PathBuf, PathBuf) {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let dir = tempfile::tempdir().unwrap();
        let (flows, prompts) = (dir.path().join("flows"), dir.path().join("prompts"));
        fn copy(from: &std::path::Path, to: &std::path::Path) {
            std::fs::create_dir_all(to).unwrap();
            for entry in std::fs::read_dir(from).unwrap() {
                let path = entry.unwrap().path();
                let target = to.join(path.file_name().unwrap());
                if path.is_dir() {
                    copy(&path, &target);
                } else {
                    std::fs::copy(&path, target).unwrap();
                }
            }
        }
        copy(&root.join("flows"), &flows);
        copy(&root.join("prompts"), &prompts);
        (dir, flows, prompts)
    }

    fn edit(file: &std::path::Path, from: &str, to: &str) {
        let text = std::fs::read_to_string(file).unwrap();
        assert!(text.contains(from));
        std::fs::write(file, text.replacen(from, to, 1)).unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_version_compiled_elsewhere_is_loaded_once_from_the_store() {
        let (_dir, flows, prompts) = project();
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open_in_memory().unwrap());
        let first = FlowRegistry::load(flows.clone(), prompts.clone())
            .unwrap()
            .with_store(store.clone())
            .await;
        let old = first.current();
        edit(&prompts.join("en.yaml"), "press 1.", "press one.");
        // A reload keeps the new version too, before serving it.
        let newer = tokio::task::block_in_place(|| first.reload()).unwrap();
        assert_ne!(newer.version, old.version);
        assert!(store.flow_version(&newer.version).await.unwrap().is_some());
        edit(&prompts.join("en.yaml"), "press one.", "press uno.");

        // Another server, started on later files, has never compiled either version.
        let second = FlowRegistry::load(flows, prompts)
            .unwrap()
            .with_store(store.clone())
            .await;
        assert!(second.version(&old.version).is_none());
        let loads: Vec<_> = (0..8)
            .map(|_| second.version_or_load(&old.version))
            .collect();
        let sets = futures_util::future::join_all(loads).await;
        let set = sets[0].clone().expect("loaded from the store");
        assert_eq!(set.version, old.version);
        assert_eq!(set.sources, old.sources);
        assert!(
            sets.iter()
                .all(|s| s.as_ref().is_some_and(|s| Arc::ptr_eq(s, &set))),
            "concurrent requests share one compile"
        );
        assert_eq!(second.loaded.read().unwrap().len(), 1);
        // From memory now, and the newest stays what new calls get.
        assert!(Arc::ptr_eq(&second.version(&old.version).unwrap(), &set));
        assert_ne!(second.current().version, old.version);
        assert!(second.version_or_load(&newer.version).await.is_some());
        assert!(second.version_or_load("000000000000").await.is_none());
    }

    #[tokio::test]
    async fn without_a_store_only_memory_answers() {
        let (_dir, flows, prompts) = project();
        let registry = FlowRegistry::load(flows, prompts).unwrap();
        let current = registry.current();
        assert!(registry.version_or_load(&current.version).await.is_some());
        assert!(registry.version_or_load("000000000000").await.is_none());
    }
}
