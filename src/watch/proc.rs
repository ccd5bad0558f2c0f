//! Local processes: resident memory and CPU time from /proc, for one pid or for every process
//! of a name (summed). Reading a few small files is cheap, so it is done synchronously.

use std::collections::HashMap;

use super::{ReadError, Reading};

/// page_size is the size of a memory page, in bytes.
fn page_size() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if n > 0 { n as u64 } else { 4096 }
}

/// ticks_per_second is the unit of /proc/PID/stat's CPU times.
fn ticks_per_second() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if n > 0 { n as f64 } else { 100.0 }
}

/// read_pid reads one process: its resident memory (bytes) and CPU time used (seconds). A
/// process that no longer exists, or has exited and not yet been reaped (a zombie), is gone.
pub(super) fn read_pid(pid: u32) -> Result<Reading, ReadError> {
    let gone = || ReadError::Gone(format!("process {pid} is gone"));
    let stat = match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(gone()),
        Err(e) => {
            return Err(ReadError::Failed(format!(
                "cannot read /proc/{pid}/stat: {e}"
            )));
        }
    };
    // The command name is in parentheses and may hold spaces: the fields follow the last ')'.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    if matches!(fields.first(), Some(&"Z") | Some(&"X") | Some(&"x")) {
        return Err(ReadError::Gone(format!("process {pid} has exited")));
    }
    let tick = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok());
    let (Some(utime), Some(stime)) = (tick(11), tick(12)) else {
        return Err(ReadError::Failed(format!(
            "/proc/{pid}/stat has no CPU times"
        )));
    };
    let statm = match std::fs::read_to_string(format!("/proc/{pid}/statm")) {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(gone()),
        Err(e) => {
            return Err(ReadError::Failed(format!(
                "cannot read /proc/{pid}/statm: {e}"
            )));
        }
    };
    let resident: u64 = (statm.split_whitespace().nth(1))
        .and_then(|f| f.parse().ok())
        .ok_or_else(|| ReadError::Failed(format!("/proc/{pid}/statm has no resident size")))?;
    Ok(Reading {
        memory: resident * page_size(),
        cpu_s: Some((utime + stime) as f64 / ticks_per_second()),
    })
}

/// COMM_LEN is how much of a process name /proc/PID/comm keeps.
const COMM_LEN: usize = 15;

/// pids_named lists the processes whose name (/proc/PID/comm) is `name`, this one left out.
pub(super) fn pids_named(name: &str) -> Vec<u32> {
    let wanted: String = name.chars().take(COMM_LEN).collect();
    let me = std::process::id();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut pids: Vec<u32> = dir
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| pid != me)
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|c| c.trim_end_matches('\n') == wanted)
        })
        .collect();
    pids.sort_unstable();
    pids
}

/// Named follows every process of one name: their memory summed, and their CPU time as a total
/// that only grows (a process that exits keeps what it used; one that starts adds its own).
#[derive(Debug, Default)]
pub struct Named {
    pub(super) name: String,
    cpu: HashMap<u32, f64>,
    total_cpu: f64,
}

impl Named {
    pub(super) fn new(name: &str) -> Named {
        Named {
            name: name.to_string(),
            ..Named::default()
        }
    }

    /// read sums the processes of the name; none at all means the target is gone.
    pub(super) fn read(&mut self) -> Result<Reading, ReadError> {
        let mut memory = 0;
        let mut seen = HashMap::new();
        for pid in pids_named(&self.name) {
            let Ok(r) = read_pid(pid) else { continue };
            memory += r.memory;
            let cpu = r.cpu_s.unwrap_or(0.0);
            let before = self.cpu.get(&pid).copied().unwrap_or(0.0);
            self.total_cpu += (cpu - before).max(0.0);
            seen.insert(pid, cpu);
        }
        if seen.is_empty() {
            return Err(ReadError::Gone(format!(
                "no process named `{}` is running",
                self.name
            )));
        }
        self.cpu = seen;
        Ok(Reading {
            memory,
            cpu_s: Some(self.total_cpu),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_reads_and_a_missing_one_is_gone() {
        let r = read_pid(std::process::id()).unwrap();
        assert!(r.memory > 1 << 20, "{}", r.memory);
        assert!(r.cpu_s.unwrap() >= 0.0);
        assert!(matches!(read_pid(u32::MAX - 1), Err(ReadError::Gone(_))));
        assert!(matches!(
            Named::new("no-such-process-metronome").read(),
            Err(ReadError::Gone(_))
        ));
    }
}
