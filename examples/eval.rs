//! HICO-DET evaluation from the command line.
//!
//! Score a predictions file (JSON array, `{"preds": [...]}` or JSON lines) against
//! `test_hico.json`, with the official protocol (Default and Known Object) and the authors'
//! Python proxy:
//!
//! ```text
//! cargo run --release --example eval -- score \
//!     --annotations hico_20160224_det/annotations/test_hico.json \
//!     --train hico_20160224_det/annotations/trainval_hico.json \
//!     --predictions preds.json --json report.json
//! ```
//!
//! Run a detector over the test images (resumable: predictions are appended to `--output`
//! as JSON lines; run the same command again to continue), then score:
//!
//! ```text
//! cargo run --release --example eval -- run \
//!     --images hico_20160224_det/images/test2015 \
//!     --annotations hico_20160224_det/annotations/test_hico.json \
//!     --checkpoint checkpoint_default.pth --output preds.jsonl --json report.json
//! ```
//!
//! See `docs/evaluation.md` for the protocol and the file formats.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use hoiclip::eval::{
    CategoryMeaning, CorrectMat, DetectionRun, EvalReport, Evaluator, HicoAnnotations,
    OfficialMode, OfficialOptions, Predictions, ProxyOptions, RareSplit, RunProgress,
    ZeroShotSplit,
};
use hoiclip::postprocess::TripletNmsParams;
use hoiclip::{HoiDetector, HoiclipError};
use indicatif::{ProgressBar, ProgressStyle};

/// HICO-DET evaluation: official protocol (Default / Known Object) and the HOICLIP proxy.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Score a predictions file against an annotation file.
    Score {
        /// Predictions: JSON array, {"preds": [...]} or JSON lines (.jsonl).
        #[arg(long)]
        predictions: PathBuf,
        #[command(flatten)]
        score: ScoreArgs,
    },
    /// Run the detector over a test image folder (resumable), then score.
    Run {
        /// Folder holding the test images (`file_name` of the annotations).
        #[arg(long)]
        images: PathBuf,
        /// HOICLIP checkpoint.
        #[arg(long)]
        checkpoint: PathBuf,
        /// Backend / device: flex, ndarray or wgpu.
        #[arg(long, default_value = "flex")]
        device: String,
        /// Predictions output (JSON lines, appended; an existing file is resumed).
        #[arg(long, default_value = "hico_predictions.jsonl")]
        output: PathBuf,
        /// Images per detector call.
        #[arg(long, default_value_t = 1)]
        batch_size: usize,
        /// Top-k of the training-free enhancement; 0 turns it off (the authors' baseline
        /// numbers are without it).
        #[arg(long, default_value_t = 10)]
        enhancement_top_k: usize,
        #[command(flatten)]
        score: ScoreArgs,
    },
}

