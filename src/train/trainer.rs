//! [`Trainer`]: the authors' `main.py` training loop on a [`TrainingSet`]: epochs of shuffled
//! full batches, one [`TrainStep`] each, the learning-rate drop, periodic checkpoints that
//! resume to the identical next step, a clean stop on request (Ctrl-C), and hooks for
//! logging and evaluation.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use burn::module::Module;
use burn::tensor::Device;

use super::checkpoint::{self, FORMAT_VERSION, TrainerState};
use super::criterion::{CriterionConfig, SetCriterion};
use super::dataset::epoch_batches;
use super::dropout::{set_dropout, step_seed, without_dropout};
use super::freeze::{FreezePolicy, training_model};
use super::matcher::{HungarianMatcher, MatcherConfig};
use super::optimizer::{HoiOptimizer, OptimizerConfig};
use super::step::{StepOutcome, TrainStep};
use crate::data::HoiTarget;
use crate::data::{AugmentConfig, BatchLoader, TrainingSet};
use crate::error::{HoiclipError, Result};
use crate::model::{HoiclipInput, HoiclipModel, ResizeConfig, ZeroShotType};

/// A training run's configuration.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TrainConfig {
    /// `--epochs` (90).
    pub epochs: usize,
    /// Images per step on this device (`--batch_size`; the authors: 8 on each of 2 GPUs).
    pub batch_size: usize,
    /// AdamW, clipping, schedule.
    pub optimizer: OptimizerConfig,
    /// Loss weights.
    pub criterion: CriterionConfig,
    /// Matching costs.
    pub matcher: MatcherConfig,
    /// What trains.
    pub freeze: FreezePolicy,
    /// `--dropout` (0.1): the transformers' dropout while training (0: deterministic steps).
    #[serde(default = "default_dropout")]
    pub dropout: f64,
    /// The zero-shot setting the model's classifier was built for (checked against the
    /// model; removing the unseen pairs from the data is the data pipeline's job).
    pub zero_shot: ZeroShotType,
    /// The detection branch's resize of training images fed without augmentation.
    pub resize: ResizeConfig,
    /// The training augmentation (the presets: the authors'); `None` feeds the images with
    /// the inference resize. Configurations saved before it existed read as `None`.
    #[serde(default)]
    pub augmentation: Option<AugmentConfig>,
    /// Batches prepared ahead of the step on a background thread.
    #[serde(default = "default_prefetch")]
    pub prefetch: usize,
    /// The sampler's seed (`--seed`, 42).
    pub seed: u64,
    /// Save a checkpoint every this many steps (0: at the end of each epoch only).
    pub checkpoint_every: u64,
    /// Complete checkpoints kept in the run directory.
    pub keep_checkpoints: usize,
    /// Stop after this many steps in total (for demos and tests).
    pub max_steps: Option<u64>,
}

fn default_dropout() -> f64 {
    0.1
}

fn default_prefetch() -> usize {
    2
}

impl TrainConfig {
    /// `scripts/train_hico.sh`: 90 epochs, drop at 60, batch 8 per device (the authors ran 2
    /// GPUs), the authors' optimiser, `--fix_clip`.
    pub fn hico_default() -> Self {
        Self {
            epochs: 90,
            batch_size: 8,
            optimizer: OptimizerConfig::default(),
            criterion: CriterionConfig::default(),
            matcher: MatcherConfig::default(),
            freeze: FreezePolicy::default(),
            dropout: default_dropout(),
            zero_shot: ZeroShotType::Default,
            resize: ResizeConfig::default(),
            augmentation: Some(AugmentConfig::authors()),
            prefetch: default_prefetch(),
            seed: 42,
            checkpoint_every: 0,
            keep_checkpoints: 2,
            max_steps: None,
        }
    }

    /// The zero-shot scripts (`train_hico_rf_uc.sh`, `_nrf_uc`, `_uo`, `_uv`): the HICO-DET
    /// recipe with `--del_unseen` and the given split.
    pub fn hico_zero_shot(split: ZeroShotType) -> Self {
        Self {
            zero_shot: split,
            ..Self::hico_default()
        }
    }

    /// `scripts/train_vcoco.sh`: the same optimiser and schedule on V-COCO.
    pub fn vcoco() -> Self {
        Self::hico_default()
    }

