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
//! Sharded over peers (devices or machines; each peer runs its share into its own file, then
//! `merge` scores them together — the numbers of one unsharded run):
//!
//! ```text
//! # on peer K of N (K = 1..N), same --batch-size everywhere:
//! cargo run --release --example eval -- run --shard K/N --batch-size 2 \
//!     --images ... --annotations test_hico.json --checkpoint ... --output preds.K-of-N.jsonl
//! # once all are done:
//! cargo run --release --example eval -- merge --shards preds.1-of-2.jsonl,preds.2-of-2.jsonl \
//!     --annotations test_hico.json --output preds.jsonl --json report.json
//! ```
//!
//! V-COCO (`vcoco-run` / `vcoco-score`): per-pair records of a V-COCO checkpoint, scored with
//! the authors' proxy (`test_vcoco.json`) and, given the official annotations, the official
//! role AP (Scenario 1 and 2) and agent AP of `vsrl_eval.py`:
//!
//! ```text
//! cargo run --release --example eval -- vcoco-run \
//!     --images v-coco/coco/images/val2014 --annotations v-coco/annotations/test_vcoco.json \
//!     --correct-mat v-coco/annotations/corre_vcoco.npy \
//!     --vsrl v-coco/data/vcoco/vcoco_test.json \
//!     --coco v-coco/data/instances_vcoco_all_2014.json \
//!     --split-ids v-coco/data/splits/vcoco_test.ids \
//!     --checkpoint checkpoint_vcoco.pth --output vcoco_pairs.jsonl --json vcoco_report.json
//! ```
//!
//! See `docs/evaluation.md` for the protocols and the file formats.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use hoiclip::detector::Batching;
use hoiclip::eval::vcoco::official::{
    self as vcoco_official, VCOCO_IOU_THRESHOLD, VcocoDetections, VcocoGroundTruth,
};
use hoiclip::eval::vcoco::pairs::{VcocoPairRecord, image_id_of_file_name};
use hoiclip::eval::vcoco::proxy::{self as vcoco_proxy, VCOCO_MAX_HOIS};
use hoiclip::eval::vcoco::{VcocoAnnotations, VcocoCorrectMat, VcocoPredictions};
use hoiclip::eval::{
    CategoryMeaning, CorrectMat, DetectionRun, EvalReport, Evaluator, HicoAnnotations,
    OfficialMode, OfficialOptions, Predictions, ProxyOptions, RareSplit, RunProgress, Shard,
    ZeroShotSplit, merge_shards,
};
use hoiclip::model::{HoiDataset, ZeroShotType};
use hoiclip::postprocess::TripletNmsParams;
use hoiclip::postprocess::VerbObjectMask;
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
        /// Batch images the model resizes to the same size (no padding: each image's
        /// detections are those of a batch of one); without it, consecutive images are
        /// padded to the largest, as the authors' evaluation batches them.
        #[arg(long)]
        same_size: bool,
        /// Batches run at once on the one detector (2 overlaps one pass's serial stretches
        /// with another's parallel work on a CPU; images then finish out of order).
        #[arg(long, default_value_t = 1)]
        in_flight: usize,
        /// Top-k of the training-free enhancement; 0 turns it off (the authors' baseline
        /// numbers are without it).
        #[arg(long, default_value_t = 10)]
        enhancement_top_k: usize,
        /// Run only peer K's share of N peers (`K/N`, whole batches round-robin; each peer
        /// its own --output), then merge the peers' outputs with `merge`.
        #[arg(long)]
        shard: Option<String>,
        #[command(flatten)]
        score: ScoreArgs,
    },
    /// Merge the outputs of a run sharded over peers (`run --shard K/N`) and score them:
    /// the same numbers as one unsharded run.
    Merge {
        /// The peers' outputs (JSON lines), comma-separated.
        #[arg(long, value_delimiter = ',', required = true)]
        shards: Vec<PathBuf>,
        /// Also write the merged predictions here (JSON lines).
        #[arg(long)]
        output: Option<PathBuf>,
        #[command(flatten)]
        score: ScoreArgs,
    },
    /// V-COCO: run a V-COCO checkpoint over the test images (resumable per-pair records),
    /// then score.
    VcocoRun {
        /// Folder holding the test images (`file_name` of test_vcoco.json).
        #[arg(long)]
        images: PathBuf,
        /// HOICLIP V-COCO checkpoint.
        #[arg(long)]
        checkpoint: PathBuf,
        /// Backend / device: flex, ndarray or wgpu.
        #[arg(long, default_value = "flex")]
        device: String,
        /// Per-pair records output (JSON lines, appended; an existing file is resumed).
        #[arg(long, default_value = "vcoco_pairs.jsonl")]
        output: PathBuf,
        /// Images per detector call.
        #[arg(long, default_value_t = 1)]
        batch_size: usize,
        /// Batch images the model resizes to the same size (no padding: each image's
        /// detections are those of a batch of one); without it, consecutive images are
        /// padded to the largest, as the authors' evaluation batches them.
        #[arg(long)]
        same_size: bool,
        /// Batches run at once on the one detector (2 overlaps one pass's serial stretches
        /// with another's parallel work on a CPU; images then finish out of order).
        #[arg(long, default_value_t = 1)]
        in_flight: usize,
        /// Top-k of the training-free enhancement; 0 turns it off.
        #[arg(long, default_value_t = 10)]
        enhancement_top_k: usize,
        #[command(flatten)]
        score: VcocoScoreArgs,
    },
    /// V-COCO: score per-pair records (`vcoco-run`'s output).
    VcocoScore {
        /// Per-pair records (JSON lines).
        #[arg(long)]
        predictions: PathBuf,
        #[command(flatten)]
        score: VcocoScoreArgs,
    },
}

