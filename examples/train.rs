//! Fine-tune HOICLIP: the authors' training step (Hungarian matching, SetCriterionHOI losses
//! with auxiliary levels, AdamW with the backbone group and global-norm clipping, frozen CLIP)
//! on Burn's autodiff, with checkpoints that resume to the identical next step.
//!
//! A demo that runs in minutes on a CPU: the small random HOICLIP of the test fixtures
//! (released-checkpoint layout) fine-tuned on synthetic images, validated each epoch with the
//! crate's HICO-DET evaluator, exported for PyTorch at the end:
//!
//! ```text
//! cargo run --features train --example train -- --demo
//! ```
//!
//! Fine-tune a released checkpoint on HICO-DET's training annotations (read and augmented as
//! the authors' dataset does: flip, colour jitter, multi-scale resize, random crop):
//!
//! ```text
//! cargo run --release --all-features --example train -- \
//!     --checkpoint checkpoint_default.pth --run-dir runs/ft --epochs 3 \
//!     --annotations hico_20160224_det/annotations/trainval_hico.json \
//!     --images hico_20160224_det/images/train2015
//! ```
//!
//! Fine-tune on your own images and interactions (`hoiclip::data::custom` format: a
//! vocabulary file that may add verbs and objects, annotations by name; see docs/data.md):
//!
//! ```text
//! cargo run --release --all-features --example train -- \
//!     --checkpoint checkpoint_default.pth --run-dir runs/mine --epochs 20 \
//!     --vocabulary my_data/vocabulary.json --annotations my_data/annotations.json \
//!     --images my_data/images
//! ```
//!
//! Running the same command again resumes from the run directory's latest checkpoint. Ctrl-C
//! stops cleanly after the current step and saves. See docs/training.md.

mod common;

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use hoiclip::data::{
    CustomTrainingOptions, CustomTrainingSet, HicoTrainingOptions, HicoTrainingSet, Subset,
    TrainingSet, VcocoTrainingOptions, VcocoTrainingSet, parse_percent,
};
use hoiclip::interaction::{VerbRepresentationOptions, build_verb_representations};
use hoiclip::model::{HoiDataset, HoiclipModel, ResizeConfig};
use hoiclip::train::{
    InMemorySet, StepEvent, StopReason, SyntheticClass, TrainConfig, TrainHooks, Trainer,
    TrainingSample, ValidationProtocol, ctrl_c_flag, evaluate_samples, synthetic_set,
};
use hoiclip::{BackendChoice, DetectOptions, HoiclipError};
use indicatif::{ProgressBar, ProgressStyle};

