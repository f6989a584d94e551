//! The official HICO-DET protocol: ho-rcnn's `evaluation/eval_one.m` and
//! `evaluation/VOCevaldet_bboxpair.m`, Default and Known Object modes.
//!
//! Per HOI class (all 600, `parfor i = 1:num_action`):
//!
//! 1. Collect the class's detections over the test set (`det_id`, `det_bb`, `det_conf`), add
//!    the detection shift to every coordinate (`det_bb = det_bb + 1`: the MATLAB code treats
//!    detections as 0-based and the ground truth as 1-based).
//! 2. Known Object (`eval_mode = 'ko'`): keep only detections in images whose ground truth
//!    holds an interaction with the class's object.
//! 3. Sort by decreasing score (`sort(-det_conf)`, stable: ties keep image order, then file
//!    order).
//! 4. Each detection takes the ground-truth pair of its image and class with the largest
//!    `min(IoU(human), IoU(object))` ([`super::iou::iou_matlab`], `+1` pixel convention);
//!    it is a true positive when that overlap is `>= 0.5` and the pair is not yet matched,
//!    otherwise a false positive (a second detection of a matched pair is a false positive
//!    even when another unmatched pair overlaps it less).
//! 5. `rec = tp / npos`, `prec = tp / (tp + fp)`, 11-point AP on the points of the
//!    `for t = 0:0.1:1` loop as Octave runs it, `k * 0.1`
//!    ([`super::ap::MATLAB_LOOP_RECALL_POINTS`]); the class's recall is `rec(end)`.
//!
//! The means are over all 600 classes (`mean(AP)`); a class without test ground truth scores
//! AP 0. Rare classes are those with fewer than 10 training instances.

use std::collections::HashMap;

use super::annotations::HicoAnnotations;
use super::ap::{MATLAB_LOOP_RECALL_POINTS, eleven_point_ap};
use super::ids::{NUM_HOIS, hoi_name};
use super::iou::iou_matlab;
use super::predictions::Predictions;
use super::report::{ClassResult, EvalReport};
use super::split::{RareSplit, ZeroShotSplit};
use crate::labels::hico::HICO_HOIS;

/// Default or Known Object setting (`eval_mode = 'def' | 'ko'` in `eval_one.m`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OfficialMode {
    /// Every test image counts for every class.
    #[default]
    Default,
    /// For each class, only the images whose ground truth contains the class's object.
    KnownObject,
}

/// Options of the official protocol; [`Default`] is `eval_one.m` as published.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OfficialOptions {
    /// Default or Known Object.
    pub mode: OfficialMode,
    /// Added to every detection coordinate before matching (`det_bb + 1` in `eval_one.m`:
    /// 1.0). The JSON ground truth is used as written; see `docs/evaluation.md` on the
    /// coordinate origin.
    pub detection_shift: f64,
    /// Keep only the best this-many detections per class before evaluating (HOICLIP's
    /// `tools/covert_annot_for_official_eval.py` keeps 19999); `None` keeps all.
    pub max_detections_per_class: Option<usize>,
    /// Overlap a true positive needs (`min_overlap = 0.5`).
    pub min_overlap: f64,
}

impl Default for OfficialOptions {
    fn default() -> Self {
        Self {
            mode: OfficialMode::Default,
            detection_shift: 1.0,
            max_detections_per_class: None,
            min_overlap: 0.5,
        }
    }
}

impl OfficialOptions {
    /// The published options with the given mode.
    pub fn with_mode(mode: OfficialMode) -> Self {
        Self {
            mode,
            ..Self::default()
        }
    }
}

struct Det {
    image: u32,
    boxes: [[f64; 4]; 2],
    score: f64,
}

/// Descending score, NaN last (MATLAB's `sort(-det_conf)` puts NaN at the end).
fn by_score_desc(a: f64, b: f64) -> std::cmp::Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => std::cmp::Ordering::Equal,
        (true, false) => std::cmp::Ordering::Greater,
        (false, true) => std::cmp::Ordering::Less,
        (false, false) => b.partial_cmp(&a).unwrap_or(std::cmp::Ordering::Equal),
    }
}

