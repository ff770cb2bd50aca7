//! `phonetree report --format html`: calls walked through the real server on 127.0.0.1,
//! then the real binary writes the page. The page must stand alone (nothing fetched),
//! draw the flow inline and carry the figures; when Debian's chromium is installed it is
//! rendered headless and the picture checked for content (else SKIPPED).

#[path = "common/bin.rs"]
mod bin;
mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bin::run_phonetree;
use common::*;

/// Where the page's attributes point (`src`, `href`, `xlink:href`, `action`).
fn attribute_values<'a>(html: &'a str, name: &str) -> Vec<&'a str> {
    let mut out = Vec::new();
    for quote in ['"', '\''] {
        let open = format!("{name}={quote}");
        let mut rest = html;
        while let Some(at) = rest.find(&open) {
            let value = &rest[at + open.len()..];
            let end = value.find(quote).unwrap_or(value.len());
            out.push(&value[..end]);
            rest = &value[end..];
        }
    }
    out
}

/// Records a handful of calls of different paths in a SQLite file of a new temp dir;
/// returns the dir, the store's URL, a copy of the flows served, and the server.
async fn record_calls() -> (tempfile::TempDir, String, PathBuf, TestServer) {
    let (crm, _crm) = start_crm().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let store_url = format!("sqlite://{}", dir.path().join("calls.db").display());
    let server = TestServer::acme_on(&crm, open_time(), None, Some(&store_url)).await;

    // Hangs up at the language menu.
    let mut c = server.call("report-hangup-language");
    c.start().await;
    c.status("completed").await;

    // Checks the balance and rates the call 5.
    let mut c = server.call("report-balance");
    c.start().await;
    c.press("1").await;
    c.press("1").await;
    c.press("123456#").await;
    c.press("5").await;
    c.status("completed").await;

    // Waits in the support queue.
    let mut c = server.call("report-queue");
    c.start().await;
    c.press("1").await;
    c.press("2").await;
    c.status("completed").await;

    // Spanish, the operator, then rates the call 3.
    let mut c = server.call("report-operator");
    c.start().await;
    c.press("2").await;
    c.press("0").await;
    c.dial_result("completed").await;
    c.press("3").await;
    c.status("completed").await;

    // Leaves a voicemail.
    let mut c = server.call("report-voicemail");
    c.start().await;
    c.press("1").await;
    c.press("3").await;
    c.recorded(20).await;
    c.status("completed").await;

    // Presses a wrong key at the main menu, then hangs up.
    let mut c = server.call("report-invalid");
    c.start().await;
    c.press("1").await;
    c.press("9").await;
    c.status("completed").await;

    // Says nothing at first; the operator does not answer; voicemail.
    let mut c = server.call("report-silence");
    c.start().await;
    c.silence().await;
    c.press("1").await;
    c.press("0").await;
    c.dial_result("no-answer").await;
    c.recorded(10).await;
    c.status("completed").await;

    let flows = dir.path().join("flows");
    copy_dir(&server.dir.path().join("flows"), &flows);
    (dir, store_url, flows, server)
}

/// The page's pixels as RGB.
fn decode_png(path: &Path) -> (u32, u32, Vec<[u8; 3]>) {
    let file = std::fs::File::open(path).expect("open png");
    let mut reader = png::Decoder::new(std::io::BufReader::new(file))
        .read_info()
        .expect("png header");
    let mut buf = vec![0; reader.output_buffer_size().expect("png size")];
    let info = reader.next_frame(&mut buf).expect("png frame");
    let step = match info.color_type {
        png::ColorType::Rgba => 4,
        png::ColorType::Rgb => 3,
        other => panic!("unexpected PNG colour type {other:?}"),
    };
    assert_eq!(info.bit_depth, png::BitDepth::Eight);
    let pixels = buf[..info.buffer_size()]
        .chunks_exact(step)
        .map(|p| [p[0], p[1], p[2]])
        .collect();
    (info.width, info.height, pixels)
}

/// Renders `page` with headless chromium into a PNG; `None` when chromium is absent.
fn screenshot(page: &Path, dir: &Path) -> Option<PathBuf> {
    let chromium = Path::new("/usr/bin/chromium");
    if !chromium.exists() {
        return None;
    }
    let png = dir.join("report.png");
    let profile = dir.join("chromium-profile");
    let mut child = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--no-first-run",
            &format!("--user-data-dir={}", profile.display()),
            &format!("--screenshot={}", png.display()),
            "--window-size=1400,2400",
            &format!("file://{}", page.display()),
        ])
        .env("HOME", dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromium");
    // A guard against a browser that never exits, not a measure of speed.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Some(status) = child.try_wait().expect("wait for chromium") {
            assert!(status.success(), "chromium failed: {status}");
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish rendering the report");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Some(png)
}

