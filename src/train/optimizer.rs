//! [`HoiOptimizer`]: the authors' optimisation step (`main.py`, `engine.py`): AdamW over two
//! parameter groups (the ResNet at `lr_backbone`, everything else at `lr`, one weight
//! decay), gradient clipping by the global norm with `torch.nn.utils.clip_grad_norm_`
//! semantics, and a step learning-rate drop (`MultiStepLRWarmup` with one milestone and no
//! warm-up, stepped once per epoch).
//!
//! The update itself is burn-optim's [`AdamW`](burn::optim::AdamW): decoupled decay
//! `p ← p·(1 − lr·wd)`, then `p ← p − lr·m̂/(√v̂ + ε)` with bias-corrected moments, which is
//! torch's AdamW (`amsgrad=False`). Burn's own gradient clipping clips each parameter's
//! gradient on its own, not the global norm, so clipping is done here before the step.

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::{AdamWConfig, GradientsParams, ModuleOptimizer};
use burn::tensor::Tensor;

use crate::error::{HoiclipError, Result};
use crate::model::HoiclipModel;

/// The optimiser's hyper-parameters (the authors' HICO-DET script's values by default).
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct OptimizerConfig {
    /// `--lr` (1e-4): everything but the backbone.
    pub lr: f64,
    /// `--lr_backbone` (1e-5): the ResNet (`backbone.*`).
    pub lr_backbone: f64,
    /// `--weight_decay` (1e-4), both groups.
    pub weight_decay: f32,
    /// AdamW β₁ (torch's default 0.9).
    pub beta_1: f32,
    /// AdamW β₂ (torch's default 0.999).
    pub beta_2: f32,
    /// AdamW ε (torch's default 1e-8).
    pub epsilon: f32,
    /// `--clip_max_norm` (0.1); 0 turns clipping off.
    pub clip_max_norm: f64,
    /// `--lr_drop` (60): the epoch from which the learning rates are multiplied by `gamma`.
    pub lr_drop: usize,
    /// `--lr_drop_gamma` (0.1).
    pub lr_drop_gamma: f64,
}

impl Default for OptimizerConfig {
    fn default() -> Self {
        Self {
            lr: 1e-4,
            lr_backbone: 1e-5,
            weight_decay: 1e-4,
            beta_1: 0.9,
            beta_2: 0.999,
            epsilon: 1e-8,
            clip_max_norm: 0.1,
            lr_drop: 60,
            lr_drop_gamma: 0.1,
        }
    }
}

impl OptimizerConfig {
    /// The learning rates `(lr, lr_backbone)` during `epoch` (0-based): the reference's
    /// scheduler multiplies both by `gamma` once the epoch count reaches `lr_drop` (one
    /// milestone, as every script configures it).
    pub fn learning_rates(&self, epoch: usize) -> (f64, f64) {
        let factor = if self.lr_drop > 0 && epoch >= self.lr_drop {
            self.lr_drop_gamma
        } else {
            1.0
        };
        (self.lr * factor, self.lr_backbone * factor)
    }
}

/// What one optimiser step reports.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepReport {
    /// The global gradient norm before clipping (what `clip_grad_norm_` returns).
    pub grad_norm: f64,
    /// The factor the gradients were multiplied by (1 when not clipped).
    pub clip_factor: f64,
    /// The learning rate of the non-backbone group.
    pub lr: f64,
    /// The learning rate of the backbone group.
    pub lr_backbone: f64,
}

/// AdamW with the authors' groups and clipping.
#[derive(Clone)]
pub struct HoiOptimizer {
    /// The configuration.
    pub config: OptimizerConfig,
    optim: ModuleOptimizer,
}

/// Sums the squares of the gradients of a module's parameters, noting the first non-finite.
struct NormVisitor<'a> {
    grads: &'a GradientsParams,
    stack: Vec<String>,
    sum_squares: f64,
    first_non_finite: Option<String>,
    error: Option<HoiclipError>,
}

impl ModuleVisitor for NormVisitor<'_> {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.stack.push(name.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.stack.pop();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let Some(grad) = self.grads.get::<D>(param.id) else {
            return;
        };
        // torch: the norm of the per-parameter norms, in the gradients' precision.
        match crate::nn::cpu::host_values(grad.square().sum()) {
            Ok(v) => {
                let s = f64::from(v.first().copied().unwrap_or(0.0));
                if !s.is_finite() && self.first_non_finite.is_none() {
                    self.first_non_finite = Some(self.stack.join("."));
                }
                self.sum_squares += s;
            }
            Err(e) => self.error = Some(e),
        }
    }
}

