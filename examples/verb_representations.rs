//! Build verb representations from annotated images (HOICLIP's visual semantic arithmetic,
//! `hoiclip::interaction::build_verb_representations`) and write them as the authors'
//! `verb.pth`, the file training starts the verb adapter from.
//!
//! A demo on the test fixtures (a small random CLIP, twelve synthetic HICO-DET images):
//!
//! ```text
//! cargo run --example verb_representations -- --demo
//! ```
//!
//! HICO-DET with the released CLIP (or a HOICLIP checkpoint, whose `clip_model.` it reads):
//!
//! ```text
//! cargo run --release --example verb_representations -- \
//!     --clip ViT-B-32.pt --dataset hico \
//!     --annotations hico_20160224_det/annotations/trainval_hico.json \
//!     --images hico_20160224_det/images/train2015 --out verb.pth
//! ```
//!
//! A custom dataset (`hoiclip::data::custom`: a vocabulary file with new verbs and objects,
//! annotations by name): `--dataset custom --vocabulary vocabulary.json`. Verbs without any
//! example get no row: `--fallback verb.pth` copies theirs from an existing file of the same
//! shape (e.g. the authors'), otherwise they are zero. `--report report.json` writes what was
//! used. See docs/data.md.

mod common;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::{Parser, ValueEnum};
use hoiclip::clip::Clip;
use hoiclip::data::{
    CustomTrainingSet, HicoTrainingOptions, HicoTrainingSet, TrainingSet, VcocoTrainingOptions,
    VcocoTrainingSet,
};
use hoiclip::interaction::{Accumulation, VerbRepresentationOptions, build_verb_representations};
use hoiclip::model::HoiVocabulary;
use hoiclip::{BackendChoice, HoiclipError};
use serde_json::json;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Dataset {
    /// `trainval_hico.json` (GEN-VLKT format), the 600 HICO-DET classes.
    Hico,
    /// `trainval_vcoco.json`, the authors' 263 V-COCO classes.
    Vcoco,
    /// `hoiclip::data::custom` format, with `--vocabulary`.
    Custom,
}

