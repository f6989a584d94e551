//! The training loader's throughput against the training step: how many images per second
//! [`BatchLoader`] decodes and augments (the authors' flip, colour jitter, multi-scale resize
//! and random crop) from JPEG files through the HICO-DET reader, on the given threads.
//! Prints JSON on stdout.
//!
//! ```text
//! cargo run --release --example bench_loader -- --threads 2 --images 48
//! ```
//!
//! The images are written first to a temporary folder: `--width × --height` JPEGs (HICO-DET's
//! typical 640 × 480) of smooth noise, each with one annotated pair. `--step-seconds`
//! (the training step's time at the same batch size, from `bench_train_step`) adds the
//! loader's share of a step to the output.

mod common;

use common::{cpu_seconds, set_threads};

use std::ops::ControlFlow;
use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use hoiclip::data::{
    AugmentConfig, BatchLoader, HicoTrainingOptions, HicoTrainingSet, TrainingSet,
};
use image::{Rgb, RgbImage};
use serde_json::json;

/// Time the training loader, printing JSON.
#[derive(Parser, Debug)]
#[command(about)]
struct Args {
    /// Worker threads (sets RAYON_NUM_THREADS).
    #[arg(long)]
    threads: Option<usize>,
    /// Images written and loaded.
    #[arg(long, default_value_t = 48)]
    images: usize,
    /// Their width.
    #[arg(long, default_value_t = 640)]
    width: u32,
    /// Their height.
    #[arg(long, default_value_t = 480)]
    height: u32,
    /// Images per batch.
    #[arg(long, default_value_t = 2)]
    batch: usize,
    /// Batches prepared ahead.
    #[arg(long, default_value_t = 2)]
    prefetch: usize,
    /// The training step's seconds at this batch size, to report the loader's share.
    #[arg(long)]
    step_seconds: Option<f64>,
}

fn write_set(dir: &std::path::Path, args: &Args) -> hoiclip::Result<()> {
    let io = |e: std::io::Error| hoiclip::HoiclipError::Io {
        path: dir.to_path_buf(),
        source: e,
    };
    let mut entries = Vec::new();
    let mut state = 0x2545_F491_4F6C_DD1D_u64;
    for i in 0..args.images {
        let image = RgbImage::from_fn(args.width, args.height, |x, y| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let noise = (state % 24) as f32;
            let v = |k: f32| {
                (((x as f32 * k).sin() + (y as f32 * 0.013 * k).cos()) * 60.0 + 120.0 + noise) as u8
            };
            Rgb([v(0.011), v(0.017), v(0.023)])
        });
        let name = format!("img_{i:04}.jpg");
        image
            .save(dir.join(&name))
            .map_err(|e| hoiclip::HoiclipError::Config(format!("{name}: {e}")))?;
        let (w, h) = (args.width as f64, args.height as f64);
        entries.push(json!({
            "file_name": name,
            "annotations": [
                {"bbox": [0.1 * w, 0.2 * h, 0.4 * w, 0.9 * h], "category_id": 1},
                {"bbox": [0.5 * w, 0.4 * h, 0.8 * w, 0.7 * h], "category_id": 2}
            ],
            "hoi_annotation": [
                {"subject_id": 0, "object_id": 1, "category_id": 88, "hoi_category_id": 153}
            ]
        }));
    }
    std::fs::write(
        dir.join("train.json"),
        serde_json::Value::Array(entries).to_string(),
    )
    .map_err(io)
}

fn run(args: &Args) -> hoiclip::Result<serde_json::Value> {
    let dir = tempfile::tempdir().map_err(|e| hoiclip::HoiclipError::Io {
        path: std::env::temp_dir(),
        source: e,
    })?;
    write_set(dir.path(), args)?;
    let set = HicoTrainingSet::open(
        dir.path().join("train.json"),
        dir.path(),
        HicoTrainingOptions::default(),
    )?;
    let batches: Vec<Vec<usize>> = (0..set.len())
        .collect::<Vec<_>>()
        .chunks_exact(args.batch.max(1))
        .map(<[usize]>::to_vec)
        .collect();
    let mut results = serde_json::Map::new();
    for (label, augment) in [
        ("augmented", Some(AugmentConfig::authors())),
        ("decoded_only", None),
    ] {
        let loader = BatchLoader::new(&set, augment, 42)?;
        let (wall, cpu) = (Instant::now(), cpu_seconds());
        let mut pixels = 0u64;
        loader.for_each_batch(&batches, 0, args.prefetch, |_, samples| {
            pixels += samples
                .iter()
                .map(|s| u64::from(s.image.width()) * u64::from(s.image.height()))
                .sum::<u64>();
            Ok(ControlFlow::Continue(()))
        })?;
        let seconds = wall.elapsed().as_secs_f64();
        let images = (batches.len() * args.batch) as f64;
        let batch_seconds = seconds / batches.len().max(1) as f64;
        let mut r = json!({
            "images_per_second": images / seconds,
            "seconds_per_batch": batch_seconds,
            "cpu_seconds": cpu_seconds().zip(cpu).map(|(b, a)| b - a),
            "mean_output_megapixels": pixels as f64 / images / 1e6,
        });
        if let Some(step) = args.step_seconds {
            r["steps_per_second"] = json!(1.0 / step);
            r["loader_batches_per_second"] = json!(1.0 / batch_seconds);
            r["loader_share_of_a_step"] = json!(batch_seconds / step);
        }
        results.insert(label.to_string(), r);
    }
    Ok(json!({
        "threads": rayon::current_num_threads(),
        "images": args.images,
        "size": [args.width, args.height],
        "batch": args.batch,
        "results": results,
    }))
}

fn main() -> ExitCode {
    let args = Args::parse();
    set_threads(args.threads);
    match run(&args) {
        Ok(v) => {
            println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
