//! Box geometry of the matcher and the criterion (DETR's `util/box_ops.py`):
//! `(cx, cy, w, h)` → `(x0, y0, x1, y1)` and generalised IoU, on the host (matching) and on
//! tensors (losses, differentiable).

use burn::tensor::Tensor;

/// `box_cxcywh_to_xyxy` on one box.
pub fn cxcywh_to_xyxy(b: [f32; 4]) -> [f32; 4] {
    let [cx, cy, w, h] = b;
    [cx - 0.5 * w, cy - 0.5 * h, cx + 0.5 * w, cy + 0.5 * h]
}

/// `generalized_box_iou` of two `xyxy` boxes (one cell of the reference's pairwise matrix).
/// NaN when both the union and the enclosing box are empty, as in the reference.
pub fn generalized_iou(a: [f32; 4], b: [f32; 4]) -> f32 {
    let area_a = (a[2] - a[0]) * (a[3] - a[1]);
    let area_b = (b[2] - b[0]) * (b[3] - b[1]);
    let iw = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let ih = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let inter = iw * ih;
    let union = area_a + area_b - inter;
    let iou = inter / union;
    let cw = (a[2].max(b[2]) - a[0].min(b[0])).max(0.0);
    let ch = (a[3].max(b[3]) - a[1].min(b[1])).max(0.0);
    let area_c = cw * ch;
    iou - (area_c - union) / area_c
}

/// `box_cxcywh_to_xyxy` on a `[boxes, 4]` tensor.
pub fn cxcywh_to_xyxy_tensor(boxes: Tensor<2>) -> Tensor<2> {
    let [n, _] = boxes.dims();
    let cx = boxes.clone().narrow(1, 0, 1);
    let cy = boxes.clone().narrow(1, 1, 1);
    let w = boxes.clone().narrow(1, 2, 1);
    let h = boxes.narrow(1, 3, 1);
    let half_w = w * 0.5;
    let half_h = h * 0.5;
    let out = Tensor::cat(
        vec![
            cx.clone() - half_w.clone(),
            cy.clone() - half_h.clone(),
            cx + half_w,
            cy + half_h,
        ],
        1,
    );
    debug_assert_eq!(out.dims(), [n, 4]);
    out
}

/// The generalised IoU of row `i` of `a` with row `i` of `b` (both `[boxes, 4]`, `xyxy`):
/// the diagonal of the reference's `generalized_box_iou(a, b)`, `[boxes]`.
pub fn paired_generalized_iou(a: Tensor<2>, b: Tensor<2>) -> Tensor<1> {
    let col = |t: &Tensor<2>, i: usize| t.clone().narrow(1, i, 1);
    let (ax0, ay0, ax1, ay1) = (col(&a, 0), col(&a, 1), col(&a, 2), col(&a, 3));
    let (bx0, by0, bx1, by1) = (col(&b, 0), col(&b, 1), col(&b, 2), col(&b, 3));
    let area_a = (ax1.clone() - ax0.clone()) * (ay1.clone() - ay0.clone());
    let area_b = (bx1.clone() - bx0.clone()) * (by1.clone() - by0.clone());
    let iw = (ax1.clone().min_pair(bx1.clone()) - ax0.clone().max_pair(bx0.clone())).clamp_min(0.0);
    let ih = (ay1.clone().min_pair(by1.clone()) - ay0.clone().max_pair(by0.clone())).clamp_min(0.0);
    let inter = iw * ih;
    let union = area_a + area_b - inter.clone();
    let iou = inter / union.clone();
    let cw = (ax1.max_pair(bx1) - ax0.min_pair(bx0)).clamp_min(0.0);
    let ch = (ay1.max_pair(by1) - ay0.min_pair(by0)).clamp_min(0.0);
    let area_c = cw * ch;
    let giou = iou - (area_c.clone() - union) / area_c;
    let [n, _] = giou.dims();
    giou.reshape([n])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generalized_iou_of_identical_and_disjoint_boxes() {
        let a = [0.0, 0.0, 1.0, 1.0];
        assert!((generalized_iou(a, a) - 1.0).abs() < 1e-7);
        // Disjoint unit boxes 1 apart: IoU 0, enclosing area 3, union 2 → −1/3.
        let b = [2.0, 0.0, 3.0, 1.0];
        assert!((generalized_iou(a, b) + 1.0 / 3.0).abs() < 1e-7);
        assert_eq!(cxcywh_to_xyxy([0.5, 0.5, 1.0, 1.0]), a);
    }
}