    /// A preset by name: `hico`, `rf-uc`, `nf-uc`, `uo`, `uv`, `vcoco`.
    ///
    /// # Errors
    ///
    /// [`HoiclipError::Config`] for another name.
    pub fn preset(name: &str) -> Result<Self> {
        Ok(match name {
            "hico" | "hico-default" => Self::hico_default(),
            "rf-uc" => Self::hico_zero_shot(ZeroShotType::RareFirst),
            "nf-uc" => Self::hico_zero_shot(ZeroShotType::NonRareFirst),
            "uo" => Self::hico_zero_shot(ZeroShotType::UnseenObject),
            "uv" => Self::hico_zero_shot(ZeroShotType::UnseenVerb),
            "vcoco" => Self::vcoco(),
            other => {
                return Err(HoiclipError::Config(format!(
                    "unknown training preset `{other}` (expected hico, rf-uc, nf-uc, uo, uv, vcoco)"
                )));
            }
        })
    }

    fn validate(&self) -> Result<()> {
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(HoiclipError::Config(format!(
                "dropout must be in [0, 1), got {}",
                self.dropout
            )));
        }
        if let Some(a) = &self.augmentation {
            a.validate()?;
        }
        if self.batch_size == 0 || self.epochs == 0 {
            return Err(HoiclipError::Config(format!(
                "training needs batch_size >= 1 and epochs >= 1 (got {} and {})",
                self.batch_size, self.epochs
            )));
        }
        Ok(())
    }
}

/// What the trainer reports after each step.
#[derive(Clone, Debug)]
pub struct StepEvent {
    /// Steps done (this one included).
    pub global_step: u64,
    /// The step's epoch.
    pub epoch: usize,
    /// The batch within the epoch (0-based).
    pub batch: usize,
    /// Batches per epoch.
    pub batches_per_epoch: usize,
    /// The step's losses, norms and learning rates.
    pub outcome: StepOutcome,
}

/// Callbacks of a run; every method has a do-nothing default.
pub trait TrainHooks {
    /// After every step.
    fn on_step(&mut self, _event: &StepEvent) {}

    /// After each epoch, with the model in inference mode (for evaluation).
    ///
    /// # Errors
    ///
    /// An error stops the run (after the epoch's checkpoint is written).
    fn on_epoch_end(&mut self, _epoch: usize, _model: &HoiclipModel) -> Result<()> {
        Ok(())
    }

    /// After a checkpoint is written.
    fn on_checkpoint(&mut self, _dir: &Path) {}
}

/// Hooks that do nothing.
pub struct NoHooks;
impl TrainHooks for NoHooks {}

/// Why [`Trainer::run`] returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopReason {
    /// All epochs done.
    Finished,
    /// `max_steps` reached.
    StepLimit,
    /// The stop flag was raised (Ctrl-C); a checkpoint was saved.
    Interrupted,
}

/// A flag raised by Ctrl-C (SIGINT) for [`Trainer::run`]'s `stop` argument. The handler is
/// process-wide and installed once; later calls return the same flag.
///
/// # Errors
///
/// [`HoiclipError::Training`] when the handler cannot be installed.
pub fn ctrl_c_flag() -> Result<Arc<AtomicBool>> {
    static FLAG: std::sync::OnceLock<Arc<AtomicBool>> = std::sync::OnceLock::new();
    if let Some(flag) = FLAG.get() {
        return Ok(flag.clone());
    }
    let flag = Arc::new(AtomicBool::new(false));
    let handler_flag = flag.clone();
    ctrlc::set_handler(move || handler_flag.store(true, Ordering::SeqCst))
        .map_err(|e| HoiclipError::Training(format!("cannot install the Ctrl-C handler: {e}")))?;
    Ok(FLAG.get_or_init(|| flag).clone())
}

/// A training run bound to a run directory.
pub struct Trainer {
    /// The configuration.
    pub config: TrainConfig,
    run_dir: PathBuf,
    model: HoiclipModel,
    step: TrainStep,
    state: TrainerState,
}

