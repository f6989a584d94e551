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
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HoiDetection {
    /// The person (subject) box, `[x1, y1, x2, y2]` pixels.
    pub subject_box: [f32; 4],
    /// The object box, `[x1, y1, x2, y2]` pixels.
    pub object_box: [f32; 4],
    /// The object class of the HOI class (not the pair's own object prediction).
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
    /// lies in `[0, 2]` without the enhancement and `[0, 3]` with it.
    pub score: f32,
    /// The pair query that produced it (`0..num_queries`); the reference's predictions
    /// number boxes so that the subject is box `pair` and the object box
    /// `num_queries + pair`.
    pub pair: usize,
}
