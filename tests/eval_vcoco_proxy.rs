//! The HOICLIP authors' V-COCO proxy evaluator (`vcoco_eval.py`, `VCOCOEvaluator`) against
//! the reference itself: tests/fixtures/vcoco_proxy/ was written by
//! tests/fixtures/gen_vcoco_proxy_fixtures.py, which runs the authors' real evaluator on
//! synthetic data (object-less and duplicate ground truth, images without boxes, IoU at 0.5,
//! class mismatches, a verb without detections, no ground truth at all), once with numpy
//! 1.x promotion (`legacy`) and once with numpy 2's (`weak`).
//!
//! Compared: the post-processed top-100 lists (same (subject, object, verb) order; scores
//! within 1e-6, and in fact bit-identical), per-verb AP, #GT, detection and TP counts,
//! `mAP_all` / `mAP_thesis` (within 1e-9; in fact bit-identical) and the printed table.

use std::collections::BTreeMap;
use std::path::PathBuf;

use hoiclip::eval::vcoco::proxy::{evaluate, evaluate_with};
use hoiclip::eval::vcoco::{
    NumpyPromotion, VcocoAnnotations, VcocoCorrectMat, VcocoImagePredictions, VcocoPairScores,
    VcocoPredBox, VcocoPredHoi, VcocoPredictions, VcocoProxyOptions, VcocoProxyReport,
};
use safetensors::SafeTensors;
use serde_json::Value;

const SCENARIOS: [&str; 3] = ["main", "cut", "nogt"];

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/vcoco_proxy")
        .join(name)
}

fn expected() -> Value {
    let text = std::fs::read_to_string(fixture("expected.json")).expect("expected.json");
    serde_json::from_str(&text).expect("expected.json is JSON")
}

/// The raw per-pair outputs of one image.
struct RawImage {
    boxes: Vec<[f32; 4]>,
    labels: Vec<usize>,
    hoi: Vec<f32>,
    obj: Vec<f32>,
}

impl RawImage {
    fn scores(&self) -> VcocoPairScores<'_> {
        VcocoPairScores {
            boxes: &self.boxes,
            labels: &self.labels,
            hoi_scores: &self.hoi,
            obj_scores: &self.obj,
        }
    }
}

fn raw_images(scenario: &str, count: usize) -> Vec<RawImage> {
    let bytes = std::fs::read(fixture("pair_scores.safetensors")).expect("pair scores");
    let st = SafeTensors::deserialize(&bytes).expect("safetensors");
    let f32s = |key: &str| -> Vec<f32> {
        let t = st.tensor(key).unwrap_or_else(|e| panic!("{key}: {e}"));
        assert_eq!(t.dtype(), safetensors::Dtype::F32, "{key}");
        t.data()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect()
    };
    (0..count)
        .map(|i| {
            let key = |k: &str| format!("{scenario}/{i}/{k}");
            let labels = st.tensor(&key("labels")).expect("labels");
            assert_eq!(labels.dtype(), safetensors::Dtype::I64);
            let labels = labels
                .data()
                .chunks_exact(8)
                .map(|c| i64::from_le_bytes(c.try_into().unwrap()) as usize)
                .collect();
            RawImage {
                boxes: f32s(&key("boxes"))
                    .chunks_exact(4)
                    .map(|c| [c[0], c[1], c[2], c[3]])
                    .collect(),
                labels,
                hoi: f32s(&key("hoi_scores")),
                obj: f32s(&key("obj_scores")),
            }
        })
        .collect()
}

