//! The direct HTTP/1.1 client (`engine/direct.rs`, on a dense-mode sweep as a worker at high
//! rates uses it) beside hyper's `client::conn::http1` on the same loopback workload: one
//! thread on core 1, one current-thread runtime, `CONNECTIONS` keep-alive connections each asking again
//! as soon as its answer is in (so the thread is seldom idle and the figure is the client's own
//! work, not this machine's wake-up cost), against a server on other threads that answers every
//! GET with `200 ok`, on core 0. The figure is the client thread's CPU time per exchange, and the
//! exchanges a second; each client is measured `ROUNDS` times, interleaved, and the median
//! printed.
//!
//! Run: `cargo bench --bench http1_client` (about 30 s). Only 127.0.0.1 is used, and every
//! round is bounded by its number of exchanges.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;

use metronome::engine::{BenchClient, thread_cpu_time};

const CONNECTIONS: usize = 50;
const ROUNDS: usize = 5;
const REQUEST: &[u8] = b"GET /health HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n";

/// pin keeps the calling thread on `core` when the machine has it, so the client and the
/// server do not take each other's CPU.
fn pin(core: usize) {
    if std::thread::available_parallelism().map_or(1, |n| n.get()) <= core {
        return;
    }
    // SAFETY: a zeroed cpu_set_t is empty; CPU_SET and sched_setaffinity work on our own copy
    // for the calling thread.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(core, &mut set);
        libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set);
    }
}

/// serve answers every request on every connection with `200 ok`, a thread per connection, on
/// core 0.
fn serve() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            std::thread::spawn(move || {
                pin(0);
                answer(stream)
            });
        }
    });
    addr
}

fn answer(stream: TcpStream) {
    stream.set_nodelay(true).unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    let mut line = String::new();
    loop {
        line.clear();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) if line == "\r\n" => {
                let ok = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
                if writer.write_all(ok).is_err() {
                    return;
                }
            }
            Ok(_) => {}
        }
    }
}

/// Measured is one round of one client: CPU of the client's thread, and wall time.
struct Measured {
    cpu: Duration,
    wall: Duration,
    exchanges: usize,
}

/// round runs `client` (which makes its connections and runs every exchange) on a fresh
/// current-thread runtime and LocalSet, and measures it.
fn round<F: std::future::Future<Output = usize>>(client: impl FnOnce() -> F) -> Measured {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let local = tokio::task::LocalSet::new();
    let (cpu0, t0) = (thread_cpu_time(), Instant::now());
    let exchanges = local.block_on(&rt, client());
    Measured {
        cpu: thread_cpu_time() - cpu0,
        wall: t0.elapsed(),
        exchanges,
    }
}

async fn direct(addr: SocketAddr, per_connection: usize) -> usize {
    let sweep = BenchClient::sweep().expect("an epoll set");
    let mut tasks = Vec::new();
    for _ in 0..CONNECTIONS {
        let mut c = BenchClient::connect(addr, &sweep).await.unwrap();
        tasks.push(tokio::task::spawn_local(async move {
            for _ in 0..per_connection {
                assert_eq!(c.exchange(REQUEST).await, Ok(2));
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    CONNECTIONS * per_connection
}

async fn hyper_http1(addr: SocketAddr, per_connection: usize) -> usize {
    let mut tasks = Vec::new();
    for _ in 0..CONNECTIONS {
        let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        stream.set_nodelay(true).unwrap();
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake::<_, Empty<Bytes>>(TokioIo::new(stream))
                .await
                .unwrap();
        tokio::task::spawn_local(connection);
        tasks.push(tokio::task::spawn_local(async move {
            for _ in 0..per_connection {
                let req = hyper::Request::get("/health")
                    .header(hyper::header::HOST, "127.0.0.1")
                    .body(Empty::new())
                    .unwrap();
                let response = sender.send_request(req).await.unwrap();
                let body = response.into_body().collect().await.unwrap().to_bytes();
                assert_eq!(body.len(), 2);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    CONNECTIONS * per_connection
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` runs it once, quickly, as a check.
    let quick = !std::env::args().any(|a| a == "--bench");
    let (rounds, per_connection) = if quick { (1, 20) } else { (ROUNDS, 2_000) };
    let addr = serve();
    pin(1);
    let mut per = [(Vec::new(), Vec::new()), (Vec::new(), Vec::new())];
    for _ in 0..rounds {
        for (k, m) in [
            round(|| direct(addr, per_connection)),
            round(|| hyper_http1(addr, per_connection)),
        ]
        .into_iter()
        .enumerate()
        {
            per[k]
                .0
                .push(m.cpu.as_secs_f64() * 1e6 / m.exchanges as f64);
            per[k].1.push(m.exchanges as f64 / m.wall.as_secs_f64());
        }
    }
    println!(
        "HTTP/1.1 client, {CONNECTIONS} keep-alive connections on one thread, {} exchanges a round, median of {rounds}:",
        CONNECTIONS * per_connection
    );
    let [(direct_cpu, direct_rate), (hyper_cpu, hyper_rate)] = per;
    let (dc, hc) = (median(direct_cpu), median(hyper_cpu));
    println!(
        "  direct (engine/direct.rs, dense sweep)  {dc:6.2} µs CPU per exchange  {:9.0} exchanges/s",
        median(direct_rate)
    );
    println!(
        "  hyper client::conn::http1              {hc:6.2} µs CPU per exchange  {:9.0} exchanges/s",
        median(hyper_rate)
    );
    println!("  direct / hyper: {:.2}× the CPU", dc / hc);
}
