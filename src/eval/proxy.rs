//! The HOICLIP authors' Python evaluator, `datasets/datasets_gen/hico_eval_triplet.py`
//! (`HICOEvaluator`), so that numbers can be compared with their training logs.
//!
//! Per image, in annotation order:
//!
//! 1. Keep the `max_hois` (100) best interactions by score (the reference's top-100 over
//!    pairs × classes; on an already selected list this is a stable sort and a cut, via
//!    [`crate::postprocess::top_k_indices`]).
//! 2. Optionally, the pair-wise triplet NMS per class (`use_nms_filter`, `triplet_nms_filter`,
//!    [`crate::postprocess::triplet_nms()`]).
//! 3. `compute_iou_mat`: every predicted box is matched to every ground-truth box with
//!    `IoU >= 0.5` ([`super::iou::iou_python`]; box classes are ignored).
//! 4. `compute_fptp`: interactions sorted by score (stable); one is a candidate for a
//!    ground-truth interaction of the same class whose subject and object boxes its subject
//!    and object boxes matched; of the candidates it takes the one with the largest
//!    `min(subject IoU, object IoU)` (first on ties). It is a true positive when that
//!    ground-truth interaction is not yet taken (`vis_tag`, indexed through
//!    `gt_hois.index(max_gt_hoi)`, i.e. the first entry equal to it — which is the chosen
//!    one anyway, since ties go to the first), otherwise a false positive. Interactions of
//!    classes absent from the whole test ground truth are not recorded at all; an image without predicted boxes is skipped, and
//!    one without ground-truth boxes turns all its interactions into false positives.
//! 5. `compute_map`: for every class present in the test ground truth (`gt_triplets`), sort
//!    its records by score (stable here; numpy's quicksort gives no tie order), `rec = tp /
//!    sum_gts`, 11-point AP on numpy's `np.arange(0, 1.1, 0.1)`
//!    ([`super::ap::NUMPY_RECALL_POINTS`]), recall = `max(rec)`. Full = mean over those
//!    classes; Rare / Non-rare (or Unseen / Seen) means over the classes of each group —
//!    *excluding classes without any recorded detection*: for those the reference checks the
//!    class index against a list of `(0, object, verb)` tuples, which never matches, so they
//!    count in Full (AP 0) but in no group.

use super::annotations::HicoAnnotations;
use super::ap::{NUMPY_RECALL_POINTS, eleven_point_ap};
use super::ids::{NUM_HOIS, hoi_name};
use super::iou::iou_python;
use super::official::rare_split_name;
use super::predictions::{ImagePredictions, PredHoi, Predictions};
use super::report::{ClassResult, EvalReport, GroupMean, Summary};
use super::split::{RareSplit, ZeroShotSplit};
use crate::labels::hico::HICO_HOIS;
use crate::postprocess::{Triplet, TripletNmsParams, top_k_indices, triplet_nms};

/// Options of the proxy evaluator; [`Default`] is the reference's defaults without NMS.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProxyOptions {
    /// Interactions kept per image (`max_hois = 100`).
    pub max_hois: usize,
    /// Pair-wise triplet NMS (`--use_nms_filter`; the HOICLIP scripts pass it with
    /// `thres_nms 0.7`, `nms_alpha 1`, `nms_beta 0.5`, [`TripletNmsParams::default`]).
    pub nms: Option<TripletNmsParams>,
    /// IoU a box match needs (`overlap_iou = 0.5`).
    pub overlap_iou: f64,
}

impl Default for ProxyOptions {
    fn default() -> Self {
        Self {
            max_hois: 100,
            nms: None,
            overlap_iou: 0.5,
        }
    }
}

impl ProxyOptions {
    /// The setting of the authors' HICO-DET scripts: top 100 and triplet NMS with the
    /// default parameters.
    pub fn reference_scripts() -> Self {
        Self {
            nms: Some(TripletNmsParams::default()),
            ..Self::default()
        }
    }
}

/// Steps 1–2: the interactions the reference keeps for one image, in its order.
pub(crate) fn select(p: &ImagePredictions, opts: &ProxyOptions) -> Vec<PredHoi> {
    let scores: Vec<f32> = p.hoi_prediction.iter().map(|h| h.score).collect();
    let top: Vec<PredHoi> = top_k_indices(&scores, opts.max_hois)
        .into_iter()
        .map(|i| p.hoi_prediction[i])
        .collect();
    let Some(params) = opts.nms else {
        return top;
    };
    let triplets: Vec<Triplet> = top
        .iter()
        .filter_map(|h| {
            Some(Triplet {
                subject: p.predictions.get(h.subject_id)?.bbox,
                object: p.predictions.get(h.object_id)?.bbox,
                hoi: h.category_id,
                score: h.score,
            })
        })
        .collect();
    if triplets.len() != top.len() {
        return top;
    }
    triplet_nms(&triplets, &params)
        .into_iter()
        .map(|i| top[i])
        .collect()
}

