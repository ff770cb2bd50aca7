//! Reload on save: `serve` watches the flows and prompts directories and
//! recompiles through [`FlowRegistry::reload`] when something in them changes.
//!
//! Directories are watched, not files: editors save by writing a temporary
//! file and renaming it over the old one (or by moving the old one aside
//! first), so the file a watch would follow is gone after the first save.
//! Events are debounced for [`DEBOUNCE`]: one save is several events (write,
//! rename, chmod) and a `git pull` touches many files, and each burst makes
//! one reload. The flows directory is watched on its own level, as flows are
//! read from there; prompts recursively, for the recordings in
//! `prompts/<lang>/`.
//!
//! A change that compiles is swapped in atomically (new calls get it, calls in
//! progress keep their version). One that does not leaves the last good version
//! serving; the error goes to the log and to `/healthz` as `last_reload_error`.
//! SIGHUP keeps working beside this.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use notify::event::{AccessKind, AccessMode};
use notify::{Event, EventKind, RecommendedWatcher, RecursiveMode, Watcher};

use super::FlowRegistry;

/// How long the directories must stay quiet after a change before the flows are reloaded.
pub const DEBOUNCE: Duration = Duration::from_millis(300);

/// The longest a reload waits for changes to stop (a file written without pause).
const MAX_DELAY: Duration = Duration::from_secs(3);

/// Watches the flows and prompts directories; watching stops when it is dropped.
pub struct FlowWatcher {
    watcher: Option<RecommendedWatcher>,
    stop: Sender<Signal>,
    reloader: Option<JoinHandle<()>>,
}

impl Drop for FlowWatcher {
    fn drop(&mut self) {
        drop(self.watcher.take());
        let _ = self.stop.send(Signal::Stop);
        if let Some(thread) = self.reloader.take() {
            // Waits at most for a reload in progress.
            let _ = thread.join();
        }
    }
}

/// Why the directories cannot be watched.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    /// The operating system refused the watch (no such directory, inotify limits).
    #[error("cannot watch {path} for changes: {source}")]
    Watch {
        /// The directory.
        path: PathBuf,
        /// What the watcher reported.
        #[source]
        source: notify::Error,
    },
    /// The reload thread could not be started.
    #[error("cannot start the reload thread: {0}")]
    Thread(#[source] std::io::Error),
}

enum Signal {
    Changed,
    Stop,
}

/// Reloads `registry` whenever its flows or prompts change on disk, until the returned guard is dropped.
pub fn watch_project(registry: Arc<FlowRegistry>) -> Result<FlowWatcher, WatchError> {
    let flows = registry.flows_dir().to_path_buf();
    let prompts = registry.prompts_dir().to_path_buf();
    let (tx, rx) = channel();
    let changes = tx.clone();
    let handler = move |event: notify::Result<Event>| match event {
        Ok(event) if changes_what_is_served(&event) => {
            let _ = changes.send(Signal::Changed);
        }
        Ok(_) => {}
        Err(e) => tracing::warn!("watching the flows: {e}"),
    };
    let failed = |path: &Path| {
        let path = path.to_path_buf();
        move |source| WatchError::Watch { path, source }
    };
    let mut watcher =
        RecommendedWatcher::new(handler, notify::Config::default()).map_err(failed(&flows))?;
    watcher
        .watch(&flows, RecursiveMode::NonRecursive)
        .map_err(failed(&flows))?;
    watcher
        .watch(&prompts, RecursiveMode::Recursive)
        .map_err(failed(&prompts))?;
    let reloader = std::thread::Builder::new()
        .name("flow-reload".into())
        .spawn(move || reload_on_change(&registry, &rx))
        .map_err(WatchError::Thread)?;
    tracing::info!(
        flows = %flows.display(),
        prompts = %prompts.display(),
        "watching flows and prompts: a saved change is reloaded"
    );
    Ok(FlowWatcher {
        watcher: Some(watcher),
        stop: tx,
        reloader: Some(reloader),
    })
}

/// [`watch_project`] for `serve`: a directory that cannot be watched is logged, and SIGHUP still reloads.
pub fn watch_or_warn(registry: Arc<FlowRegistry>) -> Option<FlowWatcher> {
    watch_project(registry)
        .inspect_err(|e| tracing::warn!("{e}; reload with SIGHUP instead"))
        .ok()
}