/// Fine-tune HOICLIP (the authors' training step on Burn's autodiff).
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// Demo: the test fixtures' small random HOICLIP, 8 synthetic training images, 4 for
    /// validation, 48-80 px, batch 2, lr 1e-3 (backbone 1e-4), no dropout, 100 epochs (400
    /// steps).
    #[arg(long)]
    demo: bool,
    /// The model to fine-tune: an authors' checkpoint (.pth as released, or .safetensors of
    /// its state dict).
    #[arg(long, conflicts_with = "native")]
    checkpoint: Option<PathBuf>,
    /// The model to fine-tune, in the native format.
    #[arg(long)]
    native: Option<PathBuf>,
    /// Run directory: checkpoints, log.jsonl, exports. A directory holding a checkpoint is
    /// resumed.
    #[arg(long, default_value = "runs/hoiclip")]
    run_dir: PathBuf,
    /// Training preset: hico, rf-uc, nf-uc, uo, uv, vcoco.
    #[arg(long, default_value = "hico")]
    preset: String,
    /// Training annotations (GEN-VLKT / HOICLIP format: `trainval_hico.json`, or
    /// `trainval_vcoco.json` for a V-COCO model); with --images. Without them the example trains on synthetic images.
    #[arg(long)]
    annotations: Option<PathBuf>,
    /// The folder of the annotated images (`hico_20160224_det/images/train2015`).
    #[arg(long)]
    images: Option<PathBuf>,
    /// A custom dataset's vocabulary file (`hoiclip::data::custom`): --annotations are then
    /// in the custom format, the model adopts the vocabulary (new classes from their
    /// prompts), and new verbs get verb-adapter representations built from the images.
    #[arg(long)]
    vocabulary: Option<PathBuf>,
    /// Train on this percentage of the training set (`50` or `50%`; a seeded subset, see
    /// `hoiclip::data::Subset`). The authors' own subsets are files: pass them as --annotations.
    #[arg(long)]
    frac: Option<String>,
    /// Synthetic training images (when no --annotations are given).
    #[arg(long, default_value_t = 16)]
    synthetic: usize,
    /// Validation images evaluated after each epoch (synthetic: held-out images of another
    /// seed; with --annotations: the first this many training images); 0: none.
    #[arg(long, default_value_t = 4)]
    validation: usize,
    /// Validate every this many epochs (and after the last).
    #[arg(long, default_value_t = 1)]
    eval_every: usize,
    /// HOI classes of the synthetic images (HICO-DET ids 0..600), comma separated.
    #[arg(long, value_delimiter = ',', default_value = "0,77")]
    classes: Vec<usize>,
    /// Synthetic image size, width x height.
    #[arg(long, default_value_t = 320)]
    image_width: u32,
    /// Synthetic image height.
    #[arg(long, default_value_t = 240)]
    image_height: u32,
    /// Epochs (preset: 90).
    #[arg(long)]
    epochs: Option<usize>,
    /// Images per step on this device (preset: 8, as the authors' scripts on each GPU).
    #[arg(long)]
    batch_size: Option<usize>,
    /// Learning rate (preset: 1e-4).
    #[arg(long)]
    lr: Option<f64>,
    /// Backbone learning rate (preset: 1e-5).
    #[arg(long)]
    lr_backbone: Option<f64>,
    /// Epoch of the ×0.1 learning-rate drop (preset: 60).
    #[arg(long)]
    lr_drop: Option<usize>,
    /// Dropout of the transformers while training (preset: 0.1, the authors').
    #[arg(long)]
    dropout: Option<f64>,
    /// Stop after this many steps in all.
    #[arg(long)]
    max_steps: Option<u64>,
    /// Also checkpoint every this many steps (0: at each epoch's end only).
    #[arg(long, default_value_t = 0)]
    checkpoint_every: u64,
    /// Feed the images with the inference resize (--resize, --max-size) instead of the
    /// authors' augmentation (flip, colour jitter, multi-scale resize, random crop).
    #[arg(long)]
    no_augment: bool,
    /// Shorter side of the resize of un-augmented images (preset: 800).
    #[arg(long)]
    resize: Option<u32>,
    /// Longer-side cap of the resize of un-augmented images (preset: 1333).
    #[arg(long)]
    max_size: Option<u32>,
    /// The sampler's seed.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Backend: flex, ndarray or wgpu (default: HOICLIP_BACKEND or flex).
    #[arg(long)]
    device: Option<String>,
    /// Export the trained model under the authors' key names (PyTorch `load_state_dict`).
    #[arg(long)]
    export_safetensors: Option<PathBuf>,
    /// Save the trained model in the native format.
    #[arg(long)]
    save_native: Option<PathBuf>,
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}

/// The demo's settings, where the command line did not set them.
fn apply_demo(args: &mut Args) {
    args.synthetic = 8;
    args.validation = 4;
    args.image_width = 80;
    args.image_height = 60;
    args.epochs.get_or_insert(100);
    args.batch_size.get_or_insert(2);
    args.dropout.get_or_insert(0.0);
    args.no_augment = true;
    if args.eval_every == 1 {
        args.eval_every = 20;
    }
    args.lr.get_or_insert(1e-3);
    args.lr_backbone.get_or_insert(1e-4);
    args.resize.get_or_insert(48);
    args.max_size.get_or_insert(80);
    if args.run_dir.as_os_str() == "runs/hoiclip" {
        args.run_dir = PathBuf::from("runs/demo");
    }
    if args.export_safetensors.is_none() {
        args.export_safetensors = Some(args.run_dir.join("trained.safetensors"));
    }
}

