//! Helpers shared by the examples: measuring (`bench_forward`, `bench_train_step`,
//! `bench_loader`) and the test fixtures' small CLIP shape (the `--demo` modes).

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

/// The shape of the test fixtures' small random CLIP (tests/fixtures/gen_clip_fixtures.py and
/// gen_hoiclip_fixtures.py): 32-pixel ViT, 64 wide, embeddings of 32; the text side's width
/// and heads are given because a width that is not a multiple of 64 does not tell the heads.
pub fn fixture_clip_config(
    vocab_size: usize,
    text_width: usize,
    text_heads: usize,
) -> hoiclip::clip::ClipConfig {
    use hoiclip::clip::{ClipConfig, TextConfig, VisionConfig};
    ClipConfig {
        vision: VisionConfig {
            image_resolution: 32,
            patch_size: 8,
            width: 64,
            layers: 2,
            heads: 2,
            output_dim: 32,
        },
        text: TextConfig {
            context_length: 77,
            vocab_size,
            width: text_width,
            layers: 2,
            heads: text_heads,
            output_dim: 32,
        },
    }
}
