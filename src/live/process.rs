//! Process: this generator's own CPU and memory, read from /proc once a second for the live
//! view (Locust's Workers tab shows its generators' CPU; ours sits beside the engine's lateness).

use std::time::Instant;

/// CpuClock turns this process's CPU time into cores used between two samples.
#[derive(Debug)]
pub struct CpuClock {
    last: Option<(Instant, f64)>,
}

impl CpuClock {
    /// start takes the first reading.
    pub fn start() -> CpuClock {
        CpuClock {
            last: cpu_seconds().map(|c| (Instant::now(), c)),
        }
    }

    /// sample is the cores used since the last sample, and resident memory now.
    pub fn sample(&mut self) -> (Option<f64>, Option<u64>) {
        let now = cpu_seconds().map(|c| (Instant::now(), c));
        let cores = match (self.last, now) {
            (Some((t0, c0)), Some((t1, c1))) if t1 > t0 => {
                Some((c1 - c0).max(0.0) / (t1 - t0).as_secs_f64())
            }
            _ => None,
        };
        if now.is_some() {
            self.last = now;
        }
        (cores, rss_bytes())
    }
}

/// cpu_seconds is this process's user and system CPU time so far.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    (ticks > 0.0).then(|| (utime + stime) / ticks)
}

/// rss_bytes is this process's resident memory.
fn rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}
