//! HTTP/1.1 as servers really answer it: a scripted server on loopback sends chunked bodies,
//! interim responses, bodies that end with the connection, closes connections while they sit
//! idle, and sends garbage; each run must read every response to its real end, keep what it
//! may keep, and name what went wrong.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{quick, run};
use hyper::http::Method;
use metronome::plan::Plan;

/// Scripted is a server that answers each request by its path, and keeps every request head.
struct Scripted {
    port: u16,
    heads: Arc<Mutex<Vec<String>>>,
}

/// answer is what the scripted server sends for `path`, and whether it then closes at once or
/// after a pause (the connection left idle).
fn answer(path: &str) -> (Vec<&'static [u8]>, Close) {
    match path {
        // The chunk-size line is split across two writes, and a trailer field follows.
        "/chunked" => (
            vec![
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r",
                b"\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n",
            ],
            Close::Never,
        ),
        "/close" => (
            vec![b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"],
            Close::Now,
        ),
        "/until-close" => (vec![b"HTTP/1.1 200 OK\r\n\r\nuntil close"], Close::Now),
        "/continue" => (
            vec![b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nyes"],
            Close::Never,
        ),
        "/no-content" => (vec![b"HTTP/1.1 204 No Content\r\n\r\n"], Close::Never),
        "/head" => (
            vec![b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"],
            Close::Never,
        ),
        // A 304 whose Content-Length is nonsense: it has no body, so nothing reads it.
        "/not-modified" => (
            vec![b"HTTP/1.1 304 Not Modified\r\nContent-Length: lots\r\n\r\n"],
            Close::Never,
        ),
        "/garbage" => (vec![b"NOT HTTP AT ALL\r\n\r\n"], Close::Never),
        // A header value in Latin-1 (obs-text): legal, and no business of the client's.
        "/latin1" => (
            vec![b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Name: caf\xe9\r\n\r\nok"],
            Close::Never,
        ),
        "/short" => (
            vec![b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"],
            Close::Now,
        ),
        // A body that ends with the connection, which closes 20 ms after the last byte.
        "/slow-close" => (vec![b"HTTP/1.1 200 OK\r\n\r\nslow"], Close::After(20)),
        "/idle-close" => (
            vec![b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"],
            Close::WhenIdle,
        ),
        _ => (
            vec![b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"],
            Close::Never,
        ),
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Close {
    Never,
    Now,
    /// Keep the connection a moment after the response, then close it unasked.
    WhenIdle,
    /// Close this many milliseconds after the response.
    After(u64),
}

impl Scripted {
    fn start() -> Scripted {
        Scripted::start_closing_idle_after(None)
    }

    /// start_closing_idle_after starts a server that also closes any connection that carries
    /// no request for `idle`, as servers' keep-alive timeouts do.
    fn start_closing_idle_after(idle: Option<Duration>) -> Scripted {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let heads = Arc::new(Mutex::new(Vec::new()));
        let kept = heads.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                let kept = kept.clone();
                stream.set_read_timeout(idle).unwrap();
                std::thread::spawn(move || serve(stream, &kept));
            }
        });
        Scripted { port, heads }
    }

    /// fast_plan is `rate` arrivals a second for `duration` on up to `connections`: close
    /// enough together (under 2 ms) that the engine reads responses on its pacer's wakes.
    fn fast_plan(&self, path: &str, rate: f64, duration: Duration, connections: usize) -> Plan {
        let mut plan = quick(
            &format!("http://127.0.0.1:{}", self.port),
            path,
            rate,
            duration,
        );
        plan.limits.connections = connections;
        plan.preflight = false;
        plan
    }

    fn plan(&self, method: Method, path: &str, arrivals: u32) -> Plan {
        // 20 arrivals a second: 50 ms apart, so a connection closed "when idle" is closed
        // before the next arrival takes it.
        let mut plan = quick(
            &format!("http://127.0.0.1:{}", self.port),
            path,
            20.0,
            Duration::from_millis(50 * u64::from(arrivals)),
        );
        plan.scenarios[0].requests[0].method = method;
        plan.limits.connections = 1;
        plan.limits.timeout = Duration::from_secs(3);
        plan.preflight = false;
        plan
    }
}

/// STALLED is set once the server has held its first answer to `/stall-once` for 20 ms.
static STALLED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// serve answers requests on one connection until the client or the script closes it.
fn serve(stream: TcpStream, heads: &Mutex<Vec<String>>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    loop {
        let mut head = String::new();
        loop {
            let mut line = String::new();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            head.push_str(&line);
            if line == "\r\n" {
                break;
            }
        }
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
            .map_or(0, |n| n.trim().parse().unwrap());
        let path = head.split(' ').nth(1).unwrap_or("/").to_string();
        if path == "/early" {
            // Refuse the body without reading it, and hang up: the unread bytes make the
            // kernel reset the connection under the client's write.
            heads.lock().unwrap().push(head);
            let _ = writer.write_all(
                b"HTTP/1.1 413 Content Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            );
            return;
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
        heads.lock().unwrap().push(head);
        if path == "/stall-once" && !STALLED.swap(true, std::sync::atomic::Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(20));
        }
        let (parts, close) = answer(&path);
        for (k, part) in parts.iter().enumerate() {
            if k > 0 {
                std::thread::sleep(Duration::from_millis(2));
            }
            if writer.write_all(part).is_err() {
                return;
            }
            writer.flush().unwrap();
        }
        match close {
            Close::Never => {}
            Close::Now => return,
            Close::WhenIdle => {
                std::thread::sleep(Duration::from_millis(15));
                return;
            }
            Close::After(ms) => {
                std::thread::sleep(Duration::from_millis(ms));
                return;
            }
        }
    }
}

#[test]
fn bodies_end_where_the_response_says_and_connections_are_kept_when_they_can_be() {
    let server = Scripted::start();
    for (path, bytes_each, reused) in [
        ("/chunked", 11, true),
        ("/continue", 3, true),
        ("/no-content", 0, true),
        ("/not-modified", 0, true),
        ("/close", 2, false),
        ("/until-close", 11, false),
    ] {
        let s = run(server.plan(Method::GET, path, 10));
        assert_eq!(s.requests, 10, "{path}: {s:#?}");
        assert_eq!(s.successes, 10, "{path}: {:?}", s.error_kinds);
        assert_eq!(s.bytes_received, 10 * bytes_each, "{path}");
        // One connection was opened before the start and carries the first arrival; a response
        // that ends the connection makes each of the 9 after it open a new one.
        let expected_new = if reused { 0 } else { 9 };
        assert_eq!(s.new_connections, expected_new, "{path}");
    }
}

#[test]
fn a_head_response_has_no_body_whatever_its_length_says() {
    let server = Scripted::start();
    let s = run(server.plan(Method::HEAD, "/head", 10));
    assert_eq!(s.successes, 10, "{:?}", s.error_kinds);
    assert_eq!(s.bytes_received, 0);
    assert_eq!(s.new_connections, 0, "the connection is reused");
}

#[test]
fn broken_responses_are_named_not_hung_on() {
    let server = Scripted::start();
    let s = run(server.plan(Method::GET, "/garbage", 5));
    assert_eq!(
        s.error_kinds.get("protocol_error").copied(),
        Some(5),
        "{s:#?}"
    );
    let s = run(server.plan(Method::GET, "/short", 5));
    assert_eq!(s.error_kinds.get("body_read").copied(), Some(5), "{s:#?}");
}

#[test]
fn a_connection_the_target_closed_while_idle_is_replaced_without_an_error() {
    let server = Scripted::start();
    let s = run(server.plan(Method::GET, "/idle-close", 10));
    assert_eq!(s.successes, 10, "{:?}", s.error_kinds);
    assert!(s.new_connections >= 9, "{}", s.new_connections);
}

#[test]
fn requests_carry_the_host_and_a_length_when_the_method_has_a_body() {
    let server = Scripted::start();
    run(server.plan(Method::POST, "/", 2));
    run(server.plan(Method::GET, "/plain", 2));
    let heads = server.heads.lock().unwrap();
    let post = heads
        .iter()
        .find(|h| h.starts_with("POST / HTTP/1.1\r\n"))
        .unwrap();
    assert!(post.contains("content-length: 0\r\n"), "{post}");
    assert!(
        post.contains(&format!("host: 127.0.0.1:{}\r\n", server.port)),
        "{post}"
    );
    let get = heads
        .iter()
        .find(|h| h.starts_with("GET /plain HTTP/1.1\r\n"))
        .unwrap();
    assert!(!get.contains("content-length"), "{get}");
}

#[test]
fn header_values_in_latin1_are_no_error() {
    let server = Scripted::start();
    let s = run(server.plan(Method::GET, "/latin1", 5));
    assert_eq!(s.successes, 5, "{:?}", s.error_kinds);
    assert_eq!(s.new_connections, 0);
}

#[test]
fn a_request_that_asks_to_close_never_reuses_its_connection() {
    let server = Scripted::start();
    let mut plan = server.plan(Method::GET, "/", 10);
    plan.scenarios[0].requests[0].headers.insert(
        hyper::http::header::CONNECTION,
        hyper::http::HeaderValue::from_static("close"),
    );
    let s = run(plan);
    assert_eq!(s.successes, 10, "{:?}", s.error_kinds);
    assert_eq!(s.new_connections, 9, "one connection per request");
}

#[test]
fn many_connections_closed_while_idle_are_all_noticed() {
    // 100 connections opened before the start, all closed by the target 100 ms later: the
    // second arrival (500 ms in) must find every one of them closed, not send on one.
    let server = Scripted::start_closing_idle_after(Some(Duration::from_millis(100)));
    let mut plan = quick(
        &format!("http://127.0.0.1:{}", server.port),
        "/",
        2.0,
        Duration::from_secs(1),
    );
    plan.limits.connections = 100;
    plan.limits.timeout = Duration::from_secs(3);
    plan.preflight = false;
    let s = run(plan);
    assert_eq!(s.requests, 2);
    assert_eq!(s.successes, 2, "{:?}", s.error_kinds);
}

#[test]
fn an_answer_before_the_whole_body_was_read_is_the_outcome() {
    let server = Scripted::start();
    let mut plan = server.plan(Method::POST, "/early", 3);
    // Larger than loopback's socket buffers, so the write is still going when the target
    // answers and hangs up.
    plan.scenarios[0].requests[0].body =
        metronome::template::Template::literal(&"x".repeat(64 << 20));
    let s = run(plan);
    assert_eq!(s.requests, 3);
    assert_eq!(
        s.error_kinds.get("http_4xx").copied(),
        Some(3),
        "{:?}",
        s.error_kinds
    );
}

#[test]
fn a_body_that_ends_with_the_connection_is_timed_at_the_close() {
    // The close carries no receive stamp: the response ends when it is read, 20 ms after the
    // body's last byte.
    let server = Scripted::start();
    let s = run(server.fast_plan("/slow-close", 600.0, Duration::from_millis(300), 40));
    assert_eq!(s.successes, 180, "{:?}", s.error_kinds);
    let service = common::ms(s.service_time_us.p50);
    assert!(service >= 20.0, "service time p50 {service} ms");
}

#[test]
fn a_response_in_before_the_timeout_is_no_timeout() {
    // The timeout is 20 ms and the server answers 19.5 ms after each request arrived; at 510/s
    // the engine reads responses on wakes 1.96 ms apart, and tokio's timer fires on a whole
    // millisecond at or after the deadline: many answers are in but still unread when the
    // timeout fires, and must count as answered, not timed out (were the socket not looked at
    // when the timeout fires, a large share of them would time out).
    //
    // The server can be late itself (a thread woken milliseconds late on an idle virtual CPU, or
    // not scheduled on a loaded one), so the test does not assume it kept its time: it keeps,
    // for each answer, when the answer was in the client's socket, counted from the kernel's
    // stamp of the request's arrival. Those in by 19.8 ms were in before the timeout fired:
    // the engine takes its send time before it writes the request, and the stamp is taken as
    // the write arrives, so the 0.2 ms left assume the engine's own step from taking its send
    // time to the write takes less than that, as it does unless its thread is preempted just
    // then. Only answers the server sent later may time out.
    const TIMEOUT: Duration = Duration::from_millis(20);
    const IN_TIME: Duration = Duration::from_micros(19_800);
    let mut tries = 0;
    loop {
        tries += 1;
        let server = common::Stamped::start(Duration::from_micros(19_500));
        let mut plan = quick(
            &format!("http://127.0.0.1:{}", server.port),
            "/",
            510.0,
            Duration::from_secs(1),
        );
        plan.limits.connections = 40;
        plan.limits.timeout = TIMEOUT;
        plan.preflight = false;
        let s = run(plan);
        assert_eq!(s.requests, 510);
        let answered = server.answered.lock().unwrap().clone();
        let in_time = answered.iter().filter(|&&a| a <= IN_TIME).count();
        let timeouts = s.error_kinds.get("request_timeout").copied().unwrap_or(0) as usize;
        eprintln!(
            "try {tries}: {timeouts} of 510 timed out; {in_time} answered in time, {} later",
            510 - in_time
        );
        // Only the 510 − in_time arrivals answered later may have timed out, with one spare for
        // the engine preempted between its send time and its write. Were a response in but
        // unread when the timeout fires counted as a timeout, some in-time answers would time
        // out too (measured with that check removed from engine::sweep: 2-8 of 510 a run, the
        // test failing 4 runs of 6; the engine usually sweeps before the timeout fires, so the
        // race is rare): this catches such a regression most runs, if not every one.
        assert!(
            timeouts <= 510 - in_time + 1,
            "{timeouts} of 510 timed out, but {in_time} were answered in time: {:?}",
            s.error_kinds
        );
        // A machine so busy that few answers left the server in time tested little: try again.
        if in_time >= 200 {
            break;
        }
        assert!(
            tries < 3,
            "the server answered in time only {in_time} of 510 times in each of {tries} tries"
        );
    }
}

/// all_answered_at_600 runs one second at 600 arrivals a second (on wakes 1.7 ms apart, so
/// responses are read on the pacer's wakes) on up to `connections`, and checks every arrival
/// was answered.
fn all_answered_at_600(path: &str, connections: usize) -> metronome::summary::Summary {
    let server = Scripted::start();
    let s = run(server.fast_plan(path, 600.0, Duration::from_secs(1), connections));
    assert_eq!(s.successes, 600, "{:?}", s.error_kinds);
    s
}

#[test]
fn arrivals_waiting_for_the_connection_do_not_wait_for_the_engine_to_read() {
    // One connection at 600/s; the target holds its first answer for 20 ms, then answers at
    // once. A dozen arrivals queue meanwhile. Were responses still read only on the pacer's
    // wakes, one a wake, the backlog would never shrink and every later arrival would wait
    // about 20 ms; read as they arrive while arrivals wait, it clears within milliseconds.
    // Seen 0.03-0.08 ms, idle or loaded; the bound is half the 20 ms the regression gives
    // (more if the server's 20 ms sleep ends late), room enough for a busy machine.
    let s = all_answered_at_600("/stall-once", 1);
    let latency = common::ms(s.latency_us.p50);
    eprintln!("latency p50 {latency} ms");
    assert!(latency < 10.0, "latency p50 {latency} ms");
}
