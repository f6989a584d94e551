//! The official V-COCO evaluation: agent AP and role AP (Scenario 1 and Scenario 2) exactly as
//! s-gupta/v-coco's `vsrl_eval.py` (`VCOCOeval._do_eval`) computes them.
//!
//! ```no_run
//! use std::path::Path;
//! use hoiclip::eval::vcoco::official::{VcocoDetections, VcocoGroundTruth, evaluate};
//!
//! # fn main() -> hoiclip::Result<()> {
//! let gt = VcocoGroundTruth::from_files(
//!     "data/vcoco/vcoco_test.json",
//!     "data/instances_vcoco_all_2014.json",
//!     Some(Path::new("data/splits/vcoco_test.ids")),
//! )?;
//! let dets = VcocoDetections::from_file("vcoco_detections.json")?;
//! let report = evaluate(&gt, &dets, 0.5)?;
//! println!("{}", report.summary_table());
//! # Ok(())
//! # }
//! ```
//!
//! # The protocol
//!
//! For every image of the split, the ground-truth persons are matched by the detections'
//! `person_box`, each detection to the person of highest IoU (`+1` inclusive-pixel boxes;
//! the first on ties). A detection matched to a person V-COCO does not annotate is skipped.
//!
//! * **Agent AP** (every action, agent-only ones included): detections ranked by
//!   `<action>_agent` (NaN scores dropped); a true positive needs the action on the matched
//!   person, IoU >= the threshold and the person not yet taken by a higher-scored detection
//!   of the same image (each person is matched once per action).
//! * **Role AP** (each role of the actions that have one; agent-only actions have none):
//!   detections ranked by the score in `<action>_<role>` (NaN dropped); a true positive
//!   needs, in addition, the role box to overlap the person's role object with IoU >= the
//!   threshold. When the person does the action but that role has no object
//!   (`role_object_id` 0):
//!   * Scenario 1: correct only if the predicted role box is empty (all NaN or all zero);
//!   * Scenario 2: correct whatever the role box.
//! * AP is the all-point VOC AP (`voc_ap`), not the 11-point one; `#pos` is the number of
//!   annotated persons doing the action.
//! * Means, as printed: `Average Agent AP` = sum of the agent APs / number of actions (all
//!   26 in V-COCO); `Average Role [scenario_x] AP` = `np.nanmean` over the (action, role)
//!   entries (25 in V-COCO: two-role actions `hit`, `eat`, `cut` count twice; `point` is
//!   included).
//!
//! All arithmetic follows numpy's float32 / float64 widths (see `official_numeric.rs`), so
//! results equal `vsrl_eval.py`'s bit for bit (checked by `tests/eval_vcoco_official.rs`).
//! Where `vsrl_eval.py` crashes this module still answers: an action without positives has
//! no AP (`None`), a list without detections has AP 0, and a detection on an image without
//! ground-truth persons is a false positive. Equal scores are ranked latest-first (numpy's
//! order there depends on its sort implementation).

#[path = "official_annotations.rs"]
mod annotations;
#[path = "official_detections.rs"]
mod detections;
#[path = "official_json.rs"]
mod json;
#[path = "official_numeric.rs"]
mod numeric;
#[path = "official_report.rs"]
mod report;

use std::collections::HashMap;

pub use annotations::{
    CocoAnnotation, CocoCategory, CocoImage, CocoInstances, VcocoAction, VcocoGroundTruth,
    VcocoGtImage, VcocoGtPerson, VsrlAction, VsrlAnnotations, parse_split_ids, read_split_ids,
};
pub use detections::{VcocoDetection, VcocoDetections, agent_key, role_key};
pub use report::{AgentAp, RoleAp, Scenario, ScenarioReport, VcocoOfficialReport};

use crate::error::{HoiclipError, Result};

/// The official IoU threshold (`ovr_thresh=0.5`).
pub const VCOCO_IOU_THRESHOLD: f64 = 0.5;

/// One image's detections as `_collect_detections_for_image` lays them out (float32).
struct ImageDetections {
    person: Vec<[f32; 4]>,
    /// Per detection, per action: the agent score.
    agent: Vec<Vec<f32>>,
    /// Per detection, per action, per role slot: `[x1, y1, x2, y2, score]` (zeros for an
    /// unused slot).
    roles: Vec<Vec<[[f32; 5]; 2]>>,
}

