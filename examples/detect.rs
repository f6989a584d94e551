//! HOI detection from the command line.
//!
//! ```text
//! cargo run --release --example detect -- --checkpoint hico_hoiclip.pth photo.jpg \
//!     --draw photo_hoi.png --top 10
//! ```
//!
//! Prints the detections as JSON (stdout, or `--json FILE`) and a short summary on stderr.
//! A folder stands for the images in it. `--batch-size N` runs all images through the
//! pipelined runner (decoding overlapped with the model, N images per batch; `--same-size`
//! batches only images of equal input size, so nothing is padded) and reports images per
//! second:
//!
//! ```text
//! cargo run --release --example detect -- --checkpoint hico_hoiclip.pth photos/ \
//!     --batch-size 2 --same-size --json detections.json
//! ```
//! Without a checkpoint it refuses, unless `--random-demo` asks for the full-size pipeline
//! with RANDOM weights (meaningless detections, real timings).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use hoiclip::detector::{Batching, Pipeline};
use hoiclip::model::{HoiVocabulary, HoiclipConfig, HoiclipModel};
use hoiclip::{BackendChoice, DetectOptions, Enhancement, HoiDetection, HoiDetector, Hoiclip};
use image::{DynamicImage, Rgb, RgbImage};
use imageproc::drawing::{draw_filled_rect_mut, draw_hollow_rect_mut, draw_line_segment_mut};
use imageproc::rect::Rect;
use serde::Serialize;

const CHECKPOINT_HELP: &str = "no checkpoint given. Download the authors' HICO-DET model \
(section 'Regular HOI Detection Results', `model` link) from https://github.com/Artanic30/HOICLIP#regular-hoi-detection-results and pass \
it with --checkpoint (the .pth as downloaded), or a native file with --native. \
--random-demo runs the pipeline with random weights to show it working and its timing.";

/// Human-object interaction detection with HOICLIP.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// Images to run on, or folders of images (with --random-demo and no image, a synthetic
    /// 640x480 image).
    images: Vec<PathBuf>,
    /// Run every image through the pipelined runner, this many per batch (decoding
    /// overlapped with the model); reports images per second instead of per-image times.
    #[arg(long)]
    batch_size: Option<usize>,
    /// With --batch-size: batch only images of equal input size (no padding; each image's
    /// detections are those of a batch of one). Without it, consecutive images are padded
    /// to the largest, as the authors' evaluation batches them.
    #[arg(long, requires = "batch_size")]
    same_size: bool,
    /// With --batch-size: batches run at once on the one detector (2 overlaps one pass's
    /// serial stretches with another's parallel work on a CPU).
    #[arg(long, default_value_t = 1, requires = "batch_size")]
    in_flight: usize,
    /// The authors' checkpoint (.pth as released, or .safetensors of its state dict).
    #[arg(long, conflicts_with_all = ["native", "random_demo"])]
    checkpoint: Option<PathBuf>,
    /// A native file written by --save-native (loads faster).
    #[arg(long, conflicts_with = "random_demo")]
    native: Option<PathBuf>,
    /// Run the full-size HICO-DET model with RANDOM weights: a pipeline and timing demo.
    #[arg(long)]
    random_demo: bool,
    /// Backend: flex, ndarray or wgpu (default: HOICLIP_BACKEND or flex).
    #[arg(long)]
    device: Option<String>,
    /// Keep at most this many detections per image in the output (after NMS).
    #[arg(long, default_value_t = 100)]
    top: usize,
    /// Drop detections scoring below this.
    #[arg(long, default_value_t = 0.0)]
    threshold: f32,
    /// Candidates per image before NMS (the evaluator's 100).
    #[arg(long, default_value_t = 100)]
    candidates: usize,
    /// Turn the training-free enhancement off.
    #[arg(long)]
    no_enhancement: bool,
    /// Top-k of the training-free enhancement.
    #[arg(long, default_value_t = 10)]
    enhancement_top_k: usize,
    /// Turn the triplet NMS off.
    #[arg(long)]
    no_nms: bool,
    /// Write the JSON here instead of stdout.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Draw the best detections on the image and save it here (one image; with several, the
    /// index is appended to the file stem).
    #[arg(long)]
    draw: Option<PathBuf>,
    /// How many detections --draw shows.
    #[arg(long, default_value_t = 5)]
    draw_top: usize,
    /// Run each image this many times and report the median time (the first run on a GPU
    /// includes shader compilation).
    #[arg(long, default_value_t = 1)]
    repeat: usize,
    /// Save the loaded model in the native format to this path.
    #[arg(long)]
    save_native: Option<PathBuf>,
}

