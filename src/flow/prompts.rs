//! The `prompts/` directory: text catalogs per language and WAV recordings.
//!
//! The directory is listed once per compile, each catalog parsed once and each
//! recording read and inspected once, so a flow of thousands of nodes compiles
//! without touching the disk per prompt. What was read is what the version hashes
//! and what [`PromptLibrary::into_sources`] hands over to be kept; a library can
//! also be made from such kept files ([`PromptLibrary::from_memory`]).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use indexmap::IndexMap;
use sha2::{Digest, Sha256};

use crate::flow::diagnostic::{Code, Diagnostic, Location, did_you_mean};
use crate::flow::duration::{format_duration, parse_duration};
use crate::flow::model::Template;
use crate::flow::parse::{SourceFile, parse_catalog, read_source};
use crate::flow::raw::{RawCatalog, RawCatalogEntry, RawCatalogItem};
use crate::flow::recording::{RecordingError, inspect_recording_bytes};
use crate::flow::template::parse_template;

/// Recordings longer than this draw a warning: callers stop listening.
pub const LONG_PROMPT: Duration = Duration::from_secs(30);

/// Recordings larger than this are refused: each is read whole, hashed and kept with
/// its version (an hour of 8 kHz 16-bit mono is 58 MB).
pub const MAX_RECORDING_BYTES: u64 = 64 * 1024 * 1024;

/// The prompt id a flow plays before `on_fail` after an internal fault, unless its
/// `defaults.apology` says otherwise.
pub const FAULT_APOLOGY: &str = "fault_apology";

/// The built-in text of a prompt id in a shipped language, used when the catalog has none:
/// only [`FAULT_APOLOGY`] has them, in en, es, fa and ko.
pub fn builtin_text(id: &str, lang: &str) -> Option<&'static str> {
    if id != FAULT_APOLOGY {
        return None;
    }
    // By the language alone: `en-GB` and `EN` are English.
    let base = lang
        .split(['-', '_'])
        .next()
        .unwrap_or(lang)
        .to_ascii_lowercase();
    match base.as_str() {
        "en" => Some("Sorry, something went wrong."),
        "es" => Some("Lo sentimos, algo salió mal."),
        "fa" => Some("متأسفیم، مشکلی پیش آمد."),
        "ko" => Some("죄송합니다. 문제가 발생했습니다."),
        _ => None,
    }
}

/// What [`PromptLibrary::recording`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordingState {
    /// No such file.
    Missing,
    /// A telephony-ready recording of this duration.
    Ready(Duration),
    /// A file that cannot be played (already reported).
    Unfit,
}

/// One part of a catalog entry, compiled.
#[derive(Debug, Clone, PartialEq)]
pub enum CatalogPart {
    /// Text to speak, or a value to read.
    Text(Template),
    /// A recording.
    Play {
        /// Path relative to `prompts/`.
        file: String,
        /// Its duration.
        duration: Duration,
    },
    /// Silence.
    Pause(Duration),
}

/// A catalog entry compiled once and shared by every prompt that plays it; `Err` when it
/// is broken (already reported).
pub type CompiledEntry = Result<Arc<[CatalogPart]>, ()>;

/// A parsed catalog, or the fact that it failed to parse (already reported).
enum CatalogState {
    Parsed(Box<SourceFile>, RawCatalog),
    Broken,
    Missing,
}

/// Where a library's files come from.
enum Origin {
    /// The directory itself.
    Disk,
    /// Files kept with a flow set version, each taken out as it is first read.
    Memory {
        catalogs: HashMap<String, String>,
        recordings: HashMap<String, Vec<u8>>,
    },
}

/// Lazily loaded catalogs and recordings of one `prompts/` directory.
pub struct PromptLibrary {
    dir: PathBuf,
    origin: Origin,
    files: HashSet<String>,
    catalogs: HashMap<String, CatalogState>,
    texts: HashMap<(String, String), CompiledEntry>,
    recordings: HashMap<String, Option<Duration>>,
    /// The bytes of every recording read, as inspected and hashed.
    recording_bytes: BTreeMap<String, Vec<u8>>,
    diagnostics: Vec<Diagnostic>,
}

