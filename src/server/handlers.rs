//! The Twilio webhook handlers: what each request means for its call (settling it,
//! committing and answering, is `settle.rs`). Every `/twilio/*` answer is a TwiML document; a request that belongs
//! to a call (a valid CallSid, and a valid signature when a token is set) is
//! always answered 200, since Twilio turns any error status into "an application
//! error has occurred".

use axum::body::Body;
use axum::extract::{FromRequest, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tracing::{Instrument, info_span, warn};

use crate::call::{
    At, CallEvent, CallSession, CallStatus, Continuation, DialStatus, QueueResult, Resume, Verb,
    step, step_with,
};
use crate::flow::{Flow, FlowSet};
use crate::server::AppState;
use crate::server::metrics::Counter;
use crate::server::settle::{Budget, Decision, MAX_TRIES, Reads, apology_twiml, on_version};
use crate::server::webhook::{CallSid, LogSafe, Webhook, WebhookError, xml};
use crate::store::{CommitOutcome, WebhookCommit};
use crate::twiml::empty_response;

/// Turns a panic inside a handler into valid TwiML instead of a bare 500.
pub fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response<Body> {
    tracing::error!("handler panicked; answered with an apology");
    xml(StatusCode::OK, apology_twiml())
}

/// `POST /twilio/voice`: a call comes in.
pub async fn voice(State(state): State<AppState>, hook: Result<Webhook, WebhookError>) -> Response {
    let hook = match hook {
        Ok(h) => h,
        Err(e) => return e.into_response(),
    };
    state.inner.metrics.webhook("voice");
    let call_sid = hook.call_sid.clone();
    let span = info_span!("webhook", call_sid = %call_sid, flow = tracing::field::Empty, node = tracing::field::Empty);
    let fingerprint = hook.fingerprint("voice");
    state
        .settle(
            &call_sid,
            &fingerprint,
            true,
            Reads::Resident,
            |budget, reads| Box::pin(decide_voice(&state, &hook, &call_sid, budget, reads)),
        )
        .instrument(span)
        .await
}

/// One try at a call-start webhook.
async fn decide_voice(
    state: &AppState,
    hook: &Webhook,
    call_sid: &CallSid,
    budget: Budget,
    reads: Reads,
) -> Decision {
    // A second `voice` webhook for a live call (a provider retry that differs, a fallback
    // URL) must not restart it: the caller is asked again where they are.
    let Ok(stored) = state.stored_session(call_sid, reads).await else {
        return Decision::Retry;
    };
    if let Some(live) = stored {
        let set = state.flow_set(None, Some(&live)).await;
        let event = CallEvent::Stale {
            reason: "a second call-start webhook for this call".into(),
        };
        let base_seq = Some(live.seq);
        let answer = state
            .run_event(&set, &on_version(live, &set), &event, budget)
            .await;
        return Decision::Commit {
            set,
            answer: Box::new(answer),
            base_seq,
        };
    }
    let set = state.inner.registry.current();
    let to = hook.param("To").unwrap_or("");
    let from = hook.param("From").unwrap_or("");
    let Some(flow) = choose_flow(&set, to, hook.query_param("flow").as_deref()) else {
        warn!(to = %LogSafe(to), "no flow answers this call");
        return Decision::Reply(xml(StatusCode::OK, apology_twiml()));
    };
    tracing::Span::current().record("flow", flow.id.as_str());
    let now = state.now();
    let session = CallSession::new(call_sid.as_str(), &flow, &set.version, from, to, now);
    let first = step_with(&set, &session, &CallEvent::Start, now, &state.closures());
    // Memory alone said this call is new; before a lookup reaches the CRM, the store is
    // asked whether the call is only on disk (a re-sent call start after a restart, or
    // one another server took), so the CRM is not asked twice.
    if reads == Reads::Resident && first.lookup.is_some() {
        match state.stored_session(call_sid, Reads::Stored).await {
            Ok(None) => {}
            Ok(Some(_)) | Err(_) => return Decision::Retry,
        }
    }
    let answer = state.drive(&set, first, budget).await;
    if let Some(node) = answer.session.node() {
        tracing::Span::current().record("node", node);
    }
    tracing::info!("call started");
    state.count(Counter::CallStarted);
    Decision::Commit {
        set,
        answer: Box::new(answer),
        base_seq: None,
    }
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

/// `POST /twilio/{gather,silence,dial,record,queue,hold}`: the continuation URLs phonetree
/// writes; any other path below `/twilio/` is a callback phonetree cannot place.
pub async fn resume(State(state): State<AppState>, req: Request) -> Response {
    let segment = req
        .uri()
        .path()
        .strip_prefix("/twilio/")
        .unwrap_or("")
        .to_owned();
    let hook = match Webhook::from_request(req, &state).await {
        Ok(h) => h,
        Err(e) => return e.into_response(),
    };
    let call_sid = hook.call_sid.clone();
    let Some(resume) = Resume::parse(&segment) else {
        return unknown_callback(state, hook, call_sid, segment).await;
    };
    state.inner.metrics.webhook(resume.as_str());
    let continuation = Continuation::from_query(resume, &hook.query);
    let span = info_span!(
        "webhook",
        call_sid = %call_sid,
        flow = %LogSafe(continuation.as_ref().map_or("", |c| c.flow.as_str())),
        node = %LogSafe(continuation.as_ref().map_or("", |c| c.node.as_str())),
        resume = resume.as_str()
    );
    let fingerprint = hook.fingerprint(resume.as_str());
    let continuation = continuation.as_ref();
    state
        .settle(
            &call_sid,
            &fingerprint,
            resume != Resume::Hold,
            Reads::Stored,
            |budget, _| {
                Box::pin(decide_resume(
                    &state,
                    &hook,
                    &call_sid,
                    resume,
                    continuation,
                    budget,
                ))
            },
        )
        .instrument(span)
        .await
}

/// One try at a continuation callback.
async fn decide_resume(
    state: &AppState,
    hook: &Webhook,
    call_sid: &CallSid,
    resume: Resume,
    continuation: Result<&Continuation, &crate::call::ContinuationError>,
    budget: Budget,
) -> Decision {
    let Ok(stored) = state.stored_session(call_sid, Reads::Stored).await else {
        return Decision::Retry;
    };
    let base_seq = stored.as_ref().map(|s| s.seq);
    // The version in the URL is the one that wrote it; fall back to the session's, then the newest.
    let set = state
        .flow_set(
            continuation.ok().map(|c| c.version.as_str()),
            stored.as_ref(),
        )
        .await;
    let continuation = match continuation {
        Ok(c) => c,
        Err(e) => {
            if resume == Resume::Hold {
                return Decision::Reply(xml(StatusCode::OK, state.render(&[Verb::Leave])));
            }
            let Some(session) = stored else {
                warn!("a continuation without its place, for a call phonetree does not know");
                return Decision::Reply(xml(StatusCode::OK, apology_twiml()));
            };
            // Not a URL phonetree wrote: the caller is asked again where they are.
            let event = CallEvent::Stale {
                reason: format!("callback without its place in the flow: {e}"),
            };
            let answer = state
                .run_event(&set, &on_version(session, &set), &event, budget)
                .await;
            return Decision::Commit {
                set,
                answer: Box::new(answer),
                base_seq,
            };
        }
    };
    // The session knows which flow the call is in; the URL only says where it was.
    let flow_id = stored
        .as_ref()
        .map_or(continuation.flow.as_str(), |s| s.flow.as_str());
    let Some(flow) = set.get(flow_id).cloned() else {
        warn!("continuation for an unknown flow");
        return Decision::Reply(xml(StatusCode::OK, apology_twiml()));
    };
    let session = match stored {
        Some(s) => s,
        None => rebuild_session(state, hook, call_sid, &flow, &set, continuation).await,
    };
    let session = on_version(session, &set);
    let event = callback_event(hook, &flow, continuation);
    if resume == Resume::Hold {
        // Hold music is fetched again and again while the caller waits: answer, log
        // nothing, and never anything a wait answer may not hold. A wait phonetree cannot
        // place takes the caller out of the queue: its action callback carries the call on.
        let verbs: Vec<Verb> = match event {
            CallEvent::Hold { .. } => step(&set, &session, &event, state.now())
                .verbs
                .into_iter()
                .filter(Verb::allowed_while_waiting)
                .collect(),
            _ => vec![Verb::Leave],
        };
        return Decision::Reply(xml(StatusCode::OK, state.render(&verbs)));
    }
    let mut answer = state.run_event(&set, &session, &event, budget).await;
    if resume == Resume::HoldKey {
        // Keys pressed during hold music are answered inside the wait: only what a wait
        // answer may hold.
        answer.verbs.retain(Verb::allowed_while_waiting);
        answer.in_wait = true;
        if answer.events.is_empty() {
            // A key that is not the leave key changes nothing, and is not kept: the
            // next key at the same wait is a new request, not a retry of this one.
            return Decision::Reply(xml(StatusCode::OK, state.render(&answer.verbs)));
        }
    }
    Decision::Commit {
        set,
        answer: Box::new(answer),
        base_seq,
    }
}

/// A session for a call the store has no session of, rebuilt where the URL says it is.
async fn rebuild_session(
    state: &AppState,
    hook: &Webhook,
    call_sid: &CallSid,
    flow: &Flow,
    set: &FlowSet,
    c: &Continuation,
) -> CallSession {
    warn!("no session for this call; resuming it where the URL says it is");
    let mut s = CallSession::new(
        call_sid.as_str(),
        flow,
        &set.version,
        hook.param("From").unwrap_or(""),
        hook.param("To").unwrap_or(""),
        state.now(),
    );
    s.enter_node(&c.node, c.attempt);
    s.set_visit(c.visit);
    // Carry on numbering after the rows the call already has.
    s.seq = match state.inner.store.events(call_sid.as_str()).await {
        Ok(events) => events.last().map_or(0, |e| e.seq),
        Err(_) => 0,
    };
    s
}

/// What a continuation callback reports, placed in the flow.
fn callback_event(hook: &Webhook, flow: &Flow, c: &Continuation) -> CallEvent {
    // A count the provider sends (seconds, a position); anything else is as if not sent.
    let seconds = |name: &str| hook.param(name).and_then(|v| v.trim().parse::<u32>().ok());
    if c.flow != flow.id {
        return CallEvent::Stale {
            reason: format!(
                "callback for flow `{}` while the call is in `{}`",
                c.flow, flow.id
            ),
        };
    }
    let Some(node) = flow.node_by_name(&c.node) else {
        return CallEvent::Stale {
            reason: format!(
                "callback for node `{}`, which flow `{}` does not have",
                c.node, flow.id
            ),
        };
    };
    let at = At {
        node,
        attempt: c.attempt,
        visit: c.visit,
    };
    match c.resume {
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
            result: QueueResult::parse(hook.param("QueueResult").unwrap_or("leave")),
            waited_secs: seconds("QueueTime"),
        },
        Resume::Hold => CallEvent::Hold {
            at,
            wait: crate::call::QueueWait {
                position: seconds("QueuePosition"),
                size: seconds("CurrentQueueSize"),
                waited_secs: seconds("QueueTime"),
                avg_wait_secs: seconds("AvgQueueTime"),
            },
        },
        Resume::HoldKey => CallEvent::HoldKey {
            at,
            digits: hook.param("Digits").unwrap_or("").to_owned(),
        },
    }
}

/// A callback to a `/twilio/...` path phonetree never writes, for a real call: an apology
/// and the flow's `on_fail`, with a 200 so the provider does not cut the call.
async fn unknown_callback(
    state: AppState,
    hook: Webhook,
    call_sid: CallSid,
    segment: String,
) -> Response {
    let span = info_span!("webhook", call_sid = %call_sid, path = %LogSafe(&segment));
    let fingerprint = hook.fingerprint(&format!("unknown:{segment}"));
    state
        .settle(&call_sid, &fingerprint, true, Reads::Stored, |budget, _| {
            Box::pin(decide_unknown(&state, &call_sid, &segment, budget))
        })
        .instrument(span)
        .await
}

/// One try at a callback to a path phonetree never writes.
async fn decide_unknown(
    state: &AppState,
    call_sid: &CallSid,
    segment: &str,
    budget: Budget,
) -> Decision {
    let Ok(stored) = state.stored_session(call_sid, Reads::Stored).await else {
        return Decision::Retry;
    };
    let Some(session) = stored else {
        warn!("callback to an unknown path for a call phonetree does not know");
        return Decision::Reply(xml(StatusCode::OK, apology_twiml()));
    };
    let set = state.flow_set(None, Some(&session)).await;
    let event = CallEvent::Fault {
        reason: format!("callback to unknown path /twilio/{segment}"),
    };
    let base_seq = Some(session.seq);
    let answer = state
        .run_event(&set, &on_version(session, &set), &event, budget)
        .await;
    Decision::Commit {
        set,
        answer: Box::new(answer),
        base_seq,
    }
}

/// `POST /twilio/status`: the call status callback; closes the call's record.
pub async fn status(
    State(state): State<AppState>,
    hook: Result<Webhook, WebhookError>,
) -> Response {
    let hook = match hook {
        Ok(h) => h,
        Err(e) => return e.into_response(),
    };
    state.inner.metrics.webhook("status");
    let call_sid = hook.call_sid.clone();
    let span = info_span!(
        "webhook",
        call_sid = %call_sid,
        flow = tracing::field::Empty,
        node = tracing::field::Empty,
        status = %LogSafe(hook.param("CallStatus").unwrap_or(""))
    );
    async move {
        let Some(status) = hook.param("CallStatus").and_then(CallStatus::parse) else {
            return xml(StatusCode::OK, empty_response());
        };
        let fingerprint = format!("status:{}", status.as_str());
        for _ in 0..MAX_TRIES {
            if state
                .cached_reply(&call_sid, &fingerprint, Reads::Stored)
                .await
                .is_some()
            {
                break;
            }
            let Ok(stored) = state.stored_session(&call_sid, Reads::Stored).await else {
                continue;
            };
            let Some(session) = stored else {
                warn!("status callback for a call phonetree never answered");
                break;
            };
            tracing::Span::current().record("flow", session.flow.as_str());
            if let Some(node) = session.node() {
                tracing::Span::current().record("node", node);
            }
            let set = state.flow_set(None, Some(&session)).await;
            let next = step(&set, &session, &CallEvent::Status { status }, state.now());
            if next.events.is_empty() {
                break;
            }
            let commit = WebhookCommit {
                session: next.session.redacted(),
                base_seq: Some(session.seq),
                events: next.events,
                reply: Some((fingerprint.clone(), empty_response())),
                now: state.now(),
            };
            match state.inner.store.commit(commit).await {
                Ok(CommitOutcome::Conflict) => {
                    state.count(Counter::CommitConflict);
                    continue;
                }
                Ok(_) => {
                    tracing::info!(outcome = ?next.session.outcome(), "call ended");
                    state.count(Counter::CallEnded);
                }
                Err(e) => {
                    tracing::error!(error = %e, "call log commit failed");
                    state.count(Counter::StoreError);
                }
            }
            break;
        }
        xml(StatusCode::OK, empty_response())
    }
    .instrument(span)
    .await
}

/// Any other path: below `/twilio` a callback phonetree cannot place (TwiML), a plain 404 elsewhere.
pub async fn not_found(State(state): State<AppState>, req: Request) -> Response {
    if req.uri().path().starts_with("/twilio") {
        resume(State(state), req).await
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

/// `GET /healthz`: the version served, why the last reload failed, and whether the store
/// still works (503 when it does not, so a load balancer stops sending calls here).
pub async fn healthz(State(state): State<AppState>) -> Response {
    let set = state.inner.registry.current();
    let store = state.inner.store.check().await;
    let now = state.now();
    let closed: Vec<serde_json::Value> = state
        .closures()
        .all()
        .filter(|c| now < c.until)
        .map(|c| serde_json::json!({ "flow": c.flow, "until": c.until, "message": c.message }))
        .collect();
    let body = serde_json::json!({
        "closed": closed,
        "status": if store.is_ok() { "ok" } else { "failing" },
        "version": set.version,
        "flows": set.flows.keys().collect::<Vec<_>>(),
        "last_reload_error": state.inner.registry.last_error(),
        "store_error": store.err().map(|e| e.to_string()),
    });
    let status = if body["store_error"].is_null() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, axum::Json(body)).into_response()
}
