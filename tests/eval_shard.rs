//! Sharded evaluation on the small fixture model: a run split over two and three peers
//! (whole batches round-robin, each peer its own output file) merges into exactly the
//! single-device predictions (so any report computed from them is the single-device report).
//! Images of different sizes make batches padded: the test also shows that pairing the images
//! differently changes predictions, which is why shards take whole batches. Missing and
//! doubled shards are errors naming the image or files.
//!
//! The pipelined runner's batching (`hoiclip::detector::pipeline`): same-size batches give
//! every image the detections of a batch of one (up to float rounding: a batch changes the
//! matrix products' shapes, and with them, on some CPUs, their summation order); in-order
//! batches exactly those of `detect_batch` on consecutive images; a run with either batching
//! holds every image once.

mod common;

use common::fixture;
use hoiclip::HoiDetection;
use hoiclip::detector::{Batching, detect_files};
use hoiclip::eval::{
    DetectionRun, ImagePredictions, Predictions, RunProgress, Shard, merge_shards,
};
use hoiclip::model::ResizeConfig;
use hoiclip::{HoiDetector, Hoiclip};

fn detector() -> Hoiclip {
    let device = hoiclip::BackendChoice::Flex.device().expect("flex");
    let mut detector = Hoiclip::new(common::hoiclip_small_model(&device), &device);
    detector.options_mut().resize = ResizeConfig {
        shorter: 48,
        max_size: Some(80),
    };
    detector
}

/// Seven images of three sizes (copies of fixture images under distinct names).
fn images(dir: &std::path::Path) -> Vec<String> {
    let sources = [
        fixture("preprocess/rgb_45x32.png"),
        fixture("preprocess/rgb_37x23.png"),
        fixture("custom_dataset/images/juggling.png"),
    ];
    (0..7)
        .map(|i| {
            let name = format!("img_{i}.png");
            std::fs::copy(&sources[i % 3], dir.join(&name)).expect("copy");
            name
        })
        .collect()
}

fn same(a: &Predictions, b: &Predictions) {
    assert_eq!(a.images().len(), b.images().len());
    for (x, y) in a.images().iter().zip(b.images()) {
        assert_eq!(x, y, "image {}", x.filename);
    }
}

/// Largest score difference allowed between a batch of one and a same-size batch (scores are
/// about 2.5; the differences seen are a few float ulps, about 1e-6).
const SCORE_TOLERANCE: f32 = 1e-4;
/// Largest box-coordinate difference, in pixels (images of at most 80 pixels).
const BOX_TOLERANCE: f32 = 1e-3;

fn boxes_close(a: &[f32; 4], b: &[f32; 4]) -> bool {
    a.iter().zip(b).all(|(x, y)| (x - y).abs() <= BOX_TOLERANCE)
}

/// The same detections up to float rounding: the same (pair, HOI class) set, each with a
/// close score and close boxes (their order may differ only where scores nearly tie).
fn close_detections(a: &[HoiDetection], b: &[HoiDetection], what: &str) {
    assert_eq!(a.len(), b.len(), "{what}: number of detections");
    for x in a {
        let y = b
            .iter()
            .find(|y| y.pair == x.pair && y.hoi_id == x.hoi_id)
            .unwrap_or_else(|| panic!("{what}: pair {} HOI {} missing", x.pair, x.hoi_id));
        let objects_close = match (&x.object_box, &y.object_box) {
            (Some(p), Some(q)) => boxes_close(p, q),
            (None, None) => true,
            _ => false,
        };
        assert!(
            (x.score - y.score).abs() <= SCORE_TOLERANCE
                && boxes_close(&x.subject_box, &y.subject_box)
                && objects_close,
            "{what}: {x:?} vs {y:?}"
        );
    }
}

/// One image's predictions up to float rounding: each interaction of `a` has one in `b` with
/// the same class, close boxes and a close score.
fn close_predictions(a: &ImagePredictions, b: &ImagePredictions) {
    let what = &a.filename;
    assert_eq!(a.filename, b.filename);
    assert_eq!(a.hoi_prediction.len(), b.hoi_prediction.len(), "{what}");
    let boxes = |p: &ImagePredictions, subject: usize, object: usize| {
        (
            p.predictions[subject].clone(),
            p.predictions[object].clone(),
        )
    };
    for x in &a.hoi_prediction {
        let (xs, xo) = boxes(a, x.subject_id, x.object_id);
        let found = b.hoi_prediction.iter().any(|y| {
            let (ys, yo) = boxes(b, y.subject_id, y.object_id);
            y.category_id == x.category_id
                && (y.score - x.score).abs() <= SCORE_TOLERANCE
                && boxes_close(&xs.bbox, &ys.bbox)
                && boxes_close(&xo.bbox, &yo.bbox)
                && xo.category_id == yo.category_id
        });
        assert!(found, "{what}: no match for {x:?}");
    }
}

