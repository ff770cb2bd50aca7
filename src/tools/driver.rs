//! Drives one call through the state machine without HTTP: the shared engine of
//! `simulate` and `phonetree test`. Lookups are answered by a [`LookupResolver`]
//! (the real service, or canned answers).

use chrono::{DateTime, Utc};

use crate::call::{
    At, CallEvent, CallSession, CallStatus, Continuation, LogEvent, LookupOutcome, LookupRequest,
    Verb, step,
};
use crate::flow::{Flow, FlowSet};

/// Answers the lookups a call makes.
pub trait LookupResolver {
    /// The outcome of one lookup request made at node `node`.
    fn resolve(&mut self, node: &str, req: &LookupRequest) -> LookupOutcome;
}

/// What the call waits for after a turn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Waiting {
    /// Keys at a menu or input.
    Keys {
        /// Where the keys go.
        at: At,
        /// Node name.
        node: String,
        /// Seconds before silence counts.
        timeout_secs: u32,
        /// Most keys taken.
        num_digits: Option<u32>,
        /// Key that ends entry.
        finish_on_key: Option<char>,
    },
    /// The end of a transfer.
    Dial {
        /// The transfer node.
        at: At,
        /// Who is dialed.
        target: String,
    },
    /// The caller sits in a queue.
    Queue {
        /// The queue node.
        at: At,
        /// Queue name.
        name: String,
    },
    /// A voicemail recording.
    Record {
        /// The voicemail node.
        at: At,
        /// Longest recording, seconds.
        max_length_secs: u32,
    },
    /// The call is over.
    Ended,
}

/// One exchange: what the caller heard and what the call now waits for.
#[derive(Debug, Clone)]
pub struct Turn {
    /// Verbs, in order.
    pub verbs: Vec<Verb>,
    /// Events logged.
    pub events: Vec<LogEvent>,
    /// Lookups made, with their outcomes.
    pub lookups: Vec<(String, LookupRequest, LookupOutcome)>,
    /// Where the call stands.
    pub waiting: Waiting,
}

/// A call in progress, driven in process.
pub struct CallDriver<'a> {
    set: &'a FlowSet,
    /// The session after the last turn.
    pub session: CallSession,
    /// Time the call's steps see (fixed or real).
    pub now: DateTime<Utc>,
    resolver: &'a mut dyn LookupResolver,
    /// Every event of the call so far.
    pub events: Vec<LogEvent>,
}

impl<'a> CallDriver<'a> {
    /// Starts a call on `flow`.
    pub fn start(
        set: &'a FlowSet,
        flow: &Flow,
        caller: &str,
        called: &str,
        language: Option<&str>,
        now: DateTime<Utc>,
        resolver: &'a mut dyn LookupResolver,
    ) -> (CallDriver<'a>, Turn) {
        let mut session = CallSession::new("CAsimulated", flow, &set.version, caller, called, now);
        if let Some(lang) = language.filter(|l| flow.language(l).is_some()) {
            session.language = lang.to_owned();
        }
        let first = step(set, &session, &CallEvent::Start, now);
        let mut driver = CallDriver {
            set,
            session,
            now,
            resolver,
            events: Vec::new(),
        };
        let turn = driver.absorb(first);
        (driver, turn)
    }

    /// Sends an event and runs the call until it waits again.
    pub fn send(&mut self, event: &CallEvent) -> Turn {
        let next = step(self.set, &self.session, event, self.now);
        self.absorb(next)
    }

    /// What a caller waiting in the queue at `at` hears with `wait` as the provider
    /// reports it (the hold answer); the call does not move.
    pub fn hold(&self, at: At, wait: crate::call::QueueWait) -> Vec<Verb> {
        step(
            self.set,
            &self.session,
            &CallEvent::Hold { at, wait },
            self.now,
        )
        .verbs
    }

    /// The caller hangs up now.
    pub fn hang_up(&mut self) -> Turn {
        self.send(&CallEvent::Status {
            status: CallStatus::Completed,
        })
    }

    /// The flow the call is in now.
    pub fn flow(&self) -> Option<&std::sync::Arc<Flow>> {
        self.set.get(&self.session.flow)
    }

