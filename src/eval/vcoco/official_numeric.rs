//! The arithmetic of `vsrl_eval.py`, operation by operation in the float widths numpy uses
//! (numpy 2 promotion rules), so that APs and means come out bit-identical:
//!
//! * boxes and scores are float32; the IoU (`get_overlap`, `+1` inclusive-pixel widths) is
//!   computed in float32 and compared with the threshold converted to float32;
//! * recall is `float32(tp) / float32(npos)`; precision is `tp / max(tp + fp, eps)` in
//!   float64 (numpy 2 promotes to the float64 `eps`);
//! * `voc_ap` (all-point VOC AP: precision envelope, sum over recall changes) runs in float64
//!   with numpy's pairwise summation, and the result is stored as float32;
//! * the means use numpy's pairwise float32 sums (`nanmean`, `nansum`).

use std::cmp::Ordering;
use std::ops::Add;

/// `np.maximum` / `np.minimum`: NaN in, NaN out.
fn np_max(a: f32, b: f32) -> f32 {
    if a.is_nan() || b.is_nan() {
        f32::NAN
    } else if b > a {
        b
    } else {
        a
    }
}

fn np_min(a: f32, b: f32) -> f32 {
    if a.is_nan() || b.is_nan() {
        f32::NAN
    } else if b < a {
        b
    } else {
        a
    }
}

/// `get_overlap(boxes=[gt], ref_box=pred)`: IoU with `+1` widths, in float32.
pub(super) fn overlap(gt: &[f32; 4], pred: &[f32; 4]) -> f32 {
    let ixmin = np_max(gt[0], pred[0]);
    let iymin = np_max(gt[1], pred[1]);
    let ixmax = np_min(gt[2], pred[2]);
    let iymax = np_min(gt[3], pred[3]);
    let iw = np_max(ixmax - ixmin + 1.0, 0.0);
    let ih = np_max(iymax - iymin + 1.0, 0.0);
    let inters = iw * ih;
    let pred_area = (pred[2] - pred[0] + 1.0) * (pred[3] - pred[1] + 1.0);
    let gt_area = (gt[2] - gt[0] + 1.0) * (gt[3] - gt[1] + 1.0);
    let uni = pred_area + gt_area - inters;
    inters / uni
}

/// `overlaps.argmax()` and `overlaps.max()` over the ground-truth boxes: the first maximum,
/// or the first NaN (numpy's NaN-propagating argmax). `None` without ground truth.
pub(super) fn best_match(gts: &[[f32; 4]], pred: &[f32; 4]) -> Option<(usize, f32)> {
    let mut best: Option<(usize, f32)> = None;
    for (j, g) in gts.iter().enumerate() {
        let ov = overlap(g, pred);
        if ov.is_nan() {
            return Some((j, ov));
        }
        match best {
            Some((_, b)) if ov <= b => {}
            _ => best = Some((j, ov)),
        }
    }
    best
}

/// `scores.argsort()[::-1]`: indices by descending score. Equal scores (numpy leaves their
/// order to its sort implementation) come latest-index first, as a stable ascending sort
/// reversed gives (numpy's insertion sort on short arrays does the same).
pub(super) fn descending_order(scores: &[f32]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    idx.sort_by(|&a, &b| scores[a].partial_cmp(&scores[b]).unwrap_or(Ordering::Equal));
    idx.reverse();
    idx
}

/// numpy's pairwise summation (`pairwise_sum` of `np.add.reduce`, blocks of 8, unrolled
/// eight-accumulator loop up to 128 elements).
pub(super) fn pairwise_sum<T: Copy + Default + Add<Output = T>>(a: &[T]) -> T {
    let n = a.len();
    if n < 8 {
        let mut res = T::default();
        for &x in a {
            res = res + x;
        }
        res
    } else if n <= 128 {
        let mut r = [T::default(); 8];
        r.copy_from_slice(&a[..8]);
        let mut i = 8;
        while i < n - n % 8 {
            for (j, acc) in r.iter_mut().enumerate() {
                *acc = *acc + a[i + j];
            }
            i += 8;
        }
        let mut res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for &x in &a[i..] {
            res = res + x;
        }
        res
    } else {
        let mut n2 = n / 2;
        n2 -= n2 % 8;
        pairwise_sum(&a[..n2]) + pairwise_sum(&a[n2..])
    }
}

/// `np.nansum` of a float32 array.
pub(super) fn nan_sum(values: &[f32]) -> f32 {
    let zeroed: Vec<f32> = values
        .iter()
        .map(|&v| if v.is_nan() { 0.0 } else { v })
        .collect();
    pairwise_sum(&zeroed)
}

/// `np.nanmean` of a float32 array: the float32 `nansum`, divided by the count in float64,
/// stored as float32; NaN when every value is NaN.
pub(super) fn nan_mean(values: &[f32]) -> f32 {
    let count = values.iter().filter(|v| !v.is_nan()).count();
    (f64::from(nan_sum(values)) / count as f64) as f32
}