/// Scores `detections` against `gt` with IoU threshold `ovr_thresh` (use
/// [`VCOCO_IOU_THRESHOLD`]).
///
/// # Errors
///
/// [`HoiclipError::Config`] when a detection of a split image lacks an `<action>_agent` or
/// `<action>_<role>` entry of an action / role of the ground truth (where `vsrl_eval.py`
/// raises `KeyError`); the message names the detection and the key.
pub fn evaluate(
    gt: &VcocoGroundTruth,
    detections: &VcocoDetections,
    ovr_thresh: f64,
) -> Result<VcocoOfficialReport> {
    let actions = gt.actions();
    let images = gt.images();
    let index: HashMap<i64, usize> = images
        .iter()
        .enumerate()
        .map(|(i, im)| (im.image_id, i))
        .collect();
    let mut per_image: Vec<ImageDetections> = images
        .iter()
        .map(|_| ImageDetections {
            person: Vec::new(),
            agent: Vec::new(),
            roles: Vec::new(),
        })
        .collect();
    let mut outside = 0usize;
    for (k, det) in detections.detections.iter().enumerate() {
        let Some(&i) = index.get(&det.image_id) else {
            outside += 1;
            continue;
        };
        let missing = |key: String| {
            HoiclipError::Config(format!(
                "detection {k} (image {}): no `{key}` entry; every detection needs \
                 `<action>_agent` and `<action>_<role>` for each action and role of the \
                 annotations",
                det.image_id
            ))
        };
        let mut agent = Vec::with_capacity(actions.len());
        let mut roles = Vec::with_capacity(actions.len());
        for a in actions {
            let key = agent_key(&a.name);
            let s = det
                .agent_scores
                .get(&key)
                .copied()
                .ok_or_else(|| missing(key))?;
            agent.push(s as f32);
            let mut slots = [[0.0f32; 5]; 2];
            for (slot, role) in a.roles.iter().enumerate().take(2) {
                let key = role_key(&a.name, role);
                let r = det.roles.get(&key).ok_or_else(|| missing(key))?;
                slots[slot] = r.map(|x| x as f32);
            }
            roles.push(slots);
        }
        let d = &mut per_image[i];
        d.person.push(det.person_box.map(|x| x as f32));
        d.agent.push(agent);
        d.roles.push(roles);
    }

    let thresh32 = ovr_thresh as f32;
    let npos: Vec<usize> = (0..actions.len())
        .map(|aid| {
            images
                .iter()
                .flat_map(|im| &im.persons)
                .filter(|p| p.does(aid))
                .count()
        })
        .collect();
    let gt_boxes: Vec<Vec<[f32; 4]>> = images
        .iter()
        .map(|im| im.persons.iter().map(|p| p.bbox).collect())
        .collect();

    // Agent AP.
    let mut agent = Vec::with_capacity(actions.len());
    for (aid, a) in actions.iter().enumerate() {
        let mut list = Ranked::default();
        for (im, (dets, boxes)) in images.iter().zip(per_image.iter().zip(&gt_boxes)) {
            let scores: Vec<f32> = dets.agent.iter().map(|s| s[aid]).collect();
            list.rank_image(&scores, &dets.person, boxes, |_, jmax, ovmax| {
                let person = &im.persons[jmax];
                person.actions.as_ref()?;
                Some(person.does(aid) && ovmax >= thresh32)
            });
        }
        agent.push(list.agent_ap(a, npos[aid]));
    }
    let agent_aps: Vec<f32> = agent.iter().map(|a| ap32(a.ap)).collect();
    let agent_sum = numeric::nan_sum(&agent_aps);

    let scenario = |sc: Scenario| {
        let mut roles = Vec::new();
        // `role_ap`: num_actions x 2, NaN where no role AP is computed.
        let mut table = vec![f32::NAN; 2 * actions.len()];
        for (aid, a) in actions.iter().enumerate() {
            for (slot, role) in a.roles.iter().enumerate().take(2) {
                let mut list = Ranked::default();
                for (im, (dets, boxes)) in images.iter().zip(per_image.iter().zip(&gt_boxes)) {
                    let scores: Vec<f32> = dets.roles.iter().map(|r| r[aid][slot][4]).collect();
                    list.rank_image(&scores, &dets.person, boxes, |k, jmax, ovmax| {
                        let person = &im.persons[jmax];
                        person.actions.as_ref()?;
                        let r = &dets.roles[k][aid][slot];
                        let pred = [r[0], r[1], r[2], r[3]];
                        let role_ok = match person.role_box(aid, slot) {
                            None => {
                                let ov_role = match sc {
                                    Scenario::One => {
                                        let empty = pred.iter().all(|&x| x == 0.0)
                                            || pred.iter().all(|x| x.is_nan());
                                        if empty { 1.0 } else { 0.0 }
                                    }
                                    Scenario::Two => 1.0,
                                };
                                ov_role >= ovr_thresh
                            }
                            Some(g) => numeric::overlap(&g, &pred) >= thresh32,
                        };
                        Some(person.does(aid) && ovmax >= thresh32 && role_ok)
                    });
                }
                let entry = list.role_ap(a, role, npos[aid]);
                table[2 * aid + slot] = ap32(entry.ap);
                roles.push(entry);
            }
        }
        let mean = numeric::nan_mean(&table);
        let defined = |v: f32| (!v.is_nan()).then_some(f64::from(v));
        ScenarioReport {
            scenario: sc,
            roles,
            mean_ap: defined(mean),
            mean_ap_percent: defined(mean * 100.0f32),
        }
    };

    Ok(VcocoOfficialReport {
        protocol: "vcoco-official".to_string(),
        ovr_thresh,
        num_images: images.len(),
        num_detections: detections.detections.len() - outside,
        num_detections_outside_split: outside,
        mean_agent_ap: f64::from(agent_sum) / actions.len() as f64,
        mean_agent_ap_percent: f64::from(agent_sum * 100.0f32 / actions.len() as f32),
        agent,
        scenario_1: scenario(Scenario::One),
        scenario_2: scenario(Scenario::Two),
    })
}

