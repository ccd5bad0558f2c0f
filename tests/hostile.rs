//! Hostile targets: one misbehaving loopback server per fault, each driving the real binary
//! with a short run. Whatever the target does, the generator must not crash (no panic, no
//! signal, an exit code that means something), must name what went wrong by its error kind,
//! must account for every arrival (`scheduled = requests + dropped`, `requests = successes +
//! errors`, and every arrival of the schedule scheduled), and must keep its memory bounded.
//!
//! Every server binds 127.0.0.1:0, accepts for a bounded time and number of connections, and
//! stops by itself; every blocking call in it has a timeout. The README's "Hostile targets"
//! table is the summary of these cases.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

/// LIFETIME is how long a hostile server accepts connections at most.
const LIFETIME: Duration = Duration::from_secs(40);
/// MAX_ACCEPTS is how many connections a hostile server accepts at most.
const MAX_ACCEPTS: usize = 1000;
/// IO_BOUND bounds every blocking read and write of a hostile server's connection.
const IO_BOUND: Duration = Duration::from_secs(10);
/// RUN_BOUND is the longest a run may take before the test kills it and fails: every run here
/// is a second of schedule plus at most a second of timeout.
const RUN_BOUND: Duration = Duration::from_secs(30);

/// RATE and DURATION are the schedule of every quick run: 20 arrivals.
const RATE: &str = "20";
const DURATION: &str = "1s";
const ARRIVALS: u64 = 20;

// ---------------------------------------------------------------------------------------------
// Servers

/// Hostile is a loopback server whose every connection is handled by a fault.
struct Hostile {
    port: u16,
    /// Connections accepted so far.
    accepted: Arc<AtomicUsize>,
}

impl Hostile {
    /// start serves each accepted connection with `fault` (given the stream and the
    /// connection's number) on a thread of its own.
    fn start(fault: impl Fn(TcpStream, usize) + Send + Sync + 'static) -> Hostile {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = accepted.clone();
        let fault = Arc::new(fault);
        std::thread::spawn(move || {
            let until = Instant::now() + LIFETIME;
            while count.load(Ordering::Relaxed) < MAX_ACCEPTS && wait_readable(&listener, until) {
                let Ok((stream, _)) = listener.accept() else {
                    continue;
                };
                stream.set_read_timeout(Some(IO_BOUND)).unwrap();
                stream.set_write_timeout(Some(IO_BOUND)).unwrap();
                let n = count.fetch_add(1, Ordering::Relaxed);
                let fault = fault.clone();
                std::thread::spawn(move || fault(stream, n));
            }
        });
        Hostile { port, accepted }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }
}

/// wait_readable waits until `listener` has a connection to accept, or `until` passes (false).
fn wait_readable(listener: &TcpListener, until: Instant) -> bool {
    let left = until.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return false;
    }
    let mut fd = libc::pollfd {
        fd: listener.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    let ms = left.as_millis().min(i32::MAX as u128) as i32;
    // SAFETY: one pollfd we own, for the length of the call.
    unsafe { libc::poll(&raw mut fd, 1, ms) > 0 }
}

/// read_request reads one request head (the engine sends GETs without a body here); false at
/// the end of the connection, an error or the read bound.
fn read_request(reader: &mut impl BufRead) -> bool {
    request_path(reader).is_some()
}

/// request_path reads one request head and returns its path; None at the end of the
/// connection, an error or the read bound.
fn request_path(reader: &mut impl BufRead) -> Option<String> {
    let mut path = None;
    loop {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => return None,
            Ok(_) if line == "\r\n" => return path,
            Ok(_) => {
                path = path.or_else(|| line.split(' ').nth(1).map(String::from));
            }
        }
    }
}

/// reset_on_close makes closing `stream` send a reset (RST) instead of a FIN.
fn reset_on_close(stream: &TcpStream) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: setting a linger option on a socket we own.
    let rc = unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&raw const linger).cast(),
            size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0, "{}", std::io::Error::last_os_error());
}

/// stream_bytes writes `head`, then up to `total` bytes of body as fast as the client takes
/// them, until it stops taking them; it returns how many body bytes it wrote.
fn stream_bytes(stream: TcpStream, head: &[u8], total: u64) -> u64 {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    if !read_request(&mut reader) || writer.write_all(head).is_err() {
        return 0;
    }
    let chunk = vec![b'x'; 256 << 10];
    let mut sent = 0;
    while sent < total {
        let n = (total - sent).min(chunk.len() as u64) as usize;
        if writer.write_all(&chunk[..n]).is_err() {
            break;
        }
        sent += n as u64;
    }
    sent
}