impl PromptLibrary {
    /// Lists `dir` (recursively) once.
    pub fn new(dir: &Path) -> PromptLibrary {
        let mut files = HashSet::new();
        list_files(dir, "", &mut files, 0);
        PromptLibrary::with_files(dir, Origin::Disk, files)
    }

    /// A library of kept files (catalog text by language, recordings by relative path)
    /// instead of a directory; `dir` only names them in diagnostics.
    pub fn from_memory(
        dir: &Path,
        catalogs: BTreeMap<String, String>,
        recordings: BTreeMap<String, Vec<u8>>,
    ) -> PromptLibrary {
        let files = catalogs
            .keys()
            .map(|lang| format!("{lang}.yaml"))
            .chain(recordings.keys().cloned())
            .collect();
        let origin = Origin::Memory {
            catalogs: catalogs.into_iter().collect(),
            recordings: recordings.into_iter().collect(),
        };
        PromptLibrary::with_files(dir, origin, files)
    }

    fn with_files(dir: &Path, origin: Origin, files: HashSet<String>) -> PromptLibrary {
        PromptLibrary {
            dir: dir.to_path_buf(),
            origin,
            files,
            catalogs: HashMap::new(),
            texts: HashMap::new(),
            recordings: HashMap::new(),
            recording_bytes: BTreeMap::new(),
            diagnostics: Vec::new(),
        }
    }

    /// Path of a language's catalog.
    pub fn catalog_path(&self, lang: &str) -> PathBuf {
        self.dir.join(format!("{lang}.yaml"))
    }

    /// Where a recording for `id` in `lang` would go, for hints.
    pub fn recording_hint(&self, lang: &str, id: &str) -> String {
        self.dir
            .join(lang)
            .join(format!("{id}.wav"))
            .display()
            .to_string()
    }

    /// The catalog of a language; `None` when it has no file.
    pub fn catalog(&mut self, lang: &str) -> Option<&RawCatalog> {
        if !self.catalogs.contains_key(lang) {
            let state = self.load_catalog(lang);
            self.catalogs.insert(lang.to_owned(), state);
        }
        match self.catalogs.get(lang) {
            Some(CatalogState::Parsed(_, map)) => Some(map),
            Some(CatalogState::Broken) => {
                static EMPTY: std::sync::LazyLock<RawCatalog> =
                    std::sync::LazyLock::new(IndexMap::new);
                Some(&EMPTY)
            }
            _ => None,
        }
    }

    fn load_catalog(&mut self, lang: &str) -> CatalogState {
        let name = format!("{lang}.yaml");
        if !self.files.contains(&name) {
            return CatalogState::Missing;
        }
        let path = self.catalog_path(lang);
        let read = match &mut self.origin {
            Origin::Disk => read_source(&path),
            Origin::Memory { catalogs, .. } => catalogs
                .remove(lang)
                .map(|text| SourceFile::new(&path, text))
                .ok_or_else(|| std::io::ErrorKind::NotFound.into()),
        };
        let src = match read {
            Ok(src) => src,
            Err(e) => {
                self.diagnostics.push(Diagnostic::new(
                    Code::Io,
                    format!("cannot read {}: {e}", path.display()),
                ));
                return CatalogState::Broken;
            }
        };
        match parse_catalog(&src) {
            Ok(map) => CatalogState::Parsed(Box::new(src), map),
            Err(d) => {
                self.diagnostics.push(d);
                CatalogState::Broken
            }
        }
    }

    /// Where the entry of prompt `id` sits in the catalog of `lang`.
    pub fn entry_location(&self, lang: &str, id: &str) -> Option<Location> {
        match self.catalogs.get(lang) {
            Some(CatalogState::Parsed(src, _)) => src.value_at(&[id]),
            _ => None,
        }
    }

