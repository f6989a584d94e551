//! The two box-overlap formulas of the two evaluators. Both use the "+1 pixel" convention
//! (a box `[x1, y1, x2, y2]` covers `x2 - x1 + 1` columns), but they differ at the edge.

/// IoU as `VOCevaldet_bboxpair.m` computes it (ho-rcnn), in `f64`:
///
/// ```text
/// iw = min(x2) - max(x1) + 1,  ih = min(y2) - max(y1) + 1
/// if iw > 0 and ih > 0:  ua = (w_a + 1)(h_a + 1) + (w_b + 1)(h_b + 1) - iw*ih,  IoU = iw*ih / ua
/// else                   IoU = 0
/// ```
///
/// so boxes sharing one pixel column overlap (`iw = 1`).
pub fn iou_matlab(a: &[f64; 4], b: &[f64; 4]) -> f64 {
    let iw = a[2].min(b[2]) - a[0].max(b[0]) + 1.0;
    let ih = a[3].min(b[3]) - a[1].max(b[1]) + 1.0;
    if iw > 0.0 && ih > 0.0 {
        let ua = (a[2] - a[0] + 1.0) * (a[3] - a[1] + 1.0)
            + (b[2] - b[0] + 1.0) * (b[3] - b[1] + 1.0)
            - iw * ih;
        iw * ih / ua
    } else {
        0.0
    }
}

/// IoU as the Python evaluator computes it (`hico_eval_triplet.py`, `compute_IOU`), in
/// `f64` on the given values:
///
/// ```text
/// if min(y2) <= max(y1) or min(x2) <= max(x1):  IoU = 0
/// else  inter = (min(y2) - max(y1) + 1)(min(x2) - max(x1) + 1),
///       IoU = inter / (area_a + area_b - inter)   (areas with +1)
/// ```
///
/// Unlike [`iou_matlab`], boxes that only touch (`min(x2) == max(x1)`) do not overlap.
pub fn iou_python(a: &[f64; 4], b: &[f64; 4]) -> f64 {
    let s1 = (a[2] - a[0] + 1.0) * (a[3] - a[1] + 1.0);
    let s2 = (b[2] - b[0] + 1.0) * (b[3] - b[1] + 1.0);
    let left = a[1].max(b[1]);
    let right = a[3].min(b[3]);
    let top = a[0].max(b[0]);
    let bottom = a[2].min(b[2]);
    if left >= right || top >= bottom {
        return 0.0;
    }
    let inter = (right - left + 1.0) * (bottom - top + 1.0);
    inter / (s1 + s2 - inter)
}
