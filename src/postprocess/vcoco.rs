//! V-COCO post-processing: (pair, verb) detections as the authors' V-COCO evaluation makes
//! them (`datasets/datasets_gen/vcoco_eval.py`, `VCOCOEvaluator.__init__`, after
//! `PostProcessHOITriplet`).
//!
//! For one image, with `hoi_scores = sigmoid(pred_hoi_logits)` (plus the training-free
//! enhancement where used) and `obj_scores = sigmoid(pred_obj_logits)`:
//!
//! ```text
//! score[p, c]      = hoi_scores[p, c] + obj_scores[p, hoi_obj_list[c]]²       # score_mode 1
//! verb_score[p, v] = max over the classes c of verb v of score[p, c]
//! label[p]         = argmax softmax(pred_obj_logits[p])[:-1]                  # 0..80
//! verb_score[p, v] *= correct_mat[v, label[p]]     # correct_mat + a column of ones
//! keep the 100 best (p, v), Python's stable sort                             # no triplet NMS
//! ```
//!
//! `correct_mat` is `corre_vcoco.npy` ([29, 80], VSGNet's verb-object prior, as
//! tools/convert_vcoco_annotations.py writes it); the appended column of ones is the
//! "person only" label (80), so object-less predictions are never masked.

use crate::error::Result;
use crate::postprocess::scores::shape_error;
use crate::postprocess::sigmoid;

/// The verb-object validity matrix of the V-COCO evaluation (`correct_mat` with the ones
/// column appended): `[verbs, columns]`, indexed by a pair's object label.
#[derive(Clone, Debug, PartialEq)]
pub struct VerbObjectMask {
    verbs: usize,
    columns: usize,
    values: Vec<f64>,
}

impl VerbObjectMask {
    /// The authors' form: `correct_mat` (`[verbs, objects]` row-major, e.g. the `[29, 80]`
    /// of `corre_vcoco.npy`) with a column of ones appended (the label after the last
    /// object: "person only").
    ///
    /// # Errors
    ///
    /// [`InputShape`](crate::HoiclipError::InputShape) when `values` is not `verbs * objects` long.
    pub fn from_correct_mat(values: &[f64], verbs: usize, objects: usize) -> Result<Self> {
        if values.len() != verbs.saturating_mul(objects) {
            return Err(shape_error(
                "correct_mat",
                format!("[{verbs} verbs * {objects} objects]"),
                vec![values.len()],
            ));
        }
        let columns = objects + 1;
        let mut out = Vec::with_capacity(verbs * columns);
        for row in values.chunks(objects.max(1)).take(verbs) {
            out.extend_from_slice(&row[..objects]);
            out.push(1.0);
        }
        out.resize(verbs * columns, 1.0);
        Ok(Self {
            verbs,
            columns,
            values: out,
        })
    }

    /// The mask implied by a class list: 1 where some class pairs the verb with the object,
    /// else 0, and the object-less column (`no_object`, if any) all ones, as the authors'
    /// appended column. This is what [`crate::Hoiclip`] uses unless given the evaluation's
    /// `corre_vcoco.npy` (whose values are VSGNet's prior, not only 0/1).
    ///
    /// `class_verbs` / `class_objects`: each class's verb and object index.
    pub fn from_classes(
        class_verbs: &[usize],
        class_objects: &[usize],
        verbs: usize,
        objects: usize,
        no_object: Option<usize>,
    ) -> Self {
        let mut values = vec![0.0; verbs * objects];
        for (&v, &o) in class_verbs.iter().zip(class_objects) {
            if v < verbs && o < objects {
                values[v * objects + o] = 1.0;
            }
        }
        if let Some(n) = no_object.filter(|&n| n < objects) {
            for v in 0..verbs {
                values[v * objects + n] = 1.0;
            }
        }
        Self {
            verbs,
            columns: objects,
            values,
        }
    }

    /// Rows (verbs).
    pub fn verbs(&self) -> usize {
        self.verbs
    }

    /// Columns (object labels it can be indexed with).
    pub fn columns(&self) -> usize {
        self.columns
    }

    /// The value for `verb` and object `label` (0 outside the matrix).
    pub fn value(&self, verb: usize, label: usize) -> f64 {
        if verb < self.verbs && label < self.columns {
            self.values[verb * self.columns + label]
        } else {
            0.0
        }
    }
}

/// Each pair's object label: the argmax of `softmax(obj_logits)` without its last (no-object)
/// column; softmax keeps the order, so this is the first largest logit of the row.
///
/// `obj_logits`: `[num_pairs, num_columns]` row-major.
///
/// # Errors
///
/// [`InputShape`](crate::HoiclipError::InputShape) for a slice of the wrong length or fewer than two columns.
pub fn object_labels(
    obj_logits: &[f32],
    num_pairs: usize,
    num_columns: usize,
) -> Result<Vec<usize>> {
    if num_columns < 2 || obj_logits.len() != num_pairs.saturating_mul(num_columns) {
        return Err(shape_error(
            "obj_logits",
            format!("[{num_pairs} pairs * {num_columns} columns], at least 2 columns"),
            vec![obj_logits.len()],
        ));
    }
    Ok(obj_logits
        .chunks(num_columns)
        .map(|row| {
            let mut best = 0;
            for (i, &v) in row[..num_columns - 1].iter().enumerate() {
                if v > row[best] {
                    best = i;
                }
            }
            best
        })
        .collect())
}

