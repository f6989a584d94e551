//! The official HICO-DET protocol against ho-rcnn's own code run in GNU Octave.
//!
//! `tests/fixtures/gen_hico_official_octave_fixtures.py` built a synthetic test set covering
//! all 600 HOI classes (recalls of exactly 3/5 and 7/10, duplicates, overlaps of exactly 0.5,
//! score ties, classes without detections, detections in images without the object), ran
//! ho-rcnn's unmodified `eval_one.m` and `VOCevaldet_bboxpair.m` on it in Octave (Default
//! and Known Object), and recorded every class's AP and recall and the Full / Rare /
//! Non-rare means. Here the crate's `Evaluator::official` must reproduce them to 1e-9.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use hoiclip::eval::{EvalReport, Evaluator, HicoAnnotations, OfficialMode, Predictions, RareSplit};
use serde_json::Value;

const TOL: f64 = 1e-9;
const NUM_HOIS: usize = 600;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn expected() -> Value {
    let path = fixture("hico_official_octave_expected.json");
    let text = std::fs::read_to_string(&path).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn f64s(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

fn usizes(v: &Value) -> Vec<usize> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as usize)
        .collect()
}

/// The inputs of the fixture and the rare split of `eval_one.m` (`num_inst < 10`).
fn inputs(exp: &Value) -> (HicoAnnotations, Predictions, RareSplit) {
    let test = HicoAnnotations::from_file(fixture(exp["annotations"].as_str().unwrap())).unwrap();
    let preds = Predictions::from_file(fixture(exp["predictions"].as_str().unwrap())).unwrap();
    let rare = RareSplit::from_counts(usizes(&exp["training_counts"]));
    (test, preds, rare)
}

const MODES: [(&str, OfficialMode); 2] = [
    ("default", OfficialMode::Default),
    ("known_object", OfficialMode::KnownObject),
];

fn run(
    test: &HicoAnnotations,
    preds: &Predictions,
    rare: &RareSplit,
    mode: OfficialMode,
) -> EvalReport {
    Evaluator::official(test, mode)
        .with_rare_split(rare.clone())
        .evaluate(preds)
}

#[test]
fn official_protocol_equals_octave_run_of_ho_rcnn() {
    let exp = expected();
    let (test, preds, rare) = inputs(&exp);

    // eval_one.m's s_ind, as Octave computed it from the synthetic bbox_train.
    let octave_rare: Vec<bool> = exp["rare"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_bool().unwrap())
        .collect();
    assert_eq!(octave_rare.len(), NUM_HOIS);
    for (c, &r) in octave_rare.iter().enumerate() {
        assert_eq!(rare.is_rare(c), r, "rare split of class {c}");
    }
    assert!(rare.differences_from_known().is_empty());

    let mut max_dev = 0.0f64;
    for (key, mode) in MODES {
        let want = &exp["modes"][key];
        let (ap, recall) = (f64s(&want["ap"]), f64s(&want["recall"]));
        assert_eq!((ap.len(), recall.len()), (NUM_HOIS, NUM_HOIS));
        let report = run(&test, &preds, &rare, mode);
        assert_eq!(report.classes.len(), NUM_HOIS);

        let mut failures = Vec::new();
        let mut check = |what: String, got: f64, want: f64| {
            let dev = (got - want).abs();
            max_dev = max_dev.max(dev);
            if dev.is_nan() || dev > TOL {
                failures.push(format!("{what}: crate {got:.17} Octave {want:.17}"));
            }
        };
        for (c, class) in report.classes.iter().enumerate() {
            assert_eq!(class.hoi_id, c);
            check(format!("class {c} ({}) AP", class.name), class.ap, ap[c]);
            check(
                format!("class {c} ({}) recall", class.name),
                class.recall,
                recall[c],
            );
        }
        let s = &report.summary;
        for (group, mean) in [
            ("full", &s.full),
            ("rare", &s.rare),
            ("non_rare", &s.non_rare),
        ] {
            let w = &want[group];
            check(
                format!("{group} mAP"),
                mean.map.unwrap(),
                w["map"].as_f64().unwrap(),
            );
            check(
                format!("{group} mean recall"),
                mean.mean_recall.unwrap(),
                w["mean_recall"].as_f64().unwrap(),
            );
        }
        assert_eq!((s.full.num_classes, s.rare.num_classes), (NUM_HOIS, 138));
        assert!(
            failures.is_empty(),
            "{key}: {} values differ from Octave's run of eval_one.m:\n{}",
            failures.len(),
            failures.join("\n")
        );
    }
    eprintln!("max |crate - Octave| over APs, recalls and means: {max_dev:e}");
}

/// The fixture holds the cases it claims to (so the comparison above means something).
#[test]
fn octave_fixture_covers_the_awkward_cases() {
    let exp = expected();
    let (test, preds, rare) = inputs(&exp);
    let default = run(&test, &preds, &rare, OfficialMode::Default);
    let known = run(&test, &preds, &rare, OfficialMode::KnownObject);

    // Every class has ground truth; some have no detection at all.
    assert!(default.classes.iter().all(|c| c.num_gt > 0));
    let no_dets = default
        .classes
        .iter()
        .filter(|c| c.num_detections == 0)
        .count();
    assert!(no_dets >= 20, "{no_dets} classes without detections");
    // Recall exactly 3/5 (or 6/10) and 7/10 in Octave's output.
    let recall = f64s(&exp["modes"]["default"]["recall"]);
    let at = |r: f64| recall.iter().filter(|&&x| x == r).count();
    assert!(
        at(0.6) >= 20 && at(0.7) >= 15,
        "{} at 0.6, {} at 0.7",
        at(0.6),
        at(0.7)
    );
    // Classes whose AP would change with exact 0.6 / 0.7 recall points.
    for (key, _) in MODES {
        let n = exp["point_sensitive_classes"][key]
            .as_array()
            .unwrap()
            .len();
        assert!(n >= 40, "{key}: {n} point-sensitive classes");
    }
    // Known Object drops detections: some classes score differently.
    let differ = (0..NUM_HOIS)
        .filter(|&c| default.classes[c].ap != known.classes[c].ap)
        .count();
    assert!(differ >= 20, "{differ} classes differ between the modes");
    assert!(
        (0..NUM_HOIS).any(|c| known.classes[c].num_detections < default.classes[c].num_detections)
    );
    // Images with several pairs of one class; repeated detections (identical rows).
    let several = test.images().iter().any(|img| {
        let mut seen = HashSet::new();
        img.hois.iter().any(|h| !seen.insert(h.hoi))
    });
    assert!(several);
    let repeated = preds.images().iter().any(|img| {
        let mut seen = HashSet::new();
        img.hoi_prediction
            .iter()
            .any(|h| !seen.insert((h.subject_id, h.object_id, h.category_id, h.score.to_bits())))
    });
    assert!(repeated);
    // A predictions entry for an image outside the annotations is ignored.
    assert_eq!(
        default.unknown_prediction_images,
        vec!["HICO_test2015_99999999.jpg".to_string()]
    );
}
