//! Raw flow files plus prompt catalogs and recordings to a checked [`FlowSet`].
//!
//! `flow.rs` checks the flow-wide parts (languages, hours, defaults), `nodes.rs`
//! each node kind, `values.rs` targets, keys, durations and templates, `prompt.rs`
//! resolves prompts per language.
//!
//! Every error of every file is collected; nothing stops at the first one. The
//! flow-wide checks (cycles, reachability) live in [`crate::flow::graph_check`].

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use indexmap::IndexMap;
use sha2::{Digest, Sha256};

use crate::flow::diagnostic::{Code, Diagnostic, Location, did_you_mean};
use crate::flow::duration::{format_duration, parse_duration};
use crate::flow::hours::{HoursField, Schedule};
use crate::flow::model::*;
use crate::flow::parse::{SourceFile, parse_flow, read_source};
use crate::flow::prompts::{CatalogPart, FAULT_APOLOGY, PromptLibrary, builtin_text};
use crate::flow::raw::*;
use crate::flow::sources::{FlowFileText, FlowSources};
use crate::flow::template::parse_template;

mod flow;
mod nodes;
mod prompt;
mod speech;
mod values;

/// Target words that are not node ids.
pub const RESERVED_TARGETS: [&str; 4] = ["repeat", "back", "start", "hangup"];

/// What a compile produced: the flows when there was no error, and every diagnostic.
#[derive(Debug)]
pub struct Compiled {
    /// The flows; `None` when any error was found.
    pub flows: Option<FlowSet>,
    /// Errors and warnings in file order.
    pub diagnostics: Vec<Diagnostic>,
}

impl Compiled {
    /// Number of errors.
    pub fn error_count(&self) -> usize {
        self.errors().count()
    }

    /// The errors, in file order.
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics.iter().filter(|d| d.is_error())
    }

    /// Every error rendered as `check` prints it, one after another.
    pub fn rendered_errors(&self) -> String {
        self.errors()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// A problem that stops a compile before it starts (missing directory).
#[derive(Debug, thiserror::Error)]
pub enum ProjectError {
    /// A directory or file that cannot be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// What was read.
        path: PathBuf,
        /// Why it failed.
        #[source]
        source: std::io::Error,
    },
}