/// What the V-COCO commands score against.
#[derive(Args, Debug)]
struct VcocoScoreArgs {
    /// The authors' processed test set, test_vcoco.json (for their proxy).
    #[arg(long)]
    annotations: PathBuf,
    /// corre_vcoco.npy (the proxy's verb-object mask); without it, the 0/1 mask of the 263
    /// HOI classes.
    #[arg(long)]
    correct_mat: Option<PathBuf>,
    /// Official: the V-COCO annotations (vcoco_test.json of s-gupta/v-coco).
    #[arg(long, requires = "coco")]
    vsrl: Option<PathBuf>,
    /// Official: the COCO instances file the V-COCO annotations refer to
    /// (instances_vcoco_all_2014.json).
    #[arg(long, requires = "vsrl")]
    coco: Option<PathBuf>,
    /// Official: the split's image ids (vcoco_test.ids).
    #[arg(long)]
    split_ids: Option<PathBuf>,
    /// Official: also write the detections in vsrl_eval's format (JSON, NaN as null).
    #[arg(long)]
    official_detections: Option<PathBuf>,
    /// Write the reports as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
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
    /// unseen_verb, uc0..uc4. `run` takes the checkpoint's `args.zero_shot_type` unless this
    /// is given (a different value is warned about).
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
    /// Official: keep the best N detections per class.
    #[arg(long, conflicts_with = "authors_cap")]
    max_per_class: Option<usize>,
    /// Official: keep the best 19,999 detections per class, as the authors' conversion
    /// (tools/covert_annot_for_official_eval.py) does for the official numbers in the paper.
    #[arg(long)]
    authors_cap: bool,
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

/// Detections per class the authors' conversion to the official format keeps.
const AUTHORS_DETECTIONS_PER_CLASS: usize = 19_999;

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
            let rare = read_score_inputs(&score)?;
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
            score_and_print(&annotations, &preds, &rare, &score)
        }
        Command::Run {
            images,
            checkpoint,
            device,
            output,
            batch_size,
            same_size,
            in_flight,
            enhancement_top_k,
            shard,
            score,
        } => {
            // Every input is read and checked before the model load (seconds to minutes).
            let annotations = HicoAnnotations::from_file(&score.annotations)?;
            let rare = read_score_inputs(&score)?;
            check_image_dir(&images)?;
            let shard = shard.as_deref().map(Shard::parse).transpose()?;
            let mut names = annotations.file_names();
            if let Some(shard) = shard {
                names = shard.images(&names, batch_size);
            }
            let detector = load_detector(&checkpoint, &device, enhancement_top_k)?;
            let zero_shot = zero_shot_split(&detector, score.zero_shot, &checkpoint);
            let batching = batching(batch_size, same_size);
            let outcome =
                run_with_progress(&detector, &images, &output, batching, in_flight, &names)?;
            if let Some(shard) = shard {
                eprintln!(
                    "shard {shard}: {} images in {} ({} resumed, {} detected); score the \
                     merged run with `eval merge --shards <every peer's output> ...`",
                    names.len(),
                    output.display(),
                    outcome.resumed,
                    outcome.processed
                );
                return Ok(());
            }
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
            let score = ScoreArgs { zero_shot, ..score };
            score_and_print(&annotations, &outcome.predictions, &rare, &score)
        }
        Command::Merge {
            shards,
            output,
            score,
        } => {
            let annotations = HicoAnnotations::from_file(&score.annotations)?;
            let rare = read_score_inputs(&score)?;
            let predictions = merge_shards(&shards, &annotations.file_names())?;
            if let Some(path) = &output {
                predictions.write_jsonl(path)?;
            }
            eprintln!(
                "merged {} images from {} shard files",
                predictions.images().len(),
                shards.len()
            );
            score_and_print(&annotations, &predictions, &rare, &score)
        }
        Command::VcocoRun {
            images,
            checkpoint,
            device,
            output,
            batch_size,
            same_size,
            in_flight,
            enhancement_top_k,
            score,
        } => {
            let annotations = VcocoAnnotations::from_file(&score.annotations)?;
            let inputs = VcocoInputs::read(&score)?;
            check_image_dir(&images)?;
            let mut detector = load_detector(&checkpoint, &device, enhancement_top_k)?;
            if detector.model().config.dataset != HoiDataset::Vcoco {
                return Err(HoiclipError::Config(format!(
                    "{} is a {} checkpoint; vcoco-run needs a V-COCO one",
                    checkpoint.display(),
                    detector.model().config.dataset.name()
                )));
            }
            VcocoPairRecord::configure_detector(&mut detector);
            let names: Vec<String> = annotations
                .images()
                .iter()
                .map(|i| i.file_name.clone())
                .collect();
            let run = DetectionRun::new(&images, &output)
                .batching(batching(batch_size, same_size))
                .in_flight(in_flight);
            let outcome = with_progress(names.len(), |progress| {
                run.run_records::<VcocoPairRecord, _, _>(&detector, &names, progress)
            })?;
            eprintln!(
                "{}: {} images resumed, {} detected",
                output.display(),
                outcome.resumed,
                outcome.processed
            );
            vcoco_score_and_print(&annotations, &inputs, &outcome.records, &score)
        }
        Command::VcocoScore { predictions, score } => {
            let annotations = VcocoAnnotations::from_file(&score.annotations)?;
            let inputs = VcocoInputs::read(&score)?;
            let (records, _) =
                DetectionRun::new(".", &predictions).read_existing_records::<VcocoPairRecord>()?;
            vcoco_score_and_print(&annotations, &inputs, &records, &score)
        }
    }
}