fn names(entry: &Value) -> Vec<String> {
    entry["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

fn correct_mat() -> VcocoCorrectMat {
    VcocoCorrectMat::from_npy(fixture("corre_vcoco.npy")).expect("corre_vcoco.npy")
}

/// The pre-evaluation step of every image of a scenario.
fn post_processed(scenario: &str, entry: &Value) -> Vec<VcocoImagePredictions> {
    let names = names(entry);
    let cmat = correct_mat();
    raw_images(scenario, names.len())
        .iter()
        .zip(&names)
        .map(|(raw, name)| {
            VcocoImagePredictions::from_pair_scores(name.clone(), &raw.scores(), &cmat)
                .expect("valid pair scores")
        })
        .collect()
}

/// Compares a report with the reference's results; returns the largest deviation.
fn compare_report(what: &str, report: &VcocoProxyReport, want: &Value) -> f64 {
    let stats = want["stats"].as_object().unwrap();
    let bits = want["stats_bits"].as_object().unwrap();
    let got: BTreeMap<String, f64> = report.ap_dict().into_iter().collect();
    let keys: Vec<&String> = stats.keys().collect();
    assert_eq!(
        got.keys().collect::<Vec<_>>().len(),
        keys.len(),
        "{what}: keys {:?} vs {keys:?}",
        got.keys()
    );
    let mut max_dev = 0.0f64;
    let mut exact = 0;
    for (k, v) in stats {
        let g = *got
            .get(k)
            .unwrap_or_else(|| panic!("{what}: no {k} in the report"));
        match v.as_f64() {
            None => assert!(g.is_nan(), "{what}: {k} = {g}, the reference has NaN"),
            Some(e) => {
                let dev = (g - e).abs();
                assert!(dev <= 1e-9, "{what}: {k} = {g}, reference {e}");
                max_dev = max_dev.max(dev);
            }
        }
        if g.to_bits() == bits[k].as_u64().unwrap() {
            exact += 1;
        }
    }
    // #GT and the per-verb records.
    for (v, n) in want["sum_gts"].as_object().unwrap() {
        let v: usize = v.parse().unwrap();
        assert_eq!(
            report.verbs[v].num_gt,
            n.as_u64().unwrap() as usize,
            "{what}: #GT of {v}"
        );
    }
    for verb in &report.verbs {
        let rec = &want["records"][verb.verb_id.to_string()];
        assert_eq!(
            verb.num_detections,
            rec["num_detections"].as_u64().unwrap() as usize,
            "{what}: detections of verb {}",
            verb.name
        );
        assert_eq!(
            verb.num_tp,
            rec["num_tp"].as_u64().unwrap() as usize,
            "{what}: TPs of verb {}",
            verb.name
        );
    }
    assert_eq!(
        report.table(),
        want["printed"].as_str().unwrap(),
        "{what}: table"
    );
    println!(
        "{what}: {} values, {exact} bit-identical, max deviation {max_dev:.3e}",
        stats.len()
    );
    max_dev
}

#[test]
fn pre_evaluation_top100_matches_the_reference() {
    let exp = expected();
    let (mut max_dev, mut total, mut exact) = (0.0f64, 0usize, 0usize);
    for scenario in SCENARIOS {
        let entry = &exp["scenarios"][scenario];
        for img in post_processed(scenario, entry) {
            let want = entry["top100"][&img.filename].as_array().unwrap();
            assert_eq!(img.hoi_prediction.len(), want.len(), "{}", img.filename);
            for (k, (g, w)) in img.hoi_prediction.iter().zip(want).enumerate() {
                let w = w.as_array().unwrap();
                let id = |i: usize| w[i].as_u64().unwrap() as usize;
                let score = w[3].as_f64().unwrap();
                let dev = (g.score - score).abs();
                assert!(
                    dev <= 1e-6,
                    "{} #{k}: score {} vs {score}",
                    img.filename,
                    g.score
                );
                // Same order; near-ties (within 1e-6) could swap, but none do here.
                assert_eq!(
                    (g.subject_id, g.object_id, g.category_id),
                    (id(0), id(1), id(2)),
                    "{} #{k}",
                    img.filename
                );
                max_dev = max_dev.max(dev);
                total += 1;
                exact += usize::from(g.score.to_bits() == w[4].as_u64().unwrap());
            }
        }
    }
    println!("top-100 entries: {total}, bit-identical scores: {exact}, max deviation {max_dev:e}");
    assert_eq!(
        exact, total,
        "the f32 arithmetic is the reference's, operation for operation"
    );
}

#[test]
fn evaluation_matches_the_reference() {
    let exp = expected();
    for scenario in SCENARIOS {
        let entry = &exp["scenarios"][scenario];
        let ann = VcocoAnnotations::from_file(fixture(&format!("{scenario}_test_vcoco.json")))
            .expect("annotations");
        let preds = VcocoPredictions::from_images(post_processed(scenario, entry)).unwrap();
        for (state, promotion) in [
            ("legacy", NumpyPromotion::Legacy),
            ("weak", NumpyPromotion::Weak),
        ] {
            let options = VcocoProxyOptions {
                promotion,
                ..VcocoProxyOptions::default()
            };
            let report = evaluate_with(&ann, &preds, &options);
            compare_report(&format!("{scenario}/{state}"), &report, &entry[state]);
            assert_eq!(report.num_images, ann.len());
            assert!(report.unknown_prediction_images.is_empty());
        }
        // The default is the authors' numpy 1.x.
        compare_report(
            &format!("{scenario}/default"),
            &evaluate(&ann, &preds),
            &entry["legacy"],
        );
    }
}

#[test]
fn evaluation_of_the_reference_lists() {
    // The reference's own top-100 lists (not ours) give the same results.
    let exp = expected();
    for scenario in SCENARIOS {
        let entry = &exp["scenarios"][scenario];
        let names = names(entry);
        let ann =
            VcocoAnnotations::from_file(fixture(&format!("{scenario}_test_vcoco.json"))).unwrap();
        let images: Vec<VcocoImagePredictions> = raw_images(scenario, names.len())
            .iter()
            .zip(&names)
            .map(|(raw, name)| VcocoImagePredictions {
                filename: name.clone(),
                predictions: raw
                    .boxes
                    .iter()
                    .zip(&raw.labels)
                    .map(|(&bbox, &category_id)| VcocoPredBox { bbox, category_id })
                    .collect(),
                hoi_prediction: entry["top100"][name]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|h| {
                        let h = h.as_array().unwrap();
                        VcocoPredHoi {
                            subject_id: h[0].as_u64().unwrap() as usize,
                            object_id: h[1].as_u64().unwrap() as usize,
                            category_id: h[2].as_u64().unwrap() as usize,
                            score: f64::from_bits(h[4].as_u64().unwrap()),
                        }
                    })
                    .collect(),
            })
            .collect();
        let preds = VcocoPredictions::from_images(images).unwrap();
        compare_report(
            &format!("{scenario}/reference lists"),
            &evaluate(&ann, &preds),
            &entry["legacy"],
        );
    }
}

#[test]
fn the_fixture_exercises_the_quirks() {
    let exp = expected();
    let main = &exp["scenarios"]["main"];
    let ann = VcocoAnnotations::from_file(fixture("main_test_vcoco.json")).unwrap();
    let preds = VcocoPredictions::from_images(post_processed("main", main)).unwrap();
    let report = evaluate(&ann, &preds);
    let verb = |name: &str| report.verbs.iter().find(|v| v.name == name).unwrap();
    // Object-less ground truth is matched on the subject alone.
    assert!(verb("stand").num_tp >= 2 && verb("walk").num_tp >= 1);
    // Duplicate ground truth: 4 `kick_obj` GT (two of them one duplicated pair), 3 reachable.
    assert_eq!((verb("kick_obj").num_gt, verb("kick_obj").num_tp), (4, 3));
    // The promotion-sensitive box: `sit_instr` is found only with float32 IoUs.
    let weak = evaluate_with(
        &ann,
        &preds,
        &VcocoProxyOptions {
            promotion: NumpyPromotion::Weak,
            ..VcocoProxyOptions::default()
        },
    );
    assert_eq!(verb("sit_instr").num_tp, 0);
    assert_eq!(weak.verbs[2].num_tp, 1);
    // mAP_thesis averages 24 verbs, zeros for those without GT; mAP_all only verbs with GT.
    let with_gt = report.verbs.iter().filter(|v| v.num_gt > 0).count();
    assert_eq!(with_gt, 13);
    let thesis_sum: f64 = report.verbs.iter().filter(|v| v.thesis).map(|v| v.ap).sum();
    assert!((report.map_thesis - thesis_sum / 24.0).abs() < 1e-12);
    // A verb with GT and no detection at all (AP 0); no GT at all: mAP_all is NaN.
    let cut = evaluate(
        &VcocoAnnotations::from_file(fixture("cut_test_vcoco.json")).unwrap(),
        &VcocoPredictions::from_images(post_processed("cut", &exp["scenarios"]["cut"])).unwrap(),
    );
    assert_eq!((cut.verbs[28].num_gt, cut.verbs[28].num_detections), (1, 0));
    let nogt = evaluate(
        &VcocoAnnotations::from_file(fixture("nogt_test_vcoco.json")).unwrap(),
        &VcocoPredictions::from_images(post_processed("nogt", &exp["scenarios"]["nogt"])).unwrap(),
    );
    assert!(nogt.map_all.is_nan());
    assert_eq!(nogt.map_thesis, 0.0);
}

#[test]
fn correct_mat_file_agrees_with_the_hoi_table() {
    let file = correct_mat();
    assert_eq!(file.columns(), 80);
    let table = VcocoCorrectMat::from_hois();
    for verb in 0..29 {
        for label in 0..=80 {
            assert_eq!(
                file.mask(verb, label),
                table.mask(verb, label),
                "({verb}, {label})"
            );
        }
    }
}

#[test]
fn predictions_and_annotations_round_trip() {
    let exp = expected();
    let images = post_processed("main", &exp["scenarios"]["main"]);
    let preds = VcocoPredictions::from_images(images.clone()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    for name in ["p.json", "p.jsonl"] {
        let path = dir.path().join(name);
        if name.ends_with("jsonl") {
            preds.write_jsonl(&path).unwrap();
        } else {
            preds.write_json(&path).unwrap();
        }
        let back = VcocoPredictions::from_file(&path).unwrap();
        assert_eq!(back.len(), images.len());
        for (a, b) in back.images().iter().zip(&images) {
            assert_eq!(a.filename, b.filename);
            assert_eq!(a.predictions, b.predictions, "f32 boxes round-trip exactly");
            for (x, y) in a.hoi_prediction.iter().zip(&b.hoi_prediction) {
                assert_eq!(
                    (x.subject_id, x.object_id, x.category_id),
                    (y.subject_id, y.object_id, y.category_id)
                );
                // serde_json without `float_roundtrip` may be one ulp off on 17 digits.
                assert!((x.score - y.score).abs() <= 1e-15);
            }
        }
    }
    // {"preds": [...]} and `file_name` are accepted.
    let wrapped = serde_json::json!({"preds": [{
        "file_name": "x.jpg",
        "predictions": [{"bbox": [0, 0, 1, 1], "category_id": 0},
                        {"bbox": [0, 0, 2, 2], "category_id": 80}],
        "hoi_prediction": [{"subject_id": 0, "object_id": 1, "category_id": 1, "score": 0.5}]}]});
    let p = VcocoPredictions::from_json_str(&wrapped.to_string(), "w.json").unwrap();
    assert_eq!(p.get("x.jpg").unwrap().hoi_prediction[0].category_id, 1);

    let ann = VcocoAnnotations::from_file(fixture("main_test_vcoco.json")).unwrap();
    let path = dir.path().join("a.json");
    ann.write(&path).unwrap();
    assert_eq!(
        VcocoAnnotations::from_file(&path).unwrap().images(),
        ann.images()
    );
}

#[test]
fn malformed_predictions_name_file_image_and_field() {
    let err = |v: Value| {
        VcocoPredictions::from_json_str(&v.to_string(), "bad.json")
            .unwrap_err()
            .to_string()
    };
    let img = |boxes: Value, hois: Value| serde_json::json!([{"filename": "y.jpg", "predictions": boxes, "hoi_prediction": hois}]);
    let b = serde_json::json!([{"bbox": [0, 0, 1, 1], "category_id": 0}]);
    let e = err(img(
        b.clone(),
        serde_json::json!([{"subject_id": 0, "object_id": 1, "category_id": 0, "score": 1}]),
    ));
    assert!(
        e.contains("bad.json") && e.contains("y.jpg") && e.contains("hoi_prediction[0]"),
        "{e}"
    );
    let e = err(img(
        b.clone(),
        serde_json::json!([{"subject_id": 0, "object_id": 0, "category_id": 29, "score": 1}]),
    ));
    assert!(e.contains("hoi_prediction[0].category_id"), "{e}");
    let e = err(img(
        serde_json::json!([{"bbox": [0, 0, 1, 1], "category_id": 81}]),
        serde_json::json!([]),
    ));
    assert!(e.contains("predictions[0].category_id"), "{e}");
    let e = err(img(
        serde_json::json!([{"bbox": [0, 0, 1]}]),
        serde_json::json!([]),
    ));
    assert!(e.contains("predictions[0].bbox"), "{e}");
    let e = err(img(
        b,
        serde_json::json!([{"subject_id": 0, "object_id": 0, "category_id": 0}]),
    ));
    assert!(
        e.contains("hoi_prediction[0].score") && e.contains("missing"),
        "{e}"
    );

    // Pair scores with wrong shapes or labels.
    let cmat = VcocoCorrectMat::from_hois();
    let boxes = [[0.0f32, 0.0, 1.0, 1.0]; 2];
    let hoi = vec![0.5f32; 263];
    let obj = vec![0.5f32; 82];
    let ok = VcocoPairScores {
        boxes: &boxes,
        labels: &[0, 80],
        hoi_scores: &hoi,
        obj_scores: &obj,
    };
    assert_eq!(
        VcocoImagePredictions::from_pair_scores("z", &ok, &cmat)
            .unwrap()
            .hoi_prediction
            .len(),
        29
    );
    let e = VcocoImagePredictions::from_pair_scores(
        "z",
        &VcocoPairScores {
            labels: &[0, 81],
            ..ok
        },
        &cmat,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("exceeds 80"), "{e}");
    let e = VcocoImagePredictions::from_pair_scores(
        "z",
        &VcocoPairScores {
            obj_scores: &obj[..81],
            ..ok
        },
        &cmat,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("Q x 82"), "{e}");
}
