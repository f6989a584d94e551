//! CLIP zero-shot classification from the command line.
//!
//! With weights (an OpenAI/Hugging Face CLIP file or a HOICLIP checkpoint, `.pth` or
//! `.safetensors`, or a native `.bpk` written by `--save-native`):
//!
//! ```text
//! cargo run --release --example clip -- --weights ViT-B-32.pt --image photo.jpg \
//!     --prompt "a photo of a person riding a bicycle" --prompt "a photo of a person eating a pizza"
//! ```
//!
//! Without `--weights`, `--random ViT-B/32` runs the full-size pipeline with RANDOM weights:
//! the probabilities are meaningless, the timings are real.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use hoiclip::BackendChoice;
use hoiclip::clip::preprocess::preprocess_clip_batch;
use hoiclip::clip::tokenizer::ClipTokenizer;
use hoiclip::clip::{Clip, ClipConfig};

/// CLIP zero-shot classification of images against text prompts.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// CLIP weights: .pth / .safetensors (OpenAI or Hugging Face layout, HOICLIP
    /// checkpoints too) or a native .bpk file.
    #[arg(long, conflicts_with = "random")]
    weights: Option<PathBuf>,
    /// Run with random weights of this preset (ViT-B/32, ViT-B/16, ViT-L/14): a timing demo.
    #[arg(long)]
    random: Option<String>,
    /// Images to classify (default: one synthetic gradient image).
    #[arg(long)]
    image: Vec<PathBuf>,
    /// Prompts (default: three HOI prompts).
    #[arg(long)]
    prompt: Vec<String>,
    /// Backend: flex, ndarray or wgpu (default: HOICLIP_BACKEND or flex).
    #[arg(long)]
    device: Option<String>,
    /// Write the loaded model in the native fast-reload format to this path.
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

fn run(args: Args) -> hoiclip::Result<()> {
    let backend = match &args.device {
        Some(name) => name.parse::<BackendChoice>()?,
        None => BackendChoice::from_env_or_default()?,
    };
    let device = backend.device()?;

    // The images are decoded before the model load (seconds): a bad path fails at once.
    let images: Vec<image::DynamicImage> = if args.image.is_empty() {
        let gradient = image::RgbImage::from_fn(320, 240, |x, y| {
            image::Rgb([(x * 255 / 319) as u8, (y * 255 / 239) as u8, 128])
        });
        vec![image::DynamicImage::ImageRgb8(gradient)]
    } else {
        args.image
            .iter()
            .map(hoiclip::imaging::open_image)
            .collect::<hoiclip::Result<_>>()?
    };
    let start = Instant::now();
    let model = match (&args.weights, &args.random) {
        (Some(path), _) if path.extension().is_some_and(|e| e == "bpk") => {
            Clip::load_native(path, &device)?
        }
        (Some(path), _) => Clip::from_file(path, &device)?,
        (None, Some(preset)) => {
            println!("!! RANDOM WEIGHTS ({preset}): outputs are meaningless, timings are real");
            ClipConfig::from_name(preset)?.init(&device)
        }
        (None, None) => {
            return Err(hoiclip::HoiclipError::Config(
                "give --weights PATH (OpenAI's CLIP .pt/.pth, a Hugging Face CLIPModel \
                 .safetensors, or a HOICLIP checkpoint) or --random ViT-B/32 for a \
                 random-weight timing demo"
                    .into(),
            ));
        }
    };
    println!("loaded on {backend} in {:.2?}", start.elapsed());
    if let Some(path) = &args.save_native {
        model.save_native(path)?;
        println!("wrote {}", path.display());
    }

    let prompts: Vec<String> = if args.prompt.is_empty() {
        vec![
            "a photo of a person riding a bicycle".into(),
            "a photo of a person eating a pizza".into(),
            "a photo of a person holding an umbrella".into(),
        ]
    } else {
        args.prompt.clone()
    };

    let resolution = model.config().vision.image_resolution;
    let start = Instant::now();
    let batch = preprocess_clip_batch(&images, resolution, &device)?;
    let preprocess_time = start.elapsed();

    let tokenizer = ClipTokenizer::new()?;
    let prompt_refs: Vec<&str> = prompts.iter().map(String::as_str).collect();
    let tokens = tokenizer.tokenize_batch(&prompt_refs)?;

    // The first pass also initialises lazily created (random) weights; time the second.
    let mut values = Vec::new();
    let mut forward_time = std::time::Duration::ZERO;
    for _ in 0..2 {
        let start = Instant::now();
        let probabilities = model.probabilities(batch.clone(), &tokens)?;
        values = probabilities
            .into_data()
            .try_to_vec::<f32>()
            .map_err(|err| hoiclip::HoiclipError::Config(format!("{err:?}")))?;
        forward_time = start.elapsed();
    }

    for (i, _) in images.iter().enumerate() {
        let name = args
            .image
            .get(i)
            .map_or("synthetic gradient".to_string(), |p| {
                p.display().to_string()
            });
        println!("{name}:");
        for (j, prompt) in prompts.iter().enumerate() {
            println!("  {:6.2}%  {prompt}", 100.0 * values[i * prompts.len() + j]);
        }
    }
    println!(
        "preprocess {preprocess_time:.2?}, encode {} image(s) + {} prompt(s) {forward_time:.2?}",
        images.len(),
        prompts.len()
    );
    Ok(())
}
