//! The pair-wise triplet NMS of HOICLIP's evaluator (`hico_eval_triplet.py`,
//! `triplet_nms_filter` and `pairwise_nms`).

use std::cmp::Ordering;

/// One HOI detection: a subject box, an object box (both `[x1, y1, x2, y2]` in pixels), its HOI
/// class and its score.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Triplet {
    /// Subject (human) box, `[x1, y1, x2, y2]` pixels.
    pub subject: [f32; 4],
    /// Object box, `[x1, y1, x2, y2]` pixels.
    pub object: [f32; 4],
    /// HOI class (`category_id`); only detections of the same class suppress each other.
    pub hoi: usize,
    /// Detection score.
    pub score: f32,
}

/// Parameters of the pair-wise NMS; [`Default`] gives the reference's values.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TripletNmsParams {
    /// `thres_nms`: a detection is dropped when its overlap with a kept one is above this
    /// (kept when `overlap <= thres_nms`). Default 0.7.
    pub thres_nms: f32,
    /// `nms_alpha`: exponent on the subject IoU. Default 1.0.
    pub alpha: f32,
    /// `nms_beta`: exponent on the object IoU. Default 0.5.
    pub beta: f32,
}

impl Default for TripletNmsParams {
    fn default() -> Self {
        Self {
            thres_nms: 0.7,
            alpha: 1.0,
            beta: 0.5,
        }
    }
}

/// Area with the reference's "+1 pixel" convention: `(x2 - x1 + 1) * (y2 - y1 + 1)`.
fn area(b: &[f32; 4]) -> f32 {
    (b[2] - b[0] + 1.0) * (b[3] - b[1] + 1.0)
}

/// The reference's IoU: intersection `max(0, min(x2) - max(x1) + 1) * max(0, min(y2) - max(y1) + 1)`,
/// union `area_a + area_b - inter` (both areas with `+1`).
fn iou_plus_one(a: &[f32; 4], b: &[f32; 4], area_a: f32, area_b: f32) -> f32 {
    let w = (a[2].min(b[2]) - a[0].max(b[0]) + 1.0).max(0.0);
    let h = (a[3].min(b[3]) - a[1].max(b[1]) + 1.0).max(0.0);
    let inter = w * h;
    inter / (area_a + area_b - inter)
}

/// Pair-wise NMS over one group of detections, ignoring their `hoi` (the reference's
/// `pairwise_nms`). Returns kept positions into `triplets`, in the order they were kept
/// (descending score).
///
/// Reference semantics: the visiting order is `scores.argsort()[::-1]`; the best remaining
/// detection `i` is kept and every remaining `j` survives only if
///
/// ```text
/// IoU(sub_i, sub_j)^alpha * IoU(obj_i, obj_j)^beta <= thres_nms
/// ```
///
/// with the `+1` pixel IoU of [`triplet_nms`]'s doc. A NaN overlap (e.g. degenerate boxes with
/// a zero union) fails the `<=` test, so that detection is dropped, as in numpy.
///
/// Ties: numpy's ascending argsort is stable for up to 16 elements and reversing it puts the
/// HIGHER index first among equal scores; this port does that for every size (numpy's
/// introsort/SIMD sort gives no fixed tie order for larger groups). NaN scores come first, as
/// numpy sorts NaN last before the reversal.
pub fn pairwise_nms(triplets: &[Triplet], params: &TripletNmsParams) -> Vec<usize> {
    let n = triplets.len();
    // Ascending stable argsort (NaN last), then reversed.
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| {
        let (x, y) = (triplets[a].score, triplets[b].score);
        match (x.is_nan(), y.is_nan()) {
            (true, true) => Ordering::Equal,
            (true, false) => Ordering::Greater,
            (false, true) => Ordering::Less,
            (false, false) => x.partial_cmp(&y).unwrap_or(Ordering::Equal),
        }
    });
    order.reverse();

    let sub_areas: Vec<f32> = triplets.iter().map(|t| area(&t.subject)).collect();
    let obj_areas: Vec<f32> = triplets.iter().map(|t| area(&t.object)).collect();

    let mut keep = Vec::new();
    while let Some((&i, rest)) = order.split_first() {
        keep.push(i);
        let ti = &triplets[i];
        order = rest
            .iter()
            .copied()
            .filter(|&j| {
                let tj = &triplets[j];
                let s = iou_plus_one(&ti.subject, &tj.subject, sub_areas[i], sub_areas[j]);
                let o = iou_plus_one(&ti.object, &tj.object, obj_areas[i], obj_areas[j]);
                let ovr = s.powf(params.alpha) * o.powf(params.beta);
                ovr <= params.thres_nms
            })
            .collect();
    }
    keep
}

/// The reference's `triplet_nms_filter` for one image: group the detections by `hoi` class,
/// run [`pairwise_nms`] in each group, and concatenate the kept indices.
///
/// Returns indices into `triplets`. Groups come in the order their class first appears in
/// `triplets` (a Python dict's insertion order); within a group, indices come in keeping order
/// (descending score, ties as [`pairwise_nms`] documents). Detections of different classes never
/// suppress each other.
///
/// IoU, as the reference computes it on pixel boxes (with `+1`):
///
/// ```text
/// area  = (x2 - x1 + 1) * (y2 - y1 + 1)
/// inter = max(0, min(x2a, x2b) - max(x1a, x1b) + 1) * max(0, min(y2a, y2b) - max(y1a, y1b) + 1)
/// IoU   = inter / (area_a + area_b - inter)
/// ```
pub fn triplet_nms(triplets: &[Triplet], params: &TripletNmsParams) -> Vec<usize> {
    // Groups in first-appearance order: (hoi class, member indices).
    let mut groups: Vec<(usize, Vec<usize>)> = Vec::new();
    for (idx, t) in triplets.iter().enumerate() {
        match groups.iter_mut().find(|(h, _)| *h == t.hoi) {
            Some((_, members)) => members.push(idx),
            None => groups.push((t.hoi, vec![idx])),
        }
    }
    let mut kept = Vec::new();
    for (_, members) in &groups {
        let group: Vec<Triplet> = members.iter().map(|&m| triplets[m]).collect();
        kept.extend(pairwise_nms(&group, params).into_iter().map(|k| members[k]));
    }
    kept
}
