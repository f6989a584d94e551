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
//! The eleven points are floating-point values, not exactly the decimals 0.0, 0.1, ..., 1.0:
//!
//! * `VOCevaldet_bboxpair.m` takes them in a loop, `for t = 0:0.1:1`. GNU Octave (7.3.0, run
//!   on the real file) gives `t = k * 0.1` there, as it does for every colon range, loop or
//!   vector: [`MATLAB_LOOP_RECALL_POINTS`], where three points are off the decimals
//!   (`0.30000000000000004`, `0.6000000000000001`, `0.7000000000000001`).
//! * numpy's `np.arange(0., 1.1, 0.1)` also computes `k * 0.1`: [`NUMPY_RECALL_POINTS`], the
//!   same eleven values.
//! * MATLAB's colon *vector* is described by MathWorks as built symmetrically from both ends
//!   (`a + k*d` for the first half, `b - (n-k)*d` for the second), which would make the 7th
//!   and 8th points exactly `0.6` and `0.7` (no MATLAB was run to check this). The official
//!   protocol here follows the loop as Octave runs it; `tests/eval_official_octave.rs`
//!   compares with Octave's run of the real `.m` files, and fails with exact `0.6` / `0.7`.
//!
//! With `k * 0.1`, a class whose recall tops out at exactly 3/5 or 7/10 gets no precision term
//! at the 7th or 8th point (`0.6 < 0.6000000000000001`).

/// The recall points of the `for t = 0:0.1:1` loop of ho-rcnn's `VOCevaldet_bboxpair.m`, as
/// GNU Octave evaluates it: `k * 0.1` for `k = 0..=10` (the points of the official protocol).
///
/// Not the symmetric colon-*vector* values ascribed to MATLAB (exact `0.6` and `0.7`); see the
/// module documentation. Numerically equal to [`NUMPY_RECALL_POINTS`].
pub const MATLAB_LOOP_RECALL_POINTS: [f64; 11] = [
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
