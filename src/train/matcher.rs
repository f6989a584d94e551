//! [`HungarianMatcher`]: the authors' `HungarianMatcherHOI` (`models/matcher.py`), which
//! assigns each annotated pair of an image to one pair query before the losses are taken.
//!
//! The cost of query `q` for target pair `t` is
//!
//! `C = c_hoi · c_hoi · hoi + c_bbox · max(L1_sub, L1_obj · has_obj)
//!      + c_giou · max(−GIoU_sub, −GIoU_obj + (−GIoU_sub) · no_obj) + c_obj · (−p_obj)`
//!
//! with `hoi = −(p·t / (Σt + 1e-4) + (1−p)·(1−t) / (Σ(1−t) + 1e-4)) / 2` over the sigmoid HOI
//! probabilities `p` and the multi-hot target `t` (a soft F1), and `p_obj` the softmax
//! probability of the target's object class. The HOI coefficient multiplies twice, as in the
//! reference (it is 1 in every script, so this only matters for a caller who changes it).
//! The costs are computed in `f32` as the reference does; the assignment is SciPy's
//! `linear_sum_assignment`, through the `lsap` crate (a port of SciPy's solver).

use burn::tensor::Tensor;

use super::boxes::{cxcywh_to_xyxy, generalized_iou};
use crate::data::HoiTarget;
use crate::error::{HoiclipError, Result};
use crate::model::LevelPrediction;
use crate::nn::cpu::host_values;

/// The matcher's cost coefficients (`--set_cost_*` of `main.py`).
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MatcherConfig {
    /// `set_cost_hoi` (1).
    pub cost_hoi: f32,
    /// `set_cost_obj_class` (1).
    pub cost_object_class: f32,
    /// `set_cost_bbox` (2.5).
    pub cost_bbox: f32,
    /// `set_cost_giou` (1).
    pub cost_giou: f32,
}

impl Default for MatcherConfig {
    /// The authors' values (`main.py` defaults, unchanged by every training script).
    fn default() -> Self {
        Self {
            cost_hoi: 1.0,
            cost_object_class: 1.0,
            cost_bbox: 2.5,
            cost_giou: 1.0,
        }
    }
}

/// One image's assignment: `queries[k]` is matched to target pair `pairs[k]`, sorted by
/// query as `linear_sum_assignment` returns them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Assignment {
    /// The matched query of each match, increasing.
    pub queries: Vec<usize>,
    /// The matched target pair of each match.
    pub pairs: Vec<usize>,
}

/// The Hungarian matcher.
#[derive(Clone, Copy, Debug, Default)]
pub struct HungarianMatcher {
    /// Cost coefficients.
    pub config: MatcherConfig,
}

/// A level's predictions on the host, `[batch · queries]` rows.
struct HostPrediction {
    queries: usize,
    hoi_classes: usize,
    object_columns: usize,
    hoi: Vec<f32>,
    objects: Vec<f32>,
    human_boxes: Vec<f32>,
    object_boxes: Vec<f32>,
}

impl HostPrediction {
    fn read(prediction: &LevelPrediction) -> Result<Self> {
        let [_, queries, hoi_classes] = prediction.hoi_logits.dims();
        let [_, _, object_columns] = prediction.object_logits.dims();
        let values = |t: &Tensor<3>| host_values(t.clone().detach());
        Ok(Self {
            queries,
            hoi_classes,
            object_columns,
            hoi: values(&prediction.hoi_logits)?,
            objects: values(&prediction.object_logits)?,
            human_boxes: values(&prediction.human_boxes)?,
            object_boxes: values(&prediction.object_boxes)?,
        })
    }

    fn boxes(values: &[f32], row: usize) -> [f32; 4] {
        let b = &values[row * 4..row * 4 + 4];
        [b[0], b[1], b[2], b[3]]
    }
}

impl HungarianMatcher {
    /// A matcher with the given coefficients.
    pub fn new(config: MatcherConfig) -> Self {
        Self { config }
    }

    /// The cost matrix of image `image` of the batch: `[queries][pairs]`, row-major.
    ///
    /// # Errors
    ///
    /// [`HoiclipError::Target`] for a target whose classes do not fit the predictions.
    pub fn cost_matrix(
        &self,
        prediction: &LevelPrediction,
        targets: &[HoiTarget],
        image: usize,
    ) -> Result<Vec<f32>> {
        let host = HostPrediction::read(prediction)?;
        self.image_cost(&host, targets, image)
    }