// ---------------------------------------------------------------------------------------------
// Runs

/// Ran is a finished run of the binary.
struct Ran {
    /// The exit code, when it exited (not killed by a signal).
    code: Option<i32>,
    signal: Option<i32>,
    stdout: String,
    stderr: String,
    /// summary.json, when the run wrote one.
    summary: Option<Value>,
    /// The process's peak resident set (VmHWM), in KiB, as the kernel counted it to the end.
    peak_rss_kib: u64,
    took: Duration,
    _dir: tempfile::TempDir,
}

impl Ran {
    fn text(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

/// metronome runs `metronome run --quiet --json DIR/summary.json ARGS…`, waiting for it at most
/// RUN_BOUND, and reads its peak memory from the kernel's accounting of the exited child.
fn metronome(args: &[String]) -> Ran {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("summary.json");
    let out = std::fs::File::create(dir.path().join("stdout")).unwrap();
    let err = std::fs::File::create(dir.path().join("stderr")).unwrap();
    let started = Instant::now();
    // Reaped by wait4 below, which also gives its resource usage; `Child::wait` would not.
    #[allow(clippy::zombie_processes)]
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_metronome"))
        .args(["run", "--quiet", "--json"])
        .arg(&json)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .expect("the binary starts");
    let pid = child.id() as libc::pid_t;
    // The peak is read from the child's own VmHWM while it runs, not from wait4's ru_maxrss:
    // exec records the old address space's peak there, and a spawned child's old address space
    // is this test process's (vfork), whose other tests may hold a hundred MB at that moment.
    let mut hwm_kib = 0u64;
    let (status, usage) = loop {
        if let Some(kib) = std::fs::read_to_string(format!("/proc/{pid}/status"))
            .ok()
            .and_then(|t| {
                let line = t.lines().find(|l| l.starts_with("VmHWM:"))?.to_string();
                line.split_whitespace().nth(1)?.parse::<u64>().ok()
            })
        {
            hwm_kib = hwm_kib.max(kib);
        }
        let mut status = 0;
        // SAFETY: an all-zero rusage is a valid value for the kernel to fill in.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: waiting for our own child, with out-parameters we own. The child is reaped
        // here, not by `Child` (which is never waited on).
        let rc = unsafe { libc::wait4(pid, &raw mut status, libc::WNOHANG, &raw mut usage) };
        assert!(rc >= 0, "wait4: {}", std::io::Error::last_os_error());
        if rc == pid {
            break (status, usage);
        }
        if started.elapsed() > RUN_BOUND {
            // SAFETY: signalling our own child, which has not been reaped.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            panic!(
                "metronome {args:?} still running after {RUN_BOUND:?}: killed; stderr:\n{}",
                std::fs::read_to_string(dir.path().join("stderr")).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let took = started.elapsed();
    let read = |name: &str| std::fs::read_to_string(dir.path().join(name)).unwrap_or_default();
    let summary = std::fs::read_to_string(&json)
        .ok()
        .map(|t| serde_json::from_str(&t).expect("summary.json parses"));
    Ran {
        code: libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status)),
        signal: libc::WIFSIGNALED(status).then(|| libc::WTERMSIG(status)),
        stdout: read("stdout"),
        stderr: read("stderr"),
        summary,
        peak_rss_kib: if hwm_kib > 0 {
            hwm_kib
        } else {
            usage.ru_maxrss as u64
        },
        took,
        _dir: dir,
    }
}

/// quick is the flags of a quick run against `url`: RATE for DURATION, `timeout`, and `extra`.
fn quick(url: &str, timeout: &str, extra: &[&str]) -> Vec<String> {
    quick_at(url, RATE, timeout, extra)
}

/// quick_at is `quick` at `rate`.
fn quick_at(url: &str, rate: &str, timeout: &str, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = [
        "--url",
        url,
        "--rate",
        rate,
        "--duration",
        DURATION,
        "--timeout",
        timeout,
        "--connections",
        "24",
    ]
    .map(String::from)
    .to_vec();
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

/// survived checks what every fault must leave intact: no panic, no signal, an exit code of 0, 1
/// or 3 and the one summary.json gives, and every arrival of the schedule accounted for. It
/// returns the summary.
fn survived(ran: &Ran, scheduled: u64) -> &Value {
    let text = ran.text();
    assert_eq!(ran.signal, None, "killed by a signal: {text}");
    assert!(!text.contains("panicked"), "a panic: {text}");
    let code = ran.code.expect("an exit code");
    assert!(matches!(code, 0 | 1 | 3), "exit code {code}: {text}");
    let s = ran
        .summary
        .as_ref()
        .unwrap_or_else(|| panic!("no summary.json: {text}"));
    assert_eq!(
        s["exit_code"], code,
        "the exit code is the summary's: {text}"
    );
    let n = |k: &str| s[k].as_u64().unwrap_or_else(|| panic!("{k} in {s}"));
    assert_eq!(s["partial"], false, "the run was not interrupted");
    assert_eq!(
        n("scheduled"),
        scheduled,
        "every arrival of the schedule: {text}"
    );
    assert_eq!(
        n("scheduled"),
        n("requests") + n("dropped"),
        "every arrival issued or dropped: {text}"
    );
    assert_eq!(n("requests"), n("successes") + n("errors"), "{text}");
    assert_eq!(kinds(s).values().sum::<u64>(), n("errors"), "{text}");
    s
}

/// kinds is a summary's (or a by_name entry's) error counts by kind.
fn kinds(s: &Value) -> BTreeMap<String, u64> {
    serde_json::from_value(s["error_kinds"].clone()).expect("error_kinds")
}

/// every_request_failed_as checks that every request of `s` (a summary or a by_name entry)
/// failed with `kind`, and that there were some.
fn every_request_failed_as(s: &Value, kind: &str) {
    let requests = s["requests"].as_u64().unwrap();
    assert!(requests > 0, "no requests: {s}");
    assert_eq!(
        kinds(s),
        BTreeMap::from([(kind.to_string(), requests)]),
        "every request {kind}"
    );
}

/// code_is checks the run's verdict, with the engine's punctuality set apart (a loaded machine
/// can make the engine fall behind, which then rightly makes the run not valid).
fn code_is(s: &Value, want: i32) {
    assert_eq!(common::verdict_code(s), want, "{:#}", s["criteria"]);
}

/// refused_by_preflight checks that a run was refused before its schedule started, saying
/// each of `why`.
fn refused_by_preflight(ran: &Ran, why: &[&str]) {
    let text = ran.text();
    assert_eq!(ran.signal, None, "{text}");
    assert!(!text.contains("panicked"), "{text}");
    assert_eq!(ran.code, Some(3), "{text}");
    assert!(ran.summary.is_none(), "nothing was scheduled: {text}");
    assert!(ran.stderr.contains("preflight failed"), "{text}");
    for w in why {
        assert!(ran.stderr.contains(w), "`{w}` in: {text}");
    }
}

/// never_answered checks a target that never gives a valid response: with the preflight the
/// run is refused before its schedule, saying each of `why`; without it every arrival fails
/// as `kind`, and the run is not valid (the target never answered). `run` runs the binary with
/// the extra flags it is given.
fn never_answered(run: impl Fn(&[&str]) -> Ran, why: &[&str], kind: &str) {
    refused_by_preflight(&run(&[]), why);
    let ran = run(&["--no-preflight"]);
    let s = survived(&ran, ARRIVALS);
    every_request_failed_as(s, kind);
    code_is(s, 3);
}

/// plan_file writes a plan with one stage of `rate` for 1 s and one request per (name, path),
/// against `url`, with `timeout`, no preflight, and quick mode's error-rate gates.
fn plan_file(
    dir: &Path,
    url: &str,
    timeout: &str,
    rate: u32,
    requests: &[(&str, &str)],
) -> PathBuf {
    let mut text = format!(
        "[target]\nbase_url = \"{url}\"\ntimeout = \"{timeout}\"\nconnections = 24\npreflight = false\n\n\
         [criteria]\nerror_rate = {{ warn = 0.01, fail = 0.05 }}\n\n\
         [[stage]]\nname = \"hostile\"\nduration = \"1s\"\nrate = {rate}\n"
    );
    for (name, path) in requests {
        text.push_str(&format!(
            "\n[[request]]\nname = \"{name}\"\npath = \"{path}\"\n"
        ));
    }
    let path = dir.join("hostile.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// by_name is the results of request `name`.
fn by_name<'a>(s: &'a Value, name: &str) -> &'a Value {
    s["by_name"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["name"] == name)
        .unwrap_or_else(|| panic!("{name} in {s}"))
}

// ---------------------------------------------------------------------------------------------
// 1. A reset in the middle of a response

#[test]
fn a_reset_mid_response_is_a_body_read_error() {
    let server = Hostile::start(|stream, _| {
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut writer = &stream;
        if read_request(&mut reader) {
            let _ = writer.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n");
            let _ = writer.write_all(&[b'x'; 100]);
            // Let the part sent reach the client, then reset.
            std::thread::sleep(Duration::from_millis(20));
            reset_on_close(&stream);
        }
    });
    // The preflight is answered (a head arrived): the run goes ahead.
    let ran = metronome(&quick(&server.url(), "1s", &[]));
    let s = survived(&ran, ARRIVALS);
    every_request_failed_as(s, "body_read");
    // The target answered every time, badly: the error rate fails the run.
    code_is(s, 1);
}

// ---------------------------------------------------------------------------------------------
// 2. Headers cut off

fn cut_off_headers() -> Hostile {
    Hostile::start(|stream, _| {
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut writer = &stream;
        if read_request(&mut reader) {
            let _ = writer.write_all(b"HTTP/1.1 200 OK\r\nContent-Len");
            std::thread::sleep(Duration::from_millis(20));
        }
    })
}

#[test]
fn headers_cut_off_are_a_reset_closed_error() {
    let server = cut_off_headers();
    // No response head ever arrives.
    never_answered(
        |extra| metronome(&quick(&server.url(), "1s", extra)),
        &["did not answer: reset_closed"],
        "reset_closed",
    );
}

// ---------------------------------------------------------------------------------------------
// 3. A body that trickles one byte a second

#[test]
fn a_trickling_body_times_out_and_the_run_stays_bounded() {
    let server = Hostile::start(|stream, _| {
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut writer = &stream;
        if !read_request(&mut reader)
            || writer
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n")
                .is_err()
        {
            return;
        }
        for _ in 0..100 {
            if writer.write_all(b"x").is_err() {
                return;
            }
            std::thread::sleep(Duration::from_secs(1));
        }
    });
    let ran = metronome(&quick(&server.url(), "500ms", &["--no-preflight"]));
    let s = survived(&ran, ARRIVALS);
    every_request_failed_as(s, "request_timeout");
    // Each arrival gave up 0.5 s after it was sent, whatever the target still had to send: a
    // second of schedule, half a second of drain, and the process's start and reports.
    assert!(ran.took < Duration::from_secs(8), "took {:?}", ran.took);
    // Every error's latency is its timeout (0.5 s after its intended time, give or take the
    // engine's lateness), not the body's 100 s.
    let max = s["error_latency_us"]["max"].as_u64().unwrap();
    assert!(
        (500_000..2_000_000).contains(&max),
        "error latency max {max} µs"
    );
    code_is(s, 3);
}

// ---------------------------------------------------------------------------------------------
// 4. A body of a gigabyte

/// GIB is the body size of the gigabyte faults.
const GIB: u64 = 1 << 30;

/// PEAK_RSS_BOUND is what the generator may hold at its peak here, in KiB: its own working set
/// (a debug build with its histograms is some tens of MiB), far below the gigabyte sent to it.
const PEAK_RSS_BOUND: u64 = 128 << 10;

/// held_little checks that the run's peak resident set stayed within PEAK_RSS_BOUND.
fn held_little(ran: &Ran) {
    eprintln!("peak RSS {} KiB", ran.peak_rss_kib);
    assert!(
        ran.peak_rss_kib < PEAK_RSS_BOUND,
        "peak RSS {} KiB",
        ran.peak_rss_kib
    );
}

/// too_large runs against a server that answers `head` and a gigabyte of body, with `extra`
/// flags: every arrival must be `body_too_large` and memory stay flat. The target answered (a
/// head arrived) every time, badly: the error rate fails the run.
fn too_large(head: String, extra: &[&str]) {
    let server = Hostile::start(move |stream, _| {
        stream_bytes(stream, head.as_bytes(), GIB);
    });
    let ran = metronome(&quick(&server.url(), "1s", extra));
    let s = survived(&ran, ARRIVALS);
    every_request_failed_as(s, "body_too_large");
    held_little(&ran);
    code_is(s, 1);
}

#[test]
fn a_declared_gigabyte_body_is_refused_at_its_head_by_max_body() {
    // The default max_body (64 MiB): the head says the body is over it, so none is read.
    too_large(
        format!("HTTP/1.1 200 OK\r\nContent-Length: {GIB}\r\n\r\n"),
        &[],
    );
}

#[test]
fn a_gigabyte_body_without_a_length_is_cut_off_at_max_body() {
    // No Content-Length: the body ends with the connection, so only reading tells its size.
    too_large("HTTP/1.1 200 OK\r\n\r\n".into(), &["--max-body", "4MiB"]);
}

#[test]
fn a_gigabyte_body_within_max_body_is_streamed_not_held() {
    // Allowed by a larger max_body, the bodies are read as fast as they come until the timeout:
    // counted and dropped, never held, so memory stays flat however much arrives.
    let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", 4 * GIB);
    let sent = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let total = sent.clone();
    let server = Hostile::start(move |stream, _| {
        let n = stream_bytes(stream, head.as_bytes(), 4 * GIB);
        total.fetch_add(n, Ordering::Relaxed);
    });
    // Two arrivals, each a body of 4 GiB: more than half a second can carry.
    let args = quick_at(
        &server.url(),
        "2",
        "500ms",
        &["--max-body", "8GiB", "--no-preflight"],
    );
    let ran = metronome(&args);
    let s = survived(&ran, 2);
    every_request_failed_as(s, "request_timeout");
    // The server's last writes may still be ending as the run does: wait for them to count.
    std::thread::sleep(Duration::from_millis(100));
    let sent = sent.load(Ordering::Relaxed);
    eprintln!("{} MiB sent", sent >> 20);
    held_little(&ran);
    // What went through was several times what the generator held at its peak: a body held in
    // memory would have shown.
    assert!(
        sent > 2 * (PEAK_RSS_BOUND << 10),
        "only {} MiB sent",
        sent >> 20
    );
}

// ---------------------------------------------------------------------------------------------
// 5. Invalid HTTP

#[test]
fn invalid_http_is_a_protocol_error() {
    let server = Hostile::start(|stream, _| {
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut writer = &stream;
        while let Some(path) = request_path(&mut reader) {
            let sent = match path.as_str() {
                "/garbage-status" => writer.write_all(b"HTTP/1.1 2x0 Fine\r\nContent-Length: 2\r\n\r\nok"),
                "/bad-chunk" => writer.write_all(
                    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
                ),
                "/chunk-overrun" => writer.write_all(
                    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhello\r\n0\r\n\r\n",
                ),
                "/two-lengths" => writer.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 5\r\n\r\nhello",
                ),
                // Header lines that never end: bounded by the largest head the engine reads.
                "/endless-head" => {
                    let _ = writer.write_all(b"HTTP/1.1 200 OK\r\n");
                    let line = format!("X-Filler: {}\r\n", "f".repeat(1000));
                    (0..2000).try_for_each(|_| writer.write_all(line.as_bytes()))
                }
                _ => writer.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"),
            };
            if sent.is_err() {
                return;
            }
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let faults = [
        ("garbage_status", "/garbage-status"),
        ("bad_chunk", "/bad-chunk"),
        ("chunk_overrun", "/chunk-overrun"),
        ("two_lengths", "/two-lengths"),
        ("endless_head", "/endless-head"),
    ];
    let plan = plan_file(dir.path(), &server.url(), "1s", 50, &faults);
    let ran = metronome(&[plan.to_str().unwrap().to_string()]);
    let s = survived(&ran, 50);
    for (name, _) in faults {
        every_request_failed_as(by_name(s, name), "protocol_error");
    }
    every_request_failed_as(s, "protocol_error");
    // No valid response ever came back: the target never answered.
    code_is(s, 3);
}

// ---------------------------------------------------------------------------------------------
// 6. A server that closes after every response

#[test]
fn a_server_that_closes_after_every_response_costs_connections_not_errors() {
    let server = Hostile::start(|stream, _| {
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut writer = &stream;
        let answer: &[u8] = match request_path(&mut reader).as_deref() {
            Some("/announced") => {
                b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
            }
            Some(_) => b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
            None => return,
        };
        let _ = writer.write_all(answer);
        // Closed at once, announced or not.
    });
    let dir = tempfile::tempdir().unwrap();
    let faults = [("announced", "/announced"), ("unannounced", "/unannounced")];
    let plan = plan_file(dir.path(), &server.url(), "1s", 40, &faults);
    let ran = metronome(&[plan.to_str().unwrap().to_string()]);
    let s = survived(&ran, 40);
    assert_eq!(s["successes"], 40, "{:?}", kinds(s));
    // No connection carried two requests: each one opened before the start carried at most
    // one, and every other request opened its own.
    let n = |k: &str| s[k].as_u64().unwrap();
    assert!(
        n("connections_opened_before_start") + n("new_connections") >= n("requests"),
        "{} opened before the start, {} new, for {} requests",
        n("connections_opened_before_start"),
        n("new_connections"),
        n("requests")
    );
    assert!(server.accepted.load(Ordering::Relaxed) >= n("requests") as usize);
    code_is(s, 0);
}

// ---------------------------------------------------------------------------------------------
// 7. A server that accepts and never answers

#[test]
fn a_server_that_never_answers_is_a_request_timeout() {
    let server = Hostile::start(|stream, _| {
        // Read whatever comes, answer nothing, until the client goes or the read bound ends.
        let mut sink = [0u8; 4096];
        while matches!((&stream).read(&mut sink), Ok(n) if n > 0) {}
    });
    never_answered(
        |extra| metronome(&quick(&server.url(), "500ms", extra)),
        &["did not answer within 0.5 s"],
        "request_timeout",
    );
}

// ---------------------------------------------------------------------------------------------
// 8. A full listen backlog

/// full_backlog is a listener with a backlog of one that never accepts, filled with this
/// test's own connections until the next one could not connect: every connection after them
/// waits for a handshake that never comes. The connections are held while the listener is.
fn full_backlog() -> (TcpListener, Vec<TcpStream>) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .unwrap();
    let listener = {
        let _in = rt.enter();
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        socket.listen(1).unwrap().into_std().unwrap()
    };
    let addr = listener.local_addr().unwrap();
    let mut held = Vec::new();
    while let Ok(s) = TcpStream::connect_timeout(&addr, Duration::from_millis(300)) {
        held.push(s);
        assert!(
            held.len() < 16,
            "a backlog of one took {} connections",
            held.len()
        );
    }
    (listener, held)
}

#[test]
fn a_full_listen_backlog_is_a_connect_timeout() {
    let (listener, _held) = full_backlog();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    never_answered(
        |extra| metronome(&quick(&url, "500ms", extra)),
        &["could not connect", "connect_timeout"],
        "connect_timeout",
    );
}

// ---------------------------------------------------------------------------------------------
// 9. A server that answers before the request is sent

#[test]
fn an_answer_before_the_request_never_shifts_onto_a_later_request() {
    // On accept the server sends a whole response unasked, then answers each request as well:
    // every connection carries one response more than it was asked for.
    let per_connection = Arc::new(Mutex::new(BTreeMap::<usize, usize>::new()));
    let counted = per_connection.clone();
    let server = Hostile::start(move |stream, n| {
        let mut writer = &stream;
        if writer
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nearly")
            .is_err()
        {
            return;
        }
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        while read_request(&mut reader) {
            *counted.lock().unwrap().entry(n).or_default() += 1;
            if writer
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nlater")
                .is_err()
            {
                return;
            }
        }
    });
    let ran = metronome(&quick(&server.url(), "1s", &[]));
    let s = survived(&ran, ARRIVALS);
    // The response that came first is read as the answer, as any client reads it ...
    assert_eq!(s["successes"], ARRIVALS, "{:?}", kinds(s));
    // ... and a connection with bytes nobody asked for is never used again, so the extra
    // response is never taken for a later request's answer.
    let counts = per_connection.lock().unwrap();
    assert!(
        counts.values().all(|&n| n == 1),
        "requests per connection: {counts:?}"
    );
    // Every request (the preflight's and the 20 arrivals') reached the target once.
    assert_eq!(
        counts.values().sum::<usize>() as u64,
        ARRIVALS + 1,
        "{counts:?}"
    );
    code_is(s, 0);
}

// ---------------------------------------------------------------------------------------------
// 10. HTTP/2: RST_STREAM and GOAWAY

/// on_tokio serves each connection accepted on a new loopback listener with `serve`, on a
/// runtime of its own, each for IO_BOUND at most.
fn on_tokio<F, Fut>(serve: F) -> Hostile
where
    F: Fn(tokio::net::TcpStream, usize) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let local = tokio::task::LocalSet::new();
        local.block_on(&rt, async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            let until = tokio::time::Instant::now() + LIFETIME;
            while count.load(Ordering::Relaxed) < MAX_ACCEPTS {
                let Ok(Ok((stream, _))) = tokio::time::timeout_at(until, listener.accept()).await
                else {
                    return;
                };
                let n = count.fetch_add(1, Ordering::Relaxed);
                tokio::task::spawn_local(tokio::time::timeout(IO_BOUND, serve(stream, n)));
            }
        });
    });
    Hostile { port, accepted }
}