pub(crate) fn evaluate(
    ann: &HicoAnnotations,
    preds: &Predictions,
    opts: &ProxyOptions,
    rare: &RareSplit,
    zero_shot: Option<ZeroShotSplit>,
) -> EvalReport {
    let images = ann.images();
    let mut sum_gts = vec![0usize; NUM_HOIS];
    for img in images {
        for h in &img.hois {
            sum_gts[h.hoi] += 1;
        }
    }
    let in_gt: Vec<bool> = sum_gts.iter().map(|&n| n > 0).collect();
    // Per class: (score, is_tp) records in evaluation order.
    let mut records: Vec<Vec<(f32, bool)>> = (0..NUM_HOIS).map(|_| Vec::new()).collect();

    let mut unknown = Vec::new();
    let mut per_image: Vec<Option<&ImagePredictions>> = vec![None; images.len()];
    for p in preds.images() {
        match ann.image_index(&p.filename) {
            Some(i) => per_image[i] = Some(p),
            None => unknown.push(p.filename.clone()),
        }
    }
    let (mut with_preds, mut num_predictions) = (0usize, 0usize);
    for (img, p) in images.iter().zip(&per_image) {
        let Some(p) = p else { continue };
        with_preds += 1;
        num_predictions += p.hoi_prediction.len();
        if p.predictions.is_empty() {
            continue;
        }
        let mut hois = select(p, opts);
        if img.boxes.is_empty() {
            for h in &hois {
                if in_gt[h.category_id] {
                    records[h.category_id].push((h.score, false));
                }
            }
            continue;
        }
        // compute_iou_mat: for each predicted box, the matched ground-truth boxes (in
        // ground-truth order) and their IoUs.
        let pred_boxes: Vec<[f64; 4]> = p
            .predictions
            .iter()
            .map(|b| b.bbox.map(f64::from))
            .collect();
        let matches: Vec<Vec<(usize, f64)>> = pred_boxes
            .iter()
            .map(|pb| {
                img.boxes
                    .iter()
                    .enumerate()
                    .filter_map(|(g, gb)| {
                        let iou = iou_python(&gb.bbox, pb);
                        (iou >= opts.overlap_iou).then_some((g, iou))
                    })
                    .collect()
            })
            .collect();
        // compute_fptp.
        let gt_hois = &img.hois;
        // vis_tag is indexed by the FIRST ground-truth entry equal to the chosen one.
        let first_equal: Vec<usize> = gt_hois
            .iter()
            .map(|g| {
                gt_hois
                    .iter()
                    .position(|o| o.subject == g.subject && o.object == g.object && o.hoi == g.hoi)
                    .unwrap_or(0)
            })
            .collect();
        let mut vis_tag = vec![false; gt_hois.len()];
        hois.sort_by(|a, b| {
            b.score
                .partial_cmp(&a.score)
                .unwrap_or(std::cmp::Ordering::Equal)
        });
        for h in &hois {
            let (Some(sub_m), Some(obj_m)) = (matches.get(h.subject_id), matches.get(h.object_id))
            else {
                continue;
            };
            let mut best: Option<usize> = None;
            let mut max_overlap = 0.0f64;
            if !sub_m.is_empty() && !obj_m.is_empty() {
                for (g, gh) in gt_hois.iter().enumerate() {
                    if gh.hoi != h.category_id {
                        continue;
                    }
                    let s = sub_m.iter().find(|(b, _)| *b == gh.subject);
                    let o = obj_m.iter().find(|(b, _)| *b == gh.object);
                    if let (Some(&(_, so)), Some(&(_, oo))) = (s, o) {
                        let m = so.min(oo);
                        if m > max_overlap {
                            max_overlap = m;
                            best = Some(g);
                        }
                    }
                }
            }
            if !in_gt[h.category_id] {
                continue;
            }
            let is_tp = match best {
                Some(g) if !vis_tag[first_equal[g]] => {
                    vis_tag[first_equal[g]] = true;
                    true
                }
                _ => false,
            };
            records[h.category_id].push((h.score, is_tp));
        }
    }

    let unseen = zero_shot.map(|z| z.unseen_mask());
    let mut classes = Vec::with_capacity(NUM_HOIS);
    for (c, mut recs) in records.into_iter().enumerate() {
        // Stable descending sort; NaN cannot come from JSON.
        recs.sort_by(|a, b| b.0.partial_cmp(&a.0).unwrap_or(std::cmp::Ordering::Equal));
        let tp: Vec<bool> = recs.iter().map(|r| r.1).collect();
        let r = eleven_point_ap(&tp, sum_gts[c], &NUMPY_RECALL_POINTS);
        let group = rare.proxy_group(c);
        let in_mean = in_gt[c];
        classes.push(ClassResult {
            hoi_id: c,
            name: hoi_name(c),
            verb_id: HICO_HOIS[c].verb as usize,
            object_id: HICO_HOIS[c].object as usize,
            ap: r.ap,
            recall: r.recall,
            num_gt: sum_gts[c],
            num_detections: tp.len(),
            num_tp: r.true_positives,
            rare: group == Some(true),
            unseen: unseen.as_ref().map(|m| m[c]),
            in_mean,
        });
    }
    // Groups as `compute_map` forms them. A class counts in Full only when it is in neither
    // training group (see `RareSplit::proxy_group`), or when it has no recorded detection:
    // for those the reference tests `triplet in self.rare_triplets` with the class *index*
    // against a list of `(0, object, verb)` tuples, which never holds.
    let member = |c: &&ClassResult| {
        c.in_mean && c.num_detections > 0 && rare.proxy_group(c.hoi_id).is_some()
    };
    let summary = Summary {
        full: GroupMean::over(classes.iter().filter(|c| c.in_mean)),
        rare: GroupMean::over(classes.iter().filter(member).filter(|c| c.rare)),
        non_rare: GroupMean::over(classes.iter().filter(member).filter(|c| !c.rare)),
        unseen: zero_shot.map(|_| {
            GroupMean::over(
                classes
                    .iter()
                    .filter(member)
                    .filter(|c| c.unseen == Some(true)),
            )
        }),
        seen: zero_shot.map(|_| {
            GroupMean::over(
                classes
                    .iter()
                    .filter(member)
                    .filter(|c| c.unseen == Some(false)),
            )
        }),
    };
    EvalReport {
        protocol: "proxy".into(),
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