/// The V-COCO evaluation inputs besides the records, read before any model is loaded.
struct VcocoInputs {
    mask: VerbObjectMask,
    official: Option<VcocoGroundTruth>,
}

impl VcocoInputs {
    fn read(args: &VcocoScoreArgs) -> hoiclip::Result<Self> {
        let mask = match &args.correct_mat {
            Some(path) => VcocoCorrectMat::from_npy(path)?,
            None => VcocoCorrectMat::from_hois(),
        }
        .verb_object_mask();
        let official = match (&args.vsrl, &args.coco) {
            (Some(vsrl), Some(coco)) => Some(VcocoGroundTruth::from_files(
                vsrl,
                coco,
                args.split_ids.as_deref(),
            )?),
            _ => None,
        };
        Ok(Self { mask, official })
    }
}

fn vcoco_score_and_print(
    annotations: &VcocoAnnotations,
    inputs: &VcocoInputs,
    records: &[VcocoPairRecord],
    args: &VcocoScoreArgs,
) -> hoiclip::Result<()> {
    let mut proxy_preds = VcocoPredictions::new();
    for r in records {
        proxy_preds.push(r.to_proxy_predictions(&inputs.mask, VCOCO_MAX_HOIS)?)?;
    }
    let proxy = vcoco_proxy::evaluate(annotations, &proxy_preds);
    println!("{}", proxy.table());
    let official = match &inputs.official {
        Some(gt) => {
            let mut detections = VcocoDetections::default();
            for r in records {
                let id = image_id_of_file_name(&r.filename).ok_or_else(|| {
                    HoiclipError::Config(format!(
                        "{}: no COCO image id in the file name",
                        r.filename
                    ))
                })?;
                detections.detections.extend(r.to_official_detections(id));
            }
            if let Some(path) = &args.official_detections {
                detections.write_file(path)?;
                eprintln!("wrote {}", path.display());
            }
            let report = vcoco_official::evaluate(gt, &detections, VCOCO_IOU_THRESHOLD)?;
            println!("{}", report.summary_table());
            Some(report)
        }
        None => {
            eprintln!("note: no --vsrl / --coco: the official role AP is not computed");
            None
        }
    };
    if let Some(path) = &args.json {
        let value = serde_json::json!({ "proxy": proxy, "official": official });
        write_json(path, &value)?;
    }
    Ok(())
}

