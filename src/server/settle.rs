//! How one webhook is settled: its time budget, the tries at it (read the
//! session, step, commit), what a conflict or a failing store turns into, and the
//! answer. The handlers (`handlers.rs`) only say what each request means.

use std::time::Instant;

use axum::http::StatusCode;
use axum::response::Response;
use tracing::warn;

use crate::call::{CallEvent, CallSession, LogEvent, Step, Verb, step_with};
use crate::flow::FlowSet;
use crate::lookup::WEBHOOK_LOOKUP_BUDGET;
use crate::server::AppState;
use crate::server::metrics::Counter;
use crate::server::webhook::{CallSid, LogSafe, xml};
use crate::store::{CommitOutcome, WebhookCommit};
use crate::twiml::render_twiml;

/// Apologise and hang up: for requests phonetree cannot place in any call.
pub(super) fn apology_twiml() -> String {
    render_twiml(
        &[
            Verb::Say {
                text: "Sorry, something went wrong.".into(),
                locale: Some("en-US".into()),
                voice: None,
            },
            Verb::Hangup,
        ],
        "",
    )
}

/// The time one webhook may take, from its arrival: lookups until 10 s, the commit until
/// 12 s, then one bounded retry of a failed commit; inside Twilio's 15 s whatever the
/// store and the CRM do.
#[derive(Debug, Clone, Copy)]
pub(super) struct Budget {
    lookups_until: Instant,
    commit_until: Instant,
}

impl Budget {
    fn starting_now() -> Budget {
        let now = Instant::now();
        Budget {
            lookups_until: now + WEBHOOK_LOOKUP_BUDGET,
            commit_until: now + WEBHOOK_LOOKUP_BUDGET + std::time::Duration::from_secs(2),
        }
    }
}

/// How long the retry of a failed commit may take.
const RETRY_COMMIT: std::time::Duration = std::time::Duration::from_secs(1);

/// What one webhook decided, ready to be committed and answered.
pub(super) struct Answer {
    pub(super) session: CallSession,
    pub(super) verbs: Vec<Verb>,
    pub(super) events: Vec<LogEvent>,
    /// Answered inside a queue's wait (keys pressed during hold music): every answer,
    /// the store-failure one too, holds only what a wait answer may.
    pub(super) in_wait: bool,
}

impl AppState {
    pub(super) fn now(&self) -> chrono::DateTime<chrono::Utc> {
        (self.inner.options.clock)()
    }

    /// Runs lookups the step asks for until the call waits on the provider again.
    pub(super) async fn drive(&self, set: &FlowSet, mut current: Step, budget: Budget) -> Answer {
        let deadline = budget.lookups_until;
        let mut verbs = std::mem::take(&mut current.verbs);
        let mut events = std::mem::take(&mut current.events);
        log_warnings(&current.warnings);
        while let Some(req) = current.lookup.take() {
            let outcome = self.inner.lookups.perform(&req, deadline).await;
            let counter = match outcome {
                crate::call::LookupOutcome::Answer(_) => Counter::LookupOk,
                crate::call::LookupOutcome::Failed(_) => Counter::LookupFailed,
            };
            self.count(counter);
            let event = CallEvent::LookupResult {
                at: req.at,
                outcome,
            };
            let next = step_with(set, &current.session, &event, self.now(), &self.closures());
            log_warnings(&next.warnings);
            verbs.extend(next.verbs);
            events.extend(next.events);
            current = Step {
                session: next.session,
                verbs: vec![],
                lookup: next.lookup,
                events: vec![],
                warnings: vec![],
            };
        }
        Answer {
            session: current.session,
            verbs,
            events,
            in_wait: false,
        }
    }

    /// Steps `event` on `session` and runs the lookups it asks for.
    pub(super) async fn run_event(
        &self,
        set: &FlowSet,
        session: &CallSession,
        event: &CallEvent,
        budget: Budget,
    ) -> Answer {
        let next = step_with(set, session, event, self.now(), &self.closures());
        self.drive(set, next, budget).await
    }

