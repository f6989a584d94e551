//! One [`Hoiclip`] shared by several threads: it is `Send + Sync` (checked at compile time),
//! `detect` from 4 threads on one detector behind an `Arc` gives exactly the detections of
//! one thread, 200 calls in a loop do not grow the process's memory, and the loaders' warm-up
//! changes no detection.

mod common;

use std::sync::Arc;

use common::Fixture;
use hoiclip::model::ResizeConfig;
use hoiclip::{BackendChoice, HoiDetection, HoiDetector, Hoiclip};
use image::DynamicImage;

/// The fixtures' small input size (as in tests/open_vocabulary.rs).
const RESIZE: ResizeConfig = ResizeConfig {
    shorter: 48,
    max_size: Some(80),
};

/// The memory test reads the whole process's RSS: the tests of this file run one at a time.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

/// Compiles only if `T` can be moved to and shared between threads.
fn assert_send_sync<T: Send + Sync>() {}

#[test]
fn hoiclip_is_send_and_sync() {
    assert_send_sync::<Hoiclip>();
    assert_send_sync::<hoiclip::model::HoiclipModel>();
    assert_send_sync::<Arc<Hoiclip>>();
}

fn detector() -> Hoiclip {
    let device = BackendChoice::Flex.device().expect("flex");
    let mut detector = Hoiclip::new(common::hoiclip_small_model(&device), &device);
    detector.options_mut().resize = RESIZE;
    detector
}

fn images() -> Vec<DynamicImage> {
    let io = Fixture::open("hoiclip_small_io.safetensors");
    ["image_0", "image_1"]
        .iter()
        .map(|key| common::fixture_rgb_image(&io, key))
        .collect()
}

#[test]
fn four_threads_on_one_detector_match_one_thread() {
    let _one = one_at_a_time();
    let detector = Arc::new(detector());
    let images = Arc::new(images());
    // One thread: the reference.
    let expected: Vec<Vec<HoiDetection>> = images
        .iter()
        .map(|image| detector.detect(image).expect("detect"))
        .collect();
    assert!(expected.iter().all(|d| !d.is_empty()), "no detections");

    const THREADS: usize = 4;
    const ROUNDS: usize = 3;
    let barrier = Arc::new(std::sync::Barrier::new(THREADS));
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let (detector, images, barrier) = (detector.clone(), images.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                let mut out = Vec::new();
                for round in 0..ROUNDS {
                    // Threads interleave the two images differently.
                    let k = (t + round) % images.len();
                    out.push((k, detector.detect(&images[k]).expect("detect")));
                }
                out
            })
        })
        .collect();
    for (t, handle) in handles.into_iter().enumerate() {
        for (k, found) in handle.join().expect("thread panicked") {
            assert_eq!(
                found, expected[k],
                "thread {t}, image {k}: detections differ from one thread's"
            );
        }
    }
}

/// The resident set size of this process in KiB (`VmRSS` of /proc/self/status); `None`
/// where there is no procfs.
fn rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// 200 `detect` calls after a warm-up of 20 must not grow the resident set by more than
/// [`GROWTH_LIMIT_KIB`]. A leak of one copy of the outputs per call (the smallest
/// per-call allocation here is a few KiB of logits, an input tensor of 3×48×80 f32 is
/// 45 KiB) would grow it by several MiB over 200 calls; allocator noise and other test
/// threads' allocations are far below the bound (measured: see the eprintln).
const GROWTH_LIMIT_KIB: u64 = 8 * 1024;

#[test]
fn two_hundred_calls_do_not_grow_memory() {
    let _one = one_at_a_time();
    let Some(_) = rss_kib() else {
        eprintln!("no /proc/self/status: memory growth not measured");
        return;
    };
    let detector = detector();
    let images = images();
    for i in 0..20 {
        detector.detect(&images[i % 2]).expect("detect");
    }
    let before = rss_kib().expect("VmRSS");
    let mut peak = before;
    let mut samples = Vec::new();
    for i in 0..200 {
        detector.detect(&images[i % 2]).expect("detect");
        if i % 20 == 19 {
            let now = rss_kib().expect("VmRSS");
            peak = peak.max(now);
            samples.push(now);
        }
    }
    let after = rss_kib().expect("VmRSS");
    eprintln!(
        "VmRSS after warm-up {before} KiB, after 200 calls {after} KiB (growth {} KiB, \
         peak {peak} KiB); every 20 calls: {samples:?}",
        after as i64 - before as i64
    );
    assert!(
        after <= before + GROWTH_LIMIT_KIB,
        "VmRSS grew from {before} KiB to {after} KiB over 200 detect calls (limit \
         {GROWTH_LIMIT_KIB} KiB): samples {samples:?}"
    );
    // A steady leak also shows as growth between the second half's first and last samples.
    let (mid, last) = (samples[samples.len() / 2], samples[samples.len() - 1]);
    assert!(
        last <= mid + GROWTH_LIMIT_KIB / 2,
        "VmRSS keeps growing: {mid} KiB at call 120, {last} KiB at call 200: {samples:?}"
    );
}

/// The loaders' warm-up (one forward on a synthetic image, building the CPU kernels' packed
/// weights) changes no result: a warmed detector detects exactly what a cold one does, and a
/// detector loaded with `from_native` (warmed by the loader) too.
#[test]
fn warming_up_changes_no_detection() {
    let _one = one_at_a_time();
    let images = images();
    let cold = detector();
    let expected: Vec<Vec<HoiDetection>> = images
        .iter()
        .map(|image| cold.detect(image).expect("detect"))
        .collect();
    let warm = detector();
    warm.model().warm_up(64).expect("warm up");
    for (image, want) in images.iter().zip(&expected) {
        assert_eq!(&warm.detect(image).expect("detect"), want);
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("small.bpk");
    cold.save_native(&path).expect("save");
    let device = BackendChoice::Flex.device().expect("flex");
    let mut loaded = Hoiclip::from_native(&path, &device).expect("load");
    loaded.options_mut().resize = RESIZE;
    for (image, want) in images.iter().zip(&expected) {
        assert_eq!(&loaded.detect(image).expect("detect"), want);
    }
}
