//! The Rust side of the training-step comparison (`benches/compare_train_step.py`): the
//! authors' training step (forward with auxiliary levels, Hungarian matching, losses,
//! backward, global-norm clipping, AdamW with the backbone group) at full size on a batch of
//! preprocessed images and their targets, timed, with the loss terms of the first step and
//! the peak memory of the steps (the high-water mark is reset after loading). Prints JSON on
//! stdout.
//!
//! ```text
//! cargo run --release --all-features --example bench_train_step -- \
//!     --checkpoint /var/tmp/hoiclip-full/hoiclip_full.pth \
//!     --inputs /var/tmp/hoiclip-train-bench/train_inputs.safetensors --threads 2 --steps 3
//! ```
//!
//! `--inputs`: safetensors with `detr_images` `[B, 3, H, W]` f32, `padding_mask` `[B, H, W]`
//! u8 (1 on padding), `clip_images` `[B, 3, n, n]` f32 and, per image `i`,
//! `target_{i}_sub_boxes` / `target_{i}_obj_boxes` `[pairs, 4]` (normalised cxcywh),
//! `target_{i}_obj_labels` `[pairs]` i64 and `target_{i}_hoi_labels` `[pairs, classes]` f32
//! (multi-hot), as the script writes them. Dropout is off on both sides (the crate has none;
//! the script sets it to 0), so the first step's losses are comparable.

mod common;

use common::{cpu_seconds, median, rss_mb};

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use burn::tensor::{Tensor, TensorData};
use clap::Parser;
use hoiclip::BackendChoice;
use hoiclip::detection::batch::PaddedBatch;
use hoiclip::model::{HoiclipInput, HoiclipModel};
use hoiclip::train::{
    FreezePolicy, HoiOptimizer, HoiTarget, OptimizerConfig, SetCriterion, TrainStep, training_model,
};
use serde_json::json;

/// Time the authors' training step at full size, printing JSON.
#[derive(Parser, Debug)]
#[command(about)]
struct Args {
    /// The authors' checkpoint (`.pth` as released, or safetensors of its state dict).
    #[arg(long)]
    checkpoint: PathBuf,
    /// Preprocessed images and targets (see the file's docs).
    #[arg(long)]
    inputs: PathBuf,
    /// Backend: flex, ndarray or wgpu.
    #[arg(long, default_value = "flex")]
    device: String,
    /// Worker threads (sets RAYON_NUM_THREADS).
    #[arg(long)]
    threads: Option<usize>,
    /// Untimed steps first.
    #[arg(long, default_value_t = 1)]
    warmup: usize,
    /// Timed steps.
    #[arg(long, default_value_t = 3)]
    steps: usize,
}

