//! Triplet scores, the training-free CLIP enhancement and top-k selection.
//!
//! Layouts are row-major: a `[num_pairs, num_classes]` matrix is a slice of
//! `num_pairs * num_classes` values where pair `p`, class `c` sits at `p * num_classes + c`.

use std::cmp::Ordering;

use crate::error::{HoiclipError, Result};

/// The logistic function `1 / (1 + exp(-x))`, in `f32` like the reference's `torch.sigmoid`.
pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// An `InputShape` error for the slice `name`.
pub(crate) fn shape_error(name: &str, expected: String, found: Vec<usize>) -> HoiclipError {
    HoiclipError::InputShape {
        name: name.to_string(),
        expected,
        found,
    }
}

/// The score of every (pair, HOI class) cell of one image, `[num_pairs, num_hois]` row-major.
///
/// The reference splits this over `PostProcessHOITriplet.forward` (hoiclip.py),
/// `engine.py::evaluate_hoi` and `HICOEvaluator.__init__` (hico_eval_triplet.py):
///
/// ```text
/// hoi_scores = sigmoid(pred_hoi_logits)                      # [pairs, hois]
/// hoi_scores += sigmoid(masked_clip_scores) * 1.0            # only with the enhancement
/// obj_scores = sigmoid(pred_obj_logits)                      # [pairs, objects + 1], NOT softmax
/// score      = hoi_scores + (obj_scores * obj_scores)[:, hoi_obj_list]
/// ```
///
/// so `score[p, c] = (sigmoid(hoi[p, c]) + enhancement[c]) + sigmoid(obj[p, hoi_to_object[c]])²`,
/// summed in that order in `f32`. The object score is the element-wise sigmoid of the object
/// logits (the softmax is only used for the predicted object label), squared, and taken at the
/// HOI class's own object, whatever object the pair predicts.
///
/// * `hoi_logits`: `[num_pairs, num_hois]` HOI logits.
/// * `obj_logits`: `[num_pairs, num_objects_plus_one]` object logits, last column "no object".
/// * `hoi_to_object`: for each HOI class, its object class index (`hoi_obj_list`).
/// * `enhancement`: `[num_hois]` values already passed through the sigmoid, as
///   [`enhancement_scores`] returns them; added to every pair.
///
/// # Errors
///
/// [`HoiclipError::InputShape`] when a slice length disagrees with the sizes given, or a
/// `hoi_to_object` entry is not below `num_objects_plus_one`.
pub fn hoi_scores(
    hoi_logits: &[f32],
    obj_logits: &[f32],
    hoi_to_object: &[usize],
    num_pairs: usize,
    num_hois: usize,
    num_objects_plus_one: usize,
    enhancement: Option<&[f32]>,
) -> Result<Vec<f32>> {
    if hoi_logits.len() != num_pairs.saturating_mul(num_hois) {
        return Err(shape_error(
            "hoi_logits",
            format!("[{num_pairs} pairs * {num_hois} hois]"),
            vec![hoi_logits.len()],
        ));
    }
    if obj_logits.len() != num_pairs.saturating_mul(num_objects_plus_one) {
        return Err(shape_error(
            "obj_logits",
            format!("[{num_pairs} pairs * {num_objects_plus_one} objects + 1]"),
            vec![obj_logits.len()],
        ));
    }
    if hoi_to_object.len() != num_hois {
        return Err(shape_error(
            "hoi_to_object",
            format!("[{num_hois}]"),
            vec![hoi_to_object.len()],
        ));
    }
    if let Some(bad) = hoi_to_object.iter().find(|&&o| o >= num_objects_plus_one) {
        return Err(shape_error(
            "hoi_to_object",
            format!("object indices below {num_objects_plus_one}"),
            vec![*bad],
        ));
    }
    if let Some(e) = enhancement
        && e.len() != num_hois
    {
        return Err(shape_error(
            "enhancement",
            format!("[{num_hois}]"),
            vec![e.len()],
        ));
    }

    let mut out = Vec::with_capacity(hoi_logits.len());
    for p in 0..num_pairs {
        let hoi_row = &hoi_logits[p * num_hois..(p + 1) * num_hois];
        let obj_row = &obj_logits[p * num_objects_plus_one..(p + 1) * num_objects_plus_one];
        for (c, (&logit, &object)) in hoi_row.iter().zip(hoi_to_object).enumerate() {
            let mut s = sigmoid(logit);
            if let Some(e) = enhancement {
                s += e[c];
            }
            let o = sigmoid(obj_row[object]);
            out.push(s + o * o);
        }
    }
    Ok(out)
}