    /// Renders, commits and answers; a duplicate delivery gets the first answer.
    ///
    /// When the rows cannot be committed the caller is not left on a menu whose every
    /// callback would then be stale: the answer becomes the flow's fault path (an apology,
    /// then `on_fail`), which is committed in the same try once more.
    ///
    /// `None` when another webhook of the call was committed since its session was read:
    /// the caller of `answer` reads the session again and steps again.
    async fn answer(
        &self,
        set: &FlowSet,
        answer: Answer,
        base_seq: Option<u32>,
        fingerprint: &str,
        budget: Budget,
    ) -> Option<Response> {
        let twiml = self.render(&answer.verbs);
        let committed = tokio::time::timeout_at(
            budget.commit_until.into(),
            self.commit(&answer, &twiml, base_seq, fingerprint),
        )
        .await
        .unwrap_or_else(|_| {
            Err(crate::store::StoreError::Database(
                "the commit did not finish within the webhook's time".into(),
            ))
        });
        Some(match committed {
            Ok(CommitOutcome::Stored) => {
                self.count_faults(&answer.events);
                xml(StatusCode::OK, twiml)
            }
            Ok(CommitOutcome::Duplicate(first)) => xml(StatusCode::OK, first),
            Ok(CommitOutcome::Conflict) => {
                self.count(Counter::CommitConflict);
                return None;
            }
            Err(e) => {
                tracing::error!(error = %e, "call log commit failed; sending the caller to on_fail");
                self.count(Counter::StoreError);
                self.count(Counter::StoreFallback);
                if answer.in_wait {
                    // Inside a queue's wait only the wait's verbs may answer: the caller
                    // leaves the queue, and its callback carries the call on from the store.
                    return Some(xml(StatusCode::OK, self.render(&[Verb::Leave])));
                }
                let fault = CallEvent::Fault {
                    reason: "the call could not be saved".into(),
                };
                // The lookup budget is spent by now or nearly: a lookup on the way to
                // `on_fail` fails at once and takes its `on_error`.
                let fallback = self.run_event(set, &answer.session, &fault, budget).await;
                let mut events = answer.events;
                events.extend(fallback.events);
                let fallback = Answer {
                    session: fallback.session,
                    verbs: fallback.verbs,
                    events,
                    in_wait: false,
                };
                let fallback_twiml = self.render(&fallback.verbs);
                // Bounded: the provider's 15 s are mostly spent already.
                let retry = tokio::time::timeout(
                    RETRY_COMMIT,
                    self.commit(&fallback, &fallback_twiml, base_seq, fingerprint),
                );
                match retry.await {
                    Ok(Ok(CommitOutcome::Duplicate(first))) => {
                        return Some(xml(StatusCode::OK, first));
                    }
                    Ok(Ok(_)) => self.count_faults(&fallback.events),
                    Ok(Err(e)) => {
                        tracing::error!(error = %e, "call log commit failed again; answering on_fail unsaved");
                        self.count(Counter::StoreError);
                    }
                    Err(_) => {
                        tracing::error!(
                            "call log commit timed out again; answering on_fail unsaved"
                        );
                        self.count(Counter::StoreError);
                    }
                }
                xml(StatusCode::OK, fallback_twiml)
            }
        })
    }

    /// Counts the faults of committed events (once, whatever the tries).
    fn count_faults(&self, events: &[LogEvent]) {
        let faults = events
            .iter()
            .filter(|e| e.kind == crate::call::EventKind::Fault)
            .count();
        self.inner.metrics.add(Counter::Fault, faults as u64);
    }

    pub(super) fn render(&self, verbs: &[Verb]) -> String {
        render_twiml(verbs, &self.inner.options.public_url)
    }

    /// Commits `answer`, whose TwiML is `twiml`.
    async fn commit(
        &self,
        answer: &Answer,
        twiml: &str,
        base_seq: Option<u32>,
        fingerprint: &str,
    ) -> Result<CommitOutcome, crate::store::StoreError> {
        // The caller hears their card number read back; the stored copy of the answer does not
        // keep it (a retried request then hears it masked). Only spoken text is touched.
        let stored_reply = if answer.session.sensitive.is_empty() {
            twiml.to_owned()
        } else {
            self.render(&answer.session.redact_verbs(&answer.verbs))
        };
        let commit = WebhookCommit {
            session: answer.session.redacted(),
            base_seq,
            events: answer.events.clone(),
            reply: Some((fingerprint.to_owned(), stored_reply)),
            now: self.now(),
        };
        self.inner.store.commit(commit).await
    }