/// The flow files to compile: `*.yaml`/`*.yml` in `dir` except `*.test.yaml`, sorted.
pub fn flow_files(dir: &Path) -> Result<Vec<PathBuf>, ProjectError> {
    let read = |source| ProjectError::Read {
        path: dir.to_path_buf(),
        source,
    };
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(read)? {
        let path = entry.map_err(read)?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let is_yaml = name.ends_with(".yaml") || name.ends_with(".yml");
        let is_test = name.ends_with(".test.yaml") || name.ends_with(".test.yml");
        if path.is_file() && is_yaml && !is_test {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// Reads and compiles flow files (and directories of them) against `prompts_dir`.
pub fn compile_paths(paths: &[PathBuf], prompts_dir: &Path) -> Result<Compiled, ProjectError> {
    check_paths(paths, prompts_dir).map(|(compiled, _)| compiled)
}

/// Compiles flow sources already in memory; catalogs and recordings come from `prompts_dir`.
pub fn compile_sources(sources: Vec<SourceFile>, prompts_dir: &Path) -> Compiled {
    compile_with_library(sources, PromptLibrary::new(prompts_dir), prompts_dir).0
}

/// Every flow as far as it compiled, errors or not, by id: what `check` holds the
/// scenario files beside the flows against.
pub type FlowsAsFar = IndexMap<String, Arc<Flow>>;

/// Like [`compile_paths`], and also the flows as far as they compiled.
pub fn check_paths(
    paths: &[PathBuf],
    prompts_dir: &Path,
) -> Result<(Compiled, FlowsAsFar), ProjectError> {
    let sources = read_flow_sources(paths)?;
    if !prompts_dir.is_dir() {
        return Err(ProjectError::Read {
            path: prompts_dir.to_path_buf(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "not a directory"),
        });
    }
    Ok(compile_with_library(
        sources,
        PromptLibrary::new(prompts_dir),
        prompts_dir,
    ))
}

fn read_flow_sources(paths: &[PathBuf]) -> Result<Vec<SourceFile>, ProjectError> {
    let mut sources = Vec::new();
    for path in paths {
        let files = if path.is_dir() {
            flow_files(path)?
        } else {
            vec![path.clone()]
        };
        for file in files {
            let src = read_source(&file).map_err(|source| ProjectError::Read {
                path: file.clone(),
                source,
            })?;
            sources.push(src);
        }
    }
    Ok(sources)
}

/// Compiles the files a flow set was compiled from, with no disk access; the same
/// files give the same version. Flow files are named by their names alone.
pub fn compile_flow_sources(sources: FlowSources, prompts_dir: &Path) -> Compiled {
    let FlowSources {
        flows,
        catalogs,
        recordings,
    } = sources;
    let files = flows
        .into_iter()
        .map(|f| SourceFile::new(f.name, f.text))
        .collect();
    let library = PromptLibrary::from_memory(prompts_dir, catalogs, recordings);
    compile_with_library(files, library, prompts_dir).0
}

fn compile_with_library(
    sources: Vec<SourceFile>,
    mut library: PromptLibrary,
    prompts_dir: &Path,
) -> (Compiled, FlowsAsFar) {
    let mut diags = Vec::new();
    let mut parsed: Vec<(SourceFile, RawFlowFile, String)> = Vec::new();
    // Flows whose graph is not whole (nodes that did not read): no unreachable-node warnings.
    let mut partial: HashSet<String> = HashSet::new();
    // Node ids of files whose top level does not read, so that targets into them resolve.
    let mut unread_nodes: HashMap<String, Vec<String>> = HashMap::new();
    for src in sources {
        let mut result = parse_flow(&src);
        diags.append(&mut result.diagnostics);
        let named = src
            .tree()
            .ok()
            .and_then(|t| t.get("flow"))
            .and_then(crate::flow::yaml::Yaml::as_str)
            .map(str::to_owned);
        match result.flow {
            Some(raw) => {
                let id = raw
                    .flow
                    .clone()
                    .unwrap_or_else(|| flow_id_from_path(&src.path));
                if !result.broken_nodes.is_empty() {
                    partial.insert(id.clone());
                }
                parsed.push((src, raw, id));
            }
            None => {
                let id = named.unwrap_or_else(|| flow_id_from_path(&src.path));
                unread_nodes.insert(id, result.node_ids);
            }
        }
    }

    // Flow ids, numbers and the default flow are checked across files.
    let mut seen_ids: HashMap<String, &SourceFile> = HashMap::new();
    let mut numbers: BTreeMap<String, String> = BTreeMap::new();
    let mut default_flow: Option<String> = None;
    for (src, raw, id) in &parsed {
        if let Some(first) = seen_ids.insert(id.clone(), src) {
            // Point at an explicit `flow:` line when either file has one, else at the second file.
            let (at, other) = match (src.key_at(&["flow"]), first.key_at(&["flow"])) {
                (Some(here), _) => (here, first),
                (None, Some(there)) => (there, src),
                (None, None) => (src.at_line_col(1, 1), first),
            };
            diags.push(
                Diagnostic::new(Code::DuplicateFlow, format!("flow id `{id}` is used twice"))
                    .at(Some(at))
                    .label(format!("also the id of {}", other.path.display()))
                    .hint(Some("give one of them another `flow:` id".into())),
            );
        }
        for (i, number) in raw.numbers.iter().enumerate() {
            let path = ["numbers", &i.to_string()];
            if let Some(other) = numbers.get(number) {
                diags.push(
                    Diagnostic::new(
                        Code::DuplicateNumber,
                        format!("number `{number}` is claimed by two flows"),
                    )
                    .at(src.value_at(&path))
                    .label(format!("already routed to flow `{other}`"))
                    .hint(Some(
                        "a number routes to one flow; remove it from one of them".into(),
                    )),
                );
            } else {
                if !is_e164(number) && !number.starts_with("sip:") && !number.starts_with("client:")
                {
                    diags.push(
                        Diagnostic::new(
                            Code::InvalidValue,
                            format!("`{number}` is not a phone number"),
                        )
                        .at(src.value_at(&path))
                        .label("expected E.164")
                        .hint(Some("write numbers as E.164, e.g. \"+14155550199\"".into())),
                    );
                }
                numbers.insert(number.clone(), id.clone());
            }
        }
        if raw.default {
            if let Some(other) = &default_flow {
                diags.push(
                    Diagnostic::new(Code::DuplicateFlow, "two flows say `default: true`")
                        .at(src.locate(&["default"]))
                        .label(format!("flow `{other}` is the default already"))
                        .hint(Some(
                            "only one flow takes calls to unclaimed numbers".into(),
                        )),
                );
            } else {
                default_flow = Some(id.clone());
            }
        }
    }

    let mut node_names: HashMap<String, Vec<String>> = unread_nodes;
    for (_, raw, id) in &parsed {
        node_names.insert(id.clone(), raw.nodes.keys().cloned().collect());
    }
    let mut flows = IndexMap::new();
    for (src, raw, id) in &parsed {
        let mut cx = FlowCompiler::new(src, raw, id, &node_names, &mut library, &mut diags);
        // A flow with errors is still checked as a graph: loops show up in the same run.
        if let Some((flow, whole)) = cx.compile() {
            if !whole {
                partial.insert(id.clone());
            }
            crate::flow::graph_check::check_flow(&flow, src, &mut diags);
            flows.insert(id.clone(), Arc::new(flow));
        }
    }
    // Targets from other flows make a node reachable; recompute reachability across flows.
    crate::flow::graph_check::check_reachability(
        &flows,
        &parsed
            .iter()
            .filter(|(_, _, id)| !partial.contains(id))
            .map(|(s, _, id)| (id.clone(), s))
            .collect(),
        &mut diags,
    );
    let mut library_diags = library.take_diagnostics();
    diags.append(&mut library_diags);

    diags.sort_by(|a, b| {
        let key = |d: &Diagnostic| {
            d.location
                .as_ref()
                .map(|l| (l.file.clone(), l.span.line, l.span.column))
        };
        key(a).cmp(&key(b))
    });
    diags.dedup();
    let has_error = diags.iter().any(Diagnostic::is_error);
    let as_far = flows.clone();
    let flows = (!has_error).then(|| {
        let mut hasher = Sha256::new();
        let mut flow_files = Vec::with_capacity(parsed.len());
        // Names, not paths: the same files give the same version on every server.
        for (src, _, _) in &parsed {
            let name = src
                .path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            hasher.update(name.as_bytes());
            hasher.update([0]);
            hasher.update(src.text.as_bytes());
            hasher.update([0]);
            flow_files.push(FlowFileText {
                name,
                text: src.text.clone(),
            });
        }
        library.hash_into(&mut hasher);
        let version = hex::encode(&hasher.finalize()[..6]);
        let (catalogs, recordings) = library.into_sources();
        FlowSet {
            version,
            flows,
            numbers,
            default_flow,
            prompts_dir: prompts_dir.to_path_buf(),
            sources: FlowSources {
                flows: flow_files,
                catalogs,
                recordings,
            },
        }
    });
    (
        Compiled {
            flows,
            diagnostics: diags,
        },
        as_far,
    )
}

fn flow_id_from_path(path: &Path) -> String {
    path.file_name()
        .and_then(|n| n.to_str())
        .map(|n| {
            n.trim_end_matches(".yaml")
                .trim_end_matches(".yml")
                .to_owned()
        })
        .unwrap_or_default()
}

/// True for an E.164 number: `+` then 7 to 15 digits, not starting with 0.
pub fn is_e164(s: &str) -> bool {
    let Some(digits) = s.strip_prefix('+') else {
        return false;
    };
    (7..=15).contains(&digits.len())
        && digits.chars().all(|c| c.is_ascii_digit())
        && !digits.starts_with('0')
}

/// Compiles one flow; holds what every node check needs.
struct FlowCompiler<'a> {
    src: &'a SourceFile,
    raw: &'a RawFlowFile,
    id: &'a str,
    node_names: &'a HashMap<String, Vec<String>>,
    library: &'a mut PromptLibrary,
    diags: &'a mut Vec<Diagnostic>,
    index: HashMap<&'a str, NodeId>,
    languages: Vec<Language>,
    known_vars: HashSet<String>,
    schedules: HashMap<String, Schedule>,
    /// A target named nothing and had no near miss to stand for it: the graph has a hole.
    unresolved: bool,
    /// Input patterns compiled so far: flows repeat the same few (`^[0-9]{4}$`).
    regexes: HashMap<String, Result<regex::Regex, String>>,
    /// Whether a pattern accepts some digit string of a length range, by pattern and range.
    pattern_lengths: HashMap<(String, u32, u32), bool>,
    /// Every text the flow speaks, by language, once each.
    spoken: Vec<Spoken>,
    spoken_seen: HashSet<(LangIdx, TextAt, Template)>,
}

/// A text a flow speaks in a language: what checks of voices and readings look at.
struct Spoken {
    /// The language it is spoken in.
    lang: LangIdx,
    /// What it is, for messages: "`main_menu`", "`say` in node `x`".
    label: String,
    /// The text.
    text: Template,
    /// Where it is written, found only when a diagnostic needs it.
    at: TextAt,
}

/// Where a spoken text is written: locations cost a span index, which a clean compile
/// never builds.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum TextAt {
    /// The entry `id` of the catalog of `lang`.
    Catalog { lang: String, id: String },
    /// The value at this path of the flow file.
    Flow(Vec<String>),
    /// Built in.
    Nowhere,
}

type P<'p> = &'p [&'p str];

enum ItemMissing {
    /// Nothing for this language; the caller gathers languages into one diagnostic.
    Language,
    /// A diagnostic was already pushed.
    Reported,
}

/// Flow-wide defaults after checking.
struct Defaults {
    timeout: Duration,
    retries: u32,
    invalid: Option<Prompt>,
    no_input: Option<Prompt>,
    apology: Prompt,
    closed_messages: Vec<(String, Prompt)>,
    on_fail: Target,
    options: Vec<MenuOption>,
    max_steps: u32,
}