#[derive(Serialize)]
struct ImageResult<'a> {
    image: &'a Path,
    width: u32,
    height: u32,
    seconds: f64,
    detections: &'a [HoiDetection],
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

fn run(args: Args) -> hoiclip::Result<()> {
    if args.checkpoint.is_none() && args.native.is_none() && !args.random_demo {
        return Err(hoiclip::HoiclipError::Config(CHECKPOINT_HELP.into()));
    }
    if args.images.is_empty() && !args.random_demo {
        return Err(hoiclip::HoiclipError::Config(
            "no image given: pass one or more image paths".into(),
        ));
    }
    let images = expand_folders(&args.images)?;
    // Check every image path before the model load (seconds): a typo fails at once.
    for path in &images {
        hoiclip::imaging::image_size(path)?;
    }
    let backend = match &args.device {
        Some(name) => name.parse::<BackendChoice>()?,
        None => BackendChoice::from_env_or_default()?,
    };
    let device = backend.device()?;
    let start = Instant::now();
    let mut detector = if let Some(path) = &args.checkpoint {
        Hoiclip::from_checkpoint(path, &device)?
    } else if let Some(path) = &args.native {
        Hoiclip::from_native(path, &device)?
    } else if args.random_demo {
        eprintln!("RANDOM WEIGHTS: the detections below are meaningless; the timings are real.");
        let config = HoiclipConfig::hico_default();
        let mut model = HoiclipModel::init(&config, HoiVocabulary::hico(), &device);
        model.refresh_text_embeddings()?;
        Hoiclip::new(model, &device)
    } else {
        return Err(hoiclip::HoiclipError::Config(CHECKPOINT_HELP.into()));
    };
    eprintln!(
        "loaded on {} in {:.2} s",
        backend.name(),
        start.elapsed().as_secs_f64()
    );
    if let Some(path) = &args.save_native {
        detector.save_native(path)?;
        eprintln!("saved native model to {}", path.display());
    }
    *detector.options_mut() = DetectOptions {
        top_k: args.candidates,
        nms: if args.no_nms {
            None
        } else {
            DetectOptions::default().nms
        },
        min_score: args.threshold,
        enhancement: if args.no_enhancement {
            Enhancement::Off
        } else {
            Enhancement::TopK(args.enhancement_top_k)
        },
        ..DetectOptions::default()
    };

    if let Some(batch_size) = args.batch_size {
        return run_pipelined(&detector, &images, batch_size, &args);
    }
    let synthetic = images.is_empty();
    let paths = if synthetic {
        vec![PathBuf::from("synthetic-640x480")]
    } else {
        images
    };
    let mut outputs = Vec::with_capacity(paths.len());
    for (index, path) in paths.iter().enumerate() {
        let image = if synthetic {
            synthetic_image()
        } else {
            hoiclip::imaging::open_image(path)?
        };
        let mut times = Vec::with_capacity(args.repeat.max(1));
        let mut detections = Vec::new();
        for _ in 0..args.repeat.max(1) {
            let start = Instant::now();
            detections = detector.detect(&image)?;
            times.push(start.elapsed().as_secs_f64());
        }
        let first = times[0];
        times.sort_by(f64::total_cmp);
        let seconds = times[times.len() / 2];
        if times.len() > 1 {
            eprintln!(
                "  {} runs: first {first:.3} s, median {seconds:.3} s, fastest {:.3} s",
                times.len(),
                times[0]
            );
        }
        detections.truncate(args.top);
        eprintln!(
            "{}: {}x{}, {} detections in {seconds:.2} s",
            path.display(),
            image.width(),
            image.height(),
            detections.len()
        );
        for d in detections.iter().take(5) {
            eprintln!("  {:.3}  person {} {}", d.score, d.verb_name, d.object_name);
        }
        if let Some(draw) = &args.draw {
            let target = save_drawing(draw, index, paths.len(), &image, &detections, &args)?;
            eprintln!("  drawn to {}", target.display());
        }
        outputs.push((
            path.clone(),
            image.width(),
            image.height(),
            seconds,
            detections,
        ));
    }
    let results: Vec<ImageResult<'_>> = outputs
        .iter()
        .map(|(image, width, height, seconds, detections)| ImageResult {
            image,
            width: *width,
            height: *height,
            seconds: *seconds,
            detections,
        })
        .collect();
    write_results(&results, args.json.as_deref())
}

