//! End to end on a synthetic HICO-DET dataset written to disk: annotation files and images,
//! a (fake) detector run through the resumable runner, predictions read back, and scoring.
//! An interrupted and resumed run must give the same predictions and the same numbers as
//! an uninterrupted one.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use hoiclip::eval::{
    DetectionRun, EvalReport, Evaluator, HicoAnnotations, OfficialMode, Predictions, ProxyOptions,
    RareSplit, RunProgress,
};
use hoiclip::labels::hico::{HICO_HOIS, HICO_OBJECTS, HICO_VERBS};
use hoiclip::{HoiDetection, HoiDetector, HoiclipError};
use image::{DynamicImage, Rgb, RgbImage};
use serde_json::json;

const IMAGES: usize = 24;

/// The synthetic dataset: image `i` is 32x24 pixels with its index in pixel (0, 0), and
/// holds one or two pairs whose classes cycle through the 600.
fn pairs_of(i: usize) -> Vec<([f64; 4], [f64; 4], usize)> {
    let mut v = vec![(
        [1.0, 1.0, 12.0, 20.0],
        [10.0, 4.0, 30.0, 22.0],
        (i * 37) % 600,
    )];
    if i.is_multiple_of(3) {
        v.push((
            [2.0, 2.0, 14.0, 23.0],
            [0.0, 10.0, 8.0, 18.0],
            (i * 91 + 5) % 600,
        ));
    }
    v
}

fn file_name(i: usize) -> String {
    format!("HICO_test2015_{:08}.jpg", i + 1)
}

/// Writes `test_hico.json`, `trainval_hico.json` and the images (PNG data under the `.jpg`
/// names: `image::open` sniffs the content).
fn write_dataset(root: &Path) {
    let images_dir = root.join("images").join("test2015");
    std::fs::create_dir_all(&images_dir).unwrap();
    let mut test = Vec::new();
    for i in 0..IMAGES {
        let mut boxes = Vec::new();
        let mut hois = Vec::new();
        for (h, o, hoi) in pairs_of(i) {
            let c = HICO_HOIS[hoi];
            boxes.push(json!({"bbox": h, "category_id": 1}));
            boxes.push(json!({"bbox": o,
                "category_id": hoiclip::eval::ids::HICO_COCO_CATEGORY_IDS[c.object as usize]}));
            hois.push(
                json!({"subject_id": boxes.len() - 2, "object_id": boxes.len() - 1,
                "category_id": c.verb + 1}),
            );
        }
        test.push(json!({"file_name": file_name(i), "annotations": boxes, "hoi_annotation": hois}));
        let mut img = RgbImage::new(32, 24);
        img.put_pixel(0, 0, Rgb([i as u8, 0, 0]));
        img.save_with_format(images_dir.join(file_name(i)), image::ImageFormat::Png)
            .unwrap();
    }
    std::fs::create_dir_all(root.join("annotations")).unwrap();
    std::fs::write(
        root.join("annotations/test_hico.json"),
        json!(test).to_string(),
    )
    .unwrap();
    // Training: 12 instances of every class, except 3 of class 0 (rare).
    let train: Vec<_> = (0..600)
        .map(|h| {
            let c = HICO_HOIS[h];
            let n = if h == 0 { 3 } else { 12 };
            json!({
                "file_name": format!("HICO_train2015_{:08}.jpg", h + 1),
                "annotations": [{"bbox": [0, 0, 9, 9], "category_id": 1},
                    {"bbox": [3, 3, 19, 19],
                     "category_id": hoiclip::eval::ids::HICO_COCO_CATEGORY_IDS[c.object as usize]}],
                "hoi_annotation": (0..n).map(|_| json!({"subject_id": 0, "object_id": 1,
                    "category_id": c.verb + 1, "hoi_category_id": h + 1})).collect::<Vec<_>>()
            })
        })
        .collect();
    std::fs::write(
        root.join("annotations/trainval_hico.json"),
        json!(train).to_string(),
    )
    .unwrap();
}