/// Build verb representations (`verb.pth`) from annotated images.
#[derive(Parser, Debug)]
#[command(about)]
struct Args {
    /// Run on the test fixtures (small random CLIP, synthetic HICO-DET images).
    #[arg(long)]
    demo: bool,
    /// CLIP weights: OpenAI's file, Hugging Face safetensors, or a HOICLIP checkpoint.
    #[arg(long, required_unless_present = "demo")]
    clip: Option<PathBuf>,
    /// The annotation format.
    #[arg(long, value_enum, default_value = "hico")]
    dataset: Dataset,
    /// The training annotations.
    #[arg(long, required_unless_present = "demo")]
    annotations: Option<PathBuf>,
    /// The images' folder.
    #[arg(long, required_unless_present = "demo")]
    images: Option<PathBuf>,
    /// The vocabulary file of a custom dataset.
    #[arg(long)]
    vocabulary: Option<PathBuf>,
    /// Where to write the `[verbs, dim]` tensor (`torch.save` layout).
    #[arg(long, default_value = "verb.pth")]
    out: PathBuf,
    /// Rows for verbs without examples, from this `verb.pth` (same shape).
    #[arg(long)]
    fallback: Option<PathBuf>,
    /// Also write a JSON report (verbs covered, examples per class).
    #[arg(long)]
    report: Option<PathBuf>,
    /// Add every interaction's embedding (the authors' code keeps one per class and image).
    #[arg(long)]
    every_interaction: bool,
    /// Backend: flex, ndarray or wgpu (default: HOICLIP_BACKEND or flex).
    #[arg(long)]
    device: Option<String>,
}

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn run(mut args: Args) -> hoiclip::Result<()> {
    if args.demo {
        let dir = fixtures().join("verb_representation");
        args.annotations.get_or_insert(dir.join("annotations.json"));
        args.images.get_or_insert(dir);
        args.dataset = Dataset::Hico;
        if args.out.as_os_str() == "verb.pth" {
            args.out = PathBuf::from("runs/verb_demo/verb.pth");
        }
    }
    let missing = |what: &str| HoiclipError::Config(format!("{what} is required"));
    let annotations = args
        .annotations
        .clone()
        .ok_or_else(|| missing("--annotations"))?;
    let images = args.images.clone().ok_or_else(|| missing("--images"))?;
    // Check the inputs before loading CLIP.
    let (set, vocabulary): (Box<dyn TrainingSet>, HoiVocabulary) = match args.dataset {
        Dataset::Hico => (
            Box::new(HicoTrainingSet::open(
                &annotations,
                &images,
                HicoTrainingOptions::default(),
            )?),
            HoiVocabulary::hico(),
        ),
        Dataset::Vcoco => (
            Box::new(VcocoTrainingSet::open(
                &annotations,
                &images,
                VcocoTrainingOptions::default(),
            )?),
            HoiVocabulary::vcoco(),
        ),
        Dataset::Custom => {
            let vocabulary_file = args
                .vocabulary
                .as_ref()
                .ok_or_else(|| missing("--vocabulary (with --dataset custom)"))?;
            let set = CustomTrainingSet::open(
                vocabulary_file,
                &annotations,
                &images,
                Default::default(),
            )?;
            let vocabulary = set.vocabulary().clone();
            (Box::new(set), vocabulary)
        }
    };
    let fallback = match &args.fallback {
        Some(path) => {
            let (shape, values) = hoiclip::weights::read_bare_tensor(path)?.ok_or_else(|| {
                HoiclipError::Config(format!(
                    "{}: not a torch.save of one tensor",
                    path.display()
                ))
            })?;
            Some((shape, values))
        }
        None => None,
    };

    let backend = match &args.device {
        Some(name) => name.parse::<BackendChoice>()?,
        None => BackendChoice::from_env_or_default()?,
    };
    let device = backend.device()?;
    let started = Instant::now();
    let clip = if args.demo && args.clip.is_none() {
        Clip::from_file_with_config(
            fixtures().join("clip_openai_small.pth"),
            &common::fixture_clip_config(500, 48, 4),
            &device,
        )?
    } else {
        Clip::from_file(
            args.clip.as_ref().ok_or_else(|| missing("--clip"))?,
            &device,
        )?
    };
    eprintln!(
        "CLIP ready on {backend} in {:.1} s; {} images, {} verbs",
        started.elapsed().as_secs_f64(),
        set.len(),
        vocabulary.verbs.len()
    );
    let options = VerbRepresentationOptions {
        accumulation: if args.every_interaction {
            Accumulation::EveryInteraction
        } else {
            Accumulation::Authors
        },
    };
    let started = Instant::now();
    let mut last_report = Instant::now();
    let reps =
        build_verb_representations(&clip, set.as_ref(), &vocabulary, options, |done, total| {
            if last_report.elapsed().as_secs_f64() >= 10.0 || done == total {
                eprintln!("{done}/{total} images");
                last_report = Instant::now();
            }
        })?;
    let fallback_values = match &fallback {
        Some((shape, values)) => {
            if shape.as_slice() != [reps.rows.len(), reps.dim] {
                return Err(HoiclipError::Config(format!(
                    "--fallback holds a {shape:?} tensor, expected [{}, {}]",
                    reps.rows.len(),
                    reps.dim
                )));
            }
            Some(values.as_slice())
        }
        None => None,
    };
    if let Some(dir) = args.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| HoiclipError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
    }
    reps.save_pth(&args.out, fallback_values)?;
    let covered = reps.covered_verbs();
    eprintln!(
        "{} interactions of {} images in {:.1} s ({} skipped); {} of {} verbs have examples",
        reps.interactions,
        reps.images,
        started.elapsed().as_secs_f64(),
        reps.skipped,
        covered.len(),
        reps.rows.len()
    );
    println!("wrote {}", args.out.display());
    if let Some(path) = &args.report {
        let report = json!({
            "verbs": vocabulary.verbs,
            "covered_verbs": covered.iter().map(|&v| &vocabulary.verbs[v]).collect::<Vec<_>>(),
            "verbs_without_examples": (0..reps.rows.len())
                .filter(|v| !covered.contains(v))
                .map(|v| &vocabulary.verbs[v])
                .collect::<Vec<_>>(),
            "examples_per_class": reps.class_examples,
            "images": reps.images,
            "interactions": reps.interactions,
            "skipped": reps.skipped,
            "fallback": args.fallback,
        });
        let text = serde_json::to_string_pretty(&report)
            .map_err(|e| HoiclipError::Config(format!("report: {e}")))?;
        std::fs::write(path, text).map_err(|source| HoiclipError::Io {
            path: path.clone(),
            source,
        })?;
    }
    Ok(())
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
