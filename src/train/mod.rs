//! Training HOICLIP (cargo feature `train`): the authors' training step on Burn's autodiff.
//!
//! A layer above [`crate::model`]: it imports the model, never the other way round, and the
//! inference path does not pull in autodiff.
//!
//! - [`boxes`]: box conversions and generalised IoU.
//! - [`matcher`]: [`HungarianMatcher`], the authors' `HungarianMatcherHOI`.
//! - [`criterion`]: [`SetCriterion`], the authors' `SetCriterionHOI` with auxiliary losses.
//! - [`init`]: a trainable model from a two-branch DETR checkpoint and CLIP weights.
//! - [`dropout`]: [`set_dropout`], the authors' training dropout on the transformers.
//! - [`freeze`]: [`apply_freeze`], what trains (`--fix_clip`, frozen ResNet stem and norms).
//! - [`optimizer`]: [`HoiOptimizer`], AdamW with the backbone group, global-norm clipping
//!   and the step learning-rate drop.
//! - [`params`]: the parameters of a module by path.
//! - [`step`]: [`TrainStep`], one forward, loss, backward and update.
//! - [`dataset`]: the sampler's epoch order, a synthetic set (samples and readers:
//!   [`crate::data`]).
//! - [`evaluate`]: validation during training with the crate's HICO-DET evaluator.
//! - [`checkpoint`]: crash-safe checkpoints that resume to the identical next step.
//! - [`trainer`]: [`Trainer`], the training loop with presets, hooks and Ctrl-C.

pub mod boxes;
pub mod checkpoint;
pub mod criterion;
pub mod dataset;
pub mod dropout;
pub mod evaluate;
pub mod freeze;
pub mod init;
pub mod matcher;
pub mod optimizer;
pub mod params;
pub mod step;
pub mod trainer;

pub use crate::data::{HoiTarget, InMemorySet, TrainingSample, TrainingSet};
pub use criterion::{CriterionConfig, CriterionOutput, LossTerm, SetCriterion};
pub use dataset::{SyntheticClass, synthetic_set};
pub use dropout::set_dropout;
pub use evaluate::{ValidationProtocol, evaluate_samples};
pub use freeze::{FreezePolicy, apply_freeze, training_model};
pub use init::{InitOptions, InitReport, InitRule, InitSources, VerbSource, init_for_training};
pub use matcher::{Assignment, HungarianMatcher, MatcherConfig};
pub use optimizer::{HoiOptimizer, OptimizerConfig, StepReport};
pub use params::{ParamInfo, parameters};
pub use step::{StepOutcome, TrainStep};
pub use trainer::{NoHooks, StepEvent, StopReason, TrainConfig, TrainHooks, Trainer, ctrl_c_flag};
