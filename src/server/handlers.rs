//! The Twilio webhook handlers: read the request, step the call, render TwiML,
//! commit the rows, answer. Every `/twilio/*` answer is a TwiML document.

use std::time::Instant;

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use tracing::{Instrument, info_span, warn};

use crate::call::{
    At, CallEvent, CallSession, CallStatus, DialStatus, LogEvent, Resume, Step, Verb, start_call,
    step,
};
use crate::flow::{Flow, FlowSet};
use crate::lookup::WEBHOOK_LOOKUP_BUDGET;
use crate::server::AppState;
use crate::server::metrics::Counter;
use crate::server::signature::signature_matches;
use crate::store::{CommitOutcome, WebhookCommit};
use crate::twiml::{empty_response, render_twiml};

/// Largest webhook body accepted; Twilio's are a few hundred bytes.
const MAX_BODY: usize = 64 * 1024;

/// A TwiML answer.
fn xml(status: StatusCode, body: String) -> Response {
    let mut resp = (status, body).into_response();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/xml"));
    resp
}

/// Apologise and hang up: for requests phonetree cannot place in any call.
fn apology_twiml() -> String {
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

/// Turns a panic inside a handler into valid TwiML instead of a bare 500.
pub fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response<Body> {
    tracing::error!("handler panicked; answered with an apology");
    xml(StatusCode::OK, apology_twiml())
}

/// A webhook request, read and (when a token is configured) verified.
struct Webhook {
    params: Vec<(String, String)>,
    query: Vec<(String, String)>,
}

impl Webhook {
    fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
    fn query(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Reads the form (POST body, or the query for GET webhooks) and checks the signature.
    async fn read(state: &AppState, req: Request) -> Result<Webhook, Response> {
        let (parts, body) = req.into_parts();
        let query: Vec<(String, String)> =
            form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes())
                .into_owned()
                .collect();
        let bytes = axum::body::to_bytes(body, MAX_BODY)
            .await
            .map_err(|_| xml(StatusCode::PAYLOAD_TOO_LARGE, empty_response()))?;
        let params: Vec<(String, String)> = if parts.method == Method::GET {
            query.clone()
        } else {
            form_urlencoded::parse(&bytes).into_owned().collect()
        };
        if let Some(token) = &state.inner.options.auth_token {
            let url = format!(
                "{}{}",
                state.inner.options.public_url.trim_end_matches('/'),
                parts.uri.path_and_query().map_or("/", |p| p.as_str())
            );
            let signed: &[(String, String)] = if parts.method == Method::GET {
                &[]
            } else {
                &params
            };
            let signature = parts
                .headers
                .get("x-twilio-signature")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if !signature_matches(token, &url, signed, signature) {
                // The path only: a GET webhook's query carries the caller's keys.
                warn!(
                    path = parts.uri.path(),
                    "rejected a request with a bad or missing X-Twilio-Signature"
                );
                state.inner.metrics.add(Counter::SignatureRejected, 1);
                return Err(xml(StatusCode::FORBIDDEN, empty_response()));
            }
        }
        Ok(Webhook { params, query })
    }

    fn call_sid(&self) -> Result<&str, Response> {
        match self.param("CallSid") {
            Some(sid) if !sid.is_empty() && sid.len() <= 64 => Ok(sid),
            _ => Err(xml(StatusCode::BAD_REQUEST, apology_twiml())),
        }
    }

    /// Identifies a request so a retried delivery gets the same answer: the route, the
    /// query and every parameter.
    ///
    /// `Digits` is left out: a continuation URL names one wait of one call (its visit token),
    /// which the provider answers once, and a hash of a short PIN could be reversed by trying
    /// every PIN.
    fn fingerprint(&self, route: &str) -> String {
        let mut params: Vec<&(String, String)> =
            self.params.iter().filter(|(k, _)| k != "Digits").collect();
        params.sort();
        let mut h = Sha256::new();
        h.update(route.as_bytes());
        for (k, v) in self.query.iter().chain(params) {
            h.update([0]);
            h.update(k.as_bytes());
            h.update([1]);
            h.update(v.as_bytes());
        }
        hex::encode(&h.finalize()[..16])
    }
}

impl AppState {
    async fn lock_call(&self, call_sid: &str) -> tokio::sync::MutexGuard<'_, ()> {
        let hash = call_sid
            .bytes()
            .fold(0usize, |h, b| h.wrapping_mul(31).wrapping_add(b as usize));
        self.inner.call_locks[hash % self.inner.call_locks.len()]
            .lock()
            .await
    }

    /// Runs lookups the step asks for until the call waits on the provider again.
    async fn drive(
        &self,
        set: &FlowSet,
        mut current: Step,
    ) -> (CallSession, Vec<Verb>, Vec<LogEvent>) {
        let deadline = Instant::now() + WEBHOOK_LOOKUP_BUDGET;
        let mut verbs = std::mem::take(&mut current.verbs);
        let mut events = std::mem::take(&mut current.events);
        log_warnings(&current.warnings);
        while let Some(req) = current.lookup.take() {
            let outcome = self.inner.lookups.perform(&req, deadline).await;
            let counter = match outcome {
                crate::call::LookupOutcome::Answer(_) => Counter::LookupOk,
                crate::call::LookupOutcome::Failed(_) => Counter::LookupFailed,
            };
            self.inner.metrics.add(counter, 1);
            let next = step(
                set,
                &current.session,
                &CallEvent::LookupResult {
                    at: req.at,
                    outcome,
                },
                (self.inner.options.clock)(),
            );
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
        (current.session, verbs, events)
    }

    /// Renders, commits and answers; a duplicate delivery gets the first answer.
    async fn answer(
        &self,
        session: CallSession,
        verbs: &[Verb],
        events: Vec<LogEvent>,
        fingerprint: String,
    ) -> Response {
        let faults = events
            .iter()
            .filter(|e| e.kind == crate::call::EventKind::Fault)
            .count();
        self.inner.metrics.add(Counter::Fault, faults as u64);
        let twiml = render_twiml(verbs, &self.inner.options.public_url);
        // The caller hears their card number read back; the stored copy of the answer does not
        // keep it (a retried request then hears it masked). Only spoken text is touched.
        let stored_reply = if session.sensitive.is_empty() {
            twiml.clone()
        } else {
            render_twiml(&session.redact_verbs(verbs), &self.inner.options.public_url)
        };
        let commit = WebhookCommit {
            session: session.redacted(),
            events,
            reply: Some((fingerprint, stored_reply)),
            now: (self.inner.options.clock)(),
        };
        match self.inner.store.commit(commit).await {
            Ok(CommitOutcome::Stored) => xml(StatusCode::OK, twiml),
            Ok(CommitOutcome::Duplicate(first)) => xml(StatusCode::OK, first),
            Err(e) => {
                // The caller must still hear the flow; the rows of this webhook are lost.
                tracing::error!(error = %e, "call log commit failed");
                self.inner.metrics.add(Counter::StoreError, 1);
                xml(StatusCode::OK, twiml)
            }
        }
    }

    async fn cached_reply(&self, call_sid: &str, fingerprint: &str) -> Option<Response> {
        match self.inner.store.reply(call_sid, fingerprint).await {
            Ok(Some(reply)) => {
                self.inner.metrics.add(Counter::DuplicateWebhook, 1);
                Some(xml(StatusCode::OK, reply))
            }
            Ok(None) => None,
            Err(e) => {
                tracing::error!(error = %e, "reading webhook replies failed");
                self.inner.metrics.add(Counter::StoreError, 1);
                None
            }
        }
    }
}

fn log_warnings(warnings: &[String]) {
    for w in warnings {
        warn!("{w}");
    }
}

/// `POST /twilio/voice`: a call comes in.
pub async fn voice(State(state): State<AppState>, req: Request) -> Response {
    let hook = match Webhook::read(&state, req).await {
        Ok(h) => h,
        Err(resp) => return resp,
    };
    state.inner.metrics.webhook("voice");
    let call_sid = match hook.call_sid() {
        Ok(s) => s.to_owned(),
        Err(resp) => return resp,
    };
    let span = info_span!("webhook", call_sid = %call_sid, flow = tracing::field::Empty, node = tracing::field::Empty);
    async move {
        let _guard = state.lock_call(&call_sid).await;
        let fingerprint = hook.fingerprint("voice");
        if let Some(reply) = state.cached_reply(&call_sid, &fingerprint).await {
            return reply;
        }
        // A second `voice` webhook for a live call (a provider retry that differs, a fallback
        // URL) must not restart it: the caller is asked again where they are.
        if let Ok(Some(live)) = state.inner.store.session(&call_sid).await {
            let registry = &state.inner.registry;
            let set = registry
                .version(&live.version)
                .unwrap_or_else(|| registry.current());
            let event = CallEvent::Stale {
                reason: "a second call-start webhook for this call".into(),
            };
            let next = step(&set, &live, &event, (state.inner.options.clock)());
            let (session, verbs, events) = state.drive(&set, next).await;
            return state.answer(session, &verbs, events, fingerprint).await;
        }
        let set = state.inner.registry.current();
        let to = hook.param("To").unwrap_or("");
        let from = hook.param("From").unwrap_or("");
        let Some(flow) = choose_flow(&set, to, hook.query("flow")) else {
            warn!(to, "no flow answers this call");
            return xml(StatusCode::OK, apology_twiml());
        };
        tracing::Span::current().record("flow", flow.id.as_str());
        let first = start_call(
            &set,
            &flow,
            &call_sid,
            from,
            to,
            (state.inner.options.clock)(),
        );
        let (session, verbs, events) = state.drive(&set, first).await;
        if let Some(node) = &session.node {
            tracing::Span::current().record("node", node.as_str());
        }
        tracing::info!("call started");
        state.inner.metrics.add(Counter::CallStarted, 1);
        state.answer(session, &verbs, events, fingerprint).await
    }
    .instrument(span)
    .await
}

/// The flow for a new call: by `To` number, else `?flow=`, else the default flow, else the only flow.
fn choose_flow(set: &FlowSet, to: &str, query_flow: Option<&str>) -> Option<std::sync::Arc<Flow>> {
    if let Some(id) = set.numbers.get(to) {
        return set.get(id).cloned();
    }
    if let Some(flow) = query_flow.and_then(|id| set.get(id)) {
        return Some(flow.clone());
    }
    set.route(to).cloned()
}

/// `POST /twilio/{gather,silence,dial,record,queue,hold}`: the continuation URLs phonetree writes.
pub async fn resume(
    State(state): State<AppState>,
    segment: Result<Path<String>, axum::extract::rejection::PathRejection>,
    req: Request,
) -> Response {
    let Ok(Path(segment)) = segment else {
        return xml(StatusCode::NOT_FOUND, apology_twiml());
    };
    let hook = match Webhook::read(&state, req).await {
        Ok(h) => h,
        Err(resp) => return resp,
    };
    let Some(resume) = Resume::parse(&segment) else {
        return xml(StatusCode::NOT_FOUND, apology_twiml());
    };
    state.inner.metrics.webhook(resume.as_str());
    let call_sid = match hook.call_sid() {
        Ok(s) => s.to_owned(),
        Err(resp) => return resp,
    };
    let node_name = hook.query("node").unwrap_or("").to_owned();
    let span = info_span!("webhook", call_sid = %call_sid, flow = hook.query("flow").unwrap_or(""), node = %node_name, resume = resume.as_str());
    async move {
        let _guard = state.lock_call(&call_sid).await;
        let fingerprint = hook.fingerprint(resume.as_str());
        if resume != Resume::Hold
            && let Some(reply) = state.cached_reply(&call_sid, &fingerprint).await
        {
            return reply;
        }
        let now = (state.inner.options.clock)();
        let stored = match state.inner.store.session(&call_sid).await {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %e, "loading the session failed; continuing without it");
                None
            }
        };
        // The version in the URL is the one that wrote it; fall back to the session's, then the newest.
        let registry = &state.inner.registry;
        let set = hook
            .query("v")
            .and_then(|v| registry.version(v))
            .or_else(|| stored.as_ref().and_then(|s| registry.version(&s.version)))
            .unwrap_or_else(|| registry.current());
        let attempt = hook
            .query("attempt")
            .and_then(|a| a.parse::<u32>().ok())
            .unwrap_or(0);
        let visit = hook
            .query("s")
            .and_then(|a| a.parse::<u32>().ok())
            .unwrap_or(0);
        // The session knows which flow the call is in; the URL only says where it was.
        let url_flow = hook.query("flow");
        let flow_id = stored
            .as_ref()
            .map(|s| s.flow.clone())
            .or(url_flow.map(str::to_owned));
        let Some(flow) = flow_id.as_deref().and_then(|id| set.get(id)).cloned() else {
            warn!("continuation for an unknown flow");
            return xml(StatusCode::OK, apology_twiml());
        };
        let mut session = match stored {
            Some(s) => s,
            None => {
                warn!("no session for this call; resuming it where the URL says it is");
                let mut s = CallSession::new(
                    &call_sid,
                    &flow,
                    &set.version,
                    hook.param("From").unwrap_or(""),
                    hook.param("To").unwrap_or(""),
                    now,
                );
                s.node = Some(node_name.clone());
                s.attempt = attempt;
                s.visit = visit;
                // Carry on numbering after the rows the call already has.
                s.seq = match state.inner.store.events(&call_sid).await {
                    Ok(events) => events.last().map_or(0, |e| e.seq),
                    Err(_) => 0,
                };
                s
            }
        };
        if set.version != session.version {
            session.version = set.version.clone();
        }
        let event = match flow.node_by_name(&node_name) {
            _ if url_flow.is_some_and(|f| f != flow.id) => CallEvent::Stale {
                reason: format!(
                    "callback for flow `{}` while the call is in `{}`",
                    url_flow.unwrap_or(""),
                    flow.id
                ),
            },
            None => CallEvent::Stale {
                reason: format!(
                    "callback for node `{node_name}`, which flow `{}` does not have",
                    flow.id
                ),
            },
            Some(node) => {
                let at = At {
                    node,
                    attempt,
                    visit,
                };
                match resume {
                    Resume::Gather => CallEvent::Digits {
                        at,
                        digits: hook.param("Digits").unwrap_or("").to_owned(),
                    },
                    Resume::Silence => CallEvent::Silence { at },
                    Resume::Dial => CallEvent::DialResult {
                        at,
                        status: hook
                            .param("DialCallStatus")
                            .and_then(DialStatus::parse)
                            .unwrap_or(DialStatus::Failed),
                    },
                    Resume::Record => CallEvent::Recorded {
                        at,
                        url: hook.param("RecordingUrl").map(str::to_owned),
                        duration_secs: hook.param("RecordingDuration").and_then(|d| d.parse().ok()),
                    },
                    Resume::Queue => CallEvent::QueueLeft {
                        at,
                        result: hook.param("QueueResult").unwrap_or("leave").to_owned(),
                    },
                    Resume::Hold => CallEvent::Hold { at },
                }
            }
        };
        let next = step(&set, &session, &event, now);
        if resume == Resume::Hold {
            // Hold music is fetched again and again while the caller waits: answer, log nothing.
            return xml(
                StatusCode::OK,
                render_twiml(&next.verbs, &state.inner.options.public_url),
            );
        }
        let (session, verbs, events) = state.drive(&set, next).await;
        state.answer(session, &verbs, events, fingerprint).await
    }
    .instrument(span)
    .await
}