    pub(super) async fn cached_reply(
        &self,
        call_sid: &CallSid,
        fingerprint: &str,
        reads: Reads,
    ) -> Option<Response> {
        let store = &self.inner.store;
        let found = match reads {
            Reads::Stored => store.reply(call_sid.as_str(), fingerprint).await,
            Reads::Resident => store.resident_reply(call_sid.as_str(), fingerprint).await,
        };
        match found {
            Ok(Some(reply)) => {
                self.count(Counter::DuplicateWebhook);
                Some(xml(StatusCode::OK, reply))
            }
            Ok(None) => None,
            Err(e) => {
                tracing::error!(error = %e, "reading webhook replies failed");
                self.count(Counter::StoreError);
                None
            }
        }
    }

    /// The stored session. A store that fails to read is logged and is not taken for "no
    /// session": rebuilding one would overwrite the call's real state.
    pub(super) async fn stored_session(
        &self,
        call_sid: &CallSid,
        reads: Reads,
    ) -> Result<Option<CallSession>, crate::store::StoreError> {
        let store = &self.inner.store;
        let found = match reads {
            Reads::Stored => store.session(call_sid.as_str()).await,
            Reads::Resident => store.resident_session(call_sid.as_str()).await,
        };
        found.inspect_err(|e| {
            tracing::error!(error = %e, "loading the session failed");
            self.count(Counter::StoreError);
        })
    }

    /// The flow set a call runs on: `preferred` (the version in a URL), else the session's,
    /// else the newest; a version not in memory is loaded from the store.
    pub(super) async fn flow_set(
        &self,
        preferred: Option<&str>,
        session: Option<&CallSession>,
    ) -> std::sync::Arc<FlowSet> {
        let registry = &self.inner.registry;
        let own = session
            .map(|s| s.version.as_str())
            .filter(|v| Some(*v) != preferred);
        for version in [preferred, own].into_iter().flatten() {
            if let Some(set) = registry.version_or_load(version).await {
                return set;
            }
        }
        registry.current()
    }
}

fn log_warnings(warnings: &[String]) {
    for w in warnings {
        warn!("{}", LogSafe(w));
    }
}

/// The session on `set`'s version (another one when the call's version is gone).
pub(super) fn on_version(mut session: CallSession, set: &FlowSet) -> CallSession {
    session.version.clone_from(&set.version);
    session
}

/// How a try reads the call's session and earlier answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Reads {
    /// From the store, its database included.
    Stored,
    /// As far as the store knows without its database: for call-start webhooks, which
    /// are new calls but for a retry; the commit catches a call it did not know.
    Resident,
}

/// Most tries at one webhook when other webhooks of the call keep committing first.
pub(super) const MAX_TRIES: usize = 8;

/// What one try at a webhook came to.
pub(super) enum Decision {
    /// Answer this; nothing to commit (hold music, an apology for no known call).
    Reply(Response),
    /// Commit this step, computed from the stored session at `base_seq`, and answer it.
    Commit {
        set: std::sync::Arc<FlowSet>,
        answer: Box<Answer>,
        base_seq: Option<u32>,
    },
    /// The session could not be read: try again.
    Retry,
}

impl AppState {
    /// Answers a webhook: the stored answer of a retried delivery, else `decide` (reading the
    /// session and stepping) and a commit, tried again whenever another webhook of the call
    /// committed first. The store, not this process, orders a call's webhooks, so two servers
    /// may take two webhooks of one call at once.
    pub(super) async fn settle<'a>(
        &self,
        call_sid: &CallSid,
        fingerprint: &str,
        replayable: bool,
        first_reads: Reads,
        decide: impl Fn(Budget, Reads) -> std::pin::Pin<Box<dyn Future<Output = Decision> + Send + 'a>>,
    ) -> Response {
        // One budget for every try: a conflict does not buy more time.
        let budget = Budget::starting_now();
        for attempt in 0..MAX_TRIES {
            // A retry reads everything: the first try's guess was wrong.
            let reads = if attempt == 0 {
                first_reads
            } else {
                Reads::Stored
            };
            if replayable && let Some(reply) = self.cached_reply(call_sid, fingerprint, reads).await
            {
                return reply;
            }
            match decide(budget, reads).await {
                Decision::Reply(resp) => return resp,
                Decision::Retry => {}
                Decision::Commit {
                    set,
                    answer,
                    base_seq,
                } => {
                    if let Some(resp) = self
                        .answer(&set, *answer, base_seq, fingerprint, budget)
                        .await
                    {
                        return resp;
                    }
                }
            }
        }
        tracing::error!("other webhooks of this call kept committing first; apologising");
        xml(StatusCode::OK, apology_twiml())
    }
}
