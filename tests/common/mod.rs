//! Helpers shared by the integration tests: real runs over loopback against the demo target.
#![allow(dead_code)]

use std::io::{BufRead, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyper::http::Method;
use metronome::demo::{DemoConfig, DemoTarget};
use metronome::plan::{Plan, Target};
use metronome::run::{self, Options};
use metronome::summary::Summary;

/// demo starts the demo target with `config`.
pub fn demo(config: DemoConfig) -> DemoTarget {
    DemoTarget::start(config).expect("demo target starts")
}

/// quick makes a quick-mode plan against `base` (e.g. the demo's base_url) at `path`.
pub fn quick(base: &str, path: &str, rate: f64, duration: Duration) -> Plan {
    let (target, _) = Target::parse(base).expect("test URL parses");
    Plan::quick(target, Method::GET, path, rate, duration)
}

/// run executes a plan quietly, never interrupted.
pub fn run(plan: Plan) -> Summary {
    run::execute(
        plan,
        &Options {
            quiet: true,
            ..Options::default()
        },
        std::future::pending(),
    )
    .expect("run completes")
}

/// ms converts microseconds to milliseconds.
pub fn ms(us: Option<u64>) -> f64 {
    us.expect("percentile present") as f64 / 1000.0
}

/// within says whether `got` is within `frac` of `want`.
pub fn within(got: f64, want: f64, frac: f64) -> bool {
    (got - want).abs() <= want * frac
}

/// metronome runs the binary with `args` and waits for it.
pub fn metronome(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_metronome"))
        .args(args)
        .output()
        .expect("the binary runs")
}

/// text is everything a finished command printed, standard output then standard error.
pub fn text(o: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Stamped is an HTTP/1.1 server on loopback that answers every GET with `200 ok`, `hold` after
/// the request arrived by the kernel's receive stamp of it, and keeps, for each answer, how long
/// after that stamp the whole answer was in the client's socket: what the server really took,
/// however late its own thread ran. The stamp is taken as the client's write arrives, so a
/// client's service time (from just before its write to the answer's arrival) exceeds this only
/// by the client's own step from taking its send time to the write.
pub struct Stamped {
    pub port: u16,
    pub answered: Arc<Mutex<Vec<Duration>>>,
}

/// realtime_now is CLOCK_REALTIME, the clock of the kernel's receive stamps.
fn realtime_now() -> Duration {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
}

/// recv_stamped reads what socket `fd` has into `buf`, waiting for it, with the kernel's stamp
/// (SO_TIMESTAMPNS, CLOCK_REALTIME) of when it arrived.
fn recv_stamped(fd: std::os::fd::RawFd, buf: &mut [u8]) -> (usize, Option<Duration>) {
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    let mut control = [0u64; 8];
    // SAFETY: an all-zero msghdr is a valid empty one; its pointers are set below.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &raw mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = size_of_val(&control);
    // SAFETY: msg points at a buffer and control space we own, valid for the call.
    let n = unsafe { libc::recvmsg(fd, &raw mut msg, 0) };
    if n <= 0 {
        return (0, None);
    }
    let mut stamp = None;
    // SAFETY: walking the control messages the kernel wrote into `control`.
    let mut cmsg = unsafe { libc::CMSG_FIRSTHDR(&raw const msg) };
    while !cmsg.is_null() {
        // SAFETY: cmsg points at a complete control message header within `control`.
        let header = unsafe { &*cmsg };
        if header.cmsg_level == libc::SOL_SOCKET && header.cmsg_type == libc::SCM_TIMESTAMPNS {
            // SAFETY: an SCM_TIMESTAMPNS message carries one timespec, maybe unaligned.
            let t: libc::timespec =
                unsafe { std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast()) };
            stamp = Some(Duration::new(t.tv_sec as u64, t.tv_nsec as u32));
        }
        // SAFETY: as above; returns null after the last message.
        cmsg = unsafe { libc::CMSG_NXTHDR(&raw const msg, cmsg) };
    }
    (n as usize, stamp)
}

/// ask_for_stamps has the kernel stamp what `socket` (and every socket it accepts) receives.
fn ask_for_stamps(socket: &impl std::os::fd::AsRawFd) {
    let on: libc::c_int = 1;
    // SAFETY: setting an int socket option on a socket we own.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_TIMESTAMPNS,
            (&raw const on).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0, "{}", std::io::Error::last_os_error());
}

