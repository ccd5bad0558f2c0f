//! Data kept whatever happens: a run killed with SIGKILL leaves a summary checkpoint and its
//! streamed interval log, which `metronome report` renders; SIGHUP stops a run as SIGTERM does;
//! outputs that cannot be written mid-run are reported and the run goes on with every figure;
//! a run whose standard output and error nobody reads any more still ends with its reports.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{metronome, text};
use serde_json::Value;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_metronome"))
}

fn signal(pid: u32, sig: &str) {
    let sent = Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
}

fn summary(dir: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(dir.join("summary.json")).unwrap()).unwrap()
}

/// wait_for_file waits (generously: a loaded machine starts slowly) until `path` exists.
fn wait_for_file(path: &Path, within: Duration) {
    let until = Instant::now() + within;
    while !path.exists() {
        assert!(Instant::now() < until, "{} never appeared", path.display());
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_run_killed_mid_way_leaves_a_summary_and_a_log_that_report_renders() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let mut child = bin()
        .args(["run", "--rate", "50", "--duration", "60s", "-q", "--out"])
        .arg(&out)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // The first checkpoint is written 5 s into the run.
    wait_for_file(&out.join("summary.json"), Duration::from_secs(60));
    std::thread::sleep(Duration::from_millis(1500));
    signal(child.id(), "-KILL");
    let status = child.wait().unwrap();
    assert_eq!(status.code(), None, "killed by the signal");

    let s = summary(&out);
    assert_eq!(s["partial"], true);
    assert!(
        s["requests"].as_u64().unwrap() >= 150,
        "5 s at 50/s: {}",
        s["requests"]
    );
    let completed = s["criteria"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "run completed")
        .expect("run completed is judged");
    assert_eq!(completed["verdict"], "failed");
    assert!(
        completed["detail"]
            .as_str()
            .unwrap()
            .contains("had not ended"),
        "{completed}"
    );
    let log = std::fs::read_to_string(out.join("latency.hlog")).unwrap();
    let seconds = log
        .lines()
        .filter(|l| l.starts_with("#metronome-interval"))
        .count();
    assert!(
        seconds >= 5,
        "the interval log was flushed every second: {seconds}"
    );

    std::fs::remove_file(out.join("report.html")).ok();
    let r = metronome(&["report", out.to_str().unwrap()]);
    assert_eq!(r.status.code(), Some(0), "{}", text(&r));
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(
        html.contains("had not ended"),
        "the report says the run did not end"
    );
}

#[test]
fn sighup_stops_a_run_as_sigterm_does_and_the_reports_are_written_partial() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let mut child = bin()
        .args(["run", "--rate", "50", "--duration", "60s", "--out"])
        .arg(&out)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = common::StderrLines::follow(&mut child);
    // The progress line (plain lines when standard error is not a terminal) says it runs.
    lines.wait_for("progress", Duration::from_secs(60), |l| {
        l.contains("achieved")
    });
    signal(child.id(), "-HUP");
    let o = child.wait_with_output().unwrap();
    let rest = lines.rest();
    assert_eq!(o.status.code(), Some(3), "partial: {rest}");
    assert!(rest.contains("stopping"), "{rest}");
    let s = summary(&out);
    assert_eq!(s["partial"], true);
    assert!(out.join("report.html").is_file());
    assert!(String::from_utf8_lossy(&o.stdout).contains("PARTIAL"));
}

#[test]
fn outputs_that_cannot_be_written_mid_run_are_reported_and_the_run_goes_on() {
    // A file-size limit stands in for a full disk (no mount needed): past 4 KiB every write
    // fails, as on a full disk, with SIGXFSZ ignored so the write returns an error instead of
    // the signal ending the process.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let o = Command::new("bash")
        .arg("-c")
        .arg(r#"trap '' XFSZ; ulimit -f 4; exec "$0" run --rate 200 --duration 6s -q --out "$1""#)
        .arg(env!("CARGO_BIN_EXE_metronome"))
        .arg(&out)
        .output()
        .unwrap();
    let all = text(&o);
    assert!(
        matches!(o.status.code(), Some(0 | 1 | 3)),
        "no crash, no signal: {all}"
    );
    assert!(!all.contains("panicked"), "{all}");
    assert!(
        all.contains("writing the per-second results failed") && all.contains("the run goes on"),
        "reported when it happened: {all}"
    );
    // Every figure is kept and printed, whatever could be written at the end.
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.contains("1200 scheduled"),
        "the summary is printed with every arrival: {all}"
    );
    // The summary file is larger than the limit: not written, and said so, with exit 3.
    assert_eq!(o.status.code(), Some(3), "{all}");
    assert!(
        all.contains("could not write") && all.contains("the figures above are complete"),
        "{all}"
    );
    assert!(
        !out.join("summary.json.tmp").exists(),
        "no half-written file left"
    );
}

/// closed_pipe is the write end of a pipe whose read end is already closed: what a `| head`
/// that has exited leaves a process writing into.
fn closed_pipe() -> Stdio {
    use std::os::fd::FromRawFd;
    let mut fds = [0; 2];
    // SAFETY: pipe fills two descriptors we then own.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    // SAFETY: both descriptors are fresh and ours; the read end is closed at once.
    unsafe {
        drop(std::os::fd::OwnedFd::from_raw_fd(fds[0]));
        Stdio::from(std::os::fd::OwnedFd::from_raw_fd(fds[1]))
    }
}

#[test]
fn a_run_whose_output_nobody_reads_any_more_still_ends_with_its_reports_and_verdict() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    // Standard output and error both gone: the progress lines, the notes and the summary all
    // fail to be written, every second of the run.
    let status = bin()
        .args(["run", "--rate", "50", "--duration", "3s", "--out"])
        .arg(&out)
        .stdout(closed_pipe())
        .stderr(closed_pipe())
        .status()
        .unwrap();
    let s = summary(&out);
    assert_eq!(status.code(), Some(s["exit_code"].as_i64().unwrap() as i32));
    assert_eq!(s["partial"], false);
    assert_eq!(s["scheduled"], 150);
    assert!(out.join("report.html").exists());
}