fn write_json(path: &Path, value: &serde_json::Value) -> hoiclip::Result<()> {
    let text = serde_json::to_string_pretty(value).map_err(|e| HoiclipError::Write {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    std::fs::write(path, text).map_err(|e| HoiclipError::Write {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    eprintln!("wrote {}", path.display());
    Ok(())
}

/// The zero-shot split to report: the flag's, else the one the checkpoint was trained on
/// (`args.zero_shot_type`); a disagreement or an unnamed zero-shot split is warned about.
fn zero_shot_split(
    detector: &hoiclip::Hoiclip,
    flag: Option<ZeroShotSplit>,
    checkpoint: &Path,
) -> Option<ZeroShotSplit> {
    let trained_on = detector.model().config.zero_shot_type;
    let from_checkpoint = ZeroShotSplit::of_training(trained_on);
    match (flag, from_checkpoint) {
        (Some(f), Some(c)) if f != c => eprintln!(
            "warning: --zero-shot {f} but {} was trained on {c}",
            checkpoint.display()
        ),
        (Some(f), None) if trained_on == ZeroShotType::Default => eprintln!(
            "warning: --zero-shot {f} but {} is a fully supervised checkpoint",
            checkpoint.display()
        ),
        (None, None) if trained_on == ZeroShotType::Unknown => eprintln!(
            "warning: {} is a zero-shot checkpoint whose args do not name the split; pass \
             --zero-shot for Unseen / Seen means",
            checkpoint.display()
        ),
        (None, Some(c)) => eprintln!("zero-shot split {c} (from the checkpoint's args)"),
        _ => {}
    }
    flag.or(from_checkpoint)
}

/// Builds the HOICLIP detector (enhancement top-k, 0 = off) from a checkpoint (the authors'
/// `.pth` as released, or a native `.bpk` written by `detect --save-native`) on a device
/// (`flex`, `ndarray`, `wgpu`).
fn load_detector(
    checkpoint: &Path,
    device: &str,
    enhancement_top_k: usize,
) -> hoiclip::Result<hoiclip::Hoiclip> {
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
    Ok(detector)
}

/// `--batch-size` and `--same-size` as a [`Batching`].
fn batching(batch_size: usize, same_size: bool) -> Batching {
    if same_size {
        Batching::SameSize(batch_size)
    } else {
        Batching::InOrder(batch_size)
    }
}

fn run_with_progress(
    detector: &dyn HoiDetector,
    images: &Path,
    output: &Path,
    batching: Batching,
    in_flight: usize,
    file_names: &[String],
) -> hoiclip::Result<hoiclip::eval::RunOutcome> {
    let run = DetectionRun::new(images, output)
        .batching(batching)
        .in_flight(in_flight);
    with_progress(file_names.len(), |progress| {
        run.run(detector, file_names, progress)
    })
}

/// Runs `body` with a progress bar fed by the runner's callback.
fn with_progress<T>(
    total: usize,
    body: impl FnOnce(&mut dyn FnMut(&RunProgress<'_>)) -> hoiclip::Result<T>,
) -> hoiclip::Result<T> {
    let bar = ProgressBar::new(total as u64);
    bar.set_style(
        ProgressStyle::with_template(
            "{bar:40} {pos}/{len} images [{elapsed_precise} < {eta_precise}] {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut progress = |p: &RunProgress<'_>| {
        bar.set_length(p.total as u64);
        bar.set_position(p.done as u64);
        if p.image.is_empty() && p.resumed > 0 {
            bar.println(format!("resuming: {} images already done", p.resumed));
        } else {
            bar.set_message(p.image.to_string());
        }
    };
    let result = body(&mut progress);
    bar.finish_and_clear();
    result
}

/// The rare split (`--train`, or the published one) and the `--correct-mat` check: read
/// before any model is loaded or image detected, so that a bad file fails at once.
fn read_score_inputs(args: &ScoreArgs) -> hoiclip::Result<RareSplit> {
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
    Ok(rare)
}

/// The image folder of a run, checked before the model load.
fn check_image_dir(images: &std::path::Path) -> hoiclip::Result<()> {
    match std::fs::metadata(images) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(HoiclipError::Config(format!(
            "{}: not a folder (give the folder of the test images)",
            images.display()
        ))),
        Err(source) => Err(HoiclipError::Io {
            path: images.to_path_buf(),
            source,
        }),
    }
}

fn score_and_print(
    annotations: &HicoAnnotations,
    preds: &Predictions,
    rare: &RareSplit,
    args: &ScoreArgs,
) -> hoiclip::Result<()> {
    let official = |mode| OfficialOptions {
        mode,
        detection_shift: args.detection_shift,
        max_detections_per_class: if args.authors_cap {
            Some(AUTHORS_DETECTIONS_PER_CLASS)
        } else {
            args.max_per_class
        },
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
        write_json(path, &serde_json::json!({ "reports": reports }))?;
    }
    Ok(())
}