/// `POST /twilio/status`: the call status callback; closes the call's record.
pub async fn status(State(state): State<AppState>, req: Request) -> Response {
    let hook = match Webhook::read(&state, req).await {
        Ok(h) => h,
        Err(resp) => return resp,
    };
    state.inner.metrics.webhook("status");
    let call_sid = match hook.call_sid() {
        Ok(s) => s.to_owned(),
        Err(resp) => return resp,
    };
    let span = info_span!(
        "webhook",
        call_sid = %call_sid,
        flow = tracing::field::Empty,
        node = tracing::field::Empty,
        status = hook.param("CallStatus").unwrap_or("")
    );
    async move {
        let Some(status) = hook.param("CallStatus").and_then(CallStatus::parse) else {
            return xml(StatusCode::OK, empty_response());
        };
        let _guard = state.lock_call(&call_sid).await;
        let fingerprint = format!("status:{}", status.as_str());
        if let Some(reply) = state.cached_reply(&call_sid, &fingerprint).await {
            return reply;
        }
        let session = match state.inner.store.session(&call_sid).await {
            Ok(Some(s)) => {
                tracing::Span::current().record("flow", s.flow.as_str());
                if let Some(node) = &s.node {
                    tracing::Span::current().record("node", node.as_str());
                }
                s
            }
            Ok(None) => {
                warn!("status callback for a call phonetree never answered");
                return xml(StatusCode::OK, empty_response());
            }
            Err(e) => {
                tracing::error!(error = %e, "loading the session failed");
                return xml(StatusCode::OK, empty_response());
            }
        };
        let registry = &state.inner.registry;
        let set = registry
            .version(&session.version)
            .unwrap_or_else(|| registry.current());
        let next = step(
            &set,
            &session,
            &CallEvent::Status { status },
            (state.inner.options.clock)(),
        );
        if next.events.is_empty() {
            return xml(StatusCode::OK, empty_response());
        }
        tracing::info!(outcome = ?next.session.outcome, "call ended");
        state.inner.metrics.add(Counter::CallEnded, 1);
        let commit = WebhookCommit {
            session: next.session.redacted(),
            events: next.events,
            reply: Some((fingerprint, empty_response())),
            now: (state.inner.options.clock)(),
        };
        if let Err(e) = state.inner.store.commit(commit).await {
            tracing::error!(error = %e, "call log commit failed");
        }
        xml(StatusCode::OK, empty_response())
    }
    .instrument(span)
    .await
}

/// Any other path: TwiML for the provider's `/twilio` tree, a plain 404 elsewhere.
pub async fn not_found(uri: axum::http::Uri) -> Response {
    if uri.path().starts_with("/twilio") {
        xml(StatusCode::NOT_FOUND, apology_twiml())
    } else {
        (StatusCode::NOT_FOUND, "not found\n").into_response()
    }
}

/// `GET /metrics`: Prometheus counters.
pub async fn metrics(State(state): State<AppState>) -> Response {
    let version = state.inner.registry.current().version.clone();
    let mut resp = state.inner.metrics.render(&version).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4"),
    );
    resp
}

/// `GET /healthz`: liveness, the version served and why the last reload failed.
pub async fn healthz(State(state): State<AppState>) -> Response {
    let set = state.inner.registry.current();
    let body = serde_json::json!({
        "status": "ok",
        "version": set.version,
        "flows": set.flows.keys().collect::<Vec<_>>(),
        "last_reload_error": state.inner.registry.last_error(),
    });
    axum::Json(body).into_response()
}