fn ap32(ap: Option<f64>) -> f32 {
    ap.map_or(f32::NAN, |v| v as f32)
}

/// The ranked list of one action (or action role) over all images: scores and outcomes.
#[derive(Default)]
struct Ranked {
    scores: Vec<f32>,
    tp: Vec<bool>,
}

impl Ranked {
    /// Adds one image's detections: those with a score, by descending score, each matched
    /// to the ground-truth person of highest IoU. `ok(k, jmax, ovmax)` says whether
    /// detection `k` is right for person `jmax` (`None`: skip it, the person is not
    /// annotated); a right detection is a true positive if the person is not covered yet
    /// (then it is). Without ground-truth persons every detection is a false positive.
    fn rank_image(
        &mut self,
        scores: &[f32],
        det_boxes: &[[f32; 4]],
        gt_boxes: &[[f32; 4]],
        mut ok: impl FnMut(usize, usize, f32) -> Option<bool>,
    ) {
        let valid: Vec<usize> = (0..scores.len()).filter(|&k| !scores[k].is_nan()).collect();
        let valid_scores: Vec<f32> = valid.iter().map(|&k| scores[k]).collect();
        let mut covered = vec![false; gt_boxes.len()];
        for j in numeric::descending_order(&valid_scores) {
            let k = valid[j];
            let tp = match numeric::best_match(gt_boxes, &det_boxes[k]) {
                None => false,
                Some((jmax, ovmax)) => match ok(k, jmax, ovmax) {
                    None => continue,
                    Some(true) if !covered[jmax] => {
                        covered[jmax] = true;
                        true
                    }
                    Some(_) => false,
                },
            };
            self.scores.push(valid_scores[j]);
            self.tp.push(tp);
        }
    }

    fn agent_ap(self, action: &VcocoAction, npos: usize) -> AgentAp {
        AgentAp {
            action: action.name.clone(),
            ap: numeric::average_precision(&self.scores, &self.tp, npos).map(f64::from),
            npos,
            num_detections: self.scores.len(),
            num_tp: self.tp.iter().filter(|&&t| t).count(),
        }
    }

