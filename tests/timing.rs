//! The engine's timing against what this machine gives. Each test here holds `ALONE` for its
//! whole run, and `cargo test` runs one test binary at a time, so no test of the suite takes
//! the CPU these figures depend on (in the binaries they came from, the tests beside them made
//! them fail on a loaded 2-core CI machine). Each bound still follows from a reference measured
//! in the same test, on the same machine at the same moment, since other work may run beside
//! the suite.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use common::{demo, quick, run};
use metronome::demo::DemoConfig;
use metronome::plan::Plan;
use metronome::summary::Summary;

static ALONE: Mutex<()> = Mutex::new(());

/// alone keeps the other tests of this binary waiting while the caller measures.
fn alone() -> MutexGuard<'static, ()> {
    ALONE.lock().unwrap_or_else(|e| e.into_inner())
}

/// STARVED is the share of their time the engine's workers may wait for a CPU, ready to run,
/// for a late run to say how punctual the engine is rather than how busy the machine is. Seen
/// (`engine_cpu_wait_s`): 0.2-0.5 % idle; 3-22 % with two spinning processes on the two cores,
/// the engine on time; 25-37 % with four, when this debug build fell 0.4-0.9 ms behind at
/// 1,000-5,000/s.
const STARVED: f64 = 0.05;

/// waited_share is the share of the workers' time they waited for a CPU while ready to run.
fn waited_share(s: &Summary) -> f64 {
    let wait = s
        .engine_cpu_wait_s
        .expect("the kernel says how long threads wait (schedstat)");
    wait / (s.elapsed_s * s.threads as f64)
}

#[test]
fn dispatch_lag_stays_near_the_machines_own_timer_floor() {
    let _alone = alone();
    // Absolute figures mean little on a shared VM, so the bound is relative: a bare loop
    // sleeping to absolute deadlines at the same rate, measured now, sets the floor. A
    // regression to a millisecond timer (p50 ~500-900 µs) fails; noise within 10x does not.
    // 1,000/s takes default pacing's sparse path (a fixed early wake), 5,000/s its dense one
    // (the timer armed early by the wake-up latency it learns).
    // A thread that only sleeps is favoured by the scheduler over one that needs the CPU, so
    // when other work holds the cores the bare loop keeps its floor while the engine may not
    // get the CPU on time. A late run whose workers waited for a CPU more than `STARVED` of
    // their time measured the machine, not the engine: it is tried again, and if three tries
    // were late and starved, only the on-time bound (10 ms) is checked, and the test says so.
    let target = demo(DemoConfig::default());
    for rate in [1000.0, 5000.0] {
        let mut starved = Vec::new();
        loop {
            let floor = metronome::bench::bare_sleep_p50(rate, 1000);
            let s = run(quick(
                &target.base_url(),
                "/health",
                rate,
                Duration::from_secs(2),
            ));
            let lag = Duration::from_micros(s.dispatch_lag_us.p50.unwrap());
            let bound = (floor * 10).max(Duration::from_micros(450));
            let waited = waited_share(&s);
            eprintln!(
                "{rate}/s: dispatch lag p50 {lag:?}, bare sleeping loop p50 {floor:?}, bound \
                 {bound:?}; the workers waited {:.1} % of their time for a CPU",
                waited * 100.0
            );
            if lag <= bound {
                break;
            }
            assert!(
                waited > STARVED,
                "{rate}/s: dispatch lag p50 {lag:?} above {bound:?} (floor {floor:?}), and the \
                 workers were given the CPU when ready (they waited {:.1} % of their time)",
                waited * 100.0
            );
            starved.push(format!("{lag:?} late, {:.0} % waiting", waited * 100.0));
            if starved.len() == 3 {
                // What is left to check is that the engine stayed on time by the summary's own
                // measure, however the machine shared its CPU.
                eprintln!(
                    "{rate}/s: in each of 3 tries the engine was late and other work on this \
                     machine kept its workers waiting for a CPU ({}): the timer floor could not \
                     be checked, only the on-time bound",
                    starved.join("; ")
                );
                assert!(
                    lag <= metronome::summary::LAG_BOUND,
                    "{rate}/s: dispatch lag p50 {lag:?} above the on-time bound"
                );
                break;
            }
        }
    }
}

/// Ending is how the test server ends each answer.
#[derive(Clone, Copy)]
enum Ending {
    /// A 1 MB body with its length, the connection kept: more than a loopback socket's
    /// receive buffer holds at first.
    LargeBody,
    /// A short body that ends with the connection, closed at once.
    Close,
}

/// serve starts a server on loopback that answers every request as `ending` says.
fn serve(ending: Ending) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            std::thread::spawn(move || answer_all(stream, ending));
        }
    });
    port
}

const LARGE_HEAD: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n";
static LARGE_BODY: std::sync::LazyLock<Vec<u8>> =
    std::sync::LazyLock::new(|| vec![b'x'; 1_000_000]);

