//! The official V-COCO evaluation against s-gupta/v-coco's own `vsrl_eval.py`, run on the
//! synthetic set of `tests/fixtures/gen_vcoco_official_fixtures.py`
//! (`tests/fixtures/vcoco_official/`): every agent AP, every role AP of both scenarios, the
//! means, the counts and the printed text.

use std::path::{Path, PathBuf};

use hoiclip::eval::vcoco::official::{
    VCOCO_IOU_THRESHOLD, VcocoDetections, VcocoGroundTruth, VcocoOfficialReport, evaluate,
};
use serde_json::Value;

const TOL: f64 = 1e-9;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/vcoco_official")
}

fn expected() -> Value {
    let text = std::fs::read_to_string(dir().join("expected.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn run() -> VcocoOfficialReport {
    let d = dir();
    let gt = VcocoGroundTruth::from_files(
        d.join("vsrl_synthetic.json"),
        d.join("instances_synthetic.json"),
        Some(&d.join("synthetic.ids")),
    )
    .unwrap();
    let dets = VcocoDetections::from_file(d.join("detections.json")).unwrap();
    evaluate(&gt, &dets, VCOCO_IOU_THRESHOLD).unwrap()
}

/// Compares an optional AP with the expected JSON value (`null` = NaN); returns |diff|.
fn close(what: &str, got: Option<f64>, want: &Value) -> f64 {
    match (got, want.as_f64()) {
        (None, None) => 0.0,
        (Some(g), Some(w)) => {
            let d = (g - w).abs();
            assert!(d <= TOL, "{what}: got {g}, vsrl_eval.py {w}");
            d
        }
        (g, _) => panic!("{what}: got {g:?}, vsrl_eval.py {want}"),
    }
}

/// As [`close`], for values `vsrl_eval.py` holds in float32 (APs, float32 means): they must
/// be the same float32 (the expected JSON's shortest decimal may parse 1 ulp off in f64).
fn same_f32(what: &str, got: Option<f64>, want: &Value) -> f64 {
    let d = close(what, got, want);
    if let (Some(g), Some(w)) = (got, want.as_f64()) {
        assert_eq!(g as f32, w as f32, "{what}: float32 differs");
    }
    d
}

fn count(v: &Value) -> usize {
    v.as_u64().unwrap() as usize
}

#[test]
fn matches_vsrl_eval() {
    let report = run();
    let e = expected();
    let mut max_dev = 0.0f64;

    assert_eq!(report.num_images, count(&e["num_images"]));
    assert_eq!(
        report.num_detections + report.num_detections_outside_split,
        count(&e["num_detections"])
    );
    assert_eq!(
        report.num_detections_outside_split,
        count(&e["num_detections_outside_split"])
    );

    let agent = e["agent"].as_array().unwrap();
    assert_eq!(report.agent.len(), agent.len());
    assert_eq!(report.agent.len(), 26);
    for (got, want) in report.agent.iter().zip(agent) {
        assert_eq!(got.action, want["action"].as_str().unwrap());
        let what = format!("agent AP {}", got.action);
        max_dev = max_dev.max(same_f32(&what, got.ap, &want["ap"]));
        assert_eq!(got.npos, count(&want["npos"]), "{what}: #pos");
        assert_eq!(got.num_detections, count(&want["num_detections"]), "{what}");
        assert_eq!(got.num_tp, count(&want["num_tp"]), "{what}: tp");
    }
    max_dev = max_dev.max(close(
        "mean agent AP",
        Some(report.mean_agent_ap),
        &e["mean_agent_ap"],
    ));
    max_dev = max_dev.max(same_f32(
        "mean agent AP (percent)",
        Some(report.mean_agent_ap_percent),
        &e["mean_agent_ap_percent"],
    ));

    for (got, want) in [
        (&report.scenario_1, &e["scenario_1"]),
        (&report.scenario_2, &e["scenario_2"]),
    ] {
        let sc = got.scenario.as_str();
        assert_eq!(sc, want["scenario"].as_str().unwrap());
        let roles = want["roles"].as_array().unwrap();
        assert_eq!(got.roles.len(), roles.len());
        assert_eq!(got.roles.len(), 25, "V-COCO has 25 (action, role) pairs");
        for (g, w) in got.roles.iter().zip(roles) {
            assert_eq!(g.action, w["action"].as_str().unwrap());
            assert_eq!(g.role, w["role"].as_str().unwrap());
            let what = format!("{sc} role AP {}-{}", g.action, g.role);
            max_dev = max_dev.max(same_f32(&what, g.ap, &w["ap"]));
            assert_eq!(g.npos, count(&w["npos"]), "{what}: #pos");
            assert_eq!(g.num_detections, count(&w["num_detections"]), "{what}");
            assert_eq!(g.num_tp, count(&w["num_tp"]), "{what}: tp");
        }
        max_dev = max_dev.max(same_f32(
            &format!("{sc} mean role AP"),
            got.mean_ap,
            &want["mean_ap"],
        ));
        max_dev = max_dev.max(same_f32(
            &format!("{sc} mean role AP (percent)"),
            got.mean_ap_percent,
            &want["mean_ap_percent"],
        ));
    }
    eprintln!("max deviation from vsrl_eval.py: {max_dev:e}");

    // The printout, character for character.
    assert_eq!(
        report.vsrl_eval_printout(),
        e["printed"].as_str().unwrap(),
        "printout differs from vsrl_eval.py's"
    );
}

/// The fixture separates the scenarios: if the evaluator swapped their handling of
/// object-less roles, the comparison above would fail on these entries.
#[test]
fn fixture_separates_the_two_scenarios() {
    let e = expected();
    let s1 = e["scenario_1"]["roles"].as_array().unwrap();
    let s2 = e["scenario_2"]["roles"].as_array().unwrap();
    let differ = s1
        .iter()
        .zip(s2)
        .filter(|(a, b)| a["ap"] != b["ap"])
        .count();
    assert!(
        differ >= 5,
        "only {differ} role APs differ between S1 and S2"
    );
    assert_ne!(e["scenario_1"]["mean_ap"], e["scenario_2"]["mean_ap"]);

    let report = run();
    let got_differ = report
        .scenario_1
        .roles
        .iter()
        .zip(&report.scenario_2.roles)
        .filter(|(a, b)| a.ap != b.ap)
        .count();
    assert_eq!(got_differ, differ);
    // Scenario 2 only accepts more detections than Scenario 1.
    for (a, b) in report.scenario_1.roles.iter().zip(&report.scenario_2.roles) {
        assert!(a.num_tp <= b.num_tp, "{}-{}", a.action, a.role);
    }
}

#[test]
fn report_serialises_and_prints() {
    let report = run();
    let json = serde_json::to_string(&report).unwrap();
    let back: VcocoOfficialReport = serde_json::from_str(&json).unwrap();
    // serde_json's default float parsing may be 1 ulp off; the printed numbers are not.
    assert_eq!(back.vsrl_eval_printout(), report.vsrl_eval_printout());
    assert_eq!(back.summary_table(), report.summary_table());
    assert!(json.contains("\"scenario\":\"scenario_1\""));
    let table = report.summary_table();
    assert!(table.contains("Average Role AP [scenario_2]"), "{table}");
    assert!(table.contains("(25 roles)"), "{table}");
    assert!(table.contains("(26 actions)"), "{table}");
}

#[test]
fn detections_round_trip_and_missing_keys() {
    let d = dir();
    let dets = VcocoDetections::from_file(d.join("detections.json")).unwrap();
    let text = dets.to_json_string();
    let back = VcocoDetections::from_json_str(&text, "round-trip.json").unwrap();
    assert_eq!(back.to_json_string(), text);

    let gt = VcocoGroundTruth::from_files(
        d.join("vsrl_synthetic.json"),
        d.join("instances_synthetic.json"),
        None,
    )
    .unwrap();
    assert_eq!(gt.images().len(), 10);
    let mut broken = dets.clone();
    let first_in_split = broken
        .detections
        .iter()
        .position(|det| gt.images().iter().any(|im| im.image_id == det.image_id))
        .unwrap();
    broken.detections[first_in_split].roles.remove("eat_instr");
    let err = evaluate(&gt, &broken, 0.5).unwrap_err().to_string();
    assert!(
        err.contains(&format!("detection {first_in_split}")) && err.contains("`eat_instr`"),
        "{err}"
    );
}
