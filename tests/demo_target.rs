//! The demo target, tested the way a load generator sees it: real HTTP over 127.0.0.1.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::{http1, http2};
use hyper::header::{ALLOW, CONTENT_TYPE, HOST};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use metronome::demo::{DemoConfig, DemoStats, DemoTarget, Stall, serve};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio::time::Instant;

/// Answer is one response, read to its end.
struct Answer {
    status: StatusCode,
    content_type: Option<String>,
    allow: Option<String>,
    json: Value,
}

/// connect opens an HTTP/1.1 keep-alive connection.
async fn connect(addr: SocketAddr) -> http1::SendRequest<Full<Bytes>> {
    let stream = TcpStream::connect(addr).await.expect("connect");
    let (sender, connection) = http1::handshake(TokioIo::new(stream))
        .await
        .expect("http1 handshake");
    tokio::spawn(connection);
    sender
}

/// connect_h2 opens an HTTP/2 connection with prior knowledge.
async fn connect_h2(addr: SocketAddr) -> http2::SendRequest<Full<Bytes>> {
    let stream = TcpStream::connect(addr).await.expect("connect");
    let (sender, connection) = http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
        .await
        .expect("http2 handshake");
    tokio::spawn(connection);
    sender
}

/// request builds a request with a Host header and an absolute URI (which HTTP/2 needs).
fn request(addr: SocketAddr, method: Method, path: &str, body: &str) -> Request<Full<Bytes>> {
    Request::builder()
        .method(method)
        .uri(format!("http://{addr}{path}"))
        .header(HOST, addr.to_string())
        .body(Full::new(Bytes::from(body.to_string())))
        .expect("request")
}

/// read reads a response to its end and parses its body as JSON.
async fn read(response: hyper::Response<hyper::body::Incoming>) -> Answer {
    let header = |name| {
        response
            .headers()
            .get(name)
            .map(|v: &hyper::header::HeaderValue| v.to_str().unwrap().to_string())
    };
    let status = response.status();
    let content_type = header(CONTENT_TYPE);
    let allow = header(ALLOW);
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    let json = serde_json::from_slice(&body)
        .unwrap_or_else(|e| panic!("body is not JSON ({e}): {body:?}"));
    Answer {
        status,
        content_type,
        allow,
        json,
    }
}

/// send sends one request on an HTTP/1.1 connection and reads the answer.
async fn send(
    sender: &mut http1::SendRequest<Full<Bytes>>,
    addr: SocketAddr,
    method: Method,
    path: &str,
    body: &str,
) -> Answer {
    sender.ready().await.expect("connection ready");
    let response = sender
        .send_request(request(addr, method, path, body))
        .await
        .expect("response");
    read(response).await
}

