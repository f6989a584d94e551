//! [`TrainStep`]: one step of `engine.py`'s `train_one_epoch`: forward with auxiliary
//! outputs, matching and losses, backward, clipping, AdamW.

use burn::optim::GradientsParams;

use super::criterion::{SetCriterion, scalar};
use super::matcher::Assignment;
use super::optimizer::{HoiOptimizer, StepReport};
use crate::data::HoiTarget;
use crate::error::{HoiclipError, Result};
use crate::model::{HoiclipInput, HoiclipModel};

/// What one step reports (host values).
#[derive(Clone, Debug)]
pub struct StepOutcome {
    /// The weighted total loss that was back-propagated.
    pub loss: f64,
    /// Every unweighted term, `(name, value)`, reference order.
    pub terms: Vec<(String, f64)>,
    /// The matcher's assignments, `[level][image]` (main level first).
    pub assignments: Vec<Vec<Assignment>>,
    /// Gradient norm, clipping and learning rates.
    pub report: StepReport,
}

/// The criterion and optimiser of a training run.
#[derive(Clone)]
pub struct TrainStep {
    /// Matcher and losses.
    pub criterion: SetCriterion,
    /// AdamW, clipping, schedule.
    pub optimizer: HoiOptimizer,
}

impl TrainStep {
    /// The losses of `model` on one batch, without updating anything (the graph is kept, so
    /// the caller may call `backward` on `total`).
    ///
    /// # Errors
    ///
    /// Model and criterion errors.
    pub fn losses(
        &self,
        model: &HoiclipModel,
        input: &HoiclipInput,
        targets: &[HoiTarget],
        num_interactions: f64,
    ) -> Result<super::CriterionOutput> {
        let levels = model.forward_levels(input)?;
        self.criterion.forward(&levels, targets, num_interactions)
    }

    /// Forward, loss, backward and one optimiser step at the learning rates of `epoch`.
    /// `step` (0-based, counted over the whole run) names the step in errors.
    ///
    /// `num_interactions` is `None` on one device (this batch's pair count); data-parallel
    /// training passes the cross-device average.
    ///
    /// # Errors
    ///
    /// [`HoiclipError::NonFinite`] naming the step and the loss term (or the gradient norm)
    /// when a value is not finite; nothing is updated then. Model and criterion errors.
    pub fn run(
        &mut self,
        model: HoiclipModel,
        input: &HoiclipInput,
        targets: &[HoiTarget],
        epoch: usize,
        step: u64,
        num_interactions: Option<f64>,
    ) -> Result<(HoiclipModel, StepOutcome)> {
        let num = num_interactions.unwrap_or_else(|| SetCriterion::num_interactions(targets));
        let output = self.losses(&model, input, targets, num)?;
        let terms = output.values()?;
        for (name, value) in &terms {
            if !value.is_finite() {
                return Err(HoiclipError::NonFinite {
                    step,
                    what: format!("loss term {name}"),
                    value: *value,
                });
            }
        }
        let loss = scalar(&output.total)?;
        if !loss.is_finite() {
            return Err(HoiclipError::NonFinite {
                step,
                what: "total loss".into(),
                value: loss,
            });
        }
        let grads = output.total.backward();
        let grads = GradientsParams::from_grads(grads, &model);
        let (model, report) = self.optimizer.step(model, grads, epoch, step)?;
        Ok((
            model,
            StepOutcome {
                loss,
                terms,
                assignments: output.assignments,
                report,
            },
        ))
    }
}