type Res<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn main() -> ExitCode {
    let args = Args::parse();
    common::set_threads(args.threads);
    match run(&args) {
        Ok(report) => {
            println!(
                "{}",
                serde_json::to_string_pretty(&report).unwrap_or_default()
            );
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}

struct Inputs {
    input: HoiclipInput,
    targets: Vec<HoiTarget>,
}

fn read_inputs(args: &Args, device: &burn::tensor::Device) -> Res<Inputs> {
    let bytes = std::fs::read(&args.inputs)?;
    let st = safetensors::SafeTensors::deserialize(&bytes)?;
    let f32s = |key: &str| -> Res<(Vec<f32>, Vec<usize>)> {
        let view = st.tensor(key)?;
        let values = view
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        Ok((values, view.shape().to_vec()))
    };
    let i64s = |key: &str| -> Res<Vec<i64>> {
        Ok(st
            .tensor(key)?
            .data()
            .chunks_exact(8)
            .map(|b| i64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
            .collect())
    };
    let (images, shape) = f32s("detr_images")?;
    let (clip, clip_shape) = f32s("clip_images")?;
    let mask: Vec<bool> = st
        .tensor("padding_mask")?
        .data()
        .iter()
        .map(|&b| b != 0)
        .collect();
    let [b, _, h, w] = [shape[0], shape[1], shape[2], shape[3]];
    let sizes: Vec<(usize, usize)> = (0..b)
        .map(|i| {
            let m = &mask[i * h * w..(i + 1) * h * w];
            (
                (0..h).filter(|&y| !m[y * w]).count(),
                (0..w).filter(|&x| !m[x]).count(),
            )
        })
        .collect();
    let original_sizes = sizes.iter().map(|&(r, c)| (c as u32, r as u32)).collect();
    let n = clip_shape[2];
    let input = HoiclipInput {
        batch: PaddedBatch {
            images: Tensor::from_data(TensorData::new(images, [b, 3, h, w]), device),
            padding: mask,
            height: h,
            width: w,
            sizes,
        },
        clip_images: Tensor::from_data(TensorData::new(clip, [b, 3, n, n]), device),
        original_sizes,
    };
    let mut targets = Vec::with_capacity(b);
    for i in 0..b {
        let boxes = |k: &str| -> Res<Vec<[f32; 4]>> {
            Ok(f32s(&format!("target_{i}_{k}"))?
                .0
                .chunks_exact(4)
                .map(|c| [c[0], c[1], c[2], c[3]])
                .collect())
        };
        let (hoi, hoi_shape) = f32s(&format!("target_{i}_hoi_labels"))?;
        let classes = hoi_shape[1];
        targets.push(HoiTarget {
            human_boxes: boxes("sub_boxes")?,
            object_boxes: boxes("obj_boxes")?,
            object_labels: i64s(&format!("target_{i}_obj_labels"))?
                .iter()
                .map(|&v| v as usize)
                .collect(),
            hoi_labels: hoi
                .chunks_exact(classes)
                .map(|row| (0..classes).filter(|&c| row[c] == 1.0).collect())
                .collect(),
        });
    }
    Ok(Inputs { input, targets })
}

fn run(args: &Args) -> Res<serde_json::Value> {
    let backend: BackendChoice = args.device.parse()?;
    let device = backend.device()?;
    let start = Instant::now();
    let model = HoiclipModel::from_checkpoint(&args.checkpoint, &device)?;
    let load_s = start.elapsed().as_secs_f64();
    let rss_after_load = rss_mb("VmRSS");
    // Reset the peak (VmHWM) so it counts the training steps, not the load (Linux).
    let peak_reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();
    let mut model = training_model(model, FreezePolicy::default());
    let inputs = read_inputs(args, &device.clone().autodiff())?;
    let mut step = TrainStep {
        criterion: SetCriterion::default(),
        optimizer: HoiOptimizer::new(OptimizerConfig::default()),
    };
    let mut first = None;
    let (mut wall, mut cpu, mut losses) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..args.warmup + args.steps {
        let (t0, c0) = (Instant::now(), cpu_seconds());
        let (next, outcome) = step.run(model, &inputs.input, &inputs.targets, 0, i as u64, None)?;
        model = next;
        let (dt, dc) = (
            t0.elapsed().as_secs_f64(),
            cpu_seconds().zip(c0).map(|(a, b)| a - b),
        );
        eprintln!("step {i}: {dt:.2} s, loss {:.4}", outcome.loss);
        losses.push(outcome.loss);
        if i == 0 {
            first = Some(outcome.clone());
        }
        if i >= args.warmup {
            wall.push(dt);
            cpu.extend(dc);
        }
    }
    let first = first.ok_or("no step ran")?;
    Ok(json!({
        "device": backend.name(),
        "threads": args.threads,
        "batch": inputs.targets.len(),
        "image_hw": [inputs.input.batch.height, inputs.input.batch.width],
        "pairs": inputs.targets.iter().map(HoiTarget::len).collect::<Vec<_>>(),
        "load_s": load_s,
        "rss_after_load_mb": rss_after_load,
        "peak_reset": peak_reset,
        "step_s": wall,
        "step_median_s": median(&wall),
        "step_cpu_s": cpu,
        "peak_rss_mb": rss_mb("VmHWM"),
        "losses": losses,
        "first_step": {
            "loss": first.loss,
            "terms": first.terms.iter().cloned().collect::<std::collections::BTreeMap<_, _>>(),
            "grad_norm": first.report.grad_norm,
            "assignments": first.assignments.iter().map(|level| level.iter()
                .map(|a| json!({"queries": a.queries, "pairs": a.pairs})).collect::<Vec<_>>())
                .collect::<Vec<_>>(),
        },
    }))
}