fn config(args: &Args) -> hoiclip::Result<TrainConfig> {
    let mut config = TrainConfig::preset(&args.preset)?;
    if let Some(v) = args.epochs {
        config.epochs = v;
    }
    if let Some(v) = args.batch_size {
        config.batch_size = v;
    }
    if let Some(v) = args.lr {
        config.optimizer.lr = v;
    }
    if let Some(v) = args.lr_backbone {
        config.optimizer.lr_backbone = v;
    }
    if let Some(v) = args.dropout {
        config.dropout = v;
    }
    if let Some(v) = args.lr_drop {
        config.optimizer.lr_drop = v;
    }
    if args.resize.is_some() || args.max_size.is_some() {
        config.resize = ResizeConfig {
            shorter: args.resize.unwrap_or(config.resize.shorter),
            max_size: args.max_size.or(config.resize.max_size),
        };
    }
    if args.no_augment {
        config.augmentation = None;
    }
    config.max_steps = args.max_steps;
    config.checkpoint_every = args.checkpoint_every;
    config.seed = args.seed;
    Ok(config)
}

/// The test fixtures' small HOICLIP (`tests/fixtures/hoiclip_small.pth`, random weights in the
/// released layout). Its CLIP text width (16) is not a multiple of 64, so OpenAI's rule cannot
/// infer the head count: the CLIP configuration is given.
fn demo_model(device: &burn::tensor::Device) -> hoiclip::Result<HoiclipModel> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/hoiclip_small.pth");
    let checkpoint = hoiclip::model::Checkpoint::open(&path)?;
    // The real vocabulary, text width 16 with 2 heads.
    let clip = common::fixture_clip_config(49408, 16, 2);
    let config = hoiclip::model::HoiclipConfig::from_weights_with_clip(
        &checkpoint.weights,
        checkpoint.args.as_ref(),
        Some(clip),
    )?;
    HoiclipModel::load(&checkpoint, config, device)
}

fn load_model(args: &Args, device: &burn::tensor::Device) -> hoiclip::Result<HoiclipModel> {
    if args.demo && args.checkpoint.is_none() && args.native.is_none() {
        demo_model(device)
    } else if let Some(path) = &args.checkpoint {
        HoiclipModel::from_checkpoint(path, device)
    } else if let Some(path) = &args.native {
        HoiclipModel::load_native(path, device)
    } else {
        Err(HoiclipError::Config(
            "no model to fine-tune: pass --checkpoint (the authors' .pth), --native, or --demo"
                .into(),
        ))
    }
}

fn synthetic(
    model: &HoiclipModel,
    args: &Args,
    count: usize,
    seed: u64,
) -> hoiclip::Result<InMemorySet> {
    let classes = args
        .classes
        .iter()
        .map(|&hoi| {
            let entry = model.vocabulary.classes.get(hoi).ok_or_else(|| {
                HoiclipError::Config(format!(
                    "--classes: HOI class {hoi} is not in the model's {} classes",
                    model.vocabulary.classes.len()
                ))
            })?;
            Ok(SyntheticClass {
                hoi,
                object: entry.object,
            })
        })
        .collect::<hoiclip::Result<Vec<_>>>()?;
    synthetic_set(count, &classes, args.image_width, args.image_height, seed)
}

