//! Post-processing options of [`super::Hoiclip`].

use serde::{Deserialize, Serialize};

use crate::model::ResizeConfig;
use crate::postprocess::TripletNmsParams;

/// The training-free enhancement (`engine.py::evaluate_hoi`): CLIP's image-level HOI scores
/// added to every pair's HOI scores.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Enhancement {
    /// Not applied (the reference's baseline numbers).
    Off,
    /// Keep the `k` best image-level scores, zero the rest, add the sigmoid of all of them
    /// (so the zeroed classes still add `sigmoid(0) = 0.5`). The reference sweeps 10…50 and
    /// starts at 10.
    TopK(usize),
    /// Add the sigmoid of every image-level score, none zeroed.
    All,
}

/// How detections are selected; [`Default`] gives the authors' evaluation settings.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct DetectOptions {
    /// Best (pair, HOI class) cells kept per image before NMS (`max_hois`, 100).
    pub top_k: usize,
    /// Pair-wise triplet NMS (`use_nms_filter`, 0.7 / α 1 / β 0.5); `None` keeps all.
    pub nms: Option<TripletNmsParams>,
    /// Detections scoring below this are dropped after NMS (0: keep all, as the reference).
    pub min_score: f32,
    /// The training-free enhancement (default: top 10).
    pub enhancement: Enhancement,
    /// The detection branch's input resize (default: shorter side 800, longer ≤ 1333).
    pub resize: ResizeConfig,
}

impl Default for DetectOptions {
    fn default() -> Self {
        Self {
            top_k: 100,
            nms: Some(TripletNmsParams::default()),
            min_score: 0.0,
            enhancement: Enhancement::TopK(10),
            resize: ResizeConfig::default(),
        }
    }
}
