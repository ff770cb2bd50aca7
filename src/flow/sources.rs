//! The files a flow set was compiled from, kept so that any server can compile the
//! same version again: calls stay on the version they started with across restarts
//! and across servers.
//!
//! The compiler captures each file as it reads it (flow files, the catalogs it
//! parsed, the recordings it inspected), hashes exactly those bytes into the
//! version and keeps them in [`FlowSources`]; nothing is read from disk again
//! afterwards, so a file saved during a compile cannot make the kept files
//! disagree with the version.
//!
//! # Bundle format, version 1
//!
//! [`FlowSources::to_bundle`] writes one UTF-8 JSON object:
//!
//! ```json
//! {
//!   "format": "phonetree-flow-bundle",
//!   "version": 1,
//!   "flows": [{ "name": "acme.yaml", "text": "numbers: ..." }],
//!   "catalogs": { "en": "press_1_english: ...", "es": "..." },
//!   "recordings": { "en/goodbye.wav": "UklGRi...", "hold.wav": "UklGRi..." }
//! }
//! ```
//!
//! - `flows`: the flow files in the order they were compiled (the version hashes them
//!   in that order), by file name (the version hashes names, not paths) with their text.
//! - `catalogs`: the text of `prompts/<lang>.yaml` for each catalog the flows used.
//! - `recordings`: each recording the flows use, by its path relative to `prompts/`
//!   (with `/`), as standard base64 (RFC 4648, padded).
//!
//! Texts are the texts the compiler read (a leading byte-order mark already
//! dropped). A reader refuses another `format` or a `version` it does not know;
//! a later format gets a new `version` number, and readers of it keep reading 1.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};

/// The `format` field of every bundle.
pub const BUNDLE_FORMAT: &str = "phonetree-flow-bundle";

/// The bundle format version [`FlowSources::to_bundle`] writes.
pub const BUNDLE_VERSION: u32 = 1;

/// One flow file as the compiler read it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowFileText {
    /// The file's name (no directory): the version hashes names.
    pub name: String,
    /// Its text.
    pub text: String,
}

/// Every file a flow set was compiled (and its version hashed) from.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct FlowSources {
    /// Flow files in compile order.
    pub flows: Vec<FlowFileText>,
    /// Catalog text by language, for each catalog the flows used.
    pub catalogs: BTreeMap<String, String>,
    /// Recording bytes by path relative to `prompts/` (with `/`), for each recording used.
    pub recordings: BTreeMap<String, Vec<u8>>,
}

impl std::fmt::Debug for FlowSources {
    // Recordings are audio: their sizes say enough.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FlowSources")
            .field(
                "flows",
                &self.flows.iter().map(|f| &f.name).collect::<Vec<_>>(),
            )
            .field("catalogs", &self.catalogs.keys().collect::<Vec<_>>())
            .field(
                "recordings",
                &self
                    .recordings
                    .iter()
                    .map(|(rel, bytes)| format!("{rel} ({} bytes)", bytes.len()))
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// Why a bundle cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// Not JSON of the bundle's shape.
    #[error("not a flow bundle: {0}")]
    Malformed(String),
    /// Another format, or a version of this one this build does not know.
    #[error("unknown bundle format `{format}` version {version}")]
    UnknownFormat {
        /// The `format` field.
        format: String,
        /// The `version` field.
        version: u32,
    },
    /// A recording that is not base64.
    #[error("recording {path}: {reason}")]
    Recording {
        /// Its relative path.
        path: String,
        /// What the decoder said.
        reason: String,
    },
}

#[derive(Serialize, Deserialize)]
struct Bundle {
    format: String,
    version: u32,
    flows: Vec<FlowFileText>,
    catalogs: BTreeMap<String, String>,
    recordings: BTreeMap<String, String>,
}

/// Only the envelope, read first so that a later version is refused as such.
#[derive(Deserialize)]
struct Envelope {
    format: String,
    version: u32,
}

impl FlowSources {
    /// The bundle kept in the store under the flow set's version (format in the module docs).
    pub fn to_bundle(&self) -> Vec<u8> {
        let bundle = Bundle {
            format: BUNDLE_FORMAT.to_owned(),
            version: BUNDLE_VERSION,
            flows: self.flows.clone(),
            catalogs: self.catalogs.clone(),
            recordings: self
                .recordings
                .iter()
                .map(|(rel, bytes)| (rel.clone(), BASE64.encode(bytes)))
                .collect(),
        };
        // Strings, numbers and maps keyed by strings, written to memory: nothing can fail.
        serde_json::to_vec(&bundle).expect("a bundle of strings serializes")
    }