type Answer = hyper::Response<http_body_util::Full<bytes::Bytes>>;

fn ok() -> Answer {
    hyper::Response::new(http_body_util::Full::new(bytes::Bytes::from_static(b"ok")))
}

#[test]
fn http2_streams_reset_by_the_target_are_reset_closed_errors() {
    let server = on_tokio(|stream, _| async move {
        // A service that fails: hyper resets the stream (RST_STREAM, INTERNAL_ERROR).
        let service = hyper::service::service_fn(|_req| async {
            Err::<Answer, _>(std::io::Error::other("refused"))
        });
        let _ = hyper::server::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new())
            .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
            .await;
    });
    let ran = metronome(&quick(
        &server.url(),
        "1s",
        &["--http", "2", "--no-preflight"],
    ));
    let s = survived(&ran, ARRIVALS);
    every_request_failed_as(s, "reset_closed");
    code_is(s, 3);
}

#[test]
fn http2_goaway_after_a_few_requests_moves_arrivals_to_new_connections() {
    const PER_CONNECTION: usize = 3;
    let server = on_tokio(|stream, _| async move {
        let served = Arc::new(AtomicUsize::new(0));
        let enough = Arc::new(tokio::sync::Notify::new());
        let (count, full) = (served.clone(), enough.clone());
        let service = hyper::service::service_fn(move |_req| {
            if count.fetch_add(1, Ordering::Relaxed) + 1 >= PER_CONNECTION {
                full.notify_one();
            }
            async { Ok::<_, std::convert::Infallible>(ok()) }
        });
        let conn = hyper::server::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new())
            .serve_connection(hyper_util::rt::TokioIo::new(stream), service);
        tokio::pin!(conn);
        tokio::select! {
            _ = conn.as_mut() => {}
            _ = enough.notified() => {
                // GOAWAY: streams already open finish, no new ones are taken.
                conn.as_mut().graceful_shutdown();
                let _ = conn.await;
            }
        }
    });
    let ran = metronome(&quick(&server.url(), "1s", &["--http", "2"]));
    let s = survived(&ran, ARRIVALS);
    assert_eq!(s["successes"], ARRIVALS, "{:?}", kinds(s));
    // 20 arrivals (and the preflight) at most 3 a connection.
    let accepted = server.accepted.load(Ordering::Relaxed);
    assert!(accepted >= 21 / PER_CONNECTION, "{accepted} connections");
    code_is(s, 0);
}