#[test]
fn sharded_runs_merge_into_the_single_device_predictions() {
    let dir = tempfile::tempdir().expect("temp dir");
    let names = images(dir.path());
    let detector = detector();
    let batch = 2;
    let single = DetectionRun::new(dir.path(), dir.path().join("single.jsonl"))
        .batch_size(batch)
        .run(&detector, &names, |_: &RunProgress<'_>| {})
        .expect("single run")
        .predictions;
    assert!(single.images().iter().any(|i| !i.hoi_prediction.is_empty()));

    for peers in [2, 3] {
        let mut outputs = Vec::new();
        for k in 0..peers {
            let shard = Shard::new(k, peers).expect("shard");
            let out = dir.path().join(format!("{}-of-{peers}.jsonl", k + 1));
            DetectionRun::new(dir.path(), &out)
                .batch_size(batch)
                .run(
                    &detector,
                    &shard.images(&names, batch),
                    |_: &RunProgress<'_>| {},
                )
                .expect("shard run");
            outputs.push(out);
        }
        let merged = merge_shards(&outputs, &names).expect("merge");
        same(&merged, &single);

        // A missing shard is an error naming an image it held.
        let err = merge_shards(&outputs[1..], &names).unwrap_err().to_string();
        assert!(
            err.contains("img_0.png") && err.contains("none of"),
            "{err}"
        );
        // The same shard twice is an error naming both files.
        let twice = [outputs[0].clone(), outputs[0].clone()];
        let err = merge_shards(&twice, &names).unwrap_err().to_string();
        assert!(err.contains("in both"), "{err}");
    }

    // Batch composition matters: pairing other images changes the padded predictions, which
    // is why shards take whole batches.
    let regrouped: Vec<String> = names.iter().rev().cloned().collect();
    let other = DetectionRun::new(dir.path(), dir.path().join("reversed.jsonl"))
        .batch_size(batch)
        .run(&detector, &regrouped, |_: &RunProgress<'_>| {})
        .expect("reversed run")
        .predictions;
    let differs = single.images().iter().any(|a| {
        other
            .images()
            .iter()
            .find(|b| b.filename == a.filename)
            .is_some_and(|b| b != a)
    });
    assert!(
        differs,
        "padding with other images should change some scores"
    );
}

#[test]
fn same_size_batches_give_each_image_its_batch_of_one_detections() {
    let dir = tempfile::tempdir().expect("temp dir");
    let names = images(dir.path());
    let paths: Vec<std::path::PathBuf> = names.iter().map(|n| dir.path().join(n)).collect();
    let detector = detector();
    let alone: Vec<_> = paths
        .iter()
        .map(|p| {
            let image = hoiclip::imaging::open_image(p).expect("image");
            detector.detect(&image).expect("detect")
        })
        .collect();
    assert!(alone.iter().any(|d| !d.is_empty()));
    let same_size = detect_files(&detector, &paths, Batching::SameSize(2)).expect("same size");
    assert_eq!(same_size.len(), alone.len());
    for (i, (batched, single)) in same_size.iter().zip(&alone).enumerate() {
        close_detections(batched, single, &format!("same-size image {i}"));
    }

    // In-order batches are `detect_batch` on consecutive images (padded).
    let in_order = detect_files(&detector, &paths, Batching::InOrder(2)).expect("in order");
    for (i, pair) in paths.chunks(2).enumerate() {
        let images: Vec<_> = pair
            .iter()
            .map(|p| hoiclip::imaging::open_image(p).expect("image"))
            .collect();
        let batch = detector.detect_batch(&images).expect("batch");
        assert_eq!(in_order[2 * i..2 * i + pair.len()], batch[..], "batch {i}");
    }
    assert_ne!(in_order, alone, "mixed sizes are padded in order");

    // The resumable runner with same-size batches holds every image once, each with its
    // batch-of-one predictions (the file lists them in the order they finished).
    let single = DetectionRun::new(dir.path(), dir.path().join("alone.jsonl"))
        .run(&detector, &names, |_: &RunProgress<'_>| {})
        .expect("batch-of-one run")
        .predictions;
    let grouped = DetectionRun::new(dir.path(), dir.path().join("same-size.jsonl"))
        .batching(Batching::SameSize(2))
        .run(&detector, &names, |_: &RunProgress<'_>| {})
        .expect("same-size run")
        .predictions;
    // Two batches in flight on the one detector: the same predictions again.
    let concurrent = DetectionRun::new(dir.path(), dir.path().join("in-flight.jsonl"))
        .batching(Batching::SameSize(2))
        .in_flight(2)
        .run(&detector, &names, |_: &RunProgress<'_>| {})
        .expect("two in flight")
        .predictions;
    for other in [&grouped, &concurrent] {
        assert_eq!(other.images().len(), names.len());
        for a in single.images() {
            let b = other
                .images()
                .iter()
                .find(|b| b.filename == a.filename)
                .expect("every image once");
            close_predictions(a, b);
        }
    }

    // A missing image fails the run with its name; what finished before stays in the file.
    let mut with_missing = names.clone();
    with_missing.insert(3, "missing.png".into());
    let out = dir.path().join("missing.jsonl");
    let err = DetectionRun::new(dir.path(), &out)
        .batching(Batching::SameSize(2))
        .run(&detector, &with_missing, |_: &RunProgress<'_>| {})
        .expect_err("missing image");
    assert!(err.to_string().contains("missing.png"), "{err}");
    let (kept, _) = DetectionRun::new(dir.path(), &out)
        .read_existing()
        .expect("partial output");
    assert_eq!(
        kept.images().len(),
        3,
        "the three images before the missing one"
    );
}