/// get sends a GET on a fresh connection and returns the answer and how long it took.
async fn get(addr: SocketAddr, path: &str) -> (Answer, Duration) {
    let mut sender = connect(addr).await;
    let sent = Instant::now();
    let answer = send(&mut sender, addr, Method::GET, path, "").await;
    (answer, sent.elapsed())
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[tokio::test]
async fn every_route_answers_with_its_status_and_json() {
    let target = DemoTarget::start(DemoConfig::default()).unwrap();
    let addr = target.addr();
    assert_eq!(
        target.base_url(),
        format!("http://127.0.0.1:{}", addr.port())
    );
    let mut sender = connect(addr).await;

    // (method, path, body, expected status, expected JSON shape)
    #[rustfmt::skip]
    let table: [(Method, &str, &str, StatusCode, &str); 11] = [
        (Method::GET, "/health", "", StatusCode::OK, "object"),
        (Method::GET, "/api/v1/agents", "", StatusCode::OK, "array"),
        (Method::GET, "/api/v1/agents?industry=marketing", "", StatusCode::OK, "array"),
        (Method::GET, "/api/v1/customers/cust-42/agents", "", StatusCode::OK, "array"),
        (Method::GET, "/api/v1/agents/agent-001/configuration", "", StatusCode::OK, "object"),
        (Method::GET, "/api/v1/agents/agent-001/goals", "", StatusCode::OK, "array"),
        (Method::GET, "/api/v1/agents/agent-001/deliverables", "", StatusCode::OK, "array"),
        (Method::POST, "/api/v1/agents/agent-001/goals", r#"{"title":"t"}"#, StatusCode::CREATED, "object"),
        // unknown paths, including an empty {id} and a trailing slash
        (Method::GET, "/nope", "", StatusCode::NOT_FOUND, "object"),
        (Method::GET, "/api/v1/agents//goals", "", StatusCode::NOT_FOUND, "object"),
        (Method::GET, "/health/", "", StatusCode::NOT_FOUND, "object"),
    ];
    for (method, path, body, status, shape) in table {
        let answer = send(&mut sender, addr, method.clone(), path, body).await;
        assert_eq!(answer.status, status, "{method} {path}");
        assert_eq!(
            answer.content_type.as_deref(),
            Some("application/json"),
            "{method} {path}"
        );
        match shape {
            "array" => assert!(
                !answer.json.as_array().unwrap().is_empty(),
                "{method} {path}"
            ),
            _ => assert!(answer.json.is_object(), "{method} {path}"),
        }
    }
    assert_eq!(
        target.stats().connections(),
        1,
        "all on one keep-alive connection"
    );
    assert_eq!(target.stats().requests(), 11);
}

#[tokio::test]
async fn bodies_carry_what_the_routes_promise() {
    let target = DemoTarget::start(DemoConfig::default()).unwrap();
    let addr = target.addr();
    let mut sender = connect(addr).await;

    let health = send(&mut sender, addr, Method::GET, "/health", "").await;
    assert_eq!(health.json, serde_json::json!({"status": "ok"}));

    let all = send(&mut sender, addr, Method::GET, "/api/v1/agents", "").await;
    let all = all.json.as_array().unwrap().clone();
    assert!(all.len() >= 3);
    for agent in &all {
        for field in ["id", "name", "industry"] {
            assert!(agent[field].is_string(), "agent without {field}: {agent}");
        }
    }

    let path = "/api/v1/agents?page=1&industry=education";
    let education = send(&mut sender, addr, Method::GET, path, "").await;
    let education = education.json.as_array().unwrap().clone();
    assert!(!education.is_empty() && education.len() < all.len());
    assert!(education.iter().all(|a| a["industry"] == "education"));

    for path in [
        "/api/v1/agents?industry=Education",
        "/api/v1/agents?industry=%65ducation",
    ] {
        let same = send(&mut sender, addr, Method::GET, path, "").await;
        assert_eq!(same.json.as_array(), Some(&education), "{path}");
    }

    let path = "/api/v1/agents?industry=underwater+basket%20weaving";
    let unknown = send(&mut sender, addr, Method::GET, path, "").await;
    assert_eq!(unknown.status, StatusCode::OK);
    assert_eq!(unknown.json, serde_json::json!([]));

    let deliverables = get(addr, "/api/v1/agents/agent-001/deliverables").await.0;
    let size = deliverables.json.to_string().len();
    assert!(
        (2_000..16_000).contains(&size),
        "deliverables are {size} bytes"
    );

    let goal = r#"{"title":"Grow signups","target":0.1}"#;
    let path = "/api/v1/agents/agent-007/goals";
    let created = send(&mut sender, addr, Method::POST, path, goal).await;
    assert_eq!(created.status, StatusCode::CREATED);
    assert_eq!(created.json["received_bytes"], goal.len());
    assert_eq!(created.json["agent_id"], "agent-007");
    assert!(created.json["id"].is_string());

    let wrong = send(&mut sender, addr, Method::POST, "/health", "").await;
    assert_eq!(wrong.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(wrong.allow.as_deref(), Some("GET"));
    assert!(wrong.json["error"].is_string());

    let path = "/api/v1/agents/agent-001/goals";
    let wrong = send(&mut sender, addr, Method::DELETE, path, "").await;
    assert_eq!(wrong.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(wrong.allow.as_deref(), Some("GET, POST"));

    let missing = send(&mut sender, addr, Method::GET, "/api/v2/agents", "").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert!(missing.json["error"].is_string());
}

#[tokio::test]
async fn latency_delays_every_response() {
    let config = DemoConfig {
        latency: ms(50),
        ..DemoConfig::default()
    };
    let target = DemoTarget::start(config).unwrap();
    for path in ["/health", "/nope"] {
        let (answer, took) = get(target.addr(), path).await;
        assert!(took >= ms(50), "{path} took {took:?}");
        assert!(took < ms(500), "{path} took {took:?}");
        assert!(answer.status == StatusCode::OK || answer.status == StatusCode::NOT_FOUND);
    }
}

#[tokio::test]
async fn jitter_stays_between_latency_and_latency_plus_jitter() {
    let config = DemoConfig {
        latency: ms(20),
        jitter: ms(30),
        ..DemoConfig::default()
    };
    let target = DemoTarget::start(config).unwrap();
    let addr = target.addr();
    let sender = connect_h2(addr).await;
    let mut requests = Vec::new();
    for _ in 0..10 {
        let mut sender = sender.clone();
        requests.push(tokio::spawn(async move {
            let sent = Instant::now();
            let response = sender
                .send_request(request(addr, Method::GET, "/health", ""))
                .await
                .unwrap();
            read(response).await;
            sent.elapsed()
        }));
    }
    let mut took = Vec::new();
    for request in requests {
        took.push(request.await.unwrap());
    }
    for t in &took {
        assert!(*t >= ms(20) && *t < ms(50 + 100), "took {t:?}");
    }
    let spread = took
        .iter()
        .max()
        .unwrap()
        .saturating_sub(*took.iter().min().unwrap());
    assert!(
        spread >= ms(2),
        "ten draws over 30ms should not all be equal: {took:?}"
    );
}

#[tokio::test]
async fn stall_holds_responses_until_the_window_ends() {
    // Windows are [0, 200ms), [1s, 1.2s), ... from the moment the target starts.
    let config = DemoConfig {
        stall: Some("200ms/1s".parse().unwrap()),
        ..DemoConfig::default()
    };
    let before_start = Instant::now();
    let target = DemoTarget::start(config).unwrap();
    let started = Instant::now();
    let addr = target.addr();
    let mut sender = connect(addr).await;

    // Sent inside the first window: answered when it ends, at 200ms.
    send(&mut sender, addr, Method::GET, "/health", "").await;
    let answered = before_start.elapsed();
    assert!(
        answered >= ms(200) - (started - before_start),
        "answered at {answered:?}"
    );
    assert!(answered < ms(300), "answered at {answered:?}");

    // Sent between windows: answered at once.
    tokio::time::sleep_until(before_start + ms(500)).await;
    let (_, took) = get(addr, "/health").await;
    assert!(took < ms(100), "took {took:?}");

    // Sent inside the second window: answered when it ends, at 1.2s.
    tokio::time::sleep_until(before_start + ms(1050)).await;
    send(&mut sender, addr, Method::GET, "/health", "").await;
    let answered = before_start.elapsed();
    assert!(
        answered >= ms(1200) - (started - before_start),
        "answered at {answered:?}"
    );
    assert!(answered < ms(1350), "answered at {answered:?}");
}

#[tokio::test]
async fn error_rate_one_answers_every_request_with_500() {
    let config = DemoConfig {
        error_rate: 1.0,
        ..DemoConfig::default()
    };
    let target = DemoTarget::start(config).unwrap();
    let addr = target.addr();
    let mut sender = connect(addr).await;
    for _ in 0..20 {
        let answer = send(&mut sender, addr, Method::GET, "/api/v1/agents", "").await;
        assert_eq!(answer.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(answer.json, serde_json::json!({"error": "injected"}));
    }
    assert_eq!(target.stats().requests(), 20);
    assert_eq!(target.stats().injected_errors(), 20);
}

#[tokio::test]
async fn error_rate_zero_answers_no_request_with_500() {
    let target = DemoTarget::start(DemoConfig::default()).unwrap();
    let addr = target.addr();
    let mut sender = connect(addr).await;
    for _ in 0..20 {
        let answer = send(&mut sender, addr, Method::GET, "/api/v1/agents", "").await;
        assert_eq!(answer.status, StatusCode::OK);
    }
    assert_eq!(target.stats().requests(), 20);
    assert_eq!(target.stats().injected_errors(), 0);
}

#[tokio::test]
async fn error_rate_half_injects_about_half_and_counts_them() {
    let config = DemoConfig {
        error_rate: 0.5,
        seed: 7,
        ..DemoConfig::default()
    };
    let target = DemoTarget::start(config).unwrap();
    let addr = target.addr();
    let mut sender = connect(addr).await;
    let mut errors = 0;
    for _ in 0..200 {
        let answer = send(&mut sender, addr, Method::GET, "/health", "").await;
        if answer.status == StatusCode::INTERNAL_SERVER_ERROR {
            errors += 1;
        }
    }
    assert!((60..=140).contains(&errors), "{errors} of 200 injected");
    assert_eq!(target.stats().injected_errors(), errors);
    assert_eq!(target.stats().requests(), 200);
}

#[tokio::test]
async fn concurrency_one_serves_requests_one_after_another() {
    let config = DemoConfig {
        latency: ms(50),
        concurrency: Some(1),
        ..DemoConfig::default()
    };
    let target = DemoTarget::start(config).unwrap();
    let addr = target.addr();
    let mut senders = Vec::new();
    for _ in 0..4 {
        senders.push(connect(addr).await);
    }
    let start = Instant::now();
    let mut requests = Vec::new();
    for mut sender in senders {
        requests.push(tokio::spawn(async move {
            send(&mut sender, addr, Method::GET, "/health", "").await;
            start.elapsed()
        }));
    }
    let mut finished = Vec::new();
    for request in requests {
        finished.push(request.await.unwrap());
    }
    finished.sort();
    // One at a time, the i-th answer cannot come before (i + 1) × 50 ms: that catches requests
    // served side by side. Each 50 ms wait can end late (tokio's millisecond timer, a thread
    // woken late on an idle virtual CPU, a busy machine), and every late end delays the ones
    // queued behind it, so the upper bound grows by 25 ms a request; and this test's own task
    // may see an answer late on a loaded machine (seen 30-40 ms with both cores busy), 50 ms
    // more. It still fails requests that each waited twice (400 ms for the fourth).
    for (i, done) in finished.iter().enumerate() {
        let expected = ms(50 * (i as u64 + 1));
        assert!(
            *done >= expected,
            "request {i} done at {done:?}: {finished:?}"
        );
        assert!(
            *done < expected + ms(25 * (i as u64 + 1) + 50),
            "request {i} done at {done:?}: {finished:?}"
        );
    }
}

#[tokio::test]
async fn http2_prior_knowledge_is_served_and_connections_are_counted() {
    let target = DemoTarget::start(DemoConfig::default()).unwrap();
    let addr = target.addr();
    let mut h2 = connect_h2(addr).await;
    for path in [
        "/health",
        "/api/v1/agents",
        "/api/v1/agents/agent-001/deliverables",
    ] {
        let response = h2
            .send_request(request(addr, Method::GET, path, ""))
            .await
            .unwrap();
        assert_eq!(response.version(), hyper::Version::HTTP_2);
        assert_eq!(read(response).await.status, StatusCode::OK, "{path}");
    }
    let path = "/api/v1/agents/agent-001/goals";
    let response = h2
        .send_request(request(addr, Method::POST, path, "{}"))
        .await
        .unwrap();
    let created = read(response).await;
    assert_eq!(created.status, StatusCode::CREATED);
    assert_eq!(created.json["received_bytes"], 2);
    assert_eq!(target.stats().connections(), 1);

    let (answer, _) = get(addr, "/health").await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(target.stats().connections(), 2);
    assert_eq!(target.stats().requests(), 5);
}

#[tokio::test]
async fn serve_returns_when_shutdown_fires() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let stats = Arc::new(DemoStats::default());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve(
        listener,
        DemoConfig::default(),
        stats.clone(),
        async {
            let _ = stopped.await;
        },
    ));
    let (answer, _) = get(addr, "/health").await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(stats.requests(), 1);

    stop.send(()).unwrap();
    let result = tokio::time::timeout(ms(1000), server).await;
    result.expect("serve returned").unwrap().unwrap();
    assert!(TcpStream::connect(addr).await.is_err(), "still accepting");
}

#[tokio::test]
async fn dropping_the_target_stops_it() {
    let target = DemoTarget::start(DemoConfig::default()).unwrap();
    let addr = target.addr();
    let (answer, _) = get(addr, "/health").await;
    assert_eq!(answer.status, StatusCode::OK);
    drop(target);
    assert!(TcpStream::connect(addr).await.is_err(), "still accepting");
}

#[test]
fn start_rejects_impossible_configurations() {
    let bad = [
        DemoConfig {
            error_rate: 1.5,
            ..DemoConfig::default()
        },
        DemoConfig {
            error_rate: f64::NAN,
            ..DemoConfig::default()
        },
        DemoConfig {
            concurrency: Some(0),
            ..DemoConfig::default()
        },
        DemoConfig {
            stall: Some(Stall {
                pause: ms(2),
                period: ms(1),
            }),
            ..DemoConfig::default()
        },
    ];
    for config in bad {
        let error = DemoTarget::start(config.clone()).unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput, "{config:?}");
    }
}

#[test]
fn stall_parses_pause_slash_period() {
    // (text, expected pause and period, or a fragment of the error sentence)
    type Expected = Result<(u64, u64), &'static str>;
    let table: [(&str, Expected); 8] = [
        ("200ms/2s", Ok((200, 2000))),
        (" 1s / 1m ", Ok((1000, 60_000))),
        ("0s/1s", Ok((0, 1000))),
        ("200ms", Err("expected PAUSE/PERIOD such as 200ms/2s")),
        ("abc/2s", Err("pause \"abc\"")),
        ("200ms/soon", Err("period \"soon\"")),
        ("2s/1s", Err("shorter than its period")),
        ("0s/0s", Err("period must be longer than zero")),
    ];
    for (text, expected) in table {
        match (text.parse::<Stall>(), expected) {
            (Ok(stall), Ok((pause, period))) => {
                assert_eq!(
                    stall,
                    Stall {
                        pause: ms(pause),
                        period: ms(period)
                    },
                    "{text}"
                );
                assert_eq!(
                    stall.to_string().parse::<Stall>(),
                    Ok(stall),
                    "{text} round trip"
                );
            }
            (Err(message), Err(fragment)) => {
                assert!(message.contains(fragment), "{text}: {message}");
            }
            (got, _) => panic!("{text}: got {got:?}, expected {expected:?}"),
        }
    }
}