    fn image_cost(
        &self,
        host: &HostPrediction,
        targets: &[HoiTarget],
        image: usize,
    ) -> Result<Vec<f32>> {
        let target = &targets[image];
        target.validate(&image.to_string(), host.hoi_classes, host.object_columns)?;
        let (q, c, k) = (host.queries, host.hoi_classes, host.object_columns);
        let n = target.len();
        // The reference normalises the soft-F1 terms by sums over *all* targets of the
        // batch's pairs column by column; each column is one pair, so per-pair sums suffice.
        let rows: Vec<Vec<f32>> = (0..n).map(|t| target.hoi_row(t, c)).collect();
        let positives: Vec<f32> = rows.iter().map(|r| r.iter().sum()).collect();
        let negatives: Vec<f32> = rows
            .iter()
            .map(|r| r.iter().map(|v| 1.0 - v).sum())
            .collect();
        let cfg = self.config;
        let mut cost = vec![0.0f32; q * n];
        for query in 0..q {
            let row = image * q + query;
            let logits = &host.hoi[row * c..(row + 1) * c];
            let prob: Vec<f32> = logits.iter().map(|&x| sigmoid(x)).collect();
            let obj = softmax(&host.objects[row * k..(row + 1) * k]);
            let sub = HostPrediction::boxes(&host.human_boxes, row);
            let objb = HostPrediction::boxes(&host.object_boxes, row);
            let (sub_xyxy, obj_xyxy) = (cxcywh_to_xyxy(sub), cxcywh_to_xyxy(objb));
            for t in 0..n {
                let (mut pos, mut neg) = (0.0f32, 0.0f32);
                for (p, y) in prob.iter().zip(&rows[t]) {
                    pos += p * y;
                    neg += (1.0 - p) * (1.0 - y);
                }
                let hoi = -(pos / (positives[t] + 1e-4) + neg / (negatives[t] + 1e-4)) / 2.0;
                let hoi = cfg.cost_hoi * hoi;
                let object_class = -obj[target.object_labels[t]];
                let tsub = target.human_boxes[t];
                let tobj = target.object_boxes[t];
                let has_obj = if target.has_object_box(t) { 1.0 } else { 0.0 };
                let l1_sub = l1(sub, tsub);
                let l1_obj = l1(objb, tobj) * has_obj;
                let bbox = l1_sub.max(l1_obj);
                let giou_sub = -generalized_iou(sub_xyxy, cxcywh_to_xyxy(tsub));
                let giou_obj =
                    -generalized_iou(obj_xyxy, cxcywh_to_xyxy(tobj)) + giou_sub * (1.0 - has_obj);
                let giou = max_nan(giou_sub, giou_obj);
                cost[query * n + t] = cfg.cost_hoi * hoi
                    + cfg.cost_bbox * bbox
                    + cfg.cost_giou * giou
                    + cfg.cost_object_class * object_class;
            }
        }
        Ok(cost)
    }

    /// Match every image of the batch: one [`Assignment`] per target.
    ///
    /// # Errors
    ///
    /// [`HoiclipError::Target`] for invalid targets or a batch size that differs from the
    /// predictions'; [`HoiclipError::Training`] when a cost is not finite (the assignment
    /// would be meaningless).
    pub fn assign(
        &self,
        prediction: &LevelPrediction,
        targets: &[HoiTarget],
    ) -> Result<Vec<Assignment>> {
        let [batch, _, _] = prediction.hoi_logits.dims();
        if targets.len() != batch {
            return Err(HoiclipError::Target {
                image: "batch".into(),
                reason: format!("{} targets for a batch of {batch} images", targets.len()),
            });
        }
        let host = HostPrediction::read(prediction)?;
        (0..batch)
            .map(|image| {
                let n = targets[image].len();
                if n == 0 {
                    // An image without pairs (e.g. all cropped away): nothing to match.
                    return Ok(Assignment::default());
                }
                let cost = self.image_cost(&host, targets, image)?;
                if let Some(bad) = cost.iter().find(|v| !v.is_finite()) {
                    return Err(HoiclipError::Training(format!(
                        "the matching cost of image {image} holds {bad} (non-finite predictions \
                         or degenerate boxes)"
                    )));
                }
                let cost: Vec<f64> = cost.iter().map(|&v| f64::from(v)).collect();
                let (queries, pairs) = lsap::solve(host.queries, n, &cost, false).map_err(|e| {
                    HoiclipError::Training(format!("linear assignment of image {image}: {e:?}"))
                })?;
                Ok(Assignment { queries, pairs })
            })
            .collect()
    }
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

fn softmax(logits: &[f32]) -> Vec<f32> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exp: Vec<f32> = logits.iter().map(|&x| (x - max).exp()).collect();
    let sum: f32 = exp.iter().sum();
    exp.into_iter().map(|e| e / sum).collect()
}

fn l1(a: [f32; 4], b: [f32; 4]) -> f32 {
    a.iter().zip(&b).map(|(x, y)| (x - y).abs()).sum()
}

/// `torch.stack((a, b)).max(dim=0)`: NaN if either is NaN.
fn max_nan(a: f32, b: f32) -> f32 {
    if a.is_nan() || b.is_nan() {
        f32::NAN
    } else {
        a.max(b)
    }
}
