//! Real targets' transports over loopback: HTTPS with a private CA, insecure mode, HTTP/2 over
//! TLS (ALPN) and cleartext (h2c), and a new connection per request.

mod common;

use std::time::Duration;

use common::{demo, quick, run};
use metronome::demo::{DemoConfig, DemoTls};
use metronome::plan::HttpVersion;
use metronome::run::{self, Failure, Options};
use metronome::summary::Verdict;

fn tls_demo() -> (
    metronome::demo::DemoTarget,
    tempfile::TempDir,
    std::path::PathBuf,
) {
    let tls = DemoTls::generate().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cert = dir.path().join("demo.pem");
    tls.write_cert(&cert).unwrap();
    let target = demo(DemoConfig {
        tls: Some(tls),
        ..DemoConfig::default()
    });
    (target, dir, cert)
}

#[test]
fn https_with_the_demo_certificate_trusted_by_ca_file() {
    let (target, _dir, cert) = tls_demo();
    assert!(target.base_url().starts_with("https://"));
    let mut plan = quick(&target.base_url(), "/health", 100.0, Duration::from_secs(1));
    plan.target.transport.ca_file = Some(cert);
    let s = run(plan);
    assert_eq!(s.successes, 100, "{:?}", s.error_kinds);
    assert!(s.tls && s.tls_verified);
    assert_eq!(common::summary_verdict_code(&s), 0, "{:#?}", s.criteria);
}

#[test]
fn an_untrusted_certificate_is_a_clear_error_not_a_crash() {
    let (target, _dir, _cert) = tls_demo();
    // With the preflight: refused before the schedule, saying why.
    let plan = quick(&target.base_url(), "/health", 50.0, Duration::from_secs(1));
    let err = run::execute(
        plan,
        &Options {
            quiet: true,
            ..Options::default()
        },
        std::future::pending(),
    )
    .unwrap_err();
    assert!(matches!(err, Failure::NotValid(_)));
    assert!(err.to_string().contains("certificate"), "{err}");
    // Without it: every arrival counted as a TLS error.
    let mut plan = quick(&target.base_url(), "/health", 50.0, Duration::from_secs(1));
    plan.preflight = false;
    let s = run(plan);
    assert_eq!(
        s.error_kinds.get("tls_error").copied(),
        Some(s.requests),
        "{:?}",
        s.error_kinds
    );
    assert_eq!(s.requests + s.dropped, 50);
}

#[test]
fn insecure_skips_verification_and_says_so() {
    let (target, _dir, _cert) = tls_demo();
    let mut plan = quick(&target.base_url(), "/health", 50.0, Duration::from_secs(1));
    plan.target.transport.insecure = true;
    let s = run(plan);
    assert_eq!(s.successes, 50);
    assert!(!s.tls_verified);
    let c = s
        .criteria
        .iter()
        .find(|c| c.name == "TLS certificates verified")
        .expect("announced");
    assert_eq!(c.verdict, Verdict::Warned);
}

#[test]
fn http2_over_tls_shares_few_connections() {
    let (target, _dir, cert) = tls_demo();
    let mut plan = quick(&target.base_url(), "/health", 400.0, Duration::from_secs(2));
    plan.target.transport.ca_file = Some(cert);
    plan.target.transport.http = HttpVersion::Http2;
    plan.limits.connections = 4;
    let s = run(plan);
    assert_eq!(s.successes, 800, "{:?}", s.error_kinds);
    // 4 connections (and the preflight's) carry 800 requests as streams.
    let conns = target.stats().connections();
    assert!(conns <= 5, "{conns} connections for 800 requests");
}

#[test]
fn h2c_with_prior_knowledge_works_on_cleartext() {
    let target = demo(DemoConfig::default());
    let mut plan = quick(&target.base_url(), "/health", 400.0, Duration::from_secs(2));
    plan.target.transport.http = HttpVersion::Http2;
    plan.limits.connections = 2;
    let s = run(plan);
    assert_eq!(s.successes, 800, "{:?}", s.error_kinds);
    assert!(
        target.stats().connections() <= 3,
        "{}",
        target.stats().connections()
    );
}

#[test]
fn without_keep_alive_every_request_opens_its_own_connection() {
    let target = demo(DemoConfig::default());
    let mut plan = quick(&target.base_url(), "/health", 50.0, Duration::from_secs(1));
    plan.target.transport.keep_alive = false;
    let s = run(plan);
    assert_eq!(s.successes, 50);
    assert_eq!(s.new_connections, 50, "every arrival paid for a connection");
    assert_eq!(
        target.stats().connections(),
        50 + 1,
        "one per request, plus the preflight's"
    );
}

#[test]
fn a_shipped_plan_targets_an_https_http2_deployment_with_only_a_host_change() {
    // The demo target over TLS speaks HTTP/2 by ALPN; the plan asks nothing special ("auto" is
    // the default), so --host (and, for this private CA, --ca-file) is all it takes.
    let (target, _dir, cert) = tls_demo();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_metronome"))
        .args([
            "run",
            "plans/smoke.toml",
            "--time-scale",
            "0.1",
            "--quiet",
            "--host",
            &target.base_url(),
        ])
        .args(["--ca-file", cert.to_str().unwrap()])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("https://127.0.0.1"), "{text}");
    assert!(target.stats().requests() > 0);
}
