//! [`SetCriterion`]: the authors' `SetCriterionHOI` (`models/models_hoiclip/hoiclip.py`) with
//! the weights of `build()` and `main.py`: the losses `hoi_labels`, `obj_labels` and
//! `sub_obj_boxes` on the main output and on every auxiliary decoder level, each level
//! matched on its own.
//!
//! | term | formula | weight |
//! |---|---|---|
//! | `loss_hoi_labels` | modified focal loss (CornerNet) on `clamp(sigmoid, 1e-4, 1 − 1e-4)`, α 0.5, γ 2, over the number of positives | 2 |
//! | `loss_obj_ce` | cross-entropy, "no object" weighted `eos_coef` 0.1, weighted mean | 1 |
//! | `loss_sub_bbox` | L1 of the matched human boxes / `num_interactions` | 2.5 |
//! | `loss_obj_bbox` | L1 of the matched object boxes with an object / (their count + 1e-4) | 2.5 |
//! | `loss_sub_giou` | Σ(1 − GIoU) of the matched human boxes / `num_interactions` | 1 |
//! | `loss_obj_giou` | Σ(1 − GIoU) of the matched object boxes with an object / (count + 1e-4) | 1 |
//!
//! Auxiliary terms carry the suffix `_{i}` (level `i`, first decoder layer 0). The
//! reference's logged-only values (`obj_class_error`, `hoi_class_error`) are not computed.
//! The feature-mimic and reconstruction losses of the reference are enabled by no training
//! script and are not implemented.

use burn::tensor::{Int, Tensor, TensorData};

use super::matcher::{Assignment, HungarianMatcher};
use crate::data::HoiTarget;
use crate::error::{HoiclipError, Result};
use crate::model::LevelPrediction;

/// Loss weights and the focal / cross-entropy constants (`main.py` defaults, as every
/// HOICLIP training script uses them).
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CriterionConfig {
    /// `hoi_loss_coef` (2).
    pub hoi_weight: f64,
    /// `obj_loss_coef` (1).
    pub object_weight: f64,
    /// `bbox_loss_coef` (2.5), for both L1 terms.
    pub bbox_weight: f64,
    /// `giou_loss_coef` (1), for both GIoU terms.
    pub giou_weight: f64,
    /// `eos_coef` (0.1): the cross-entropy weight of the "no object" column.
    pub eos_coef: f32,
    /// `alpha` (0.5) of the focal loss.
    pub focal_alpha: f64,
    /// Auxiliary losses on every decoder level (`aux_loss`, on by default).
    pub aux_loss: bool,
}

impl Default for CriterionConfig {
    fn default() -> Self {
        Self {
            hoi_weight: 2.0,
            object_weight: 1.0,
            bbox_weight: 2.5,
            giou_weight: 1.0,
            eos_coef: 0.1,
            focal_alpha: 0.5,
            aux_loss: true,
        }
    }
}

/// The six loss kinds of one level, in the reference's order.
pub const LOSS_KINDS: [&str; 6] = [
    "loss_hoi_labels",
    "loss_obj_ce",
    "loss_sub_bbox",
    "loss_obj_bbox",
    "loss_sub_giou",
    "loss_obj_giou",
];

/// One loss term: its name (the reference's key) and its unweighted value `[1]`.
#[derive(Clone, Debug)]
pub struct LossTerm {
    /// `loss_hoi_labels`, `loss_obj_ce_0`, ...
    pub name: String,
    /// The term's weight in the total.
    pub weight: f64,
    /// The unweighted value, `[1]`.
    pub value: Tensor<1>,
}

/// What [`SetCriterion::forward`] computes.
#[derive(Clone, Debug)]
pub struct CriterionOutput {
    /// Every term: the main level's six, then each auxiliary level's (reference order).
    pub terms: Vec<LossTerm>,
    /// `Σ weight · term`, `[1]` (what is back-propagated).
    pub total: Tensor<1>,
    /// The assignments: `[level][image]`, the main level first, then the auxiliary ones.
    pub assignments: Vec<Vec<Assignment>>,
    /// The `num_interactions` the box losses were normalised by.
    pub num_interactions: f64,
}

impl CriterionOutput {
    /// The unweighted terms as host values, `(name, value)`.
    ///
    /// # Errors
    ///
    /// When a tensor cannot be read back.
    pub fn values(&self) -> Result<Vec<(String, f64)>> {
        self.terms
            .iter()
            .map(|t| Ok((t.name.clone(), scalar(&t.value)?)))
            .collect()
    }
}

/// The set criterion.
#[derive(Clone, Copy, Debug, Default)]
pub struct SetCriterion {
    /// The matcher.
    pub matcher: HungarianMatcher,
    /// Weights and constants.
    pub config: CriterionConfig,
}