/// Multiplies every gradient of a module by a factor.
struct ScaleVisitor {
    grads: GradientsParams,
    factor: f32,
}

impl ModuleVisitor for ScaleVisitor {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(grad) = self.grads.remove::<D>(param.id) {
            self.grads.register(param.id, grad * self.factor);
        }
    }
}

/// Moves the gradients of a module's parameters from one set to another (each at its own
/// rank: the set is keyed by id and typed by rank).
struct MoveVisitor<'a> {
    from: &'a mut GradientsParams,
    to: GradientsParams,
}

impl ModuleVisitor for MoveVisitor<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(grad) = self.from.remove::<D>(param.id) {
            self.to.register(param.id, grad);
        }
    }
}

impl HoiOptimizer {
    /// A fresh optimiser (no moments yet).
    pub fn new(config: OptimizerConfig) -> Self {
        let optim = AdamWConfig::new()
            .with_beta_1(config.beta_1)
            .with_beta_2(config.beta_2)
            .with_epsilon(config.epsilon)
            .with_weight_decay(config.weight_decay)
            .init();
        Self { config, optim }
    }

    /// The global L2 norm of the gradients of `model`'s parameters, and the path of the first
    /// parameter whose gradient is not finite.
    ///
    /// # Errors
    ///
    /// When a gradient cannot be read back.
    pub fn grad_norm(
        model: &HoiclipModel,
        grads: &GradientsParams,
    ) -> Result<(f64, Option<String>)> {
        let mut visitor = NormVisitor {
            grads,
            stack: Vec::new(),
            sum_squares: 0.0,
            first_non_finite: None,
            error: None,
        };
        model.visit(&mut visitor);
        if let Some(e) = visitor.error {
            return Err(e);
        }
        Ok((visitor.sum_squares.sqrt(), visitor.first_non_finite))
    }

    /// One step on `grads` (from `loss.backward()` with [`GradientsParams::from_grads`]) at
    /// the learning rates of `epoch`: clip to the global norm, then AdamW with the backbone's
    /// own learning rate. `step` names the step in errors.
    ///
    /// # Errors
    ///
    /// [`HoiclipError::NonFinite`] when the gradient norm is not finite (nothing is updated);
    /// read-back errors.
    pub fn step(
        &mut self,
        model: HoiclipModel,
        grads: GradientsParams,
        epoch: usize,
        step: u64,
    ) -> Result<(HoiclipModel, StepReport)> {
        let (grad_norm, bad) = Self::grad_norm(&model, &grads)?;
        if !grad_norm.is_finite() {
            return Err(HoiclipError::NonFinite {
                step,
                what: format!(
                    "gradient norm (first non-finite gradient: {})",
                    bad.unwrap_or_else(|| "?".into())
                ),
                value: grad_norm,
            });
        }
        // clip_grad_norm_: coefficient max_norm / (norm + 1e-6), clamped to 1, always applied.
        let clip_factor = if self.config.clip_max_norm > 0.0 {
            (self.config.clip_max_norm / (grad_norm + 1e-6)).min(1.0)
        } else {
            1.0
        };
        let mut grads = grads;
        if clip_factor != 1.0 {
            let mut scale = ScaleVisitor {
                grads,
                factor: clip_factor as f32,
            };
            model.visit(&mut scale);
            grads = scale.grads;
        }
        // Split the backbone's gradients off, so each group gets its own learning rate.
        let mut split = MoveVisitor {
            from: &mut grads,
            to: GradientsParams::new(),
        };
        model.detection.backbone.visit(&mut split);
        let backbone = split.to;
        let (lr, lr_backbone) = self.config.learning_rates(epoch);
        let mut model = model;
        if !backbone.is_empty() {
            model = self.optim.step(lr_backbone, model, backbone);
        }
        model = self.optim.step(lr, model, grads);
        model.detection.backbone.reset_cpu_plan();
        Ok((
            model,
            StepReport {
                grad_norm,
                clip_factor,
                lr,
                lr_backbone,
            },
        ))
    }

    /// The optimiser's state (moments and step counts) as burn-optim's record.
    pub fn to_record(&self) -> burn::optim::OptimizerRecord {
        self.optim.to_record()
    }

    /// Restore a state written by [`Self::to_record`].
    pub fn load_record(mut self, record: burn::optim::OptimizerRecord) -> Self {
        self.optim = self.optim.load_record(record);
        self
    }
}