    /// Reads a bundle written by [`FlowSources::to_bundle`].
    pub fn from_bundle(bytes: &[u8]) -> Result<FlowSources, BundleError> {
        let envelope: Envelope =
            serde_json::from_slice(bytes).map_err(|e| BundleError::Malformed(e.to_string()))?;
        if envelope.format != BUNDLE_FORMAT || envelope.version != BUNDLE_VERSION {
            return Err(BundleError::UnknownFormat {
                format: envelope.format,
                version: envelope.version,
            });
        }
        let bundle: Bundle =
            serde_json::from_slice(bytes).map_err(|e| BundleError::Malformed(e.to_string()))?;
        let mut recordings = BTreeMap::new();
        for (path, text) in bundle.recordings {
            let bytes = BASE64
                .decode(text.as_bytes())
                .map_err(|e| BundleError::Recording {
                    path: path.clone(),
                    reason: e.to_string(),
                })?;
            recordings.insert(path, bytes);
        }
        Ok(FlowSources {
            flows: bundle.flows,
            catalogs: bundle.catalogs,
            recordings,
        })
    }

    /// Compiles these files again, with no disk access: the same files give the same
    /// version. `prompts_dir` is where the served set's `<Play>` files are looked for
    /// and what diagnostics name.
    pub fn compile(self, prompts_dir: &std::path::Path) -> crate::flow::Compiled {
        crate::flow::compile::compile_flow_sources(self, prompts_dir)
    }
}

/// Compiles a bundle kept in the store under `version`; the set keeps that version
/// even when today's hashing names it otherwise. The error is the rendered errors.
pub fn compile_bundle(
    bundle: &[u8],
    prompts_dir: &std::path::Path,
    version: &str,
) -> Result<crate::flow::FlowSet, String> {
    let sources = FlowSources::from_bundle(bundle).map_err(|e| e.to_string())?;
    let crate::flow::Compiled { flows, diagnostics } = sources.compile(prompts_dir);
    let Some(mut set) = flows else {
        let rendered = diagnostics
            .iter()
            .filter(|d| d.is_error())
            .map(|d| d.to_string())
            .collect::<Vec<_>>()
            .join("\n");
        return Err(rendered);
    };
    if set.version != version {
        // Only a change in how versions are hashed does this: calls on it still
        // name it by the version it was kept under.
        tracing::warn!(
            version,
            compiled = set.version,
            "a stored flow version compiles to another version; serving it as stored"
        );
        set.version = version.to_owned();
    }
    Ok(set)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> FlowSources {
        FlowSources {
            flows: vec![
                FlowFileText {
                    name: "b.yaml".into(),
                    text: "nodes: {}\n".into(),
                },
                FlowFileText {
                    name: "a.yaml".into(),
                    text: "flow: a\n# ünïcode 한국어\n".into(),
                },
            ],
            catalogs: BTreeMap::from([("en".into(), "hi: \"Hello\"\n".into())]),
            recordings: BTreeMap::from([
                ("en/hi.wav".into(), vec![0, 1, 2, 255, 254]),
                ("empty.wav".into(), vec![]),
            ]),
        }
    }

    #[test]
    fn a_bundle_reads_back_as_the_same_files_in_the_same_order() {
        let sources = sample();
        let bundle = sources.to_bundle();
        assert_eq!(FlowSources::from_bundle(&bundle).unwrap(), sources);
        let json: serde_json::Value = serde_json::from_slice(&bundle).unwrap();
        assert_eq!(json["format"], BUNDLE_FORMAT);
        assert_eq!(json["version"], 1);
        assert_eq!(json["flows"][0]["name"], "b.yaml");
        assert_eq!(json["recordings"]["en/hi.wav"], "AAEC//4=");
    }

    use std::path::{Path, PathBuf};

    use crate::flow::{FlowSet, compile_paths};

    fn repo() -> &'static Path {
        Path::new(env!("CARGO_MANIFEST_DIR"))
    }

