//! The V-COCO evaluation path end to end on the small V-COCO fixture model: the resumable
//! runner writes per-pair records of every (pair, verb) cell, a second run resumes them, and
//! the records score with the authors' proxy against a test_vcoco.json whose ground truth is
//! one of the detector's own best detections (so it must be found: 1 GT, 1 true positive).

mod common;

use common::{Fixture, backends, fixture_rgb_image};
use hoiclip::eval::DetectionRun;
use hoiclip::eval::vcoco::pairs::{VcocoPairRecord, image_id_of_file_name};
use hoiclip::eval::vcoco::proxy::{self, VCOCO_MAX_HOIS};
use hoiclip::eval::vcoco::{VcocoAnnotations, VcocoCorrectMat, VcocoPredictions};
use hoiclip::labels::vcoco::VCOCO_COCO_CATEGORY_IDS;
use hoiclip::model::ResizeConfig;
use hoiclip::{DetectOptions, Hoiclip};

#[test]
fn vcoco_records_resume_and_score() {
    let io = Fixture::open("hoiclip_vcoco_small_io.safetensors");
    let (_, device) = backends().remove(0);
    let mut detector = Hoiclip::new(common::hoiclip_vcoco_small_model(&device), &device)
        .with_options(DetectOptions {
            resize: ResizeConfig {
                shorter: 48,
                max_size: Some(80),
            },
            ..DetectOptions::default()
        });
    VcocoPairRecord::configure_detector(&mut detector);
    let dir = tempfile::tempdir().expect("temp dir");
    let names = vec![
        "COCO_val2014_000000000001.jpg".to_string(),
        "COCO_val2014_000000000002.jpg".to_string(),
    ];
    for (name, key) in names.iter().zip(["image_0", "image_1"]) {
        fixture_rgb_image(&io, key)
            .save_with_format(dir.path().join(name), image::ImageFormat::Png)
            .expect("write image");
    }
    let output = dir.path().join("pairs.jsonl");
    let run = DetectionRun::new(dir.path(), &output);
    let first = run
        .run_records::<VcocoPairRecord, _, _>(&detector, &names, |_| {})
        .expect("run");
    assert_eq!((first.resumed, first.processed), (0, 2));
    assert!(first.records.iter().all(|r| r.pairs.len() == 5));
    let again = run
        .run_records::<VcocoPairRecord, _, _>(&detector, &names, |_| {})
        .expect("resume");
    assert_eq!((again.resumed, again.processed), (2, 0));
    assert_eq!(again.records, first.records);
    assert_eq!(image_id_of_file_name(&names[1]), Some(2));

    // Ground truth: the best unmasked-by-the-table cell of image 0 whose pair has an object.
    let mask = VcocoCorrectMat::from_hois().verb_object_mask();
    let record = &first.records[0];
    let preds0 = record
        .to_proxy_predictions(&mask, VCOCO_MAX_HOIS)
        .expect("proxy");
    let best = preds0
        .hoi_prediction
        .iter()
        .find(|h| preds0.predictions[h.object_id].category_id < 80)
        .expect("a cell with an object");
    let subject = preds0.predictions[best.subject_id].bbox;
    let object = &preds0.predictions[best.object_id];
    let coco_id = VCOCO_COCO_CATEGORY_IDS[object.category_id];
    let annotations = serde_json::json!([{
        "file_name": names[0],
        "img_id": 1,
        "annotations": [
            {"bbox": subject.map(f64::from), "category_id": 1},
            {"bbox": object.bbox.map(f64::from), "category_id": coco_id}
        ],
        "hoi_annotation": [{"subject_id": 0, "object_id": 1, "category_id": best.category_id}]
    }]);
    let annotations = VcocoAnnotations::from_json_str(&annotations.to_string(), "test_vcoco.json")
        .expect("annotations");
    let mut preds = VcocoPredictions::new();
    for r in &first.records {
        preds
            .push(
                r.to_proxy_predictions(&mask, VCOCO_MAX_HOIS)
                    .expect("proxy"),
            )
            .expect("push");
    }
    let report = proxy::evaluate(&annotations, &preds);
    let verb = &report.verbs[best.category_id];
    assert_eq!((verb.num_gt, verb.num_tp), (1, 1), "{}", report.table());
    assert!(verb.ap > 0.0);
}
