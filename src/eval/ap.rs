//! 11-point interpolated average precision, with the recall points of each evaluator.
//!
//! Both `VOCevaldet_bboxpair.m` (the official protocol; `eval_one.m` calls it) and the
//! reference's Python `voc_ap` (`hico_eval_triplet.py`) compute the PASCAL VOC 2007
//! 11-point AP, **not** the all-point `VOCap` area:
//!
//! ```text
//! ap = Σ_{t in points} max(prec[rec >= t]) / 11     (0 when no recall reaches t)
//! ```
//!
//! The eleven points are generated as floating-point ranges, so they are not exactly the
//! decimals 0.0, 0.1, ..., 1.0, and the two languages round them differently:
//!
//! * MATLAB's `0:0.1:1` builds the range symmetrically from both ends (`a + k*d` for the first
//!   half, `b - (n-k)*d` for the second), giving [`MATLAB_RECALL_POINTS`]: only the fourth
//!   point is off (`0.30000000000000004`).
//! * numpy's `np.arange(0., 1.1, 0.1)` computes `k * 0.1`, giving [`NUMPY_RECALL_POINTS`]:
//!   `0.30000000000000004`, `0.6000000000000001` and `0.7000000000000001`.
//!
//! A class whose recall is exactly 3/5 or 7/10 therefore gets a precision term at 0.6 or 0.7
//! in MATLAB but not in Python.

/// The recall points of MATLAB's `0:0.1:1`.
pub const MATLAB_RECALL_POINTS: [f64; 11] = [
    0.0,
    0.1,
    0.2,
    0.300_000_000_000_000_04,
    0.4,
    0.5,
    0.6,
    0.7,
    0.8,
    0.9,
    1.0,
];

/// The recall points of numpy's `np.arange(0., 1.1, 0.1)`.
pub const NUMPY_RECALL_POINTS: [f64; 11] = [
    0.0,
    0.1,
    0.2,
    0.300_000_000_000_000_04,
    0.4,
    0.5,
    0.600_000_000_000_000_1,
    0.700_000_000_000_000_1,
    0.8,
    0.9,
    1.0,
];

/// AP and recall of one ranked list of detections.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ApResult {
    /// 11-point interpolated AP.
    pub ap: f64,
    /// Recall at the end of the list (`rec(end)` = the maximum recall); 0 with no detection
    /// or no ground truth.
    pub recall: f64,
    /// True positives in the list.
    pub true_positives: usize,
}

/// 11-point AP of detections ranked best first (`tp[d]`: whether detection `d` is a true
/// positive) against `num_gt` ground-truth instances.
///
/// `rec = cumsum(tp) / num_gt`, `prec = cumsum(tp) / (cumsum(tp) + cumsum(fp))`, in `f64`
/// as both references compute them, summed in point order as `ap = ap + p/11`. With
/// `num_gt == 0` the recall is `0/0 = NaN` in both references, no point is reached, and the
/// AP is 0 (the recall is reported as 0).
pub fn eleven_point_ap(tp: &[bool], num_gt: usize, points: &[f64; 11]) -> ApResult {
    let n = tp.len();
    let mut rec = Vec::with_capacity(n);
    let mut prec = Vec::with_capacity(n);
    let (mut ctp, mut cfp) = (0usize, 0usize);
    for &t in tp {
        if t {
            ctp += 1;
        } else {
            cfp += 1;
        }
        rec.push(ctp as f64 / num_gt as f64);
        prec.push(ctp as f64 / (cfp + ctp) as f64);
    }
    // suffix_max[d] = max(prec[d..]); rec is non-decreasing, so `rec >= t` is a suffix.
    let mut suffix_max = prec.clone();
    for d in (0..n.saturating_sub(1)).rev() {
        suffix_max[d] = suffix_max[d].max(suffix_max[d + 1]);
    }
    let mut ap = 0.0;
    for &t in points {
        let first = rec.partition_point(|&r| r.is_nan() || r < t);
        let p = if first < n { suffix_max[first] } else { 0.0 };
        ap += p / 11.0;
    }
    let recall = if num_gt == 0 {
        0.0
    } else {
        rec.last().copied().unwrap_or(0.0)
    };
    ApResult {
        ap,
        recall,
        true_positives: ctp,
    }
}
