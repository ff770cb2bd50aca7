//! The floor phonetree's webhook latency and throughput are measured against: a bare axum
//! server that reads a webhook the way any Twilio handler must and answers one fixed TwiML
//! document, with no flow, no session and no store.
//!
//! On any path it accepts a POST, reads the `application/x-www-form-urlencoded` body (up to
//! 64 KiB, as phonetree does), decodes it into owned name/value pairs and requires a
//! well-formed `CallSid` (`CA` + 32 hex digits; otherwise 400). It then answers, as
//! `text/xml; charset=utf-8`, a copy of what phonetree answers for Acme's main menu: a
//! `<Gather>` around the menu's `<Say>`, then a `<Redirect>`, with absolute URLs on this
//! server's own address, so the answer has the same size and shape and a client can follow
//! its `<Gather action>` (every path gets the same answer).
//!
//! It runs on a tokio multi-thread runtime with tokio's default worker count (one per CPU),
//! as `phonetree serve` does. `benches/load.rs` starts it; by hand:
//!
//! ```sh
//! cargo run --release --example baseline -- --listen 127.0.0.1:0
//! ```
//!
//! Once bound it prints one line on stdout with the fields `phonetree serve` logs when it is
//! listening (`listen=127.0.0.1:PORT public_url="http://127.0.0.1:PORT"`), so one parser
//! reads the address of either server.

use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// Largest body accepted, as phonetree's `MAX_BODY`.
const MAX_BODY: usize = 64 * 1024;

/// The flow version and visit token phonetree writes into Acme's main-menu URLs; copied so
/// the answer has the same length.
const CONTINUATION: &str = "flow=acme&amp;v=2d7bb4596537&amp;node=main_menu&amp;attempt=1&amp;s=4";

/// What a rejected request gets, as from phonetree: an empty TwiML document.
const EMPTY: &str = r#"<?xml version="1.0" encoding="UTF-8"?><Response/>"#;

/// `--listen ADDR` from the command line.
#[derive(Debug, clap::Parser)]
#[command(about = "A bare axum webhook server answering one fixed TwiML menu")]
struct Args {
    /// Address to listen on (port 0: any free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
}

/// Acme's main-menu answer with `base` (`http://ADDR`) as phonetree's public URL.
fn main_menu_answer(base: &str) -> String {
    format!(
        concat!(
            r#"<?xml version="1.0" encoding="UTF-8"?><Response>"#,
            r#"<Gather input="dtmf" action="{base}/twilio/gather?{continuation}" method="POST" timeout="5" finishOnKey="" numDigits="1">"#,
            r#"<Say language="en-US" voice="Polly.Joanna">For your account balance, press 1. For technical support, press 2. "#,
            r#"To leave a message, press 3. To speak to an operator, press 0. To hear these options again, press star.</Say>"#,
            r#"</Gather><Redirect method="POST">{base}/twilio/silence?{continuation}</Redirect></Response>"#,
        ),
        base = base,
        continuation = CONTINUATION,
    )
}

/// A TwiML answer with the headers phonetree sends.
fn xml(status: StatusCode, body: Bytes) -> Response {
    let mut resp = (status, body).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/xml; charset=utf-8"),
    );
    resp
}

/// True for what a Twilio CallSid looks like: `CA` followed by 32 hexadecimal digits.
fn is_call_sid(s: &str) -> bool {
    s.strip_prefix("CA")
        .is_some_and(|hex| hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Every POST: the form decoded into owned pairs, its CallSid checked, the fixed answer.
async fn webhook(State(answer): State<Bytes>, body: Bytes) -> Response {
    let params: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
    let call_sid = params
        .iter()
        .find(|(name, _)| name == "CallSid")
        .map(|(_, value)| value.as_str());
    match call_sid {
        Some(sid) if is_call_sid(sid) => xml(StatusCode::OK, answer),
        _ => xml(
            StatusCode::BAD_REQUEST,
            Bytes::from_static(EMPTY.as_bytes()),
        ),
    }
}

async fn serve(args: Args) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(args.listen).await?;
    let local = listener.local_addr()?;
    let base = format!("http://{local}");
    let answer = Bytes::from(main_menu_answer(&base));
    let app = axum::Router::new()
        .fallback(axum::routing::post(webhook))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(answer);
    {
        let mut out = std::io::stdout().lock();
        writeln!(
            out,
            r#"baseline serving listen={local} public_url="{base}""#
        )?;
        out.flush()?;
    }
    axum::serve(listener, app).await
}

fn main() -> ExitCode {
    let args = <Args as clap::Parser>::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let listen = args.listen;
    match runtime.block_on(serve(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: serving on {listen}: {e}");
            ExitCode::from(2)
        }
    }
}
