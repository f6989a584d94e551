//! Measuring helpers shared by the bench examples (`bench_forward`, `bench_train_step`).

// Each example uses its own subset of these helpers.
#![allow(dead_code)]

/// The median of `times` (mean of the middle two for an even count); `None` when empty.
pub fn median(times: &[f64]) -> Option<f64> {
    if times.is_empty() {
        return None;
    }
    let mut t = times.to_vec();
    t.sort_by(f64::total_cmp);
    let n = t.len();
    Some(if n % 2 == 1 {
        t[n / 2]
    } else {
        (t[n / 2 - 1] + t[n / 2]) / 2.0
    })
}

/// CPU time (user + system) of this process so far, from `/proc/self/stat` (Linux; 10 ms
/// ticks). Unlike wall time it does not count time the host steals from a virtual machine,
/// so it compares implementations on a noisy machine (it does count rayon's spin-waiting).
pub fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name: state is field 3, utime 14, stime 15.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

/// `VmHWM` (peak) or `VmRSS` (current) in MiB, from `/proc/self/status` (Linux).
pub fn rss_mb(field: &str) -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// Set `RAYON_NUM_THREADS` (flex's and gemm's pool) to `threads`, if given.
///
/// Call it first in `main`, before anything can start a thread.
pub fn set_threads(threads: Option<usize>) {
    if let Some(n) = threads {
        // SAFETY: called first in `main`, before any other thread exists.
        unsafe { std::env::set_var("RAYON_NUM_THREADS", n.to_string()) };
    }
}
