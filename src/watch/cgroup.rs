//! A cgroup: a container or a systemd service on this host. cgroup v2 files (memory.current,
//! cpu.stat's usage_usec), with the v1 names as a fallback (memory.usage_in_bytes,
//! cpuacct.usage), so the directory given may be either.

use std::path::Path;

use super::{ReadError, Reading};

/// read reads the cgroup at `dir`: its memory (bytes, page cache included, as the kernel
/// charges it) and CPU time used (seconds). A directory that is gone means its container or
/// service stopped.
pub(super) fn read(dir: &Path) -> Result<Reading, ReadError> {
    if !dir.is_dir() {
        return Err(ReadError::Gone(format!(
            "the cgroup {} is gone (its container or service stopped)",
            dir.display()
        )));
    }
    let text = |name: &str| std::fs::read_to_string(dir.join(name)).ok();
    let memory = (text("memory.current").or_else(|| text("memory.usage_in_bytes")))
        .and_then(|t| t.trim().parse::<u64>().ok())
        .ok_or_else(|| {
            ReadError::Failed(format!(
                "{} has no readable memory.current (is it a cgroup directory, and is the memory controller on?)",
                dir.display()
            ))
        })?;
    let cpu_s = match text("cpu.stat") {
        Some(stat) => (stat.lines())
            .find_map(|l| l.strip_prefix("usage_usec "))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .map(|us| us / 1e6),
        None => text("cpuacct.usage")
            .and_then(|t| t.trim().parse::<f64>().ok())
            .map(|ns| ns / 1e9),
    };
    Ok(Reading { memory, cpu_s })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_v2_files_and_a_missing_directory_is_gone() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("memory.current"), "1048576\n").unwrap();
        std::fs::write(
            dir.path().join("cpu.stat"),
            "usage_usec 2500000\nuser_usec 2000000\nsystem_usec 500000\n",
        )
        .unwrap();
        let r = read(dir.path()).unwrap();
        assert_eq!(r.memory, 1 << 20);
        assert_eq!(r.cpu_s, Some(2.5));
        assert!(matches!(
            read(&dir.path().join("gone")),
            Err(ReadError::Gone(_))
        ));
        std::fs::remove_file(dir.path().join("memory.current")).unwrap();
        assert!(matches!(read(dir.path()), Err(ReadError::Failed(_))));
    }
}
