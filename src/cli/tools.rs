//! `phonetree graph`, `simulate` and `test`: the admin tools on the command line.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use super::{GraphArgs, GraphFormat, ProjectArgs, SimulateArgs, TestArgs};
use crate::flow::{self, Flow, FlowSet};

/// Compiles the project and picks one flow by id or file path; prints diagnostics on failure.
fn load_flow(project: &ProjectArgs, which: &str) -> Result<(Arc<FlowSet>, Arc<Flow>), ExitCode> {
    let as_path = std::path::Path::new(which);
    let flows_dir = if as_path.is_file() {
        as_path
            .parent()
            .map(std::path::Path::to_path_buf)
            .unwrap_or_else(|| project.flows.clone())
    } else {
        project.flows.clone()
    };
    let prompts = project.prompts_for(std::slice::from_ref(&flows_dir));
    let compiled = match flow::compile_paths(&[flows_dir], &prompts) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return Err(ExitCode::from(2));
        }
    };
    let Some(set) = compiled.flows else {
        eprintln!("{}", compiled.rendered_errors());
        eprintln!("error: the flows do not compile; see `phonetree check`");
        return Err(ExitCode::from(1));
    };
    let found = set.get(which).cloned().or_else(|| {
        set.flows
            .values()
            .find(|f| as_path.is_file() && same_file(&f.source, as_path))
            .cloned()
    });
    match found {
        Some(f) => Ok((Arc::new(set), f)),
        None => {
            let ids: Vec<&str> = set.flows.keys().map(String::as_str).collect();
            let hint =
                flow::diagnostic::did_you_mean(which, ids.iter().copied()).unwrap_or_default();
            eprintln!(
                "error: no flow `{which}` (flows: {}) {hint}",
                ids.join(", ")
            );
            Err(ExitCode::from(2))
        }
    }
}

fn same_file(a: &std::path::Path, b: &std::path::Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}

pub(super) fn graph(args: &GraphArgs) -> ExitCode {
    let (_, flow) = match load_flow(&args.project, &args.flow) {
        Ok(f) => f,
        Err(code) => return code,
    };
    let text = match args.format {
        GraphFormat::Mermaid => crate::tools::graph::render_mermaid(&flow),
        GraphFormat::Dot => crate::tools::graph::render_dot(&flow),
    };
    print!("{text}");
    ExitCode::SUCCESS
}

pub(super) fn simulate(args: &SimulateArgs) -> ExitCode {
    use crate::call::LookupOutcome;
    use crate::tools::driver::CannedLookups;
    use crate::tools::simulate::{SimulateOptions, parse_keys, parse_time};
    let (set, flow) = match load_flow(&args.project, &args.flow) {
        Ok(f) => f,
        Err(code) => return code,
    };
    let at = match &args.at {
        None => chrono::Utc::now(),
        Some(text) => match parse_time(text) {
            Some(t) => t,
            None => {
                eprintln!(
                    "error: `--at {text}` is not a time; use RFC 3339, e.g. 2026-11-24T10:00:00-05:00"
                );
                return ExitCode::from(2);
            }
        },
    };
    if let Some(lang) = &args.lang
        && flow.language(lang).is_none()
    {
        let codes: Vec<&str> = flow.languages.iter().map(|l| l.code.as_str()).collect();
        eprintln!(
            "error: flow `{}` does not speak `{lang}` (languages: {})",
            flow.id,
            codes.join(", ")
        );
        return ExitCode::from(2);
    }
    let mut mocks = CannedLookups::default();
    for spec in &args.mock_lookup {
        let Some((node, file)) = spec.split_once('=') else {
            eprintln!("error: `--mock-lookup {spec}` must be NODE=FILE.json");
            return ExitCode::from(2);
        };
        let json = std::fs::read_to_string(file)
            .map_err(|e| e.to_string())
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).map_err(|e| e.to_string()));
        match json {
            Ok(v) => {
                mocks
                    .answers
                    .insert(node.to_owned(), LookupOutcome::Answer(v));
            }
            Err(e) => {
                eprintln!("error: --mock-lookup {spec}: {e}");
                return ExitCode::from(2);
            }
        }
    }
    let opts = SimulateOptions {
        keys: args.keys.as_deref().map(parse_keys),
        at,
        language: args.lang.clone(),
        caller: args.caller.clone(),
        mock_lookups: mocks,
    };
    let stdin = std::io::stdin();
    let mut input = stdin.lock();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let (_, ending) = crate::tools::simulate::simulate(&set, &flow, opts, &mut input, &mut out);
    match ending {
        crate::tools::simulate::Ending::ScriptError(why) => {
            eprintln!("error: {why}");
            ExitCode::from(2)
        }
        _ => ExitCode::SUCCESS,
    }
}