/// The training-free enhancement of `engine.py::evaluate_hoi` for one image.
///
/// `image_level` is the image's CLIP HOI scores (`spatial_cls @ text_hoi_feature`, one per HOI
/// class). The reference sorts them in descending order, multiplies every entry ranked at
/// `top_k` or later by zero, and adds `sigmoid` of the whole vector (times `co = 1.0`) to the
/// HOI scores — so the classes outside the top k still receive `sigmoid(0) = 0.5`.
///
/// `top_k = None` (or `top_k >= image_level.len()`) masks nothing. Ranks follow
/// [`top_k_indices`]; `torch.sort` does not promise an order among equal values, this port keeps
/// the lower index. Zeroing multiplies by `0.0` as the reference does, so an infinite score
/// outside the top k becomes NaN there too.
///
/// The reference mutates one `cls_scores` tensor across its `topk` sweep (10, 20, …, 50), so its
/// later settings see the earlier masks; this function applies one mask to fresh scores, which
/// is what its first (and a single-setting) run does.
pub fn enhancement_scores(image_level: &[f32], top_k: Option<usize>) -> Vec<f32> {
    let mut masked = image_level.to_vec();
    if let Some(k) = top_k
        && k < masked.len()
    {
        let order = top_k_indices(image_level, image_level.len());
        for &i in &order[k..] {
            masked[i] *= 0.0;
        }
    }
    masked.into_iter().map(sigmoid).collect()
}

/// Descending order with NaN above everything, as `torch.topk` / `torch.sort` rank NaN.
fn cmp_desc(a: f32, b: f32) -> Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        (false, false) => b.partial_cmp(&a).unwrap_or(Ordering::Equal),
    }
}

/// Indices of the `k` largest scores, largest first (`torch.topk(scores, k).indices`).
///
/// For distinct values this is exactly `torch.topk`'s order. Among equal values torch promises
/// nothing; this keeps the lower index first (a stable sort). NaN ranks above every number, as in
/// torch. `k` larger than `scores.len()` returns every index.
pub fn top_k_indices(scores: &[f32], k: usize) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    idx.sort_by(|&a, &b| cmp_desc(scores[a], scores[b]));
    idx.truncate(k);
    idx
}

/// The reference evaluator's top-k, tie quirk included.
///
/// `HICOEvaluator` takes the `k` largest values with a heap (`util/topk.py`, which returns them
/// in descending order) and maps each value back with `np.where(hoi_scores == score)[0][0]`,
/// i.e. to the FIRST index holding that value. With ties the same index therefore appears more
/// than once and the other tied cells are never selected. A NaN value matches no index; this
/// function skips it (the reference would fail on the empty match). `k` is clamped to
/// `scores.len()` (the reference's heap needs `k <= len`).
pub fn top_k_indices_reference(scores: &[f32], k: usize) -> Vec<usize> {
    top_k_indices(scores, k)
        .into_iter()
        .filter_map(|i| {
            let v = scores[i];
            scores.iter().position(|&s| s == v)
        })
        .collect()
}

/// One selected (pair, HOI class) cell.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HoiCandidate {
    /// The pair (query) index; the reference's `subject_id` is this, `object_id` is
    /// `num_pairs + pair`.
    pub pair: usize,
    /// The HOI class index (`category_id`).
    pub hoi: usize,
    /// The cell's score.
    pub score: f32,
}

/// The `k` best cells of a `[num_pairs, num_hois]` score matrix, best first, as the reference
/// evaluator selects them (`max_hois = 100`) — using [`top_k_indices_reference`], so ties repeat
/// the first tied cell exactly like the reference.
///
/// # Errors
///
/// [`HoiclipError::InputShape`] when `scores.len()` is not a multiple of `num_hois`, or
/// `num_hois` is zero while `scores` is not empty.
pub fn top_k_hois(scores: &[f32], num_hois: usize, k: usize) -> Result<Vec<HoiCandidate>> {
    if scores.is_empty() {
        return Ok(Vec::new());
    }
    if num_hois == 0 || !scores.len().is_multiple_of(num_hois) {
        return Err(shape_error(
            "scores",
            format!("[pairs * {num_hois} hois]"),
            vec![scores.len()],
        ));
    }
    Ok(top_k_indices_reference(scores, k)
        .into_iter()
        .map(|i| HoiCandidate {
            pair: i / num_hois,
            hoi: i % num_hois,
            score: scores[i],
        })
        .collect())
}