pub(crate) fn evaluate(
    ann: &HicoAnnotations,
    preds: &Predictions,
    opts: &OfficialOptions,
    rare: &RareSplit,
    zero_shot: Option<ZeroShotSplit>,
) -> EvalReport {
    let images = ann.images();
    // Ground truth: (class, image) -> pairs [human box, object box].
    let mut gt: HashMap<(u16, u32), Vec<[[f64; 4]; 2]>> = HashMap::new();
    let mut npos = vec![0usize; NUM_HOIS];
    // Objects that are the object of some ground-truth interaction, per image (80 bits).
    let mut objects_present = vec![0u128; images.len()];
    for (i, img) in images.iter().enumerate() {
        for h in &img.hois {
            let (Some(sb), Some(ob)) = (img.boxes.get(h.subject), img.boxes.get(h.object)) else {
                continue;
            };
            gt.entry((h.hoi as u16, i as u32))
                .or_default()
                .push([sb.bbox, ob.bbox]);
            npos[h.hoi] += 1;
            objects_present[i] |= 1u128 << ob.object;
        }
    }

    // Detections per class, in image order then file order.
    let mut dets: Vec<Vec<Det>> = (0..NUM_HOIS).map(|_| Vec::new()).collect();
    let mut unknown = Vec::new();
    let mut with_preds = 0usize;
    let mut num_predictions = 0usize;
    let mut per_image: Vec<Option<&super::predictions::ImagePredictions>> =
        vec![None; images.len()];
    for p in preds.images() {
        match ann.image_index(&p.filename) {
            Some(i) => per_image[i] = Some(p),
            None => unknown.push(p.filename.clone()),
        }
    }
    let shift = opts.detection_shift;
    for (i, p) in per_image.iter().enumerate() {
        let Some(p) = p else { continue };
        with_preds += 1;
        num_predictions += p.hoi_prediction.len();
        for h in &p.hoi_prediction {
            let (Some(sb), Some(ob)) = (
                p.predictions.get(h.subject_id),
                p.predictions.get(h.object_id),
            ) else {
                continue;
            };
            let Some(list) = dets.get_mut(h.category_id) else {
                continue;
            };
            list.push(Det {
                image: i as u32,
                boxes: [
                    sb.bbox.map(|x| f64::from(x) + shift),
                    ob.bbox.map(|x| f64::from(x) + shift),
                ],
                score: f64::from(h.score),
            });
        }
    }

    let unseen = zero_shot.map(|z| z.unseen_mask());
    let mut classes = Vec::with_capacity(NUM_HOIS);
    for (c, mut list) in dets.into_iter().enumerate() {
        list.sort_by(|a, b| by_score_desc(a.score, b.score));
        if let Some(cap) = opts.max_detections_per_class {
            list.truncate(cap);
        }
        let object = HICO_HOIS[c].object as usize;
        if opts.mode == OfficialMode::KnownObject {
            list.retain(|d| objects_present[d.image as usize] & (1u128 << object) != 0);
        }
        let mut matched: HashMap<u32, Vec<bool>> = HashMap::new();
        let mut tp = Vec::with_capacity(list.len());
        for d in &list {
            let pairs = gt.get(&(c as u16, d.image)).map_or(&[][..], Vec::as_slice);
            let mut ov_max = f64::NEG_INFINITY;
            let mut j_max = 0usize;
            for (j, g) in pairs.iter().enumerate() {
                let ov = iou_matlab(&d.boxes[0], &g[0]).min(iou_matlab(&d.boxes[1], &g[1]));
                if ov > ov_max {
                    ov_max = ov;
                    j_max = j;
                }
            }
            let is_tp = if ov_max >= opts.min_overlap {
                let flags = matched
                    .entry(d.image)
                    .or_insert_with(|| vec![false; pairs.len()]);
                if flags[j_max] {
                    false
                } else {
                    flags[j_max] = true;
                    true
                }
            } else {
                false
            };
            tp.push(is_tp);
        }
        let r = eleven_point_ap(&tp, npos[c], &MATLAB_LOOP_RECALL_POINTS);
        classes.push(ClassResult {
            hoi_id: c,
            name: hoi_name(c),
            verb_id: HICO_HOIS[c].verb as usize,
            object_id: object,
            ap: r.ap,
            recall: r.recall,
            num_gt: npos[c],
            num_detections: list.len(),
            num_tp: r.true_positives,
            rare: rare.is_rare(c),
            unseen: unseen.as_ref().map(|m| m[c]),
            in_mean: true,
        });
    }
    let summary = EvalReport::summarise(&classes);
    EvalReport {
        protocol: match opts.mode {
            OfficialMode::Default => "official-default".into(),
            OfficialMode::KnownObject => "official-known-object".into(),
        },
        rare_split: rare_split_name(rare),
        zero_shot: zero_shot.map(|z| z.name()),
        num_images: images.len(),
        num_images_with_predictions: with_preds,
        unknown_prediction_images: unknown,
        num_gt: ann.num_hois(),
        num_predictions,
        summary,
        classes,
    }
}

pub(crate) fn rare_split_name(rare: &RareSplit) -> String {
    if rare.is_counted() {
        "training-counts".into()
    } else {
        "known".into()
    }
}