#[tokio::test]
async fn the_html_report_stands_alone_and_draws_the_flow_with_its_traffic() {
    let (dir, store_url, flows, server) = record_calls().await;
    server.stop().await;
    let page = dir.path().join("report.html");
    let prompts = repo().join("prompts");
    let (code, _out, err) = run_phonetree(
        &[
            "report",
            "--store",
            &store_url,
            "--flows",
            flows.to_str().expect("path"),
            "--prompts",
            prompts.to_str().expect("path"),
            "--format",
            "html",
            "-o",
            page.to_str().expect("path"),
        ],
        None,
    );
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("(7 calls)"), "{err}");
    let html = std::fs::read_to_string(&page).expect("the page");

    // Self-contained: nothing to fetch.
    for name in ["src", "href", "xlink:href", "action", "srcset", "data"] {
        for value in attribute_values(&html, name) {
            let v = value.trim().to_ascii_lowercase();
            assert!(
                !v.starts_with("http:") && !v.starts_with("https:") && !v.starts_with("//"),
                "{name}={value:?} points elsewhere"
            );
        }
    }
    let lower = html.to_ascii_lowercase();
    for bad in ["<script src", "<link", "@import", "url(", "<iframe", "<img"] {
        assert!(!lower.contains(bad), "{bad} in the page");
    }
    assert!(html.starts_with("<!DOCTYPE html>"), "{html}");
    assert!(html.contains("<style>"), "inline CSS");

    // The flow drawn inline, every node of it, with the traffic.
    assert_eq!(html.matches("<svg class=\"flow\"").count(), 1);
    for node in [
        "check_hours",
        "language",
        "main_menu",
        "account",
        "lookup_account",
        "balance",
        "support_queue",
        "voicemail",
        "operator",
        "survey",
        "goodbye",
    ] {
        let drawn = html
            .match_indices(&format!(">{node}</text>"))
            .any(|(at, _)| {
                html[..at]
                    .rfind("<text ")
                    .is_some_and(|open| html[open..at].contains("class=\"title\""))
            });
        assert!(drawn, "{node} drawn");
    }
    assert!(
        html.contains("<tspan class=\"count\">7 calls</tspan>"),
        "the entry edge carries all calls"
    );
    // Six of seven callers chose a language; the first hung up there.
    assert!(
        html.contains("<tspan class=\"count\">7</tspan> entered · <tspan class=\"lost\">1 hung up (14.3%)</tspan>"),
        "language's drop-off"
    );
    assert!(html.contains("class=\"edge busy\""), "edges with traffic");

    // The cards and the tables.
    assert!(html.contains("<div class=\"k\">calls</div><div class=\"v\">7</div>"));
    assert!(html.contains("<div class=\"k\">in progress</div><div class=\"v\">0</div>"));
    assert!(html.contains("<h2>Top paths</h2>"));
    assert!(html.contains("<td class=\"id\">main_menu</td><td>menu</td><td class=\"n\">6</td>"));
    // The survey's answers: one 3, one 5, mean 4.
    assert!(html.contains("<h3>csat</h3><p class=\"meta\">2 responses · mean 4.00</p>"));

    // Without a flows directory that compiles, the flow is drawn from the version the
    // store keeps for the latest call.
    let elsewhere = dir.path().join("from-store.html");
    let (code, _out, err) = run_phonetree(
        &[
            "report",
            "--store",
            &store_url,
            "--flows",
            dir.path().join("no-flows").to_str().expect("path"),
            "--prompts",
            prompts.to_str().expect("path"),
            "--format",
            "html",
            "-o",
            elsewhere.to_str().expect("path"),
        ],
        None,
    );
    assert_eq!(code, 0, "{err}");
    let from_store = std::fs::read_to_string(&elsewhere).expect("the page");
    assert_eq!(from_store.matches("<svg class=\"flow\"").count(), 1);
    let version = html
        .split("flows drawn from version ")
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .expect("the page names the version drawn");
    assert!(
        from_store.contains(&format!("flows drawn from version {version}<")),
        "the same version, from the store"
    );
    assert!(from_store.contains("<tspan class=\"count\">7 calls</tspan>"));

    let Some(png) = screenshot(&page, dir.path()) else {
        println!("SKIPPED: /usr/bin/chromium is not installed; the page was not rendered");
        return;
    };
    let (width, height, pixels) = decode_png(&png);
    assert_eq!((width, height), (1400, 2400));
    // White, and the page's light grey background, are not ink.
    let inked = pixels.iter().filter(|p| p.iter().any(|&c| c < 235)).count();
    assert!(
        inked * 50 > pixels.len(),
        "the page is mostly empty: {inked} of {} pixels inked",
        pixels.len()
    );
    // The flow drawing, below the cards and charts: blue edges and red drop-off bars.
    let region = |y0: u32, y1: u32| {
        pixels
            .iter()
            .enumerate()
            .filter(move |(i, _)| {
                let y = *i as u32 / width;
                y >= y0 && y < y1
            })
            .map(|(_, p)| *p)
    };
    let blue = region(700, 2000)
        .filter(|[r, g, b]| *b as i32 - *r as i32 > 60 && *b > 140 && *g < 220)
        .count();
    let red = region(700, 2000)
        .filter(|[r, g, b]| *r > 180 && *g < 100 && *b < 100)
        .count();
    let dark = region(700, 2000)
        .filter(|p| p.iter().all(|&c| c < 90))
        .count();
    assert!(blue > 2000, "traffic edges drawn: {blue} blue pixels");
    assert!(red > 100, "drop-off bars drawn: {red} red pixels");
    assert!(dark > 2000, "node labels drawn: {dark} dark pixels");
}