// ---------------------------------------------------------------------------------------------
// 11. TLS: expired, wrong host, self-signed

/// Certificate is a server certificate and its key (DER).
struct Certificate {
    chain: Vec<rustls::pki_types::CertificateDer<'static>>,
    key: rustls::pki_types::PrivateKeyDer<'static>,
}

/// TestCa is a private CA whose certificate a run trusts by --ca-file.
struct TestCa {
    params: rcgen::CertificateParams,
    key: rcgen::KeyPair,
    pem: String,
}

impl TestCa {
    fn new() -> TestCa {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::DigitalSignature,
        ];
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "metronome hostile test CA");
        let key = rcgen::KeyPair::generate().unwrap();
        let pem = params.self_signed(&key).unwrap().pem();
        TestCa { params, key, pem }
    }

    /// issue signs a certificate for `names`, valid over `valid` (rcgen's default when None).
    fn issue(&self, names: &[&str], valid: Option<(i32, i32)>) -> Certificate {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut params = rcgen::CertificateParams::new(names).unwrap();
        if let Some((from, to)) = valid {
            params.not_before = rcgen::date_time_ymd(from, 1, 1);
            params.not_after = rcgen::date_time_ymd(to, 1, 1);
        }
        let key = rcgen::KeyPair::generate().unwrap();
        let issuer = rcgen::Issuer::from_params(&self.params, &self.key);
        let cert = params.signed_by(&key, &issuer).unwrap();
        Certificate {
            chain: vec![cert.der().clone()],
            key: rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        }
    }
}