    /// The entry of prompt `id` in `lang`, compiled: `None` when the catalog lacks it,
    /// `Some(Err)` when it is broken (already reported).
    pub fn entry(
        &mut self,
        lang: &str,
        id: &str,
        known_vars: &HashSet<String>,
    ) -> Option<CompiledEntry> {
        let key = (lang.to_owned(), id.to_owned());
        if let Some(done) = self.texts.get(&key) {
            return Some(done.clone());
        }
        self.catalog(lang)?;
        // Out of the map while its entry compiles: compiling reads recordings.
        let state = self.catalogs.remove(lang)?;
        let result = match &state {
            CatalogState::Parsed(src, map) => map
                .get(id)
                .map(|entry| self.compile_entry(src, lang, id, entry.clone(), known_vars)),
            CatalogState::Broken => Some(Err(())),
            CatalogState::Missing => None,
        };
        self.catalogs.insert(lang.to_owned(), state);
        let result = result?;
        self.texts.insert(key, result.clone());
        Some(result)
    }

    fn compile_entry(
        &mut self,
        src: &SourceFile,
        lang: &str,
        id: &str,
        entry: RawCatalogEntry,
        known_vars: &HashSet<String>,
    ) -> CompiledEntry {
        let items: Vec<(Vec<String>, RawCatalogItem)> = match entry {
            RawCatalogEntry::Text(text) => vec![(vec![id.to_owned()], RawCatalogItem::Text(text))],
            RawCatalogEntry::Sequence(items) => items
                .into_iter()
                .enumerate()
                .map(|(i, item)| (vec![id.to_owned(), i.to_string()], item))
                .collect(),
        };
        let mut parts = Vec::new();
        let mut broken = false;
        for (path, item) in items {
            let path: Vec<&str> = path.iter().map(String::as_str).collect();
            match item {
                RawCatalogItem::Text(text) => {
                    match self.catalog_template(src, id, &text, &path, known_vars) {
                        Some(t) => parts.push(CatalogPart::Text(t)),
                        None => broken = true,
                    }
                }
                RawCatalogItem::Part(part) => match (&part.play, &part.pause) {
                    (Some(file), None) => {
                        let mut p = path.clone();
                        p.push("play");
                        let loc = || src.value_at(&p);
                        match self.play(file, lang, &loc) {
                            Some((file, duration)) => {
                                parts.push(CatalogPart::Play { file, duration })
                            }
                            None => broken = true,
                        }
                    }
                    (None, Some(pause)) => {
                        let mut p = path.clone();
                        p.push("pause");
                        let (min, max) = (Duration::from_millis(100), Duration::from_secs(60));
                        match parse_duration(&pause.0) {
                            Some(d) if d >= min && d <= max => parts.push(CatalogPart::Pause(d)),
                            _ => {
                                self.diagnostics.push(
                                    Diagnostic::new(
                                        Code::InvalidDuration,
                                        format!("prompt `{id}`: pause `{}` is not a duration between {} and {}", pause.0, format_duration(min), format_duration(max)),
                                    )
                                    .at(src.value_at(&p))
                                    .label("bad pause")
                                    .hint(Some("write `500ms`, `1s` or a number of seconds".into())),
                                );
                                broken = true;
                            }
                        }
                    }
                    _ => {
                        self.diagnostics.push(
                            Diagnostic::new(
                                Code::InvalidValue,
                                format!("prompt `{id}`: an item of a sequence has exactly one of `play`, `pause`"),
                            )
                            .at(src.value_at(&path))
                            .label("not one item")
                            .hint(Some("split it into two items".into())),
                        );
                        broken = true;
                    }
                },
            }
        }
        if broken { Err(()) } else { Ok(parts.into()) }
    }

