//! Host-side post-processing of HOICLIP predictions, on plain `f32` slices.
//!
//! This mirrors the reference's evaluation path for one image:
//!
//! 1. [`scores::enhancement_scores`]: the optional training-free enhancement of
//!    `engine.py::evaluate_hoi` (keep the top-k CLIP image-level HOI scores, zero the rest,
//!    take the sigmoid of the whole vector).
//! 2. [`scores::hoi_scores`]: the triplet score of every (pair, HOI class) cell, as
//!    `PostProcessHOITriplet` plus `HICOEvaluator` compute it.
//! 3. [`scores::top_k_indices`] / [`scores::top_k_hois`]: the 100 best cells over
//!    pairs × classes.
//! 4. [`triplet_nms::triplet_nms`]: the pair-wise triplet NMS of `hico_eval_triplet.py`,
//!    run per HOI category.
//!
//! V-COCO models take [`vcoco`] instead of steps 2-4: per pair and verb the best class
//! score, the verb-object mask, the 100 best (pair, verb) cells and no NMS.

pub mod scores;
pub mod triplet_nms;
pub mod vcoco;

pub use scores::{
    HoiCandidate, enhancement_scores, hoi_scores, sigmoid, top_k_hois, top_k_indices,
    top_k_indices_reference,
};
pub use triplet_nms::{Triplet, TripletNmsParams, pairwise_nms, triplet_nms};
pub use vcoco::{
    VerbCandidate, VerbObjectMask, VerbScores, object_labels, top_k_verbs, verb_scores,
};