/// Prints the results as JSON, or writes them to `json`.
fn write_results(results: &[ImageResult<'_>], json: Option<&Path>) -> hoiclip::Result<()> {
    let text = serde_json::to_string_pretty(results)
        .map_err(|e| hoiclip::HoiclipError::Config(e.to_string()))?;
    match json {
        Some(path) => std::fs::write(path, text).map_err(|e| hoiclip::HoiclipError::Write {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?,
        None => println!("{text}"),
    }
    Ok(())
}

/// `--batch-size`: every image through [`hoiclip::detector::detect_files`]; `seconds` in the
/// JSON is the run's time per image.
fn run_pipelined(
    detector: &Hoiclip,
    paths: &[PathBuf],
    batch_size: usize,
    args: &Args,
) -> hoiclip::Result<()> {
    if paths.is_empty() {
        return Err(hoiclip::HoiclipError::Config(
            "--batch-size needs image paths or folders".into(),
        ));
    }
    let batching = if args.same_size {
        Batching::SameSize(batch_size)
    } else {
        Batching::InOrder(batch_size)
    };
    let pipeline = Pipeline {
        batching,
        in_flight: args.in_flight.max(1),
    };
    let start = Instant::now();
    let mut all = hoiclip::detector::detect_files(detector, paths, pipeline)?;
    let seconds = start.elapsed().as_secs_f64();
    eprintln!(
        "{} images in {seconds:.2} s: {:.3} images/s ({batching:?}, {} in flight)",
        paths.len(),
        paths.len() as f64 / seconds,
        pipeline.in_flight
    );
    let mut sizes = Vec::with_capacity(paths.len());
    for (index, (path, detections)) in paths.iter().zip(all.iter_mut()).enumerate() {
        detections.truncate(args.top);
        let (width, height) = hoiclip::imaging::image_size(path)?;
        sizes.push((width, height));
        if let Some(draw) = &args.draw {
            let image = hoiclip::imaging::open_image(path)?;
            save_drawing(draw, index, paths.len(), &image, detections, args)?;
        }
    }
    let per_image = seconds / paths.len() as f64;
    let results: Vec<ImageResult<'_>> = paths
        .iter()
        .zip(&all)
        .zip(&sizes)
        .map(|((image, detections), &(width, height))| ImageResult {
            image,
            width,
            height,
            seconds: per_image,
            detections,
        })
        .collect();
    write_results(&results, args.json.as_deref())
}

/// Draws the best `--draw-top` detections on `image` and saves it to `draw` (with `index`
/// appended to the stem when there are several images); returns the path written.
fn save_drawing(
    draw: &Path,
    index: usize,
    count: usize,
    image: &DynamicImage,
    detections: &[HoiDetection],
    args: &Args,
) -> hoiclip::Result<PathBuf> {
    let target = if count == 1 {
        draw.to_path_buf()
    } else {
        indexed_path(draw, index)
    };
    let canvas = draw_detections(image, &detections[..args.draw_top.min(detections.len())]);
    canvas
        .save(&target)
        .map_err(|e| hoiclip::HoiclipError::Write {
            path: target.clone(),
            reason: e.to_string(),
        })?;
    Ok(target)
}

/// The paths with every folder replaced by the image files in it (by extension, sorted).
fn expand_folders(paths: &[PathBuf]) -> hoiclip::Result<Vec<PathBuf>> {
    const EXTENSIONS: [&str; 8] = ["jpg", "jpeg", "png", "webp", "bmp", "tif", "tiff", "gif"];
    let mut out = Vec::new();
    for path in paths {
        if !path.is_dir() {
            out.push(path.clone());
            continue;
        }
        let entries = std::fs::read_dir(path).map_err(|source| hoiclip::HoiclipError::Io {
            path: path.clone(),
            source,
        })?;
        let mut found = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|source| hoiclip::HoiclipError::Io {
                path: path.clone(),
                source,
            })?;
            let file = entry.path();
            let is_image = file.extension().is_some_and(|e| {
                EXTENSIONS.contains(&e.to_string_lossy().to_ascii_lowercase().as_str())
            });
            if is_image && file.is_file() {
                found.push(file);
            }
        }
        if found.is_empty() {
            return Err(hoiclip::HoiclipError::Config(format!(
                "{}: no image files (.jpg, .png, ...) in this folder",
                path.display()
            )));
        }
        found.sort();
        out.extend(found);
    }
    Ok(out)
}

/// A 640x480 test card (colour gradients and blocks) for the random-weight demo.
fn synthetic_image() -> DynamicImage {
    DynamicImage::ImageRgb8(RgbImage::from_fn(640, 480, |x, y| {
        let block = ((x / 80) + (y / 80)) % 2 == 0;
        let r = (x * 255 / 639) as u8;
        let g = (y * 255 / 479) as u8;
        Rgb(if block {
            [r, g, 128]
        } else {
            [255 - r, 128, g]
        })
    }))
}

fn indexed_path(path: &Path, index: usize) -> PathBuf {
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("hoi");
    let ext = path.extension().and_then(|s| s.to_str()).unwrap_or("png");
    path.with_file_name(format!("{stem}_{index}.{ext}"))
}

const PALETTE: [[u8; 3]; 6] = [
    [230, 25, 75],
    [60, 180, 75],
    [0, 130, 200],
    [245, 130, 48],
    [145, 30, 180],
    [70, 240, 240],
];

/// The image with each detection's person box, object box, a line joining their centres
/// and a `verb object score` label.
fn draw_detections(image: &DynamicImage, detections: &[HoiDetection]) -> RgbImage {
    let mut canvas = image.to_rgb8();
    let thickness = (canvas.width().max(canvas.height()) / 400).max(1) as i32;
    let scale = (canvas.width().max(canvas.height()) / 500).max(1);
    let mut placed: Vec<(i32, i32)> = Vec::new();
    for (i, d) in detections.iter().enumerate() {
        let color = Rgb(PALETTE[i % PALETTE.len()]);
        for b in std::iter::once(d.subject_box).chain(d.object_box) {
            for t in 0..thickness {
                let x0 = b[0].round() as i32 - t;
                let y0 = b[1].round() as i32 - t;
                let w = ((b[2] - b[0]).round() as i32 + 2 * t).max(1) as u32;
                let h = ((b[3] - b[1]).round() as i32 + 2 * t).max(1) as u32;
                draw_hollow_rect_mut(&mut canvas, Rect::at(x0, y0).of_size(w, h), color);
            }
        }
        let centre = |b: [f32; 4]| ((b[0] + b[2]) / 2.0, (b[1] + b[3]) / 2.0);
        // Object-less actions (V-COCO's `stand`, ...) have no object box to join.
        if let Some(object_box) = d.object_box {
            draw_line_segment_mut(
                &mut canvas,
                centre(d.subject_box),
                centre(object_box),
                color,
            );
        }
        let label = format!("{} {} {:.2}", d.verb_name, d.object_name, d.score);
        // Labels of pairs sharing a person box stack downwards instead of overwriting.
        let x = d.subject_box[0].max(0.0) as i32;
        let mut y = d.subject_box[1].max(0.0) as i32;
        let glyph = 8 * scale as i32;
        while placed
            .iter()
            .any(|&(px, py): &(i32, i32)| (px - x).abs() < glyph && (py - y).abs() < glyph)
        {
            y += glyph;
        }
        placed.push((x, y));
        draw_label(&mut canvas, x, y, &label, color, scale);
    }
    canvas
}

/// Draw `text` in the 8×8 bitmap font (scaled), white on a `color` band.
fn draw_label(canvas: &mut RgbImage, x: i32, y: i32, text: &str, color: Rgb<u8>, scale: u32) {
    let glyph = 8 * scale;
    let width = glyph * text.chars().count() as u32;
    draw_filled_rect_mut(canvas, Rect::at(x, y).of_size(width.max(1), glyph), color);
    for (i, ch) in text.chars().enumerate() {
        let code = if ch.is_ascii() {
            ch as usize
        } else {
            b'?' as usize
        };
        let rows = font8x8::legacy::BASIC_LEGACY[code];
        for (row, bits) in rows.iter().enumerate() {
            for col in 0..8 {
                if bits & (1 << col) == 0 {
                    continue;
                }
                for dy in 0..scale {
                    for dx in 0..scale {
                        let px = x + (i as u32 * glyph + col * scale + dx) as i32;
                        let py = y + (row as u32 * scale + dy) as i32;
                        if px >= 0
                            && py >= 0
                            && (px as u32) < canvas.width()
                            && (py as u32) < canvas.height()
                        {
                            canvas.put_pixel(px as u32, py as u32, Rgb([255, 255, 255]));
                        }
                    }
                }
            }
        }
    }
}