pub(super) fn run_scenarios(args: &TestArgs) -> ExitCode {
    use crate::tools::scenario::{
        flow_for, load_scenarios_for, run_scenario, scenario_files, uncovered,
    };
    // The flows tested are the ones beside the scenario files.
    let mut flow_dirs: Vec<PathBuf> = Vec::new();
    for p in &args.paths {
        let dir = if p.is_dir() {
            p.clone()
        } else {
            p.parent().map(PathBuf::from).unwrap_or_default()
        };
        let dir = if dir.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            dir
        };
        if !flow_dirs.contains(&dir) {
            flow_dirs.push(dir);
        }
    }
    if flow_dirs.is_empty() {
        flow_dirs.push(args.project.flows.clone());
    }
    let prompts = args.project.prompts_for(&flow_dirs);
    let compiled = match flow::compile_paths(&flow_dirs, &prompts) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let Some(set) = compiled.flows else {
        eprintln!("{}", compiled.rendered_errors());
        eprintln!("error: the flows do not compile; no scenario ran");
        return ExitCode::from(1);
    };
    let paths = if args.paths.is_empty() {
        vec![args.project.flows.clone()]
    } else {
        args.paths.clone()
    };
    let files = match scenario_files(&paths) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let out = std::io::stdout();
    let mut out = out.lock();
    let (mut passed, mut failed, mut not_run) = (0usize, 0usize, 0usize);
    let mut failures: Vec<(String, String)> = Vec::new();
    let mut coverage: Vec<String> = Vec::new();
    for file in &files {
        let Some(flow) = flow_for(&set, file) else {
            let _ = writeln!(
                out,
                "{}: no flow to test (expected {} beside it)",
                file.display(),
                file.display().to_string().replace(".test.", ".")
            );
            failed += 1;
            continue;
        };
        let scenarios = match load_scenarios_for(file, flow) {
            Ok(s) => s,
            Err(e) => {
                for d in &e.diagnostics {
                    let _ = writeln!(out, "{d}");
                }
                let _ = writeln!(
                    out,
                    "{}: does not read; its {} scenario(s) did not run",
                    file.display(),
                    e.scenarios
                );
                not_run += e.scenarios.max(1);
                continue;
            }
        };
        let _ = writeln!(
            out,
            "running {} scenario(s) from {} (flow `{}`)",
            scenarios.len(),
            file.display(),
            flow.id
        );
        let mut results = Vec::new();
        for sc in &scenarios {
            let result = run_scenario(&set, flow, sc);
            match &result.failure {
                None => {
                    passed += 1;
                    let _ = writeln!(out, "scenario {} ... ok", result.name);
                }
                Some(why) => {
                    failed += 1;
                    let _ = writeln!(out, "scenario {} ... FAILED", result.name);
                    failures.push((format!("{}: {}", flow.id, result.name), why.clone()));
                }
            }
            results.push(result);
        }
        let missing = uncovered(flow, &results);
        let total = flow.nodes.len();
        coverage.push(if missing.is_empty() {
            format!("coverage: flow `{}`: {total}/{total} nodes", flow.id)
        } else {
            format!(
                "coverage: flow `{}`: {}/{total} nodes; never entered: {}",
                flow.id,
                total - missing.len(),
                missing.join(", ")
            )
        });
    }
    if files.is_empty() {
        let _ = writeln!(out, "no *.test.yaml scenario files found");
    }
    if !failures.is_empty() {
        let _ = writeln!(out, "\nfailures:");
        for (name, why) in &failures {
            let _ = writeln!(out, "\n---- {name} ----\n    {why}");
        }
    }
    let _ = writeln!(out);
    for line in &coverage {
        let _ = writeln!(out, "{line}");
    }
    if not_run > 0 {
        let _ = writeln!(out, "{passed} passed, {failed} failed, {not_run} not run");
    } else {
        let _ = writeln!(out, "{passed} passed, {failed} failed");
    }
    if failed > 0 || not_run > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
