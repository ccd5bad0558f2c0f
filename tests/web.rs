//! `--web`: the live page driven in a real headless browser (Debian's chromium, over the
//! DevTools protocol) against a real run on loopback: the figures change between two reads,
//! Stop ends the run with its reports marked partial, and the page's final figures are the
//! summary's. The browser is installed by scripts/test.sh.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{Value, json};

/// http_get fetches `path` from `addr` and returns the body (empty when it could not).
fn http_get(addr: &str, path: &str) -> String {
    let Ok(mut s) = TcpStream::connect(addr) else {
        return String::new();
    };
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let _ = write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    );
    // Read to the declared length: the DevTools server may reset rather than close.
    let mut got = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        let text = String::from_utf8_lossy(&got).to_string();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head.lines().find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse::<usize>().ok())?
            });
            if length.is_some_and(|n| body.len() >= n) {
                return body.to_string();
            }
        }
        match s.read(&mut buf) {
            Ok(0) | Err(_) => {
                return text
                    .split_once("\r\n\r\n")
                    .map(|(_, b)| b.to_string())
                    .unwrap_or_default();
            }
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
}

/// Browser is headless chromium driven over the DevTools protocol, one page.
struct Browser {
    child: Child,
    ws: tungstenite::WebSocket<TcpStream>,
    next: u64,
    _profile: tempfile::TempDir,
}

impl Browser {
    fn open(url: &str) -> Browser {
        let profile = tempfile::tempdir().unwrap();
        let mut child = Command::new("chromium")
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--remote-debugging-port=0",
                "--window-size=1280,1800",
                &format!("--user-data-dir={}", profile.path().display()),
                "about:blank",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("chromium is installed by scripts/test.sh");
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let browser_ws = loop {
            let line = lines
                .next()
                .expect("chromium printed its DevTools address")
                .unwrap();
            if let Some(rest) = line.strip_prefix("DevTools listening on ") {
                break rest.trim().to_string();
            }
        };
        // Keep draining its standard error, so chromium never blocks writing to it.
        std::thread::spawn(move || for _ in lines {});
        let host = browser_ws
            .trim_start_matches("ws://")
            .split('/')
            .next()
            .unwrap()
            .to_string();
        // The page target shows up in the list a moment after the address is printed.
        let until = Instant::now() + Duration::from_secs(30);
        let page = loop {
            let list: Value =
                serde_json::from_str(&http_get(&host, "/json/list")).unwrap_or(Value::Null);
            let found = (list.as_array().into_iter().flatten())
                .find(|t| t["type"] == "page")
                .and_then(|t| t["webSocketDebuggerUrl"].as_str())
                .map(str::to_string);
            if let Some(url) = found {
                break url;
            }
            assert!(Instant::now() < until, "chromium lists no page: {list}");
            std::thread::sleep(Duration::from_millis(100));
        };
        let stream = TcpStream::connect(&host).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        let (ws, _) = tungstenite::client(page.as_str(), stream).expect("DevTools handshake");
        let mut b = Browser {
            child,
            ws,
            next: 0,
            _profile: profile,
        };
        b.call("Page.enable", json!({}));
        b.call("Page.navigate", json!({ "url": url }));
        b
    }

    /// call sends one DevTools command and returns its result, skipping events.
    fn call(&mut self, method: &str, params: Value) -> Value {
        self.next += 1;
        let id = self.next;
        let msg = json!({ "id": id, "method": method, "params": params }).to_string();
        self.ws.send(tungstenite::Message::text(msg)).unwrap();
        loop {
            let m = self.ws.read().expect("DevTools answers");
            let Ok(text) = m.to_text() else { continue };
            let v: Value = serde_json::from_str(text).unwrap_or(Value::Null);
            if v["id"] == id {
                assert!(v.get("error").is_none(), "{method}: {v}");
                return v["result"].clone();
            }
        }
    }

    /// eval evaluates JavaScript in the page and returns its value.
    fn eval(&mut self, expression: &str) -> Value {
        let r = self.call(
            "Runtime.evaluate",
            json!({ "expression": expression, "returnByValue": true, "awaitPromise": true }),
        );
        r["result"]["value"].clone()
    }