    /// A catalog text as a template; unknown variables and bad templates are reported.
    fn catalog_template(
        &mut self,
        src: &SourceFile,
        id: &str,
        text: &str,
        path: &[&str],
        known_vars: &HashSet<String>,
    ) -> Option<Template> {
        let loc = || src.value_at(path);
        match parse_template(text) {
            Ok(t) => {
                let unknown: BTreeSet<&str> = t
                    .vars()
                    .map(|v| v.split('.').next().unwrap_or(v))
                    .filter(|v| !known_vars.contains(*v))
                    .collect();
                for var in unknown {
                    let hint = did_you_mean(var, known_vars.iter().map(String::as_str));
                    self.diagnostics.push(
                        Diagnostic::new(
                            Code::UnknownVariable,
                            format!(
                                "prompt `{id}` uses `{{{var}}}`, which no part of the flow sets"
                            ),
                        )
                        .at(loc())
                        .label("unknown variable")
                        .hint(hint),
                    );
                }
                Some(t)
            }
            Err(e) => {
                self.diagnostics.push(
                    Diagnostic::new(Code::InvalidValue, format!("prompt `{id}`: {e}"))
                        .at(loc())
                        .label("bad template"),
                );
                None
            }
        }
    }

    /// True when some file sits under `prefix` (`fa/digits/`).
    pub fn has_files_under(&self, prefix: &str) -> bool {
        self.files.iter().any(|f| f.starts_with(prefix))
    }

    /// The recording at `rel`, if the directory has it (an unfit one is reported at `loc`).
    pub fn recording(&mut self, rel: &str, loc: &dyn Fn() -> Option<Location>) -> RecordingState {
        if !self.files.contains(rel) {
            return RecordingState::Missing;
        }
        match self.inspect(rel, loc) {
            Some(duration) => RecordingState::Ready(duration),
            None => RecordingState::Unfit,
        }
    }

    /// The recording standing for prompt `id` in `lang`, if one exists: `Some(None)`
    /// when it exists but is unfit (reported at `loc`).
    pub fn recording_for_id(
        &mut self,
        id: &str,
        lang: &str,
        loc: &dyn Fn() -> Option<Location>,
    ) -> Option<Option<(String, Duration)>> {
        let own = format!("{lang}/{id}.wav");
        let neutral = format!("{id}.wav");
        let rel = [own, neutral]
            .into_iter()
            .find(|r| self.files.contains(r))?;
        Some(self.inspect(&rel, loc).map(|d| (rel, d)))
    }

    /// A `play:` file: `prompts/<lang>/FILE`, else `prompts/FILE`; reported at `loc` when missing or unfit.
    pub fn play(
        &mut self,
        file: &str,
        lang: &str,
        loc: &dyn Fn() -> Option<Location>,
    ) -> Option<(String, Duration)> {
        let outside = file.starts_with('/') || file.split(['/', '\\']).any(|part| part == "..");
        if outside {
            self.diagnostics.push(
                Diagnostic::new(
                    Code::BadRecording,
                    format!("recording `{file}` is outside prompts/"),
                )
                .at(loc())
                .label("not under prompts/")
                .hint(Some(
                    "give a path relative to prompts/ or prompts/<lang>/".into(),
                )),
            );
            return None;
        }
        let own = format!("{lang}/{file}");
        let Some(rel) = [own, file.to_owned()]
            .into_iter()
            .find(|r| self.files.contains(r))
        else {
            let wavs = self
                .files
                .iter()
                .filter(|f| f.ends_with(".wav"))
                .map(String::as_str);
            let hint = did_you_mean(file, wavs)
                .or_else(|| Some(format!("put the file at {}", self.dir.join(file).display())));
            self.diagnostics.push(
                Diagnostic::new(
                    Code::BadRecording,
                    format!(
                        "recording `{file}` not found in {}/ or {}/",
                        self.dir.join(lang).display(),
                        self.dir.display()
                    ),
                )
                .at(loc())
                .label("missing file")
                .hint(hint),
            );
            return None;
        };
        self.inspect(&rel, loc).map(|d| (rel, d))
    }