/// self_signed is a certificate for 127.0.0.1 that no CA signed.
fn self_signed() -> Certificate {
    let c = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
    Certificate {
        chain: vec![c.cert.der().clone()],
        key: rustls::pki_types::PrivateKeyDer::Pkcs8(c.signing_key.serialize_der().into()),
    }
}

/// tls_server presents `cert` and, on a connection whose handshake completes (counted in
/// `handshakes`), answers each request with `answer(path)`.
fn tls_server(
    cert: Certificate,
    handshakes: Arc<AtomicUsize>,
    answer: fn(&str) -> &'static [u8],
) -> Hostile {
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(cert.chain, cert.key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    on_tokio(move |stream, _| {
        let (acceptor, handshakes) = (acceptor.clone(), handshakes.clone());
        async move {
            use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
            let Ok(tls) = acceptor.accept(stream).await else {
                return;
            };
            handshakes.fetch_add(1, Ordering::Relaxed);
            let mut tls = tokio::io::BufReader::new(tls);
            let mut path: Option<String> = None;
            loop {
                let mut line = String::new();
                match tls.read_line(&mut line).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) if line == "\r\n" => {
                        let p = path.take().unwrap_or_default();
                        if tls.get_mut().write_all(answer(p.as_str())).await.is_err() {
                            return;
                        }
                    }
                    Ok(_) => path = path.or_else(|| line.split(' ').nth(1).map(String::from)),
                }
            }
        }
    })
}