impl Trainer {
    /// Start a run from `model` (on a plain device such as flex; training runs on its
    /// autodiff counterpart). `run_dir` receives the checkpoints.
    ///
    /// # Errors
    ///
    /// [`HoiclipError::Config`] for an invalid configuration or a model built for another
    /// zero-shot split than `config.zero_shot`.
    pub fn new(
        model: HoiclipModel,
        config: TrainConfig,
        run_dir: impl Into<PathBuf>,
    ) -> Result<Self> {
        config.validate()?;
        if model.config.zero_shot_type != config.zero_shot {
            return Err(HoiclipError::Config(format!(
                "the model's classifier is built for zero-shot split {:?}, the training \
                 configuration says {:?}",
                model.config.zero_shot_type, config.zero_shot
            )));
        }
        let config_json =
            serde_json::to_string(&config).map_err(|e| HoiclipError::Config(e.to_string()))?;
        let model = set_dropout(training_model(model, config.freeze), config.dropout)?;
        let state = TrainerState {
            format_version: FORMAT_VERSION,
            global_step: 0,
            epoch: 0,
            batch_in_epoch: 0,
            seed: config.seed,
            config_json,
            param_ids: checkpoint::param_ids(&model),
            last_loss: None,
        };
        let step = Self::train_step(&config);
        Ok(Self {
            config,
            run_dir: run_dir.into(),
            model,
            step,
            state,
        })
    }

    /// Continue the run of `run_dir` from its latest checkpoint, on `device` (plain).
    ///
    /// # Errors
    ///
    /// [`HoiclipError::Training`] when the directory has no checkpoint; checkpoint errors.
    pub fn resume(run_dir: impl Into<PathBuf>, device: &Device) -> Result<Self> {
        let run_dir = run_dir.into();
        let Some(dir) = checkpoint::latest(&run_dir)? else {
            return Err(HoiclipError::Training(format!(
                "{} has no checkpoint to resume from",
                run_dir.display()
            )));
        };
        let loaded = checkpoint::load(&dir, device)?;
        let config: TrainConfig = serde_json::from_str(&loaded.state.config_json).map_err(|e| {
            HoiclipError::WeightFile {
                path: dir.join("state.json"),
                reason: format!("invalid training configuration: {e}"),
            }
        })?;
        let model = set_dropout(training_model(loaded.model, config.freeze), config.dropout)?;
        let mut step = Self::train_step(&config);
        let record = burn::optim::OptimizerRecord::from_bytes(burn::tensor::Bytes::from_bytes_vec(
            loaded.optimizer,
        ))
        .map_err(|e| HoiclipError::WeightFile {
            path: dir.join("optimizer.bpk"),
            reason: e.to_string(),
        })?;
        step.optimizer = step.optimizer.load_record(record);
        Ok(Self {
            config,
            run_dir,
            model,
            step,
            state: loaded.state,
        })
    }

    /// [`Self::resume`] when `run_dir` has a checkpoint, else [`Self::new`].
    ///
    /// # Errors
    ///
    /// As those two.
    pub fn resume_or_new(
        model: impl FnOnce() -> Result<HoiclipModel>,
        config: TrainConfig,
        run_dir: impl Into<PathBuf>,
        device: &Device,
    ) -> Result<Self> {
        let run_dir = run_dir.into();
        if checkpoint::latest(&run_dir)?.is_some() {
            Self::resume(run_dir, device)
        } else {
            Self::new(model()?, config, run_dir)
        }
    }

    fn train_step(config: &TrainConfig) -> TrainStep {
        TrainStep {
            criterion: SetCriterion::new(HungarianMatcher::new(config.matcher), config.criterion),
            optimizer: HoiOptimizer::new(config.optimizer),
        }
    }

    /// The run directory.
    pub fn run_dir(&self) -> &Path {
        &self.run_dir
    }

    /// Where the run stands.
    pub fn state(&self) -> &TrainerState {
        &self.state
    }

    /// The model being trained (autodiff parameters).
    pub fn model(&self) -> &HoiclipModel {
        &self.model
    }

    /// The trained model for inference: parameters on the plain device, no autodiff.
    pub fn inference_model(&self) -> HoiclipModel {
        let mut model = without_dropout(self.model.clone().valid());
        model.detection.backbone.reset_cpu_plan();
        model
    }

    /// Write a checkpoint now.
    ///
    /// # Errors
    ///
    /// Checkpoint write errors.
    pub fn save_checkpoint(&mut self) -> Result<PathBuf> {
        let optimizer =
            self.step.optimizer.to_record().into_bytes().map_err(|e| {
                HoiclipError::Training(format!("cannot serialise the optimiser: {e}"))
            })?;
        self.state.param_ids = checkpoint::param_ids(&self.model);
        checkpoint::save(
            &self.run_dir,
            &self.model,
            &optimizer,
            &self.state,
            self.config.keep_checkpoints,
        )
    }