impl SetCriterion {
    /// A criterion with the given matcher and configuration.
    pub fn new(matcher: HungarianMatcher, config: CriterionConfig) -> Self {
        Self { matcher, config }
    }

    /// The batch's `num_interactions` on one device: the number of annotated pairs, at
    /// least 1. With several devices the reference averages the pair counts over them before
    /// the clamp: pass that average to [`Self::forward`] instead.
    pub fn num_interactions(targets: &[HoiTarget]) -> f64 {
        (targets.iter().map(HoiTarget::len).sum::<usize>() as f64).max(1.0)
    }

    /// The losses of `levels` (as [`crate::model::HoiclipModel::forward_levels`] returns
    /// them: auxiliary levels first, the main output last) against `targets` (one per image).
    /// `num_interactions` is [`Self::num_interactions`] (one device) or its cross-device
    /// average, clamped to at least 1.
    ///
    /// # Errors
    ///
    /// [`HoiclipError::Target`] for targets that do not fit the predictions; matcher errors.
    pub fn forward(
        &self,
        levels: &[LevelPrediction],
        targets: &[HoiTarget],
        num_interactions: f64,
    ) -> Result<CriterionOutput> {
        let Some((main, aux)) = levels.split_last() else {
            return Err(HoiclipError::Training("no decoder level to score".into()));
        };
        let num_interactions = num_interactions.max(1.0);
        let mut scored: Vec<(&LevelPrediction, String)> = vec![(main, String::new())];
        if self.config.aux_loss {
            scored.extend(aux.iter().enumerate().map(|(i, l)| (l, format!("_{i}"))));
        }
        let mut terms = Vec::with_capacity(scored.len() * LOSS_KINDS.len());
        let mut assignments = Vec::with_capacity(scored.len());
        for (level, suffix) in scored {
            let assignment = self.matcher.assign(level, targets)?;
            let values = self.level_losses(level, targets, &assignment, num_interactions)?;
            let weights = [
                self.config.hoi_weight,
                self.config.object_weight,
                self.config.bbox_weight,
                self.config.bbox_weight,
                self.config.giou_weight,
                self.config.giou_weight,
            ];
            for ((kind, weight), value) in LOSS_KINDS.iter().zip(weights).zip(values) {
                terms.push(LossTerm {
                    name: format!("{kind}{suffix}"),
                    weight,
                    value,
                });
            }
            assignments.push(assignment);
        }
        let mut total: Option<Tensor<1>> = None;
        for t in &terms {
            let weighted = t.value.clone() * t.weight;
            total = Some(match total {
                Some(sum) => sum + weighted,
                None => weighted,
            });
        }
        let total = total.ok_or_else(|| HoiclipError::Training("no loss term".into()))?;
        Ok(CriterionOutput {
            terms,
            total,
            assignments,
            num_interactions,
        })
    }