impl Stamped {
    pub fn start(hold: Duration) -> Stamped {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        // On the listener, so every accepted socket has it from its first byte: set later, on
        // the accepted socket, a request already in would be stamped when read, not received.
        ask_for_stamps(&listener);
        let port = listener.local_addr().unwrap().port();
        let answered = Arc::new(Mutex::new(Vec::new()));
        let kept = answered.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                let kept = kept.clone();
                std::thread::spawn(move || Stamped::serve(stream, hold, &kept));
            }
        });
        Stamped { port, answered }
    }

    /// url is the server's base URL.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// answered_mean is the mean of what the server took per answer, in milliseconds.
    pub fn answered_mean_ms(&self) -> f64 {
        let a = self.answered.lock().unwrap();
        a.iter().map(Duration::as_secs_f64).sum::<f64>() * 1000.0 / a.len().max(1) as f64
    }

    fn serve(mut stream: TcpStream, hold: Duration, answered: &Mutex<Vec<Duration>>) {
        use std::os::fd::AsRawFd;
        let fd = stream.as_raw_fd();
        stream.set_nodelay(true).unwrap();
        let mut pending = Vec::new();
        let mut arrived = None;
        let mut buf = [0u8; 4096];
        loop {
            let (n, stamp) = recv_stamped(fd, &mut buf);
            if n == 0 {
                return;
            }
            // The stamp of a request's first bytes: when the client wrote it.
            arrived = arrived.or(stamp);
            pending.extend_from_slice(&buf[..n]);
            // GETs without a body, one at a time (the engine does not pipeline).
            while let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
                pending.drain(..end + 4);
                let arrived = arrived.take().expect("the kernel stamps what it receives");
                // Sleep to just before the due time, then spin: a sleeping thread on an idle
                // virtual CPU can wake milliseconds late, a running one does not.
                let due = arrived + hold;
                let spin = Duration::from_micros(300);
                if let Some(wait) = due.checked_sub(realtime_now() + spin) {
                    std::thread::sleep(wait);
                }
                while realtime_now() < due {
                    std::hint::spin_loop();
                }
                if stream
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                    .is_err()
                {
                    return;
                }
                // On loopback the bytes are in the client's socket once the write returns.
                answered
                    .lock()
                    .unwrap()
                    .push(realtime_now().saturating_sub(arrived));
            }
        }
    }
}

/// StderrLines reads a child's standard error as it is written, line by line, on a thread of its
/// own, so a test can wait for a line and still see everything the child printed.
pub struct StderrLines {
    lines: std::sync::mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl StderrLines {
    pub fn follow(child: &mut std::process::Child) -> StderrLines {
        let stderr = child.stderr.take().expect("stderr is piped");
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        StderrLines {
            lines,
            seen: Vec::new(),
        }
    }

    /// wait_for waits until a line satisfies `wanted`, at most until `deadline`, and returns it;
    /// it panics with everything printed so far when the line never came.
    pub fn wait_for(
        &mut self,
        what: &str,
        deadline: Duration,
        wanted: impl Fn(&str) -> bool,
    ) -> String {
        let until = std::time::Instant::now() + deadline;
        loop {
            let left = until.saturating_duration_since(std::time::Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let done = wanted(&line);
                    self.seen.push(line.clone());
                    if done {
                        return line;
                    }
                }
                Err(_) => panic!(
                    "no {what} within {deadline:?}; standard error so far:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }

    /// rest is everything the child printed, once it has exited.
    pub fn rest(mut self) -> String {
        self.seen.extend(self.lines.iter());
        self.seen.join("\n")
    }
}

/// verdict_code is the exit code of a run's summary.json with the engine's punctuality set
/// apart: a run whose one failed validity criterion is "schedule kept" reads as the code its
/// other criteria give. An overloaded machine can make the engine fall behind, which the run
/// then rightly says (exit 3); a test of the other criteria still checks those. It says on
/// standard error when it did so. Punctuality itself is tested in tests/lateness.rs and
/// tests/engine.rs, which take the code as it is.
pub fn verdict_code(summary: &serde_json::Value) -> i32 {
    let code = summary["exit_code"].as_i64().expect("exit_code") as i32;
    let criteria = summary["criteria"].as_array().expect("criteria");
    let failed = |c: &&serde_json::Value| c["verdict"] == "failed";
    let invalid: Vec<_> = criteria
        .iter()
        .filter(failed)
        .filter(|c| c["validity"] == true)
        .collect();
    if code != 3 || invalid.is_empty() || invalid.iter().any(|c| c["name"] != "schedule kept") {
        return code;
    }
    eprintln!("the engine fell behind its schedule on this machine; judging the other criteria");
    i32::from(
        criteria
            .iter()
            .filter(failed)
            .any(|c| c["name"] != "schedule kept"),
    )
}

/// summary_verdict_code is `verdict_code` for a summary a test ran in-process.
pub fn summary_verdict_code(s: &Summary) -> i32 {
    verdict_code(&serde_json::to_value(s).expect("a summary serialises"))
}

/// Serving is a `metronome run` child serving its live endpoint.
pub struct Serving {
    pub child: std::process::Child,
    /// Its standard error, followed.
    pub stderr: StderrLines,
    /// Where it serves.
    pub addr: std::net::SocketAddr,
    /// The line that said so.
    pub line: String,
}

/// serving starts `metronome ARGS` (a run with `--web` or `--metrics`) and waits for the line
/// that names where it serves (`announced`, such as "metrics at http://").
pub fn serving(args: &[&str], announced: &str) -> Serving {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_metronome"))
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let mut stderr = StderrLines::follow(&mut child);
    let line = stderr.wait_for(announced, Duration::from_secs(30), |l| {
        l.starts_with(announced)
    });
    let rest = &line[announced.len()..];
    let addr = rest[..rest.find('/').unwrap_or(rest.len())]
        .parse()
        .unwrap_or_else(|e| panic!("no address in {line:?}: {e}"));
    Serving {
        child,
        stderr,
        addr,
        line,
    }
}

/// exchange sends one HTTP/1.1 request with `body` to `addr` and returns its status and whole
/// response.
pub fn exchange(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    headers: &str,
    body: &str,
) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).expect("the server accepts");
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{headers}Connection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    s.read_to_string(&mut response).unwrap();
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status line: {response:?}"));
    (status, response)
}