/// OK is a plain answer.
const OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

/// trusted_ca_file writes the certificate of `ca` into `dir`, for --ca-file.
fn trusted_ca_file(dir: &Path, ca: &TestCa) -> String {
    let path = dir.join("ca.pem");
    std::fs::write(&path, &ca.pem).unwrap();
    path.to_str().unwrap().to_string()
}

/// bad_certificate checks a TLS target presenting `cert` (with `ca` trusted when given): the
/// preflight refuses it saying `why`, without the preflight every arrival is a TLS error, and
/// no handshake ever completes.
fn bad_certificate(cert: Certificate, ca: Option<&TestCa>, why: &str) {
    let handshakes = Arc::new(AtomicUsize::new(0));
    let server = tls_server(cert, handshakes.clone(), |_| OK);
    let url = format!("https://127.0.0.1:{}/", server.port);
    let dir = tempfile::tempdir().unwrap();
    let trust = match ca {
        Some(ca) => vec!["--ca-file".to_string(), trusted_ca_file(dir.path(), ca)],
        None => Vec::new(),
    };
    let run = |extra: &[&str]| {
        let mut args = quick(&url, "1s", extra);
        args.extend(trust.iter().cloned());
        metronome(&args)
    };
    never_answered(run, &["tls_error", why], "tls_error");
    assert_eq!(
        handshakes.load(Ordering::Relaxed),
        0,
        "a handshake completed"
    );
}