/// Reads the image index from pixel (0, 0) and answers with the truth (slightly moved,
/// scores decreasing) plus one wrong detection; after `fail_after` images it fails, as an
/// interrupted run would.
struct FakeDetector {
    calls: AtomicUsize,
    fail_after: Option<usize>,
}

impl FakeDetector {
    fn new(fail_after: Option<usize>) -> Self {
        Self {
            calls: AtomicUsize::new(0),
            fail_after,
        }
    }
}

impl HoiDetector for FakeDetector {
    fn detect(&self, image: &DynamicImage) -> hoiclip::Result<Vec<HoiDetection>> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        if self.fail_after.is_some_and(|f| n >= f) {
            return Err(HoiclipError::Config("interrupted".into()));
        }
        let i = image.to_rgb8().get_pixel(0, 0).0[0] as usize;
        let mut out = Vec::new();
        for (k, (h, o, hoi)) in pairs_of(i).into_iter().enumerate() {
            let c = HICO_HOIS[hoi];
            let jitter = |b: [f64; 4]| b.map(|x| x as f32 + 0.25);
            out.push(HoiDetection {
                subject_box: jitter(h),
                object_box: Some(jitter(o)),
                object_id: c.object as usize,
                object_name: HICO_OBJECTS[c.object as usize].into(),
                verb_id: c.verb as usize,
                verb_name: HICO_VERBS[c.verb as usize].into(),
                hoi_id: hoi,
                hoi_prompt: c.prompt.into(),
                score: 1.0 - 0.01 * (i + k) as f32,
                pair: k,
            });
        }
        // A wrong class on the first pair's boxes.
        let mut wrong = out[0].clone();
        wrong.hoi_id = (wrong.hoi_id + 1) % 600;
        wrong.score = 0.3;
        out.push(wrong);
        Ok(out)
    }
}

fn score_all(root: &Path, preds_path: &Path) -> Vec<EvalReport> {
    let test = HicoAnnotations::from_file(root.join("annotations/test_hico.json")).unwrap();
    let train = HicoAnnotations::from_file(root.join("annotations/trainval_hico.json")).unwrap();
    let rare = RareSplit::from_training(&train);
    let preds = Predictions::from_file(preds_path).unwrap();
    vec![
        Evaluator::official(&test, OfficialMode::Default)
            .with_rare_split(rare.clone())
            .evaluate(&preds),
        Evaluator::official(&test, OfficialMode::KnownObject)
            .with_rare_split(rare.clone())
            .evaluate(&preds),
        Evaluator::proxy(&test, ProxyOptions::reference_scripts())
            .with_rare_split(rare)
            .evaluate(&preds),
    ]
}

#[test]
fn end_to_end_run_then_score() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write_dataset(root);
    let test = HicoAnnotations::from_file(root.join("annotations/test_hico.json")).unwrap();
    let out = root.join("out/preds.jsonl");
    let mut calls = Vec::new();
    let outcome = DetectionRun::new(root.join("images/test2015"), &out)
        .batch_size(5)
        .run(
            &FakeDetector::new(None),
            &test.file_names(),
            |p: &RunProgress<'_>| calls.push((p.done, p.total)),
        )
        .unwrap();
    assert_eq!(
        (outcome.resumed, outcome.processed, outcome.repaired),
        (0, IMAGES, false)
    );
    assert_eq!(calls.first(), Some(&(0, IMAGES)));
    assert_eq!(calls.last(), Some(&(IMAGES, IMAGES)));
    assert_eq!(calls.len(), IMAGES + 1);

    let reports = score_all(root, &out);
    let present: Vec<usize> = (0..IMAGES)
        .flat_map(|i| pairs_of(i).into_iter().map(|p| p.2))
        .collect();
    for r in &reports {
        // Every true pair is found first in its class: AP 1 on the classes present.
        for &h in &present {
            assert!(
                (r.classes[h].ap - 1.0).abs() < 1e-12,
                "{} class {h}",
                r.protocol
            );
        }
        assert_eq!(r.num_images_with_predictions, IMAGES);
        assert_eq!(r.rare_split, "training-counts");
    }
    // Official: mean over 600 (absent classes score 0); proxy: over the present classes.
    let distinct: std::collections::BTreeSet<usize> = present.iter().copied().collect();
    let official = reports[0].summary.full.map.unwrap();
    assert!((official - distinct.len() as f64 / 600.0).abs() < 1e-12);
    assert!((reports[2].summary.full.map.unwrap() - 1.0).abs() < 1e-12);
    assert_eq!(reports[2].summary.full.num_classes, distinct.len());
    // Class 0 (3 training instances) is the only rare class.
    assert_eq!(reports[0].summary.rare.num_classes, 1);
}