    /// One step on `samples` (their images and targets) at the current position, without
    /// touching the sampler state: for callers that feed their own batches.
    ///
    /// # Errors
    ///
    /// As [`TrainStep::run`]; preprocessing errors naming the image.
    pub fn step_on(&mut self, samples: &[crate::data::TrainingSample]) -> Result<StepOutcome> {
        let device = self.model.hoi_text_embeddings.val().device();
        let images: Vec<&image::DynamicImage> = samples.iter().map(|s| &s.image).collect();
        let resize: Vec<_> = samples
            .iter()
            .map(|s| (!s.augmented).then_some(self.config.resize))
            .collect();
        let input = HoiclipInput::from_images_sized(
            &images,
            &resize,
            self.model.config.clip.vision.image_resolution,
            &device,
        )?;
        let targets: Vec<HoiTarget> = samples.iter().map(|s| s.target.clone()).collect();
        for (s, t) in samples.iter().zip(&targets) {
            t.validate(
                &s.name,
                self.model.config.heads.hoi_classes,
                self.model.config.heads.object_classes,
            )?;
        }
        // Dropout masks of this step depend on (seed, step) only: resuming redraws them.
        device.seed(step_seed(self.state.seed, self.state.global_step));
        let model = self.model.clone();
        let (model, outcome) = self.step.run(
            model,
            &input,
            &targets,
            self.state.epoch,
            self.state.global_step,
            None,
        )?;
        self.model = model;
        self.state.global_step += 1;
        self.state.last_loss = Some(outcome.loss);
        Ok(outcome)
    }

    /// Train on `data` until the configured epochs (or `max_steps`) are done or `stop` is
    /// raised, checkpointing as configured and at the end. Returns why it stopped.
    ///
    /// # Errors
    ///
    /// [`HoiclipError::Training`] when `data` holds fewer samples than one batch; sample,
    /// step and checkpoint errors (a non-finite loss stops the run without saving it).
    pub fn run(
        &mut self,
        data: &dyn TrainingSet,
        hooks: &mut dyn TrainHooks,
        stop: &AtomicBool,
    ) -> Result<StopReason> {
        let batch_size = self.config.batch_size;
        if data.len() < batch_size {
            return Err(HoiclipError::Training(format!(
                "the training set has {} samples, fewer than one batch of {batch_size}",
                data.len()
            )));
        }
        let loader = BatchLoader::new(data, self.config.augmentation.clone(), self.state.seed)?;
        let prefetch = self.config.prefetch;
        while self.state.epoch < self.config.epochs {
            let epoch = self.state.epoch;
            let batches = epoch_batches(data.len(), batch_size, self.state.seed, epoch);
            let first = self.state.batch_in_epoch.min(batches.len());
            let mut stopped = None;
            // Samples are decoded and augmented in parallel on the rayon pool, the next
            // batches while this step runs; the draws depend on (seed, epoch, sample) only.
            loader.for_each_batch(&batches[first..], epoch, prefetch, |k, samples| {
                let batch = first + k;
                if self
                    .config
                    .max_steps
                    .is_some_and(|m| self.state.global_step >= m)
                {
                    stopped = Some(StopReason::StepLimit);
                    return Ok(ControlFlow::Break(()));
                }
                if stop.load(Ordering::SeqCst) {
                    stopped = Some(StopReason::Interrupted);
                    return Ok(ControlFlow::Break(()));
                }
                let outcome = self.step_on(&samples)?;
                self.state.batch_in_epoch = batch + 1;
                hooks.on_step(&StepEvent {
                    global_step: self.state.global_step,
                    epoch,
                    batch,
                    batches_per_epoch: batches.len(),
                    outcome,
                });
                let every = self.config.checkpoint_every;
                if every > 0 && self.state.global_step.is_multiple_of(every) {
                    let dir = self.save_checkpoint()?;
                    hooks.on_checkpoint(&dir);
                }
                Ok(ControlFlow::Continue(()))
            })?;
            if let Some(reason) = stopped {
                let dir = self.save_checkpoint()?;
                hooks.on_checkpoint(&dir);
                return Ok(reason);
            }
            self.state.epoch += 1;
            self.state.batch_in_epoch = 0;
            let dir = self.save_checkpoint()?;
            hooks.on_checkpoint(&dir);
            hooks.on_epoch_end(epoch, &self.inference_model())?;
        }
        Ok(StopReason::Finished)
    }
}