    fn role_ap(self, action: &VcocoAction, role: &str, npos: usize) -> RoleAp {
        RoleAp {
            action: action.name.clone(),
            role: role.to_string(),
            ap: numeric::average_precision(&self.scores, &self.tp, npos).map(f64::from),
            npos,
            num_detections: self.scores.len(),
            num_tp: self.tp.iter().filter(|&&t| t).count(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Image 7: persons 11 (holds object 21, stands) and 12 (holds nothing); image 8: only
    /// an ignored person, so no ground-truth person.
    fn ground_truth() -> VcocoGroundTruth {
        let vsrl = json!([
            {"action_name": "hold", "role_name": ["agent", "obj"], "image_id": [7, 7, 8],
             "ann_id": [11, 12, 31], "label": [1, 0, 0], "role_object_id": [11, 12, 31, 21, 0, 0]},
            {"action_name": "stand", "role_name": ["agent"], "image_id": [7, 7, 8],
             "ann_id": [11, 12, 31], "label": [0, 0, 0], "role_object_id": [11, 12, 31]}
        ]);
        let coco = json!({
            "images": [{"id": 7, "width": 200, "height": 200}, {"id": 8, "width": 50, "height": 50}],
            "annotations": [
                {"id": 11, "image_id": 7, "category_id": 1, "bbox": [0, 0, 50, 100], "area": 1.0, "iscrowd": 0},
                {"id": 12, "image_id": 7, "category_id": 1, "bbox": [100, 0, 50, 100], "area": 1.0, "iscrowd": 0},
                {"id": 21, "image_id": 7, "category_id": 5, "bbox": [0, 150, 20, 20], "area": 1.0, "iscrowd": 0},
                {"id": 31, "image_id": 8, "category_id": 1, "bbox": [0, 0, 20, 20], "area": 1.0, "iscrowd": 0, "ignore": 1}],
            "categories": [{"id": 1, "name": "person"}, {"id": 5, "name": "airplane"}]});
        let v = VsrlAnnotations::from_json_str(&vsrl.to_string(), "v.json").unwrap();
        let c = CocoInstances::from_json_str(&coco.to_string(), "c.json").unwrap();
        VcocoGroundTruth::new(&v, &c, Some(&[7, 8])).unwrap()
    }

    fn det(
        image: i64,
        person: [f64; 4],
        hold: f64,
        obj: Option<[f64; 4]>,
        s: f64,
    ) -> VcocoDetection {
        let mut d = VcocoDetection::new(image, person);
        d.set_agent_score("hold", hold);
        d.set_agent_score("stand", 0.5);
        d.set_role("hold", "obj", obj, s);
        d
    }

    #[test]
    fn edge_cases_where_vsrl_eval_would_raise() {
        let gt = ground_truth();
        let p11 = [0.0, 0.0, 49.0, 99.0];
        let dets = VcocoDetections {
            detections: vec![
                det(7, p11, 0.9, Some([0.0, 150.0, 19.0, 169.0]), 0.9),
                // The same person again: a duplicate, false positive.
                det(7, p11, 0.8, None, 0.8),
                // On the image without ground-truth persons: false positive.
                det(8, [0.0, 0.0, 9.0, 9.0], 0.95, None, 0.95),
                // Outside the split: ignored.
                det(9, p11, 0.99, None, 0.99),
            ],
        };
        let r = evaluate(&gt, &dets, VCOCO_IOU_THRESHOLD).unwrap();
        assert_eq!((r.num_detections, r.num_detections_outside_split), (3, 1));
        // hold: FP (0.95), TP (0.9), FP (0.8): precision 1/2 at recall 1.
        assert_eq!(r.agent[0].ap, Some(0.5));
        assert_eq!((r.agent[0].num_detections, r.agent[0].num_tp), (3, 1));
        // stand has no positive: no AP; the agent mean still divides by 2 actions.
        assert_eq!(r.agent[1].ap, None);
        assert_eq!(r.mean_agent_ap, 0.25);
        assert_eq!(r.scenario_1.roles.len(), 1);
        assert_eq!(r.scenario_1.roles[0].ap, Some(0.5));
        assert_eq!(r.scenario_1.mean_ap, Some(0.5));
        assert!(
            r.vsrl_eval_printout()
                .contains("               stand: AP = nan (#pos = 0)")
        );
    }

    #[test]
    fn scenarios_differ_on_object_less_roles() {
        // Person 12 holds, with no role object.
        let p12 = [100.0, 0.0, 149.0, 99.0];
        let v = json!([
            {"action_name": "hold", "role_name": ["agent", "obj"], "image_id": [7, 7],
             "ann_id": [11, 12], "label": [0, 1], "role_object_id": [11, 12, 0, 0]}
        ]);
        let coco = json!({
            "images": [{"id": 7, "width": 200, "height": 200}],
            "annotations": [
                {"id": 11, "image_id": 7, "category_id": 1, "bbox": [0, 0, 50, 100], "area": 1.0, "iscrowd": 0},
                {"id": 12, "image_id": 7, "category_id": 1, "bbox": [100, 0, 50, 100], "area": 1.0, "iscrowd": 0}],
            "categories": [{"id": 1, "name": "person"}]});
        let v = VsrlAnnotations::from_json_str(&v.to_string(), "v.json").unwrap();
        let c = CocoInstances::from_json_str(&coco.to_string(), "c.json").unwrap();
        let gt = VcocoGroundTruth::new(&v, &c, None).unwrap();
        let run = |obj: Option<[f64; 4]>| {
            let mut d = VcocoDetection::new(7, p12);
            d.set_agent_score("hold", 0.9);
            d.set_role("hold", "obj", obj, 0.9);
            let dets = VcocoDetections {
                detections: vec![d],
            };
            let r = evaluate(&gt, &dets, VCOCO_IOU_THRESHOLD).unwrap();
            (r.scenario_1.roles[0].ap, r.scenario_2.roles[0].ap)
        };
        assert_eq!(run(None), (Some(1.0), Some(1.0)));
        assert_eq!(run(Some([0.0; 4])), (Some(1.0), Some(1.0)));
        assert_eq!(run(Some([0.0, 0.0, 10.0, 10.0])), (Some(0.0), Some(1.0)));
        assert_eq!(
            run(Some([f64::NAN, 0.0, 10.0, 10.0])),
            (Some(0.0), Some(1.0))
        );
    }
}