    fn compile_dir(flows: &Path, prompts: &Path) -> FlowSet {
        let compiled = compile_paths(&[flows.to_path_buf()], prompts).unwrap();
        assert_eq!(compiled.error_count(), 0, "{}", compiled.rendered_errors());
        compiled.flows.unwrap()
    }

    /// The set a bundle compiles to, against a prompts directory that does not exist:
    /// nothing may come from the disk.
    fn compile_bundle(bundle: &[u8]) -> FlowSet {
        let compiled = FlowSources::from_bundle(bundle)
            .unwrap()
            .compile(Path::new("/nonexistent/prompts"));
        assert_eq!(compiled.error_count(), 0, "{}", compiled.rendered_errors());
        compiled.flows.unwrap()
    }

    fn assert_same_set(again: &FlowSet, set: &FlowSet) {
        assert_eq!(again.version, set.version);
        assert_eq!(
            again.flows.keys().collect::<Vec<_>>(),
            set.flows.keys().collect::<Vec<_>>()
        );
        for (id, flow) in &set.flows {
            assert_eq!(again.flows[id].nodes.len(), flow.nodes.len(), "{id}");
        }
        assert_eq!(again.numbers, set.numbers);
        assert_eq!(again.default_flow, set.default_flow);
        assert_eq!(again.sources, set.sources);
    }