/// answer_all answers the requests (GETs, no body) on one connection until it ends.
fn answer_all(stream: TcpStream, ending: Ending) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    loop {
        let mut line = String::new();
        loop {
            line.clear();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) if line == "\r\n" => break,
                Ok(_) => {}
            }
        }
        let sent = match ending {
            Ending::LargeBody => writer
                .write_all(LARGE_HEAD)
                .and_then(|()| writer.write_all(&LARGE_BODY)),
            Ending::Close => writer.write_all(b"HTTP/1.1 200 OK\r\n\r\nuntil close"),
        };
        if sent.is_err() || matches!(ending, Ending::Close) {
            return;
        }
    }
}

/// reference_p50 is the service time p50 of a plain blocking client asking `port` `count`
/// times at `rate`: it writes each request and reads its answer to the end (the body's length,
/// or the close), one connection kept, or a new one for each when the server closes. It runs
/// beside the engine, so both see the machine as it is then.
fn reference_p50(port: u16, ending: Ending, rate: f64, count: u32) -> Duration {
    let start = Instant::now();
    let mut kept: Option<TcpStream> = None;
    let mut took = Vec::new();
    let mut buf = vec![0u8; 256 * 1024];
    for k in 0..count {
        let due = start + Duration::from_secs_f64(f64::from(k) / rate);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let mut conn = match kept.take() {
            Some(c) => c,
            None => {
                let c = TcpStream::connect(("127.0.0.1", port)).unwrap();
                c.set_nodelay(true).unwrap();
                c
            }
        };
        let sent = Instant::now();
        conn.write_all(b"GET / HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n")
            .unwrap();
        let mut got = 0;
        let want = match ending {
            Ending::LargeBody => LARGE_HEAD.len() + LARGE_BODY.len(),
            Ending::Close => usize::MAX,
        };
        while got < want {
            match conn.read(&mut buf).unwrap() {
                0 => break,
                n => got += n,
            }
        }
        took.push(sent.elapsed());
        if matches!(ending, Ending::LargeBody) {
            kept = Some(conn);
        }
    }
    took.sort();
    took[took.len() / 2]
}

/// read_as_a_plain_client_would runs one second at 600 arrivals a second (on wakes 1.7 ms
/// apart, so short responses are read on the pacer's wakes) on 20 connections against a server
/// ending its answers as `ending` says, with the reference client asking the same server at the
/// same rate meanwhile. It checks every arrival was answered, and that the engine's service
/// time p50 stays under twice the reference's plus half a millisecond: room for a busy engine
/// thread to be woken later than an idle one, and below the 1.7 ms to the next wake.
fn read_as_a_plain_client_would(ending: Ending) {
    let port = serve(ending);
    let mut plan: Plan = quick(
        &format!("http://127.0.0.1:{port}"),
        "/",
        600.0,
        Duration::from_secs(1),
    );
    plan.limits.connections = 20;
    plan.preflight = false;
    let reference = std::thread::spawn(move || reference_p50(port, ending, 600.0, 600));
    let s = run(plan);
    let reference = reference.join().unwrap().as_secs_f64() * 1e3;
    assert_eq!(s.successes, 600, "{:?}", s.error_kinds);
    let service = common::ms(s.service_time_us.p50);
    eprintln!(
        "service time p50 {service:.3} ms, a plain blocking client's {reference:.3} ms; the \
         workers waited {:?} s for a CPU",
        s.engine_cpu_wait_s
    );
    let bound = 2.0 * reference + 0.5;
    assert!(
        service < bound,
        "service time p50 {service:.3} ms, above {bound:.3} ms (a plain client's {reference:.3} ms)"
    );
}

#[test]
fn responses_that_could_fill_the_socket_buffer_are_not_left_to_wait() {
    let _alone = alone();
    // 1 MB answers at 600/s, the head written first. Left unread until the pacer's next wake,
    // the body waits for that wake in the target's socket, the receive window full: the engine
    // would slow the target it measures. After the first such response the request's answers
    // are read as they come, as a blocking client reads them.
    // Timing: the reference is the same transfer read by a thread that does nothing else. Seen
    // here, idle: the engine 0.35 ms, the reference 0.33 ms; with the response size not
    // learned (the regression, `ReadHints::learn` disabled) the engine took 1.75 ms, above the
    // bound of 1.15 ms.
    read_as_a_plain_client_would(Ending::LargeBody);
}

#[test]
fn a_close_already_in_when_read_is_not_timed_at_the_read() {
    let _alone = alone();
    // The target answers and closes at once. Whether the close is read on the pacer's next
    // wake (1.7 ms later at 600/s) or as it comes decides the service time, since the close has
    // no stamp: after the first such answer the request's answers are read as they come.
    // Timing: the reference is a thread that connects, asks and reads to the close. Seen here,
    // idle: the engine 0.08-0.15 ms, the reference 0.05-0.16 ms; with the close not learned
    // (`ReadHints::learn` disabled) the engine took 1.63 ms, above the bound of 0.60 ms.
    read_as_a_plain_client_would(Ending::Close);
}