    fn inspect(&mut self, rel: &str, loc: &dyn Fn() -> Option<Location>) -> Option<Duration> {
        if let Some(done) = self.recordings.get(rel) {
            return *done;
        }
        let path = self.dir.join(rel);
        // Read once: the bytes inspected are the bytes hashed and kept.
        let read = match &mut self.origin {
            Origin::Disk => read_recording(&path),
            Origin::Memory { recordings, .. } => recordings
                .remove(rel)
                .ok_or_else(|| std::io::ErrorKind::NotFound.into()),
        };
        let inspected = read.map_err(RecordingError::Unreadable).and_then(|bytes| {
            let inspected = inspect_recording_bytes(&bytes);
            self.recording_bytes.insert(rel.to_owned(), bytes);
            inspected
        });
        let result = match inspected {
            Ok(rec) => {
                if rec.duration > LONG_PROMPT {
                    self.diagnostics.push(
                        Diagnostic::new(
                            Code::LongPrompt,
                            format!(
                                "recording {} lasts {:.1} s",
                                path.display(),
                                rec.duration.as_secs_f64()
                            ),
                        )
                        .at(loc())
                        .label("longer than 30 s")
                        .hint(Some(
                            "callers stop listening; split it or shorten it".into(),
                        )),
                    );
                }
                Some(rec.duration)
            }
            Err(err) => {
                let hint = match &err {
                    RecordingError::Unfit { .. } => Some(format!(
                        "convert it, e.g. `sox IN.wav -r 8000 -c 1 -b 16 {}`",
                        path.display()
                    )),
                    _ => None,
                };
                self.diagnostics.push(
                    Diagnostic::new(
                        Code::BadRecording,
                        format!("recording {}: {err}", path.display()),
                    )
                    .at(loc())
                    .label("unusable recording")
                    .hint(hint),
                );
                None
            }
        };
        self.recordings.insert(rel.to_owned(), result);
        result
    }

    /// Diagnostics found in catalogs and recordings so far.
    pub fn take_diagnostics(&mut self) -> Vec<Diagnostic> {
        std::mem::take(&mut self.diagnostics)
    }

    /// Adds every catalog and used recording, as read, to a content hash.
    pub fn hash_into(&self, hasher: &mut Sha256) {
        let mut catalogs: Vec<_> = self.catalogs.iter().collect();
        catalogs.sort_by(|a, b| a.0.cmp(b.0));
        for (lang, state) in catalogs {
            if let CatalogState::Parsed(src, _) = state {
                hasher.update(lang.as_bytes());
                hasher.update(src.text.as_bytes());
            }
        }
        // Sorted by path (a BTreeMap), as before recordings were kept.
        for (rel, bytes) in &self.recording_bytes {
            hasher.update(rel.as_bytes());
            hasher.update(bytes);
        }
    }

    /// What [`PromptLibrary::hash_into`] hashed: catalog text by language and recording
    /// bytes by relative path.
    pub fn into_sources(self) -> (BTreeMap<String, String>, BTreeMap<String, Vec<u8>>) {
        let catalogs = self
            .catalogs
            .into_iter()
            .filter_map(|(lang, state)| match state {
                CatalogState::Parsed(src, _) => Some((lang, src.text)),
                _ => None,
            })
            .collect();
        (catalogs, self.recording_bytes)
    }
}

/// A recording's bytes, at most [`MAX_RECORDING_BYTES`] of them: a special file
/// (`/dev/zero` behind a symlink) is not read forever.
fn read_recording(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(MAX_RECORDING_BYTES + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_RECORDING_BYTES {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("larger than {} MiB", MAX_RECORDING_BYTES >> 20),
        ));
    }
    Ok(bytes)
}

/// Relative paths (with `/`) of the files under `dir`, a few levels deep.
fn list_files(dir: &Path, prefix: &str, out: &mut HashSet<String>, depth: usize) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let rel = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}/{name}")
        };
        match entry.file_type() {
            Ok(t) if t.is_dir() && depth < 4 => list_files(&entry.path(), &rel, out, depth + 1),
            Ok(t) if t.is_file() || t.is_symlink() => {
                out.insert(rel);
            }
            _ => {}
        }
    }
}