/// Progress bar, per-step JSON log, validation after each epoch.
struct Hooks {
    bar: ProgressBar,
    log: BufWriter<File>,
    validation: Vec<TrainingSample>,
    training: Vec<TrainingSample>,
    detect: DetectOptions,
    epochs: usize,
    eval_every: usize,
    first_loss: Option<f64>,
    last_loss: f64,
    last_checkpoint: Option<PathBuf>,
    error: Option<HoiclipError>,
}

impl Hooks {
    /// A line above the bar (plain stderr when the bar is hidden, e.g. not a terminal).
    fn say(&self, line: String) {
        if self.bar.is_hidden() {
            eprintln!("{line}");
        } else {
            self.bar.println(line);
        }
    }
}

impl TrainHooks for Hooks {
    fn on_step(&mut self, event: &StepEvent) {
        let o = &event.outcome;
        self.first_loss.get_or_insert(o.loss);
        self.last_loss = o.loss;
        let term = |name: &str| {
            o.terms
                .iter()
                .find(|(n, _)| n == name)
                .map_or(f64::NAN, |(_, v)| *v)
        };
        self.bar.set_position(event.global_step);
        self.bar.set_message(format!(
            "epoch {} loss {:.3} (hoi {:.3} obj {:.3} box {:.3} giou {:.3}) |g| {:.2e}",
            event.epoch,
            o.loss,
            term("loss_hoi_labels"),
            term("loss_obj_ce"),
            term("loss_sub_bbox") + term("loss_obj_bbox"),
            term("loss_sub_giou") + term("loss_obj_giou"),
            o.report.grad_norm
        ));
        let line = serde_json::json!({
            "step": event.global_step,
            "epoch": event.epoch,
            "batch": event.batch,
            "loss": o.loss,
            "terms": o.terms.iter().cloned().collect::<std::collections::BTreeMap<_, _>>(),
            "grad_norm": o.report.grad_norm,
            "clip_factor": o.report.clip_factor,
            "lr": o.report.lr,
            "lr_backbone": o.report.lr_backbone,
        });
        if let Err(e) = writeln!(self.log, "{line}") {
            self.error.get_or_insert(HoiclipError::Io {
                path: PathBuf::from("log.jsonl"),
                source: e,
            });
        }
    }

    fn on_epoch_end(&mut self, epoch: usize, model: &HoiclipModel) -> hoiclip::Result<()> {
        let _ = self.log.flush();
        let last = epoch + 1 == self.epochs;
        // The crate's validation evaluator is HICO-DET's (600 classes); V-COCO models train
        // without it here (their evaluation is `eval vcoco-run` on the test set).
        if model.config.dataset != HoiDataset::HicoDet
            || (self.validation.is_empty() && self.training.is_empty())
            || !(last || (epoch + 1).is_multiple_of(self.eval_every.max(1)))
        {
            return Ok(());
        }
        let score = |samples: &[TrainingSample]| -> hoiclip::Result<String> {
            let report = evaluate_samples(
                model.clone(),
                samples,
                self.detect,
                ValidationProtocol::Proxy,
            )?;
            Ok(format!(
                "{:.4} ({} images, {} classes)",
                report.summary.full.map.unwrap_or(f64::NAN),
                report.num_images,
                report.summary.full.num_classes
            ))
        };
        let mut line = format!(
            "epoch {epoch}: loss {:.4}, mAP (proxy protocol)",
            self.last_loss
        );
        if !self.training.is_empty() {
            line += &format!(" on training images {}", score(&self.training)?);
        }
        if !self.validation.is_empty() {
            line += &format!(", on held-out images {}", score(&self.validation)?);
        }
        self.say(line);
        Ok(())
    }

    fn on_checkpoint(&mut self, dir: &std::path::Path) {
        self.last_checkpoint = Some(dir.to_path_buf());
    }
}