    #[test]
    fn the_shipped_acme_flows_compile_from_their_bundle_to_the_same_version() {
        let set = compile_dir(&repo().join("flows"), &repo().join("prompts"));
        let sources = &set.sources;
        assert_eq!(
            sources
                .flows
                .iter()
                .map(|f| f.name.as_str())
                .collect::<Vec<_>>(),
            ["acme.yaml"]
        );
        assert_eq!(
            sources.catalogs.keys().collect::<Vec<_>>(),
            ["en", "es", "fa", "ko"]
        );
        // Every recording shipped is played by the flow: the Persian ones too.
        fn wavs(dir: &Path, prefix: &str, out: &mut Vec<String>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                let name = path.file_name().unwrap().to_string_lossy().into_owned();
                let rel = format!("{prefix}{name}");
                if path.is_dir() {
                    wavs(&path, &format!("{rel}/"), out);
                } else if name.ends_with(".wav") {
                    out.push(rel);
                }
            }
        }
        let mut shipped = Vec::new();
        wavs(&repo().join("prompts"), "", &mut shipped);
        shipped.sort();
        assert_eq!(
            sources.recordings.keys().collect::<Vec<_>>(),
            shipped.iter().collect::<Vec<_>>()
        );
        assert!(sources.recordings.contains_key("fa/digits/7.wav"));
        let wav = std::fs::read(repo().join("prompts/en/goodbye.wav")).unwrap();
        assert_eq!(sources.recordings["en/goodbye.wav"], wav);
        let bundle = sources.to_bundle();
        eprintln!("acme bundle: {} bytes", bundle.len());
        let again = compile_bundle(&bundle);
        assert_same_set(&again, &set);
        assert_eq!(again.sources.to_bundle(), bundle);
    }

    fn wav(path: &Path, frames: u32, tone: f32) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: 8000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w = hound::WavWriter::create(path, spec).unwrap();
        for i in 0..frames {
            w.write_sample(((i as f32 * tone).sin() * 3000.0) as i16)
                .unwrap();
        }
        w.finalize().unwrap();
    }

    /// Two flow files (`.yaml` and `.yml`) calling into each other, two languages, a
    /// catalog with a byte-order mark, a recording by prompt id in `prompts/en/` and a
    /// neutral `play:` file; beside them files no flow uses.
    fn second_project() -> (tempfile::TempDir, PathBuf, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let (flows, prompts) = (dir.path().join("flows"), dir.path().join("prompts"));
        std::fs::create_dir_all(&flows).unwrap();
        std::fs::write(
            flows.join("main.yaml"),
            r#"flow: main
numbers: ["+14155550101"]
default: true
languages: [en, fa]
start: welcome
nodes:
  welcome:
    menu:
      prompt: [welcome, { play: chime.wav }]
      options: { "1": "billing:intro", "2": bye }
  bye:
    hangup: { prompt: goodbye }
"#,
        )
        .unwrap();
        std::fs::write(
            flows.join("billing.yml"),
            "languages: [en]\nstart: intro\nnodes:\n  intro:\n    message: { prompt: billing_intro, next: \"main:bye\" }\n",
        )
        .unwrap();
        std::fs::write(flows.join("main.test.yaml"), "- name: nothing\n").unwrap();
        std::fs::create_dir_all(&prompts).unwrap();
        std::fs::write(
            prompts.join("en.yaml"),
            "goodbye: \"Goodbye.\"\nbilling_intro: \"Billing.\"\n",
        )
        .unwrap();
        std::fs::write(
            prompts.join("fa.yaml"),
            "\u{feff}welcome: \"خوش آمدید\"\ngoodbye: \"خدانگهدار\"\n",
        )
        .unwrap();
        std::fs::write(prompts.join("ko.yaml"), "welcome: \"안녕하세요\"\n").unwrap();
        wav(&prompts.join("en/welcome.wav"), 4000, 0.3);
        wav(&prompts.join("chime.wav"), 800, 0.7);
        wav(&prompts.join("unused.wav"), 800, 0.1);
        (dir, flows, prompts)
    }

    #[test]
    fn a_second_flow_set_compiles_from_its_bundle_to_the_same_version() {
        let (_dir, flows, prompts) = second_project();
        let set = compile_dir(&flows, &prompts);
        let sources = &set.sources;
        assert_eq!(
            sources
                .flows
                .iter()
                .map(|f| f.name.as_str())
                .collect::<Vec<_>>(),
            ["billing.yml", "main.yaml"]
        );
        assert_eq!(sources.catalogs.keys().collect::<Vec<_>>(), ["en", "fa"]);
        assert!(sources.catalogs["fa"].starts_with("welcome:"));
        assert_eq!(
            sources.recordings.keys().collect::<Vec<_>>(),
            ["chime.wav", "en/welcome.wav"]
        );
        let again = compile_bundle(&sources.to_bundle());
        assert_same_set(&again, &set);
    }

    #[test]
    fn the_bundle_holds_the_files_as_compiled_not_as_they_are_on_disk_now() {
        let (_dir, flows, prompts) = second_project();
        let set = compile_dir(&flows, &prompts);
        // Saved after the compile: a version must still come back as it was compiled.
        wav(&prompts.join("en/welcome.wav"), 4000, 0.9);
        std::fs::write(
            prompts.join("en.yaml"),
            "goodbye: \"Bye now.\"\nbilling_intro: \"Billing.\"\n",
        )
        .unwrap();
        let now = compile_dir(&flows, &prompts);
        assert_ne!(now.version, set.version);
        let again = compile_bundle(&set.sources.to_bundle());
        assert_same_set(&again, &set);
    }

    #[test]
    fn other_formats_and_versions_are_refused() {
        let mut json: serde_json::Value = serde_json::from_slice(&sample().to_bundle()).unwrap();
        json["version"] = 2.into();
        let err = FlowSources::from_bundle(&serde_json::to_vec(&json).unwrap()).unwrap_err();
        assert!(
            matches!(err, BundleError::UnknownFormat { version: 2, .. }),
            "{err}"
        );
        json["version"] = 1.into();
        json["recordings"]["en/hi.wav"] = "not base64!".into();
        let err = FlowSources::from_bundle(&serde_json::to_vec(&json).unwrap()).unwrap_err();
        assert!(matches!(err, BundleError::Recording { .. }), "{err}");
        assert!(matches!(
            FlowSources::from_bundle(b"{\"format\": 1}"),
            Err(BundleError::Malformed(_))
        ));
        assert!(matches!(
            FlowSources::from_bundle(b"not json"),
            Err(BundleError::Malformed(_))
        ));
    }
}