#[derive(Args, Debug)]
struct ScoreArgs {
    /// test_hico.json.
    #[arg(long)]
    annotations: PathBuf,
    /// trainval_hico.json: count rare classes (< 10 instances) instead of using the
    /// published 138, and check them against it.
    #[arg(long)]
    train: Option<PathBuf>,
    /// corre_hico.npy: check it against the 600 HOI classes.
    #[arg(long)]
    correct_mat: Option<PathBuf>,
    /// Which evaluations to run.
    #[arg(long, value_enum, default_value_t = Which::All)]
    protocol: Which,
    /// Zero-shot split for Unseen / Seen means: rare_first, non_rare_first, unseen_object,
    /// unseen_verb, uc0..uc4.
    #[arg(long)]
    zero_shot: Option<ZeroShotSplit>,
    /// Proxy: interactions kept per image.
    #[arg(long, default_value_t = 100)]
    top_k: usize,
    /// Proxy: no triplet NMS (the authors' scripts use it, with the parameters below).
    #[arg(long)]
    no_nms: bool,
    /// Proxy NMS threshold (`thres_nms`).
    #[arg(long, default_value_t = 0.7)]
    thres_nms: f32,
    /// Proxy NMS subject exponent (`nms_alpha`).
    #[arg(long, default_value_t = 1.0)]
    nms_alpha: f32,
    /// Proxy NMS object exponent (`nms_beta`).
    #[arg(long, default_value_t = 0.5)]
    nms_beta: f32,
    /// Official: added to detection coordinates (`det_bb + 1` in eval_one.m).
    #[arg(long, default_value_t = 1.0)]
    detection_shift: f64,
    /// Official: keep the best N detections per class (HOICLIP's conversion keeps 19999).
    #[arg(long)]
    max_per_class: Option<usize>,
    /// `hoi_prediction.category_id` holds verb ids (GEN-VLKT) instead of HOI ids.
    #[arg(long)]
    verb_categories: bool,
    /// Write every report (all classes' AP, recall and counts) as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Which {
    /// Official Default + Known Object, and the proxy.
    All,
    /// Official Default + Known Object.
    Official,
    /// Official Default only.
    Default,
    /// Official Known Object only.
    KnownObject,
    /// The authors' Python proxy only.
    Proxy,
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> hoiclip::Result<()> {
    match cli.command {
        Command::Score { predictions, score } => {
            let annotations = HicoAnnotations::from_file(&score.annotations)?;
            let meaning = if score.verb_categories {
                CategoryMeaning::Verb
            } else {
                CategoryMeaning::Hoi
            };
            let preds = Predictions::from_file_with(&predictions, meaning)?;
            if preds.dropped_invalid() > 0 {
                eprintln!(
                    "note: {} predicted (verb, object) pairs are not HICO-DET classes and were dropped",
                    preds.dropped_invalid()
                );
            }
            score_and_print(&annotations, &preds, &score)
        }
        Command::Run {
            images,
            checkpoint,
            device,
            output,
            batch_size,
            enhancement_top_k,
            score,
        } => {
            let annotations = HicoAnnotations::from_file(&score.annotations)?;
            let detector = load_detector(&checkpoint, &device, enhancement_top_k)?;
            let outcome = run_with_progress(
                detector.as_ref(),
                &images,
                &output,
                batch_size,
                &annotations.file_names(),
            )?;
            eprintln!(
                "{}: {} images resumed, {} detected{}",
                output.display(),
                outcome.resumed,
                outcome.processed,
                if outcome.repaired {
                    " (a torn last line was dropped and redone)"
                } else {
                    ""
                }
            );
            score_and_print(&annotations, &outcome.predictions, &score)
        }
    }
}

/// Builds the HOICLIP detector (enhancement top-k, 0 = off) from a checkpoint (the authors' `.pth` as released, or a
/// native `.bpk` written by `detect --save-native`) on a device (`flex`, `ndarray`, `wgpu`).
fn load_detector(
    checkpoint: &Path,
    device: &str,
    enhancement_top_k: usize,
) -> hoiclip::Result<Box<dyn HoiDetector>> {
    let backend: hoiclip::BackendChoice = device.parse()?;
    let device = backend.device()?;
    let mut detector = if checkpoint.extension().is_some_and(|e| e == "bpk") {
        hoiclip::Hoiclip::from_native(checkpoint, &device)?
    } else {
        hoiclip::Hoiclip::from_checkpoint(checkpoint, &device)?
    };
    detector.options_mut().enhancement = match enhancement_top_k {
        0 => hoiclip::Enhancement::Off,
        k => hoiclip::Enhancement::TopK(k),
    };
    Ok(Box::new(detector))
}

fn run_with_progress(
    detector: &dyn HoiDetector,
    images: &Path,
    output: &Path,
    batch_size: usize,
    file_names: &[String],
) -> hoiclip::Result<hoiclip::eval::RunOutcome> {
    let bar = ProgressBar::new(file_names.len() as u64);
    bar.set_style(
        ProgressStyle::with_template(
            "{bar:40} {pos}/{len} images [{elapsed_precise} < {eta_precise}] {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let result = DetectionRun::new(images, output)
        .batch_size(batch_size)
        .run(detector, file_names, |p: &RunProgress<'_>| {
            bar.set_length(p.total as u64);
            bar.set_position(p.done as u64);
            if p.image.is_empty() && p.resumed > 0 {
                bar.println(format!("resuming: {} images already done", p.resumed));
            } else {
                bar.set_message(p.image.to_string());
            }
        });
    bar.finish_and_clear();
    result
}

fn score_and_print(
    annotations: &HicoAnnotations,
    preds: &Predictions,
    args: &ScoreArgs,
) -> hoiclip::Result<()> {
    let rare = match &args.train {
        Some(train) => {
            let split = RareSplit::from_training(&HicoAnnotations::from_file(train)?);
            if let Err(e) = split.check_known() {
                eprintln!("warning: {e}");
            }
            split
        }
        None => RareSplit::known(),
    };
    if let Some(path) = &args.correct_mat
        && let Err(e) = CorrectMat::from_npy(path)?.check_against_hois()
    {
        eprintln!("warning: {}: {e}", path.display());
    }
    let official = |mode| OfficialOptions {
        mode,
        detection_shift: args.detection_shift,
        max_detections_per_class: args.max_per_class,
        ..OfficialOptions::default()
    };
    let proxy = ProxyOptions {
        max_hois: args.top_k,
        nms: (!args.no_nms).then_some(TripletNmsParams {
            thres_nms: args.thres_nms,
            alpha: args.nms_alpha,
            beta: args.nms_beta,
        }),
        ..ProxyOptions::default()
    };
    let mut evaluators = Vec::new();
    if matches!(args.protocol, Which::All | Which::Official | Which::Default) {
        evaluators.push(Evaluator::official_with(
            annotations,
            official(OfficialMode::Default),
        ));
    }
    if matches!(
        args.protocol,
        Which::All | Which::Official | Which::KnownObject
    ) {
        evaluators.push(Evaluator::official_with(
            annotations,
            official(OfficialMode::KnownObject),
        ));
    }
    if matches!(args.protocol, Which::All | Which::Proxy) {
        evaluators.push(Evaluator::proxy(annotations, proxy));
    }
    let reports: Vec<EvalReport> = evaluators
        .into_iter()
        .map(|e| {
            e.with_rare_split(rare.clone())
                .with_zero_shot(args.zero_shot)
                .evaluate(preds)
        })
        .collect();
    for r in &reports {
        println!("{}", r.summary_table());
    }
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&serde_json::json!({ "reports": reports }))
            .map_err(|e| HoiclipError::Write {
                path: path.clone(),
                reason: e.to_string(),
            })?;
        std::fs::write(path, text).map_err(|e| HoiclipError::Write {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}