/// Per (pair, verb) the best class score and the class that gave it.
#[derive(Clone, Debug, PartialEq)]
pub struct VerbScores {
    /// `[num_pairs, num_verbs]` row-major: the max over the verb's classes of
    /// `(sigmoid(hoi) + enhancement) + sigmoid(obj)²` (0 for a verb without classes).
    pub scores: Vec<f32>,
    /// `[num_pairs, num_verbs]`: the class of that max (the first on ties), `None` for a verb
    /// without classes.
    pub best_class: Vec<Option<usize>>,
    /// Verbs per pair.
    pub num_verbs: usize,
}

/// The per-verb scores of one image.
///
/// * `hoi_logits`: `[num_pairs, num_hois]`; `obj_logits`: `[num_pairs, num_columns]` (the
///   last column is "no object");
/// * `class_verbs` / `class_objects`: each HOI class's verb and object column
///   (`hoi_obj_list`);
/// * `enhancement`: `[num_hois]`, already through the sigmoid (see
///   [`super::enhancement_scores`]), added to every pair's HOI scores.
///
/// # Errors
///
/// [`InputShape`](crate::HoiclipError::InputShape) when a length disagrees with the sizes, a class's object is
/// not a column or its verb not below `num_verbs`.
#[allow(clippy::too_many_arguments)]
pub fn verb_scores(
    hoi_logits: &[f32],
    obj_logits: &[f32],
    class_verbs: &[usize],
    class_objects: &[usize],
    num_pairs: usize,
    num_columns: usize,
    num_verbs: usize,
    enhancement: Option<&[f32]>,
) -> Result<VerbScores> {
    let num_hois = class_verbs.len();
    if class_objects.len() != num_hois {
        return Err(shape_error(
            "class_objects",
            format!("[{num_hois}], one per class"),
            vec![class_objects.len()],
        ));
    }
    if hoi_logits.len() != num_pairs.saturating_mul(num_hois) {
        return Err(shape_error(
            "hoi_logits",
            format!("[{num_pairs} pairs * {num_hois} hois]"),
            vec![hoi_logits.len()],
        ));
    }
    if obj_logits.len() != num_pairs.saturating_mul(num_columns) {
        return Err(shape_error(
            "obj_logits",
            format!("[{num_pairs} pairs * {num_columns} columns]"),
            vec![obj_logits.len()],
        ));
    }
    if let Some(&bad) = class_objects.iter().find(|&&o| o >= num_columns) {
        return Err(shape_error(
            "class_objects",
            format!("object columns below {num_columns}"),
            vec![bad],
        ));
    }
    if let Some(&bad) = class_verbs.iter().find(|&&v| v >= num_verbs) {
        return Err(shape_error(
            "class_verbs",
            format!("verbs below {num_verbs}"),
            vec![bad],
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
    let mut hoi_probs = Vec::with_capacity(hoi_logits.len());
    for row in hoi_logits.chunks(num_hois.max(1)) {
        for (c, &logit) in row.iter().enumerate() {
            let mut s = sigmoid(logit);
            if let Some(e) = enhancement {
                s += e[c];
            }
            hoi_probs.push(s);
        }
    }
    let obj_probs: Vec<f32> = obj_logits.iter().map(|&x| sigmoid(x)).collect();
    Ok(verb_scores_from_probabilities(
        &hoi_probs,
        &obj_probs,
        class_verbs,
        class_objects,
        num_pairs,
        num_columns,
        num_verbs,
    ))
}

/// The per-verb scores from probabilities, as the reference's evaluator receives them
/// (`hoi_scores` = `sigmoid(hoi)` plus any enhancement, `obj_scores` = `sigmoid(obj)`, both
/// row-major): `max` over the verb's classes of `hoi + obj[class object]²`, in `f32`, the
/// first class on ties. The caller has checked the sizes (see [`verb_scores`]).
pub(crate) fn verb_scores_from_probabilities(
    hoi_scores: &[f32],
    obj_scores: &[f32],
    class_verbs: &[usize],
    class_objects: &[usize],
    num_pairs: usize,
    num_columns: usize,
    num_verbs: usize,
) -> VerbScores {
    let num_hois = class_verbs.len();
    let mut scores = vec![0.0f32; num_pairs * num_verbs];
    let mut best_class = vec![None; num_pairs * num_verbs];
    for p in 0..num_pairs {
        let hoi_row = &hoi_scores[p * num_hois..(p + 1) * num_hois];
        let obj_row = &obj_scores[p * num_columns..(p + 1) * num_columns];
        let out = &mut scores[p * num_verbs..(p + 1) * num_verbs];
        let best = &mut best_class[p * num_verbs..(p + 1) * num_verbs];
        for c in 0..num_hois {
            let o = obj_row[class_objects[c]];
            let s = hoi_row[c] + o * o;
            let v = class_verbs[c];
            if best[v].is_none() || s > out[v] {
                out[v] = s;
                best[v] = Some(c);
            }
        }
    }
    VerbScores {
        scores,
        best_class,
        num_verbs,
    }
}

/// One kept (pair, verb) cell.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct VerbCandidate {
    /// The pair query.
    pub pair: usize,
    /// The verb.
    pub verb: usize,
    /// The class whose score the verb took (`None` for a verb without classes).
    pub best_class: Option<usize>,
    /// The pair's object label.
    pub label: usize,
    /// `verb score × mask[verb, label]`, in `f64` as numpy computes it.
    pub score: f64,
}

/// The `top_k` best (pair, verb) cells after the mask, best first; equal scores keep the
/// (pair, verb) order, as Python's stable `sort(reverse=True)` does.
///
/// # Errors
///
/// [`InputShape`](crate::HoiclipError::InputShape) when `labels` is not one per pair or the mask is narrower
/// than a label or has fewer verbs.
pub fn top_k_verbs(
    verb_scores: &VerbScores,
    labels: &[usize],
    mask: &VerbObjectMask,
    top_k: usize,
) -> Result<Vec<VerbCandidate>> {
    let v = verb_scores.num_verbs;
    let pairs = labels.len();
    if verb_scores.scores.len() != pairs * v {
        return Err(shape_error(
            "labels",
            format!(
                "one per pair ({} pairs)",
                verb_scores.scores.len() / v.max(1)
            ),
            vec![pairs],
        ));
    }
    if mask.verbs() < v {
        return Err(shape_error(
            "verb-object mask",
            format!("at least {v} verbs"),
            vec![mask.verbs(), mask.columns()],
        ));
    }
    if let Some(&bad) = labels.iter().find(|&&l| l >= mask.columns()) {
        return Err(shape_error(
            "verb-object mask",
            format!("a column for object label {bad}"),
            vec![mask.verbs(), mask.columns()],
        ));
    }
    let mut cells: Vec<(f64, VerbCandidate)> = Vec::with_capacity(pairs * v);
    for (p, &label) in labels.iter().enumerate() {
        for verb in 0..v {
            let s = f64::from(verb_scores.scores[p * v + verb]) * mask.value(verb, label);
            cells.push((
                s,
                VerbCandidate {
                    pair: p,
                    verb,
                    best_class: verb_scores.best_class[p * v + verb],
                    label,
                    score: s,
                },
            ));
        }
    }
    // Stable and descending, comparing as Python does (-0.0 equals 0.0).
    cells.sort_by(|a, b| b.0.partial_cmp(&a.0).unwrap_or(std::cmp::Ordering::Equal));
    Ok(cells.into_iter().take(top_k).map(|(_, c)| c).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mask_appends_a_ones_column() {
        let m = VerbObjectMask::from_correct_mat(&[1.0, 0.0, 0.25, 0.0], 2, 2).expect("mask");
        assert_eq!((m.verbs(), m.columns()), (2, 3));
        assert_eq!(m.value(0, 1), 0.0);
        assert_eq!(m.value(1, 0), 0.25);
        assert_eq!(m.value(1, 2), 1.0);
        assert_eq!(m.value(5, 0), 0.0);
        assert!(VerbObjectMask::from_correct_mat(&[1.0], 2, 2).is_err());
    }

    #[test]
    fn verbs_take_their_best_class_and_ties_keep_order() {
        // 2 pairs, 3 classes: (verb 0, obj 0), (verb 0, obj 1), (verb 1, obj 2 = no object).
        let hoi = [0.0, 1.0, -1.0, 0.0, 0.0, 0.0];
        let obj = [0.0, 0.0, 0.0, 5.0, 0.0, 0.0, 0.0, 5.0];
        let s = verb_scores(&hoi, &obj, &[0, 0, 1], &[0, 1, 2], 2, 4, 2, None).expect("scores");
        let expect = sigmoid(1.0) + 0.25;
        assert_eq!(s.scores[0], expect);
        assert_eq!(s.best_class[0], Some(1));
        // Pair 1: classes 0 and 1 tie on the class score, the first wins.
        assert_eq!(s.best_class[2], Some(0));
        let labels = object_labels(&obj, 2, 4).expect("labels");
        assert_eq!(labels, vec![0, 0]);
        let mask = VerbObjectMask::from_classes(&[0, 0, 1], &[0, 1, 2], 2, 3, Some(2));
        let top = top_k_verbs(&s, &labels, &mask, 10).expect("top");
        assert_eq!(top.len(), 4);
        // verb 1 with label 0 is not a class: masked to 0, kept last in cell order.
        assert_eq!((top[2].pair, top[2].verb, top[2].score), (0, 1, 0.0));
        assert_eq!((top[3].pair, top[3].verb, top[3].score), (1, 1, 0.0));
    }
}