    /// wait_for evaluates `expression` until `ok` holds of its value, at most `deadline`.
    fn wait_for(
        &mut self,
        what: &str,
        expression: &str,
        deadline: Duration,
        ok: impl Fn(&Value) -> bool,
    ) -> Value {
        let until = Instant::now() + deadline;
        loop {
            let v = self.eval(expression);
            if ok(&v) {
                return v;
            }
            assert!(
                Instant::now() < until,
                "{what}: still {v} after {deadline:?}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn screenshot(&mut self, path: &Path) {
        let r = self.call("Page.captureScreenshot", json!({ "format": "png" }));
        let png = base64::engine::general_purpose::STANDARD
            .decode(r["data"].as_str().unwrap())
            .unwrap();
        std::fs::write(path, png).unwrap();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn number(v: &Value) -> u64 {
    v.as_str().and_then(|s| s.parse().ok()).unwrap_or(0)
}

#[test]
fn the_live_page_shows_the_run_stops_it_and_ends_with_the_summarys_figures() {
    let target = common::demo(metronome::demo::DemoConfig {
        error_rate: 0.02,
        ..Default::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let common::Serving {
        child: mut run,
        mut stderr,
        addr,
        ..
    } = common::serving(
        &[
            "run",
            "--url",
            &format!("{}/health", target.base_url()),
            "--rate",
            "300",
            "--duration",
            "120s",
            "--web",
            "127.0.0.1:0",
            "--out",
            out.to_str().unwrap(),
            "--quiet",
        ],
        "live page at http://",
    );
    let mut page = Browser::open(&format!("http://{addr}/"));
    let requests = "document.body.dataset.requests";
    let first = number(
        &page.wait_for("requests shown", requests, Duration::from_secs(30), |v| {
            number(v) > 0
        }),
    );
    let second = number(&page.wait_for(
        "the figures to change",
        requests,
        Duration::from_secs(30),
        |v| number(v) > first,
    ));
    assert!(second > first);
    let charts = page.wait_for(
        "five charts",
        "document.querySelectorAll('#charts svg').length",
        Duration::from_secs(30),
        |v| v.as_u64() == Some(5),
    );
    assert_eq!(charts, json!(5));
    let tiles =
        page.eval("[...document.querySelectorAll('.tile span')].map(s => s.textContent).join('|')");
    for t in [
        "target rate",
        "achieved rate",
        "latency p99",
        "service time p99",
        "dropped",
        "on time",
        "stage",
    ] {
        assert!(tiles.as_str().unwrap().contains(t), "no {t} tile: {tiles}");
    }
    // Let the charts draw a few seconds of history for the screenshot.
    page.wait_for(
        "a few seconds",
        "last ? last.elapsed_s : 0",
        Duration::from_secs(30),
        |v| v.as_f64().unwrap_or(0.0) >= 5.0,
    );
    // Steer: 300/s → 900/s from the page, and the achieved rate follows.
    choose(&mut page, "steer-rate", "900");
    page.eval("document.querySelector('#steer button').click()");
    let said = page.wait_for(
        "what Set rate did",
        "document.getElementById('steer-said').textContent",
        Duration::from_secs(30),
        |v| v.as_str().is_some_and(|s| !s.is_empty()),
    );
    assert!(said.as_str().unwrap().contains("goes at 900/s"), "{said}");
    let followed = page.wait_for(
        "the achieved rate to follow",
        "last && last.now && last.now.target_rate === 900 ? last.now.achieved_rate : 0",
        Duration::from_secs(30),
        |v| v.as_f64().unwrap_or(0.0) >= 0.9 * 900.0,
    );
    eprintln!("steered to 900/s: a second of the new stage achieved {followed}/s");
    let lanes = page.eval("document.getElementById('timeline').textContent");
    assert!(
        lanes.as_str().unwrap().contains("steer #1 900/s"),
        "{lanes}"
    );
    std::thread::sleep(Duration::from_millis(1500));
    let shot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("live-page.png");
    page.screenshot(&shot);
    let png = std::fs::metadata(&shot).unwrap().len();
    assert!(png > 30_000, "screenshot is {png} bytes: blank?");

    // Stop, as a person would.
    page.eval("document.getElementById('stop').click()");
    let said = page.wait_for(
        "what Stop did",
        "document.getElementById('said').textContent",
        Duration::from_secs(30),
        |v| v.as_str().is_some_and(|s| !s.is_empty()),
    );
    assert!(said.as_str().unwrap().starts_with("stopping"), "{said}");
    page.wait_for(
        "the run to end",
        "document.body.dataset.finished",
        Duration::from_secs(60),
        |v| v == "true",
    );
    let files = page.wait_for(
        "the download links",
        "[...document.querySelectorAll('#downloads a')].map(a => a.textContent)",
        Duration::from_secs(60),
        |v| v.as_array().is_some_and(|a| a.len() >= 5),
    );
    assert!(files.to_string().contains("summary.json"), "{files}");
    let s: Value =
        serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(s["partial"], true);
    assert!(
        s["criteria"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["name"] == "run completed" && c["verdict"] == "failed"),
        "{s}"
    );
    // The change is in the summary, and the stage it added was run at its rate.
    let steering = s["steering"]
        .as_array()
        .expect("the summary lists the change");
    assert_eq!(steering.len(), 1, "{steering:?}");
    assert_eq!(steering[0]["rate"], 900.0);
    let at = steering[0]["at_s"].as_f64().unwrap();
    let stages: Vec<&Value> = s["by_stage"].as_array().unwrap().iter().collect();
    let steered = (stages.iter())
        .find(|b| b["name"] == "steer #1 900/s")
        .unwrap_or_else(|| panic!("no steered stage in {stages:?}"));
    assert!(
        steered["achieved_rate"].as_f64().unwrap() > 0.8 * 900.0,
        "{steered}"
    );
    assert!(
        s["plan_description"]
            .as_str()
            .unwrap()
            .contains(&format!("--steer {}ms:", (at * 1000.0).round())),
        "{}",
        s["plan_description"]
    );
    // The page's final figures are the summary's.
    let shown = number(&page.eval(requests));
    assert_eq!(shown, s["requests"].as_u64().unwrap());
    let tile =
        |name: &str| format!("document.querySelector('[data-tile=\"{name}\"] b').textContent");
    let p99 = page.eval(&tile("latency p99"));
    let want = metronome::units::format_us(s["latency_us"]["p99"].as_u64().unwrap());
    assert_eq!(p99.as_str().unwrap(), want);
    let dropped = page.eval(&tile("dropped"));
    assert_eq!(dropped.as_str().unwrap(), s["dropped"].to_string());
    let downloaded =
        page.eval("fetch('files/summary.json').then(r => r.json()).then(j => j.requests)");
    assert_eq!(downloaded, s["requests"]);
    // How long after the run published each second the page showed it.
    let lags = page.eval("window.metronomeShownAfterMs");
    let mut lags: Vec<u64> = lags
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_u64())
        .collect();
    lags.sort();
    eprintln!(
        "page showed each second {} ms (median) and at most {} ms after it was published, over {} updates",
        lags[lags.len() / 2],
        lags.last().unwrap(),
        lags.len()
    );
    drop(page);
    // The page stays up after the run until Ctrl-C.
    stderr.wait_for("the linger", Duration::from_secs(30), |l| {
        l.contains("until Ctrl-C")
    });
    unsafe { libc::kill(run.id() as i32, libc::SIGINT) };
    let status = run.wait().unwrap();
    assert_eq!(status.code(), Some(s["exit_code"].as_i64().unwrap() as i32));
}

/// choose sets the start page's field `id` to `value` as a person would, telling the page.
fn choose(page: &mut Browser, id: &str, value: &str) {
    page.eval(&format!(
        "(() => {{ const e = document.getElementById({}); e.value = {}; e.dispatchEvent(new Event('change')); }})()",
        json!(id),
        json!(value)
    ));
}

/// verdict is what the start page's run list should say of a run's summary.
fn verdict(s: &Value) -> &'static str {
    if s["partial"] == true {
        "partial"
    } else if s["passed"] == true {
        "passed"
    } else {
        "failed"
    }
}

#[test]
fn the_start_page_checks_a_plan_starts_runs_one_at_a_time_and_lists_their_verdicts() {
    let target = common::demo(metronome::demo::DemoConfig::default());
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("runs");
    let common::Serving {
        child: mut ui,
        addr,
        ..
    } = common::serving(
        &["ui", "127.0.0.1:0", "--out-root", root.to_str().unwrap()],
        "start page at http://",
    );
    let mut page = Browser::open(&format!("http://{addr}/"));
    page.wait_for(
        "the start page",
        "document.body.dataset.ready",
        Duration::from_secs(30),
        |v| v == "true",
    );

    // A plan of the user's, pasted, with a mistake on line 3: checked on the page.
    choose(&mut page, "plan", "a plan file of mine…");
    choose(&mut page, "text", "seed = 1\n[target]\ntimeout = 5\n");
    page.eval("document.getElementById('check').click()");
    let line = page.wait_for(
        "the check's line",
        "document.getElementById('checked').dataset.line",
        Duration::from_secs(30),
        |v| v.as_str().is_some_and(|s| !s.is_empty()),
    );
    assert_eq!(line, "3");
    assert_eq!(
        page.eval("document.getElementById('checked').dataset.column"),
        "11"
    );
    let said = page.eval("document.getElementById('checked').textContent");
    assert!(
        said.as_str().unwrap().starts_with("uploaded.toml:3:11:"),
        "{said}"
    );
    assert!(
        std::fs::read_dir(&root).unwrap().next().is_none(),
        "a check starts nothing"
    );

    // The shipped smoke plan, its 30 s compressed to 6, checked and then started.
    choose(&mut page, "plan", "smoke.toml");
    choose(&mut page, "time-scale", "0.2");
    choose(&mut page, "seed", "7");
    page.eval("document.getElementById('check').click()");
    page.wait_for(
        "the plan described",
        "document.getElementById('checked').textContent",
        Duration::from_secs(30),
        |v| v.as_str().is_some_and(|s| s.starts_with("plan smoke")),
    );
    page.eval("document.getElementById('start').click()");
    let first = page.wait_for(
        "the run started",
        "document.body.dataset.run || ''",
        Duration::from_secs(30),
        |v| v.as_str().is_some_and(|s| s.ends_with("-smoke")),
    );
    let first = first.as_str().unwrap().to_string();
    // One run at a time: another start while it goes on is refused, saying why.
    let refused = page.eval(
        "fetch('api/start', {method: 'POST', body: JSON.stringify({plan: 'smoke.toml'})}).then(async r => [r.status, (await r.json()).message])",
    );
    assert_eq!(refused[0], 409, "{refused}");
    assert!(
        refused[1].as_str().unwrap().contains("still going"),
        "{refused}"
    );
    // Watched on its own live page, inside the start page.
    page.wait_for(
        "the run's figures",
        "(document.getElementById('live').contentDocument?.body?.dataset.requests) || '0'",
        Duration::from_secs(30),
        |v| number(v) > 0,
    );
    // Steered from its page there, as from a run's own.
    page.eval(
        "(() => { const d = document.getElementById('live').contentDocument; d.getElementById('steer-rate').value = '20'; d.querySelector('#steer button').click(); })()",
    );
    let said = page.wait_for(
        "what Set rate did",
        "document.getElementById('live').contentDocument.getElementById('steer-said').textContent",
        Duration::from_secs(30),
        |v| v.as_str().is_some_and(|s| !s.is_empty()),
    );
    assert!(
        said.as_str().unwrap().contains("journey goes at 20/s"),
        "{said}"
    );
    page.wait_for(
        "the run to end",
        "document.body.dataset.ended",
        Duration::from_secs(60),
        |v| v == "true",
    );
    let summary = |id: &str| -> Value {
        serde_json::from_slice(&std::fs::read(root.join(id).join("summary.json")).unwrap()).unwrap()
    };
    let smoke = summary(&first);
    assert_eq!(smoke["seed"], 7);
    assert_eq!(smoke["partial"], false);
    assert_eq!(smoke["steering"][0]["rate"], 20.0, "{}", smoke["steering"]);
    let listed = |page: &mut Browser, id: &str| {
        page.wait_for(
            "the run listed with its verdict",
            &format!(
                "(() => {{ const r = document.querySelector('#runs tr[data-id={}]'); return r ? r.cells[1].textContent : ''; }})()",
                json!(id)
            ),
            Duration::from_secs(30),
            |v| v.as_str().is_some_and(|s| !s.is_empty() && s != "running"),
        )
    };
    assert_eq!(listed(&mut page, &first), verdict(&smoke));

    // Another after it: quick mode against a target of the test's.
    choose(&mut page, "plan", "quick mode (URL, rate, duration)");
    choose(&mut page, "url", &format!("{}/health", target.base_url()));
    choose(&mut page, "rate", "50");
    choose(&mut page, "duration", "2s");
    choose(&mut page, "time-scale", "");
    choose(&mut page, "seed", "");
    page.eval("document.getElementById('start').click()");
    let second = page.wait_for(
        "the second run",
        "document.body.dataset.run",
        Duration::from_secs(30),
        |v| v.as_str().is_some_and(|s| s.ends_with("-quick")),
    );
    let second = second.as_str().unwrap().to_string();
    page.wait_for(
        "the second run to end",
        "document.body.dataset.ended",
        Duration::from_secs(60),
        |v| v == "true",
    );
    let quick = summary(&second);
    assert_eq!(quick["requests"], 100);
    assert_eq!(listed(&mut page, &second), verdict(&quick));
    assert_eq!(listed(&mut page, &first), verdict(&smoke));
    let downloaded = page.eval(&format!(
        "fetch('runs/{second}/summary.json').then(r => r.json()).then(j => j.requests)"
    ));
    assert_eq!(downloaded, quick["requests"]);
    std::thread::sleep(Duration::from_millis(1500));
    let shot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("start-page.png");
    page.screenshot(&shot);
    drop(page);

    // Ctrl-C ends the page, and the run it still serves.
    unsafe { libc::kill(ui.id() as i32, libc::SIGINT) };
    let status = ui.wait().unwrap();
    assert_eq!(status.code(), Some(0));
}
