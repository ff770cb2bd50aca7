//! Whole-flow checks on the compiled graph: endless redirect loops, unreachable
//! nodes, and input patterns no digit string can satisfy.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use indexmap::IndexMap;
use regex_automata::dfa::{Automaton, dense};
use regex_automata::{Anchored, Input};

use crate::flow::diagnostic::{Code, Diagnostic};
use crate::flow::model::{Flow, NodeId, Target};
use crate::flow::parse::SourceFile;

/// Reports every cycle of edges that do not wait for the caller (message -> set -> message ...).
pub fn check_flow(flow: &Flow, src: &SourceFile, diags: &mut Vec<Diagnostic>) {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Active,
        Done,
    }
    let n = flow.nodes.len();
    let succ = |id: NodeId| -> Vec<NodeId> {
        flow.edges(id)
            .into_iter()
            .filter(|(label, _)| !label.waits())
            .filter_map(|(_, t)| flow.resolve_static(id, t))
            .collect()
    };
    let mut mark = vec![Mark::New; n];
    for root in 0..n {
        if mark[root] != Mark::New {
            continue;
        }
        // Iterative DFS keeping the active path, so the loop can be printed.
        let mut stack: Vec<(NodeId, Vec<NodeId>, usize)> =
            vec![(NodeId(root as u32), succ(NodeId(root as u32)), 0)];
        mark[root] = Mark::Active;
        while let Some((node, next, i)) = stack.last_mut() {
            if let Some(&child) = next.get(*i) {
                *i += 1;
                let _ = node;
                match mark[child.index()] {
                    Mark::New => {
                        mark[child.index()] = Mark::Active;
                        let s = succ(child);
                        stack.push((child, s, 0));
                    }
                    Mark::Active => {
                        let start = stack
                            .iter()
                            .position(|(id, _, _)| *id == child)
                            .unwrap_or(0);
                        let mut names: Vec<&str> = stack[start..]
                            .iter()
                            .map(|(id, _, _)| flow.node(*id).name.as_str())
                            .collect();
                        names.push(&flow.node(child).name);
                        let first = names[0];
                        diags.push(
                            Diagnostic::new(
                                Code::EndlessLoop,
                                format!("endless loop: {}", names.join(" -> ")),
                            )
                            .at(src.key_at(&["nodes", first]))
                            .label("no caller input breaks this loop")
                            .hint(Some(
                                "put a menu or input in the loop, or end it with `hangup`".into(),
                            )),
                        );
                    }
                    Mark::Done => {}
                }
            } else {
                let done = *node;
                mark[done.index()] = Mark::Done;
                stack.pop();
            }
        }
    }
}

/// Warns about nodes no call reaches, following targets across flows.
pub fn check_reachability(
    flows: &IndexMap<String, Arc<Flow>>,
    sources: &HashMap<String, &SourceFile>,
    diags: &mut Vec<Diagnostic>,
) {
    let mut seen: HashMap<&str, Vec<bool>> = flows
        .iter()
        .map(|(id, f)| (id.as_str(), vec![false; f.nodes.len()]))
        .collect();
    let mut queue: VecDeque<(&str, NodeId)> =
        flows.iter().map(|(id, f)| (id.as_str(), f.start)).collect();
    while let Some((fid, node)) = queue.pop_front() {
        let Some(flow) = flows.get(fid) else { continue };
        let Some(marks) = seen.get_mut(fid) else {
            continue;
        };
        if std::mem::replace(&mut marks[node.index()], true) {
            continue;
        }
        let mut targets: Vec<&Target> = flow.edges(node).into_iter().map(|(_, t)| t).collect();
        targets.push(&flow.on_fail);
        for t in targets {
            match t {
                Target::Flow {
                    flow: other,
                    node: name,
                } => {
                    if let Some((key, f)) = flows.get_key_value(other.as_str())
                        && let Some(id) = f.node_by_name(name)
                    {
                        queue.push_back((key.as_str(), id));
                    }
                }
                t => {
                    if let Some(id) = flow.resolve_static(node, t) {
                        queue.push_back((fid, id));
                    }
                }
            }
        }
    }
    for (fid, flow) in flows {
        let Some(src) = sources.get(fid.as_str()) else {
            continue;
        };
        for (i, node) in flow.nodes.iter().enumerate() {
            if !seen[fid.as_str()][i] {
                diags.push(
                    Diagnostic::new(
                        Code::UnreachableNode,
                        format!("node `{}` is never reached", node.name),
                    )
                    .at(src.key_at(&["nodes", &node.name]))
                    .label("no path from `start` leads here")
                    .hint(Some(
                        "point a menu option or `next` at it, or remove it".into(),
                    )),
                );
            }
        }
    }
}

/// True when some string of `min..=max` digits matches `pattern` (searched like `Regex::is_match`).
/// Patterns too large to turn into a DFA are given the benefit of the doubt.
pub fn pattern_accepts_some_length(pattern: &str, min: u32, max: u32) -> bool {
    let built = dense::Builder::new()
        .configure(
            dense::Config::new()
                .dfa_size_limit(Some(1 << 20))
                .determinize_size_limit(Some(1 << 20)),
        )
        .build(pattern);
    let Ok(dfa) = built else { return true };
    let Ok(start) = dfa.start_state_forward(&Input::new("").anchored(Anchored::No)) else {
        return true;
    };
    let mut states = vec![start];
    for depth in 0..=max {
        let mut next = Vec::new();
        for &s in &states {
            if dfa.is_match_state(s) {
                // A match ended earlier; any further digits keep it.
                if depth <= max {
                    return true;
                }
            }
            if depth >= min && dfa.is_match_state(dfa.next_eoi_state(s)) {
                return true;
            }
            if depth < max {
                for b in b'0'..=b'9' {
                    let t = dfa.next_state(s, b);
                    if !dfa.is_dead_state(t) && !next.contains(&t) {
                        next.push(t);
                    }
                }
            }
        }
        if next.is_empty() {
            return false;
        }
        states = next;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pattern_lengths() {
        assert!(pattern_accepts_some_length("^[0-9]{6}$", 6, 6));
        assert!(!pattern_accepts_some_length("^[0-9]{6}$", 4, 4));
        assert!(!pattern_accepts_some_length("^[0-9]{6}$", 1, 5));
        assert!(pattern_accepts_some_length("^[0-9]{6}$", 1, 8));
        assert!(!pattern_accepts_some_length("^[a-z]+$", 1, 10));
        assert!(pattern_accepts_some_length("12", 4, 4));
        assert!(!pattern_accepts_some_length("^9{5}", 4, 4));
        assert!(pattern_accepts_some_length("^4[0-9]{15}$", 16, 16));
    }
}