    fn absorb(&mut self, mut current: crate::call::Step) -> Turn {
        let mut verbs = std::mem::take(&mut current.verbs);
        let mut events = std::mem::take(&mut current.events);
        let mut lookups = Vec::new();
        let mut guard = 0;
        while let Some(req) = current.lookup.take() {
            guard += 1;
            let node = self
                .set
                .get(&current.session.flow)
                .map(|f| f.node(req.at.node).name.clone())
                .unwrap_or_default();
            let outcome = if guard > 100 {
                LookupOutcome::Failed("too many lookups in one turn".into())
            } else {
                self.resolver.resolve(&node, &req)
            };
            let next = step(
                self.set,
                &current.session,
                &CallEvent::LookupResult {
                    at: req.at,
                    outcome: outcome.clone(),
                },
                self.now,
            );
            lookups.push((node, req, outcome));
            verbs.extend(next.verbs);
            events.extend(next.events);
            current = crate::call::Step {
                session: next.session,
                verbs: vec![],
                lookup: next.lookup,
                events: vec![],
                warnings: vec![],
            };
        }
        // Between turns the call keeps only what the server's store keeps: sensitive values
        // masked, so `simulate` and `test` hear what a caller would.
        self.session = current.session.redacted();
        self.events.extend(events.iter().cloned());
        let waiting = self.waiting(&verbs);
        Turn {
            verbs,
            events,
            lookups,
            waiting,
        }
    }

    fn at(&self, c: &Continuation) -> Option<At> {
        let flow = self.set.get(&c.flow)?;
        Some(At {
            node: flow.node_by_name(&c.node)?,
            attempt: c.attempt,
            visit: c.visit,
        })
    }

    fn waiting(&self, verbs: &[Verb]) -> Waiting {
        for verb in verbs.iter().rev() {
            match verb {
                Verb::Gather {
                    action,
                    timeout_secs,
                    num_digits,
                    finish_on_key,
                    ..
                } => {
                    if let Some(at) = self.at(action) {
                        return Waiting::Keys {
                            at,
                            node: action.node.clone(),
                            timeout_secs: *timeout_secs,
                            num_digits: *num_digits,
                            finish_on_key: *finish_on_key,
                        };
                    }
                }
                Verb::Dial { target, action, .. } => {
                    if let Some(at) = self.at(action) {
                        let target = target.to_string();
                        return Waiting::Dial { at, target };
                    }
                }
                Verb::Enqueue { name, action, .. } => {
                    if let Some(at) = self.at(action) {
                        return Waiting::Queue {
                            at,
                            name: name.clone(),
                        };
                    }
                }
                Verb::Record {
                    action,
                    max_length_secs,
                    ..
                } => {
                    if let Some(at) = self.at(action) {
                        return Waiting::Record {
                            at,
                            max_length_secs: *max_length_secs,
                        };
                    }
                }
                Verb::Hangup => return Waiting::Ended,
                _ => {}
            }
        }
        Waiting::Ended
    }

    /// Node names entered so far, in order: the caller's path.
    pub fn path(&self) -> Vec<String> {
        self.events
            .iter()
            .filter(|e| e.kind == crate::call::EventKind::Entered)
            .filter_map(|e| e.node.clone())
            .collect()
    }
}

/// Canned lookup answers by node name; lookups without one fail.
#[derive(Debug, Default, Clone)]
pub struct CannedLookups {
    /// Node name to outcome.
    pub answers: std::collections::HashMap<String, LookupOutcome>,
}

impl LookupResolver for CannedLookups {
    fn resolve(&mut self, node: &str, _req: &LookupRequest) -> LookupOutcome {
        self.answers.get(node).cloned().unwrap_or_else(|| {
            LookupOutcome::Failed(format!("no answer given for lookup `{node}`"))
        })
    }
}

/// Text of what a caller hears, one line per verb: `say (en-US): ...`, `[play en/x.wav 2.8 s]`.
pub fn transcript(verbs: &[Verb]) -> Vec<String> {
    let mut out = Vec::new();
    for verb in verbs {
        match verb {
            Verb::Say { text, locale, .. } => match locale {
                Some(l) => out.push(format!("say ({l}): {text}")),
                None => out.push(format!("say: {text}")),
            },
            Verb::Play { file, duration } => out.push(format!(
                "[play prompts/{file} {:.1} s]",
                duration.as_secs_f64()
            )),
            Verb::Pause { seconds } => out.push(format!("[pause {seconds} s]")),
            Verb::Gather { prompt, .. } => out.extend(transcript(prompt)),
            _ => {}
        }
    }
    out
}