/// The AP of one ranked list, as `_do_agent_eval` / `_do_role_eval` compute it from the
/// per-detection scores and true-positive flags: sort by descending score, cumulative sums
/// in float32, recall and precision, `voc_ap`, stored as float32.
///
/// `None` when `npos == 0` (`vsrl_eval.py` fails an assertion there). An empty list with
/// positives gives 0 (`vsrl_eval.py` raises on `np.amax` of the empty recall).
pub(super) fn average_precision(scores: &[f32], tp: &[bool], npos: usize) -> Option<f32> {
    if npos == 0 {
        return None;
    }
    let npos = npos as f32;
    let order = descending_order(scores);
    let (mut ctp, mut cfp) = (0.0f32, 0.0f32);
    let mut rec = Vec::with_capacity(order.len());
    let mut prec = Vec::with_capacity(order.len());
    for &k in &order {
        if tp.get(k).copied().unwrap_or(false) {
            ctp += 1.0;
        } else {
            cfp += 1.0;
        }
        rec.push(ctp / npos);
        prec.push(f64::from(ctp) / f64::from(ctp + cfp).max(f64::EPSILON));
    }
    Some(voc_ap(&rec, &prec) as f32)
}

/// `voc_ap`: all-point interpolated AP in float64 (sentinels 0 and 1 on recall, 0 and 0 on
/// precision, the precision envelope from the right, then the sum of recall steps times the
/// envelope, with numpy's pairwise sum).
fn voc_ap(rec: &[f32], prec: &[f64]) -> f64 {
    let mut mrec = Vec::with_capacity(rec.len() + 2);
    mrec.push(0.0);
    mrec.extend(rec.iter().map(|&r| f64::from(r)));
    mrec.push(1.0);
    let mut mpre = Vec::with_capacity(prec.len() + 2);
    mpre.push(0.0);
    mpre.extend_from_slice(prec);
    mpre.push(0.0);
    for i in (1..mpre.len()).rev() {
        let (a, b) = (mpre[i - 1], mpre[i]);
        mpre[i - 1] = if a.is_nan() || b.is_nan() {
            f64::NAN
        } else {
            a.max(b)
        };
    }
    let terms: Vec<f64> = (0..mrec.len() - 1)
        .filter(|&i| mrec[i + 1] != mrec[i])
        .map(|i| (mrec[i + 1] - mrec[i]) * mpre[i + 1])
        .collect();
    pairwise_sum(&terms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlap_uses_inclusive_pixels() {
        // 100 x 100 and 100 x 50 inclusive-pixel boxes: IoU exactly 0.5.
        assert_eq!(
            overlap(&[10.0, 20.0, 109.0, 119.0], &[10.0, 20.0, 109.0, 69.0]),
            0.5
        );
        assert!(overlap(&[10.0, 20.0, 109.0, 119.0], &[10.0, 20.0, 109.0, 68.9]) < 0.5);
        // Disjoint boxes: zero, not negative.
        assert_eq!(
            overlap(&[0.0, 0.0, 9.0, 9.0], &[20.0, 20.0, 29.0, 29.0]),
            0.0
        );
        assert!(overlap(&[0.0, 0.0, 9.0, 9.0], &[f32::NAN; 4]).is_nan());
    }

    #[test]
    fn best_match_takes_first_max_or_first_nan() {
        let gts = [[0.0, 0.0, 9.0, 9.0], [0.0, 0.0, 9.0, 9.0]];
        assert_eq!(best_match(&gts, &[0.0, 0.0, 9.0, 9.0]), Some((0, 1.0)));
        let (j, ov) = best_match(&gts, &[f32::NAN; 4]).unwrap();
        assert!(j == 0 && ov.is_nan());
        assert_eq!(best_match(&[], &[0.0, 0.0, 9.0, 9.0]), None);
    }

    #[test]
    fn descending_order_puts_later_ties_first() {
        assert_eq!(descending_order(&[0.5, 0.5, 0.2, 0.5]), vec![3, 1, 0, 2]);
    }

    #[test]
    fn pairwise_sum_groups_like_numpy() {
        // Below 8 elements: left to right.
        let small = [1.0e8f32, 1.0, -1.0e8, 1.0];
        assert_eq!(pairwise_sum(&small), 1.0);
        // 9 elements: eight accumulators, then the ninth.
        let a: Vec<f64> = (1..=9).map(f64::from).collect();
        assert_eq!(pairwise_sum(&a), 45.0);
        let b = vec![0.1f32; 300];
        let expected = pairwise_sum(&b[..144]) + pairwise_sum(&b[144..]);
        assert_eq!(pairwise_sum(&b), expected);
    }

    #[test]
    fn voc_ap_all_points() {
        // tp, fp, tp over 2 positives: recall 0.5, 0.5, 1; precision 1, 0.5, 2/3.
        let ap = average_precision(&[0.9, 0.8, 0.7], &[true, false, true], 2).unwrap();
        assert_eq!(ap, (0.5 + 0.5 * (2.0f64 / 3.0)) as f32);
        assert_eq!(average_precision(&[], &[], 3), Some(0.0));
        assert_eq!(average_precision(&[0.5], &[false], 0), None);
    }

    #[test]
    fn nan_mean_skips_nan() {
        assert_eq!(nan_mean(&[0.5, f32::NAN, 0.25]), 0.375);
        assert!(nan_mean(&[f32::NAN]).is_nan());
        assert_eq!(nan_sum(&[0.5, f32::NAN, 0.25]), 0.75);
    }
}
