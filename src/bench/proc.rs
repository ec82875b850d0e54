//! CPU time and resident memory of a process, read from `/proc` (Linux).

use std::time::Duration;

/// CPU time (user + system) a process has used so far.
pub fn cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may contain spaces.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Some(Duration::from_millis((utime + stime) * 1000 / ticks))
}

/// Context switches of every thread of this process so far, voluntary and not (`getrusage`).
pub fn context_switches() -> Option<u64> {
    // SAFETY: getrusage writes into the zeroed struct it is given.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: a valid pointer to a rusage struct.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) } != 0 {
        return None;
    }
    let switches = usage.ru_nvcsw.saturating_add(usage.ru_nivcsw);
    u64::try_from(switches).ok()
}

/// Resident set size in bytes.
pub fn rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// The CPUs every thread of process `pid` may run on (`sched_getaffinity` of its main thread).
pub fn affinity(pid: u32) -> Option<Vec<usize>> {
    // SAFETY: a zeroed cpu_set_t is a valid empty set; sched_getaffinity writes into it.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: a valid pointer and its size.
    let ok = unsafe {
        libc::sched_getaffinity(pid as libc::pid_t, std::mem::size_of_val(&set), &mut set)
    } == 0;
    // SAFETY: CPU_ISSET reads the set within its bounds.
    ok.then(|| {
        (0..libc::CPU_SETSIZE as usize)
            .filter(|&c| unsafe { libc::CPU_ISSET(c, &set) })
            .collect()
    })
}

/// Pins every thread of process `pid` to `cpus`; threads it starts later inherit the pinning from the thread
/// that starts them. Returns whether every thread was pinned.
pub fn pin(pid: u32, cpus: &[usize]) -> bool {
    // SAFETY: a zeroed cpu_set_t is a valid empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    for &c in cpus.iter().filter(|&&c| c < libc::CPU_SETSIZE as usize) {
        // SAFETY: c is within the set's bounds.
        unsafe { libc::CPU_SET(c, &mut set) };
    }
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return false;
    };
    let mut all = true;
    for tid in tasks
        .flatten()
        .filter_map(|t| t.file_name().to_str()?.parse::<libc::pid_t>().ok())
    {
        // SAFETY: a valid set and its size; a thread that ended meanwhile only makes the call fail.
        all &= unsafe { libc::sched_setaffinity(tid, std::mem::size_of_val(&set), &set) } == 0;
    }
    all
}

/// Raises this process's open-file limit to its hard limit (sockets are files).
pub fn raise_fd_limit() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain libc calls on a valid struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
    lim.rlim_cur
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let pid = std::process::id();
        assert!(rss_bytes(pid).unwrap() > 0);
        let mut x = 0u64;
        for i in 0..5_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        assert!(cpu_time(pid).is_some());
        let before = context_switches().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(5));
        assert!(
            context_switches().unwrap() > before,
            "a sleep is a voluntary switch"
        );
    }

    #[test]
    fn pins_a_process_and_reads_it_back() {
        let mut child = std::process::Command::new("sleep")
            .arg("10")
            .spawn()
            .unwrap();
        let all = affinity(child.id()).unwrap();
        assert!(!all.is_empty());
        let first = all[0];
        assert!(pin(child.id(), &[first]));
        assert_eq!(affinity(child.id()).unwrap(), [first]);
        assert!(pin(child.id(), &all));
        assert_eq!(affinity(child.id()).unwrap(), all);
        child.kill().unwrap();
        child.wait().unwrap();
    }
}
