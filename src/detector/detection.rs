//! One detected human-object interaction.

use serde::{Deserialize, Serialize};

/// A `(person box, object box, object, verb, score)` triplet, as [`super::HoiDetector`]
/// returns it.
///
/// Boxes are `[x1, y1, x2, y2]` in pixels of the image given to `detect` (the reference
/// scales the normalised `cxcywh` boxes by the original width and height; boxes are not
/// clipped to the image). Ids index the detector's vocabulary: for the authors' HICO-DET
/// checkpoints `hoi_id` is 0..600 in `hico_text_label` order (HICO's `hoi_category_id - 1`),
/// `verb_id` indexes the 117 verbs and `object_id` the 80 objects of
/// [`crate::labels::hico`].
///
/// A V-COCO model detects (pair, verb) as the authors' V-COCO evaluation does: `verb_id` is
/// one of the 29 verbs, `object_id` the pair's own object prediction (0..80, where 80 is
/// `none`, "person only"), `hoi_id` / `hoi_prompt` the verb's HOI class that scored best,
/// and an object-less detection (object `none`) has no object box.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HoiDetection {
    /// The person (subject) box, `[x1, y1, x2, y2]` pixels.
    pub subject_box: [f32; 4],
    /// The object box, `[x1, y1, x2, y2]` pixels; `None` for an object-less action (the
    /// object [`crate::model::NO_OBJECT`], e.g. V-COCO's `stand` or an instrument-less
    /// `cut`).
    pub object_box: Option<[f32; 4]>,
    /// The object class: for a HICO-DET-style model the HOI class's object (not the pair's
    /// own object prediction); for a V-COCO model the pair's predicted object.
    pub object_id: usize,
    /// The object's name, e.g. `"bicycle"`.
    pub object_name: String,
    /// The verb class.
    pub verb_id: usize,
    /// The verb's name, e.g. `"ride"`.
    pub verb_name: String,
    /// The HOI class.
    pub hoi_id: usize,
    /// The HOI class's text prompt, e.g. `"a photo of a person riding a bicycle"`.
    pub hoi_prompt: String,
    /// The triplet score: `sigmoid(hoi) (+ enhancement) + sigmoid(object)²`, a sum, so it
    /// lies in `[0, 2]` without the enhancement and `[0, 3]` with it. For a V-COCO model the
    /// best such score over the verb's HOI classes, times the verb-object validity mask.
    pub score: f32,
    /// The pair query that produced it (`0..num_queries`); the reference's predictions
    /// number boxes so that the subject is box `pair` and the object box
    /// `num_queries + pair`.
    pub pair: usize,
}