/// Waits for a change, then for [`DEBOUNCE`] of quiet, and reloads; until stopped.
fn reload_on_change(registry: &FlowRegistry, rx: &Receiver<Signal>) {
    loop {
        match rx.recv() {
            Ok(Signal::Changed) => {}
            Ok(Signal::Stop) | Err(_) => return,
        }
        let deadline = Instant::now() + MAX_DELAY;
        loop {
            let wait = DEBOUNCE.min(deadline.saturating_duration_since(Instant::now()));
            match rx.recv_timeout(wait) {
                Ok(Signal::Changed) if !wait.is_zero() => continue,
                Ok(Signal::Changed) | Err(RecvTimeoutError::Timeout) => break,
                Ok(Signal::Stop) | Err(RecvTimeoutError::Disconnected) => return,
            }
        }
        reload(registry);
    }
}

/// True unless the event only opened or read a file (compiling and serving
/// recordings do that, and must not trigger a reload) or concerns scratch files.
fn changes_what_is_served(event: &Event) -> bool {
    let only_access = match event.kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => false,
        EventKind::Access(_) => true,
        _ => false,
    };
    !only_access && event.paths.iter().any(|p| !is_scratch(p))
}

fn reload(registry: &FlowRegistry) {
    let before = registry.current().version.clone();
    let was_failing = registry.last_error().is_some();
    // A panic would end the reload thread and with it reloading on save.
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| registry.reload()));
    match result {
        Ok(Ok(set)) if set.version != before => {
            tracing::info!(version = set.version, "flows changed on disk; reloaded")
        }
        Ok(Ok(set)) if was_failing => tracing::info!(
            version = set.version,
            "flows compile again; still serving the same version"
        ),
        Ok(Ok(_)) => tracing::debug!("files changed, the flows did not"),
        Ok(Err(e)) => tracing::error!(
            "reload after a change failed, still serving the last good version: {e}"
        ),
        Err(_) => {
            tracing::error!("reload after a change panicked; still serving the last good version")
        }
    }
}

/// Editors' swap, backup and lock files, and scenario files: none of them changes what is served.
fn is_scratch(path: &Path) -> bool {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return false;
    };
    name.ends_with('~')
        || name.starts_with(".#")
        || (name.starts_with('#') && name.ends_with('#'))
        || [".swp", ".swx", ".swo", "___jb_tmp___", "___jb_old___"]
            .iter()
            .any(|s| name.ends_with(s))
        // vim checks that it may write in a directory with a file named 4913 (or the next free number).
        || (!name.is_empty() && name.bytes().all(|b| b.is_ascii_digit()))
        || name.ends_with(".test.yaml")
        || name.ends_with(".test.yml")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reading_a_file_is_no_change() {
        use notify::event::{CreateKind, ModifyKind, RenameMode};
        let event = |kind, name: &str| Event::new(kind).add_path(PathBuf::from("flows").join(name));
        let open = EventKind::Access(AccessKind::Open(AccessMode::Any));
        let read = EventKind::Access(AccessKind::Close(AccessMode::Read));
        let written = EventKind::Access(AccessKind::Close(AccessMode::Write));
        let renamed = EventKind::Modify(ModifyKind::Name(RenameMode::To));
        assert!(!changes_what_is_served(&event(open, "acme.yaml")));
        assert!(!changes_what_is_served(&event(read, "acme.yaml")));
        assert!(changes_what_is_served(&event(written, "acme.yaml")));
        assert!(changes_what_is_served(&event(renamed, "acme.yaml")));
        assert!(changes_what_is_served(&event(
            EventKind::Create(CreateKind::File),
            "en.yaml"
        )));
        assert!(!changes_what_is_served(&event(written, ".acme.yaml.swp")));
    }

    #[test]
    fn editor_scratch_files_do_not_reload() {
        for name in [
            "acme.yaml~",
            ".acme.yaml.swp",
            ".#acme.yaml",
            "#acme.yaml#",
            "4913",
            "acme.yaml___jb_tmp___",
            "acme.test.yaml",
        ] {
            assert!(
                is_scratch(Path::new("flows").join(name).as_path()),
                "{name}"
            );
        }
        for name in [
            "acme.yaml",
            "en.yaml",
            "goodbye.wav",
            "..data",
            "acme.yaml.tmp",
        ] {
            assert!(
                !is_scratch(Path::new("flows").join(name).as_path()),
                "{name}"
            );
        }
    }
}