    /// The six terms of one level, [`LOSS_KINDS`] order.
    fn level_losses(
        &self,
        level: &LevelPrediction,
        targets: &[HoiTarget],
        assignment: &[Assignment],
        num_interactions: f64,
    ) -> Result<[Tensor<1>; 6]> {
        let [batch, queries, hoi_classes] = level.hoi_logits.dims();
        let [_, _, object_columns] = level.object_logits.dims();
        let device = level.hoi_logits.device();

        // Matched (image, query, target pair), in the reference's concatenation order.
        let matches: Vec<(usize, usize, usize)> = assignment
            .iter()
            .enumerate()
            .flat_map(|(image, a)| {
                a.queries
                    .iter()
                    .zip(&a.pairs)
                    .map(move |(&q, &t)| (image, q, t))
            })
            .collect();

        // loss_hoi_labels: the multi-hot target of each matched query, zeros elsewhere.
        let mut hoi_target = vec![0.0f32; batch * queries * hoi_classes];
        let mut positives = 0.0f64;
        for &(image, q, t) in &matches {
            let row = (image * queries + q) * hoi_classes;
            for &c in &targets[image].hoi_labels[t] {
                if hoi_target[row + c] == 0.0 {
                    positives += 1.0;
                }
                hoi_target[row + c] = 1.0;
            }
        }
        let hoi_target = Tensor::<3>::from_data(
            TensorData::new(hoi_target, [batch, queries, hoi_classes]),
            &device,
        );
        let hoi_loss = self.focal_loss(level.hoi_logits.clone(), hoi_target, positives);

        // loss_obj_ce: every query "no object" (the last column) but the matched ones.
        let no_object = object_columns - 1;
        let mut class_weight = vec![0.0f32; batch * queries * object_columns];
        let mut weight_sum = 0.0f64;
        for image in 0..batch {
            for q in 0..queries {
                let row = (image * queries + q) * object_columns;
                class_weight[row + no_object] = self.config.eos_coef;
            }
        }
        for &(image, q, t) in &matches {
            let row = (image * queries + q) * object_columns;
            let label = targets[image].object_labels[t];
            // `empty_weight[label]`: 1, or `eos_coef` for a pair labelled "no object".
            class_weight[row + no_object] = 0.0;
            class_weight[row + label] = if label == no_object {
                self.config.eos_coef
            } else {
                1.0
            };
        }
        for w in &class_weight {
            weight_sum += f64::from(*w);
        }
        let class_weight = Tensor::<3>::from_data(
            TensorData::new(class_weight, [batch, queries, object_columns]),
            &device,
        );
        let log_probs = burn::tensor::activation::log_softmax(level.object_logits.clone(), 2);
        let object_loss = (log_probs * class_weight).sum().neg() / weight_sum;

        // Box terms over the matched queries.
        let m = matches.len();
        if m == 0 {
            let zero = || (level.human_boxes.clone().sum() * 0.0).reshape([1]);
            return Ok([hoi_loss, object_loss, zero(), zero(), zero(), zero()]);
        }
        let rows: Vec<i64> = matches
            .iter()
            .map(|&(image, q, _)| (image * queries + q) as i64)
            .collect();
        let rows = Tensor::<1, Int>::from_data(TensorData::new(rows, [m]), &device);
        let gather = |boxes: &Tensor<3>| {
            boxes
                .clone()
                .reshape([batch * queries, 4])
                .select(0, rows.clone())
        };
        let src_sub = gather(&level.human_boxes);
        let src_obj = gather(&level.object_boxes);
        let mut tgt_sub = Vec::with_capacity(m * 4);
        let mut tgt_obj = Vec::with_capacity(m * 4);
        let mut exists = Vec::with_capacity(m);
        for &(image, _, t) in &matches {
            tgt_sub.extend_from_slice(&targets[image].human_boxes[t]);
            tgt_obj.extend_from_slice(&targets[image].object_boxes[t]);
            exists.push(if targets[image].has_object_box(t) {
                1.0f32
            } else {
                0.0
            });
        }
        let existing: f64 = exists.iter().map(|&v| f64::from(v)).sum();
        let tgt_sub = Tensor::<2>::from_data(TensorData::new(tgt_sub, [m, 4]), &device);
        let tgt_obj = Tensor::<2>::from_data(TensorData::new(tgt_obj, [m, 4]), &device);
        let exists = Tensor::<1>::from_data(TensorData::new(exists, [m]), &device);
        let object_norm = existing + 1e-4;

        let sub_bbox = (src_sub.clone() - tgt_sub.clone()).abs().sum() / num_interactions;
        let obj_bbox =
            ((src_obj.clone() - tgt_obj.clone()).abs() * exists.clone().unsqueeze_dim(1)).sum()
                / object_norm;
        use super::boxes::{cxcywh_to_xyxy_tensor as xyxy, paired_generalized_iou as giou};
        let sub_giou = (giou(xyxy(src_sub), xyxy(tgt_sub)).neg() + 1.0).sum() / num_interactions;
        let obj_giou =
            ((giou(xyxy(src_obj), xyxy(tgt_obj)).neg() + 1.0) * exists).sum() / object_norm;
        Ok([
            hoi_loss,
            object_loss,
            sub_bbox,
            obj_bbox,
            sub_giou,
            obj_giou,
        ])
    }

    /// `_neg_loss` on `clamp(sigmoid(logits), 1e-4, 1 − 1e-4)` against the 0/1 `target`.
    fn focal_loss(&self, logits: Tensor<3>, target: Tensor<3>, positives: f64) -> Tensor<1> {
        let alpha = self.config.focal_alpha;
        let p = burn::tensor::activation::sigmoid(logits).clamp(1e-4, 1.0 - 1e-4);
        let negative = target.clone().neg() + 1.0;
        let one_minus = p.clone().neg() + 1.0;
        let pos = p.clone().log() * one_minus.clone().square() * target * alpha;
        let neg = one_minus.log() * p.square() * negative * (1.0 - alpha);
        let sum = pos.sum() + neg.sum();
        if positives == 0.0 {
            sum.neg()
        } else {
            sum.neg() / positives
        }
    }
}

/// A `[1]` tensor's value.
pub(crate) fn scalar(t: &Tensor<1>) -> Result<f64> {
    let v = crate::nn::cpu::host_values(t.clone().detach())?;
    v.first()
        .map(|&x| f64::from(x))
        .ok_or_else(|| HoiclipError::Training("an empty loss tensor".into()))
}