#[test]
fn interrupted_and_resumed_run_equals_an_uninterrupted_one() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write_dataset(root);
    let test = HicoAnnotations::from_file(root.join("annotations/test_hico.json")).unwrap();
    let names = test.file_names();
    let images = root.join("images/test2015");

    let whole = root.join("whole.jsonl");
    DetectionRun::new(&images, &whole)
        .run(&FakeDetector::new(None), &names, |_: &RunProgress<'_>| {})
        .unwrap();

    // Interrupted after 9 images (batch of 4: two batches written, the third fails).
    let resumed = root.join("resumed.jsonl");
    let err = DetectionRun::new(&images, &resumed)
        .batch_size(4)
        .run(
            &FakeDetector::new(Some(9)),
            &names,
            |_: &RunProgress<'_>| {},
        )
        .unwrap_err();
    assert!(err.to_string().contains("interrupted"));
    let written = std::fs::read_to_string(&resumed).unwrap();
    assert_eq!(written.lines().count(), 8);
    // A torn last line, as a kill in the middle of a write leaves it.
    let mut torn = written.clone();
    torn.push_str("{\"filename\": \"HICO_test2015_000000");
    std::fs::write(&resumed, torn).unwrap();

    let outcome = DetectionRun::new(&images, &resumed)
        .batch_size(4)
        .run(&FakeDetector::new(None), &names, |_: &RunProgress<'_>| {})
        .unwrap();
    assert_eq!((outcome.resumed, outcome.processed), (8, IMAGES - 8));
    assert!(outcome.repaired);
    // A third run has nothing left to do.
    let again = DetectionRun::new(&images, &resumed)
        .run(
            &FakeDetector::new(Some(0)),
            &names,
            |_: &RunProgress<'_>| {},
        )
        .unwrap();
    assert_eq!((again.resumed, again.processed), (IMAGES, 0));

    // Same predictions (same lines, same order) and same numbers.
    assert_eq!(
        std::fs::read_to_string(&whole).unwrap(),
        std::fs::read_to_string(&resumed).unwrap()
    );
    let a = score_all(root, &whole);
    let b = score_all(root, &resumed);
    assert_eq!(
        serde_json::to_string(&a).unwrap(),
        serde_json::to_string(&b).unwrap()
    );
}

#[test]
fn runner_reports_unreadable_images_and_corrupt_lines() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write_dataset(root);
    let images = root.join("images/test2015");
    std::fs::write(images.join("broken.jpg"), b"not an image").unwrap();
    let out = root.join("p.jsonl");
    let err = DetectionRun::new(&images, &out)
        .run(
            &FakeDetector::new(None),
            &[file_name(0), "broken.jpg".to_string()],
            |_: &RunProgress<'_>| {},
        )
        .unwrap_err();
    assert!(
        matches!(&err, HoiclipError::Image { what, .. } if what.ends_with("broken.jpg")),
        "{err:?}"
    );
    // The first image was kept.
    assert_eq!(std::fs::read_to_string(&out).unwrap().lines().count(), 1);
    // A complete but corrupt line is an error naming the line, not silently dropped.
    std::fs::write(&out, "{\"filename\": 3}\n").unwrap();
    let err = DetectionRun::new(&images, &out)
        .run(
            &FakeDetector::new(None),
            &[file_name(0)],
            |_: &RunProgress<'_>| {},
        )
        .unwrap_err();
    assert!(err.to_string().contains("`filename`"), "{err}");
}