#[test]
fn an_expired_certificate_is_a_tls_error() {
    let ca = TestCa::new();
    let cert = ca.issue(&["127.0.0.1", "localhost"], Some((2020, 2021)));
    bad_certificate(cert, Some(&ca), "expired");
}

#[test]
fn a_certificate_for_another_host_is_a_tls_error() {
    let ca = TestCa::new();
    let cert = ca.issue(&["wrong.example"], None);
    bad_certificate(cert, Some(&ca), "not valid for");
}

#[test]
fn a_self_signed_certificate_is_a_tls_error() {
    bad_certificate(self_signed(), None, "not trusted");
}

#[test]
fn over_tls_bad_framing_and_a_gigabyte_body_are_named_as_on_cleartext() {
    // Behind TLS, HTTP/1.1 responses are read through hyper, not the engine's own reader: the
    // same faults must get the same kinds.
    let ca = TestCa::new();
    let server = tls_server(
        ca.issue(&["127.0.0.1"], None),
        Arc::new(AtomicUsize::new(0)),
        |path| match path {
            "/bad-chunk" => {
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n"
            }
            "/huge" => b"HTTP/1.1 200 OK\r\nContent-Length: 1073741824\r\n\r\nxxxx",
            _ => OK,
        },
    );
    let dir = tempfile::tempdir().unwrap();
    let url = format!("https://127.0.0.1:{}/", server.port);
    let faults = [
        ("bad_chunk", "/bad-chunk"),
        ("huge", "/huge"),
        ("fine", "/fine"),
    ];
    let plan = plan_file(dir.path(), &url, "1s", 30, &faults);
    let ca_file = trusted_ca_file(dir.path(), &ca);
    let ran = metronome(&[plan.to_str().unwrap().into(), "--ca-file".into(), ca_file]);
    let s = survived(&ran, 30);
    every_request_failed_as(by_name(s, "bad_chunk"), "protocol_error");
    every_request_failed_as(by_name(s, "huge"), "body_too_large");
    let fine = by_name(s, "fine");
    assert_eq!(fine["errors"], 0, "{fine}");
    // Two thirds of the requests failed, answered: the error rate fails the run.
    code_is(s, 1);
}