/// A new run on a custom dataset: verb representations of the set's verbs from its images
/// (with the model's CLIP), then the model adopts the vocabulary, new verbs with theirs.
fn adopt_custom_vocabulary(
    model: &mut HoiclipModel,
    vocabulary: &std::path::Path,
    annotations: &std::path::Path,
    images: &std::path::Path,
) -> hoiclip::Result<()> {
    let own = CustomTrainingSet::open(
        vocabulary,
        annotations,
        images,
        CustomTrainingOptions::default(),
    )?;
    let reps = build_verb_representations(
        &model.clip,
        &own,
        own.vocabulary(),
        VerbRepresentationOptions::default(),
        |_, _| {},
    )?;
    let new_verbs = reps.new_verbs(own.vocabulary());
    CustomTrainingSet::open_for_model(
        model,
        vocabulary,
        annotations,
        images,
        CustomTrainingOptions::default(),
        &new_verbs,
    )?;
    eprintln!(
        "the model now scores the {} classes of {} ({} verbs with representations from {} \
         interactions)",
        model.vocabulary.classes.len(),
        vocabulary.display(),
        new_verbs.len(),
        reps.interactions
    );
    Ok(())
}

fn run(mut args: Args) -> hoiclip::Result<()> {
    if args.demo {
        apply_demo(&mut args);
    }
    let backend = match &args.device {
        Some(name) => name.parse::<BackendChoice>()?,
        None => BackendChoice::from_env_or_default()?,
    };
    let device = backend.device()?;
    let config = config(&args)?;
    let start = Instant::now();
    // The vocabulary of the synthetic classes comes from the model; for a resumed run it is
    // the checkpoint's.
    let mut trainer = Trainer::resume_or_new(
        || {
            let mut model = load_model(&args, &device)?;
            if let (Some(vocabulary), Some(annotations), Some(images)) =
                (&args.vocabulary, &args.annotations, &args.images)
            {
                adopt_custom_vocabulary(&mut model, vocabulary, annotations, images)?;
            }
            Ok(model)
        },
        config,
        &args.run_dir,
        &device,
    )?;
    if trainer.state().global_step > 0 {
        eprintln!(
            "resumed {} at step {} (epoch {})",
            args.run_dir.display(),
            trainer.state().global_step,
            trainer.state().epoch
        );
        // Command-line limits apply to the resumed run too.
        trainer.config.max_steps = args.max_steps;
    }
    let model = trainer.inference_model();
    // Training data: the HICO-DET annotations when given, else the synthetic set. Validation:
    // held-out synthetic images, or (real data) the first --validation training images.
    let (train, validation, training_probe): (Box<dyn TrainingSet>, _, _) =
        match (&args.annotations, &args.images) {
            (Some(annotations), Some(images)) => {
                let set: Box<dyn TrainingSet> = if let Some(vocabulary) = &args.vocabulary {
                    // The model adopted the vocabulary (now, or in the run being resumed).
                    let set = CustomTrainingSet::with_vocabulary(
                        &model.vocabulary,
                        &vocabulary.display().to_string(),
                        annotations,
                        images,
                        CustomTrainingOptions::default(),
                    )?;
                    eprintln!("{}", set.describe());
                    Box::new(set)
                } else if model.config.dataset == HoiDataset::Vcoco {
                    let set = VcocoTrainingSet::open(
                        annotations,
                        images,
                        VcocoTrainingOptions::default(),
                    )?;
                    eprintln!(
                        "{}: {} images (V-COCO, read as the authors' reader)",
                        annotations.display(),
                        set.len()
                    );
                    Box::new(set)
                } else {
                    let options = HicoTrainingOptions::for_split(trainer.config.zero_shot);
                    let set = HicoTrainingSet::open(annotations, images, options)?;
                    let s = set.summary();
                    eprintln!(
                        "{}: {} of {} images, {} interactions, {} training classes ({} image(s) \
                         with bad box ids and {} unseen interactions left out, as the authors' \
                         reader)",
                        annotations.display(),
                        s.images,
                        s.images_in_file,
                        s.interactions,
                        s.training_classes,
                        s.images_with_bad_box_ids,
                        s.unseen_interactions
                    );
                    Box::new(set)
                };
                let probe = (0..args.validation.min(set.len()))
                    .map(|i| set.get(i))
                    .collect::<hoiclip::Result<Vec<_>>>()?;
                (set, Vec::new(), probe)
            }
            (None, None) => {
                let train = synthetic(&model, &args, args.synthetic, 7)?;
                let validation = synthetic(&model, &args, args.validation, 1007)?.samples;
                let probe = train.samples.iter().take(8).cloned().collect();
                (Box::new(train), validation, probe)
            }
            _ => {
                return Err(HoiclipError::Config(
                    "--annotations and --images go together".into(),
                ));
            }
        };
    // Data-efficient training (--frac): a seeded subset of the training set.
    let subset = match &args.frac {
        Some(text) => {
            let percent = parse_percent(text)?;
            let subset = Subset::new(train.as_ref(), percent, trainer.config.seed)?;
            eprintln!(
                "training on {percent} % of the set: {} of {} images (seed {})",
                subset.len(),
                train.len(),
                trainer.config.seed
            );
            Some(subset)
        }
        None => None,
    };
    let train: &dyn TrainingSet = match &subset {
        Some(subset) => subset,
        None => train.as_ref(),
    };
    let batches = train.len() / trainer.config.batch_size.max(1);
    let total = trainer
        .config
        .max_steps
        .unwrap_or((trainer.config.epochs * batches) as u64);
    eprintln!(
        "model ready on {} in {:.1} s: {} trainable parameters; {} training images, {} steps",
        backend.name(),
        start.elapsed().as_secs_f64(),
        hoiclip::train::params::trainable_count(trainer.model()),
        train.len(),
        total
    );
    std::fs::create_dir_all(&args.run_dir).map_err(|source| HoiclipError::Io {
        path: args.run_dir.clone(),
        source,
    })?;
    let log_path = args.run_dir.join("log.jsonl");
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(|source| HoiclipError::Io {
            path: log_path.clone(),
            source,
        })?;
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template(
            "{bar:30} {pos}/{len} [{elapsed_precise} < {eta_precise}] {msg}",
        )
        .map_err(|e| HoiclipError::Config(e.to_string()))?,
    );
    bar.set_position(trainer.state().global_step);
    let mut hooks = Hooks {
        bar,
        log: BufWriter::new(log),
        validation,
        training: training_probe,
        detect: DetectOptions {
            resize: trainer.config.resize,
            ..DetectOptions::default()
        },
        epochs: trainer.config.epochs,
        eval_every: args.eval_every,
        first_loss: None,
        last_loss: f64::NAN,
        last_checkpoint: None,
        error: None,
    };
    let stop = ctrl_c_flag()?;
    let reason = trainer.run(train, &mut hooks, &stop)?;
    hooks.bar.finish();
    let _ = hooks.log.flush();
    if let Some(e) = hooks.error {
        return Err(e);
    }
    if let Some(first) = hooks.first_loss {
        eprintln!("loss {first:.4} -> {:.4} over this run", hooks.last_loss);
    }
    match reason {
        StopReason::Finished => eprintln!("finished {} epochs", trainer.config.epochs),
        StopReason::StepLimit => eprintln!("stopped at the step limit"),
        StopReason::Interrupted => eprintln!("interrupted: saved, run again to resume"),
    }
    let model = trainer.inference_model();
    if let Some(path) = &args.export_safetensors {
        hoiclip::model::export::save_safetensors(&model, path)?;
        eprintln!("exported (authors' key names) to {}", path.display());
    }
    if let Some(path) = &args.save_native {
        model.save_native(path)?;
        eprintln!("saved native model to {}", path.display());
    }
    if let Some(dir) = &hooks.last_checkpoint {
        eprintln!("latest checkpoint: {}", dir.display());
    }
    eprintln!("log: {}", log_path.display());
    Ok(())
}
