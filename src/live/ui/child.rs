//! A run started from the start page: a `metronome run` child process, what it says on its
//! standard error (where its page listens, when its run ended), and how it is stopped.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Current is the last run started: its process and what it has said.
pub struct Current {
    pub id: String,
    pub child: Child,
    pub seen: Arc<Mutex<Seen>>,
}

/// Seen is what a run's process printed on its standard error that the page needs.
#[derive(Default)]
pub struct Seen {
    /// Where its live page listens, once it said.
    pub addr: Option<SocketAddr>,
    /// Set once its run ended (it serves its final figures) or the process exited.
    pub ended: bool,
    pub exited: bool,
    /// Its standard error, line by line (the last 200).
    pub log: Vec<String>,
}

/// spawn starts `metronome run ARGV`, its summary to `dir/terminal.txt`, and waits until it
/// serves its page, or says why it would not run.
pub fn spawn(exe: &Path, id: &str, dir: &Path, argv: &[String]) -> Result<Current, String> {
    let terminal = std::fs::File::create(dir.join("terminal.txt"))
        .map_err(|e| format!("cannot write in {}: {e}", dir.display()))?;
    let mut command = Command::new(exe);
    command
        .args(argv)
        .stdin(Stdio::null())
        .stdout(terminal)
        .stderr(Stdio::piped());
    // Its own process group: Ctrl-C at the terminal reaches this process, which stops the
    // run once (a second signal would cut its drain short).
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    let mut child = command
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", exe.display()))?;
    let seen = Arc::new(Mutex::new(Seen::default()));
    let stderr = child.stderr.take().expect("piped");
    let noted = seen.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let mut s = noted.lock().expect("never poisoned");
            if let Some(rest) = line.strip_prefix("live page at http://") {
                s.addr = rest.split('/').next().and_then(|a| a.parse().ok());
            }
            if line.starts_with("serving the final figures") {
                s.ended = true;
            }
            s.log.push(line);
            if s.log.len() > 200 {
                s.log.remove(0);
            }
        }
        let mut s = noted.lock().expect("never poisoned");
        s.ended = true;
        s.exited = true;
    });
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        {
            let s = seen.lock().expect("never poisoned");
            if s.addr.is_some() {
                break;
            }
            if s.exited || Instant::now() > until {
                let said = s.log.join("\n");
                drop(s);
                let _ = child.kill();
                let _ = child.wait();
                return Err(if said.is_empty() {
                    format!("run {id} did not start its page")
                } else {
                    said
                });
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(Current {
        id: id.to_string(),
        child,
        seen,
    })
}

/// end stops a run's process as Ctrl-C would, and waits for it: a run going on stops and writes
/// its reports, marked partial, then serves its final figures until a second signal ends that.
pub fn end(c: &mut Current) {
    let signal = |c: &Current| {
        // SAFETY: kill with a pid this process started and has not reaped.
        unsafe { libc::kill(c.child.id() as i32, libc::SIGINT) };
    };
    let (ended, exited) = {
        let s = c.seen.lock().expect("never poisoned");
        (s.ended, s.exited)
    };
    if !exited {
        if !ended {
            signal(c);
            while !c.seen.lock().expect("never poisoned").ended {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        if !c.seen.lock().expect("never poisoned").exited {
            signal(c);
        }
    }
    let _ = c.child.wait();
}
