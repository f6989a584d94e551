//! The Rust side of the side-by-side speed harness (`benches/compare_pytorch.py`), usable
//! alone on any backend (`--device flex|ndarray|wgpu`). Prints JSON on stdout.
//!
//! ```text
//! # one-shot: load, warm up, time, report (random inputs when --inputs is not given)
//! cargo run --release --all-features --example bench_forward -- \
//!     --checkpoint /var/tmp/hoiclip-full/hoiclip_full.pth --device flex --threads 2 \
//!     --warmup 1 --runs 3 --batch single,pair
//! # per-stage profile of the forward pass
//! ... --stages
//! # convert a .pth once to the native format
//! ... --checkpoint model.pth --save-native model.bpk --runs 0
//! ```
//!
//! - `--checkpoint` takes an authors' `.pth` (or safetensors of its state dict) or a native
//!   file (`.bpk`, told by the extension); `load_s` is the time of that load.
//!   `HoiclipModel::load_native` maps the file and reads tensors on first use, so
//!   `first_forward_s` (the first forward after the load) is reported too. Like the
//!   detector's loaders, the harness warms the model up after loading (`warm_up_s`;
//!   `ready_s` = load + warm-up); `--cold` skips it.
//! - `--inputs FILE`: a safetensors file with `{name}_images` `[B, 3, H, W]` f32,
//!   `{name}_mask` `[B, H, W]` u8 (1 on padding) and `{name}_clip` `[B, 3, n, n]` f32 for
//!   `name` in `single`, `pair` (written by `compare_pytorch.py`, so both sides get identical
//!   preprocessed tensors). Without it: uniform random inputs, `single` = one 800×1066 image,
//!   `pair` = 800×1066 + 1066×800 padded to 1066×1066.
//! - Every timed forward ends by copying all five outputs to the host (which also waits for
//!   a GPU backend to finish).
//! - `--serve`: after loading, read commands from stdin, one a line, and answer one JSON line
//!   each: `run single` / `run pair` (one timed forward), `stats` (peak and current RSS),
//!   `quit`. The Python harness uses this to alternate A/B runs with PyTorch.
//! - `--no-cpu-kernels` runs every layer with Burn's operations on a CPU backend too (by
//!   default CPU backends use the kernels of `hoiclip::nn::cpu` where they apply).
//! - `--no-avx512` keeps the CPU kernels on AVX2 + FMA on a CPU with AVX-512 (the same as
//!   `HOICLIP_CPU_AVX512=0`).
//! - `--threads N` sets `RAYON_NUM_THREADS` (flex's and gemm's thread pool) before anything
//!   starts a thread.
//! - Peak memory is the process's `VmHWM` (Linux `/proc/self/status`).
//! - `cpu_runs_s` / `cpu_median_s`: the process's CPU time per timed forward (Linux), which
//!   time stolen by a virtual machine's host does not inflate.

mod common;

use common::{cpu_seconds, median, rss_mb};

use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use burn::tensor::{Device, Distribution, Tensor, TensorData};
use clap::Parser;
use hoiclip::BackendChoice;
use hoiclip::detection::batch::PaddedBatch;
use hoiclip::model::{HoiclipInput, HoiclipModel, HoiclipOutput};
use serde_json::{Value, json};

/// Time HOICLIP's forward pass (and model loading), printing JSON.
#[derive(Parser, Debug)]
#[command(about)]
struct Args {
    /// `.pth` / `.safetensors` (authors' format) or `.bpk` (native) model file.
    #[arg(long)]
    checkpoint: PathBuf,
    /// Backend: flex, ndarray or wgpu.
    #[arg(long, default_value = "flex")]
    device: String,
    /// Worker threads (sets RAYON_NUM_THREADS); unset: the backend's default.
    #[arg(long)]
    threads: Option<usize>,
    /// Preprocessed inputs (safetensors, see the file's docs); random inputs when absent.
    #[arg(long)]
    inputs: Option<PathBuf>,
    /// Batches to time, comma-separated: single, pair.
    #[arg(long, default_value = "single,pair")]
    batch: String,
    /// Skip the warm-up the detector's loaders do (`HoiclipModel::warm_up`): the first
    /// forward then pays for packing the weights.
    #[arg(long)]
    cold: bool,
    /// The warm-up image's side (the detector's loaders: 800).
    #[arg(long, default_value_t = 800)]
    warm_up_side: u32,
    /// Untimed forwards per batch before timing.
    #[arg(long, default_value_t = 1)]
    warmup: usize,
    /// Timed forwards per batch.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Also time each stage separately (backbone, encoder, decoder, CLIP, fusion, heads).
    #[arg(long)]
    stages: bool,
    /// Save the loaded model in the native format to this path (then time a native reload).
    #[arg(long)]
    save_native: Option<PathBuf>,
    /// Answer commands on stdin after loading (see the file's docs).
    #[arg(long)]
    serve: bool,
    /// Run everything with Burn's operations, also on a CPU backend (no CPU kernels).
    #[arg(long)]
    no_cpu_kernels: bool,
    /// Keep the CPU kernels on AVX2 + FMA where the CPU also has AVX-512.
    #[arg(long)]
    no_avx512: bool,
}

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

type Res<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn run(args: &Args) -> Res<Value> {
    let backend: BackendChoice = args.device.parse()?;
    let device = backend.device()?;
    let mut report = BTreeMap::<String, Value>::new();
    report.insert("backend".into(), json!(backend.name()));
    report.insert(
        "threads".into(),
        json!(std::env::var("RAYON_NUM_THREADS").ok()),
    );
    report.insert(
        "checkpoint".into(),
        json!(args.checkpoint.display().to_string()),
    );

    if args.no_cpu_kernels {
        hoiclip::nn::cpu::set_kernels_enabled(false);
    }
    if args.no_avx512 {
        hoiclip::nn::cpu::micro_kernel::set_avx512_enabled(false);
    }
    report.insert(
        "cpu_kernel".into(),
        json!(format!("{:?}", hoiclip::nn::cpu::ConvKernel::best())),
    );
    let start = Instant::now();
    let model = load(&args.checkpoint, &device)?;
    report.insert("load_s".into(), json!(start.elapsed().as_secs_f64()));
    // What `Hoiclip::from_checkpoint` / `from_native` do after loading (unless --cold).
    if !args.cold {
        let warm_start = Instant::now();
        model.warm_up(args.warm_up_side)?;
        report.insert(
            "warm_up_s".into(),
            json!(warm_start.elapsed().as_secs_f64()),
        );
        report.insert("ready_s".into(), json!(start.elapsed().as_secs_f64()));
    }
    report.insert(
        "cpu_kernels".into(),
        json!(hoiclip::nn::cpu::kernels_enabled()),
    );
    report.insert("rss_after_load_mb".into(), json!(rss_mb("VmRSS")));

    if let Some(path) = &args.save_native {
        let start = Instant::now();
        model.save_native(path)?;
        report.insert("save_native_s".into(), json!(start.elapsed().as_secs_f64()));
    }

    let names: Vec<&str> = args.batch.split(',').filter(|s| !s.is_empty()).collect();
    let mut inputs = BTreeMap::new();
    for name in &names {
        inputs.insert(
            name.to_string(),
            make_input(args.inputs.as_deref(), name, &model, &device)?,
        );
    }

    if args.serve {
        serve(&model, &inputs)?;
        return Ok(json!({"served": true}));
    }

    let mut first = true;
    let mut results = BTreeMap::new();
    for name in &names {
        let input = &inputs[*name];
        let mut warm = Vec::new();
        for _ in 0..args.warmup {
            warm.push(timed_forward(&model, input)?);
        }
        if first && args.runs + args.warmup > 0 {
            if let Some(&t) = warm.first() {
                report.insert("first_forward_s".into(), json!(t));
            }
            first = false;
        }
        let mut runs = Vec::new();
        let mut cpu = Vec::new();
        for _ in 0..args.runs {
            let cpu_before = cpu_seconds();
            runs.push(timed_forward(&model, input)?);
            if let (Some(after), Some(before)) = (cpu_seconds(), cpu_before) {
                cpu.push(after - before);
            }
        }
        if first && !runs.is_empty() {
            report.insert("first_forward_s".into(), json!(runs[0]));
            first = false;
        }
        let mut entry = json!({
            "shape": input.batch.images.dims(),
            "warmup_s": warm,
            "runs_s": runs,
            "median_s": median(&runs),
            "cpu_runs_s": cpu,
            "cpu_median_s": median(&cpu),
        });
        if args.stages {
            entry["stages"] = stages(&model, input, args.runs.max(1))?;
        }
        results.insert(name.to_string(), entry);
    }
    report.insert("batches".into(), json!(results));
    report.insert("peak_rss_mb".into(), json!(rss_mb("VmHWM")));
    Ok(json!(report))
}

fn load(path: &Path, device: &Device) -> Res<HoiclipModel> {
    let native = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("bpk"));
    Ok(if native {
        HoiclipModel::load_native(path, device)?
    } else {
        HoiclipModel::from_checkpoint(path, device)?
    })
}

/// The input named `name`, from the safetensors file or random.
fn make_input(
    file: Option<&Path>,
    name: &str,
    model: &HoiclipModel,
    device: &Device,
) -> Res<HoiclipInput> {
    let n_px = model.config.clip.vision.image_resolution;
    let (images, mask, clip, shape) = match file {
        Some(path) => {
            let bytes = std::fs::read(path)?;
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
            let (images, shape) = f32s(&format!("{name}_images"))?;
            let (clip, _) = f32s(&format!("{name}_clip"))?;
            let mask: Vec<bool> = st
                .tensor(&format!("{name}_mask"))?
                .data()
                .iter()
                .map(|&b| b != 0)
                .collect();
            (images, mask, clip, shape)
        }
        None => {
            let sizes: &[(usize, usize)] = match name {
                "single" => &[(800, 1066)],
                "pair" => &[(800, 1066), (1066, 800)],
                other => return Err(format!("unknown batch `{other}`").into()),
            };
            let h = sizes.iter().map(|s| s.0).max().unwrap_or(0);
            let w = sizes.iter().map(|s| s.1).max().unwrap_or(0);
            let b = sizes.len();
            let random = |shape: [usize; 4]| -> Vec<f32> {
                Tensor::<4>::random(shape, Distribution::Uniform(-2.0, 2.0), device)
                    .into_data()
                    .try_to_vec::<f32>()
                    .unwrap_or_default()
            };
            let mut images = random([b, 3, h, w]);
            let mut mask = vec![true; b * h * w];
            for (i, &(ih, iw)) in sizes.iter().enumerate() {
                for y in 0..h {
                    for x in 0..w {
                        let inside = y < ih && x < iw;
                        mask[(i * h + y) * w + x] = !inside;
                        if !inside {
                            for c in 0..3 {
                                images[((i * 3 + c) * h + y) * w + x] = 0.0;
                            }
                        }
                    }
                }
            }
            (images, mask, random([b, 3, n_px, n_px]), vec![b, 3, h, w])
        }
    };
    let [b, _, h, w] = [shape[0], shape[1], shape[2], shape[3]];
    let sizes = (0..b)
        .map(|i| {
            let m = &mask[i * h * w..(i + 1) * h * w];
            let rows = (0..h).filter(|&y| !m[y * w]).count();
            let cols = (0..w).filter(|&x| !m[x]).count();
            (rows, cols)
        })
        .collect::<Vec<_>>();
    let original_sizes = sizes.iter().map(|&(r, c)| (c as u32, r as u32)).collect();
    Ok(HoiclipInput {
        batch: PaddedBatch {
            images: Tensor::from_data(TensorData::new(images, [b, 3, h, w]), device),
            padding: mask,
            height: h,
            width: w,
            sizes,
        },
        clip_images: Tensor::from_data(TensorData::new(clip, [b, 3, n_px, n_px]), device),
        original_sizes,
    })
}

/// Copy every output to the host (waits for the backend).
fn sync(output: HoiclipOutput) -> Res<()> {
    for t in [
        output.hoi_logits,
        output.object_logits,
        output.human_boxes,
        output.object_boxes,
    ] {
        t.into_data();
    }
    output.clip_hoi_scores.into_data();
    Ok(())
}

fn timed_forward(model: &HoiclipModel, input: &HoiclipInput) -> Res<f64> {
    let start = Instant::now();
    sync(model.forward(input)?)?;
    Ok(start.elapsed().as_secs_f64())
}

/// Time the forward pass stage by stage (each stage's output copied to the host), `runs`
/// times, reporting each stage's median.
fn stages(model: &HoiclipModel, input: &HoiclipInput, runs: usize) -> Res<Value> {
    let mut times: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for _ in 0..runs {
        let mut tick = Instant::now();
        let mut lap = |times: &mut BTreeMap<&str, Vec<f64>>, name: &'static str| {
            times
                .entry(name)
                .or_default()
                .push(tick.elapsed().as_secs_f64());
            tick = Instant::now();
        };
        let det = &model.detection;
        let batch = &input.batch;
        let features = det.backbone.forward(batch.images.clone());
        let features = wait4(features);
        lap(&mut times, "1_backbone");

        let b = features.dims()[0];
        let inputs = det.encoder_inputs(features.clone(), batch);
        let masks = inputs.masks();
        let (src, pos) = (inputs.src, inputs.pos);
        let src = wait3(src);
        let pos = wait3(pos);
        lap(&mut times, "2_input_proj_pos");

        let memory = wait3(det.encoder.forward(src, pos.clone(), &masks));
        lap(&mut times, "3_encoder");

        let q = det.query_embed_h.dims()[0];
        let query_pos = det.query_pos(b);
        let states = det
            .instance_decoder
            .forward(query_pos, memory.clone(), pos, &masks);
        let last = wait3(states.last().cloned().ok_or("no decoder layers")?);
        let human = last.clone().narrow(1, 0, q);
        let object = last.narrow(1, q, q);
        let human_boxes = det.hum_bbox_embed.boxes(human.clone());
        let object_boxes = det.obj_bbox_embed.boxes(object.clone());
        human_boxes.into_data();
        object_boxes.into_data();
        lap(&mut times, "4_instance_decoder_boxes");

        let vision = model.clip.encode_image(input.clip_images.clone())?;
        let token_map = wait3(vision.token_map);
        let embedding = vision.embedding;
        lap(&mut times, "5_clip_visual");

        let interaction = model
            .interaction
            .forward(human, object.clone(), memory, token_map);
        let inter = wait3(
            interaction
                .layer_outputs
                .last()
                .cloned()
                .ok_or("no layers")?,
        );
        lap(&mut times, "6_interaction_decoder");

        let inter = model.clip.visual.proj.forward(inter);
        let hoi = model
            .heads
            .hoi_logits(inter, model.config.uses_eval_heads())?;
        let obj = model.heads.object_logits(object);
        let image = hoiclip::clip::l2_normalize(embedding);
        let scores = image.matmul(model.hoi_text_embeddings.val().transpose());
        hoi.into_data();
        obj.into_data();
        scores.into_data();
        lap(&mut times, "7_heads");
    }
    let medians: BTreeMap<&str, Option<f64>> = times.iter().map(|(k, v)| (*k, median(v))).collect();
    Ok(json!(medians))
}

/// Wait for `t` (copy it to the host) and return it.
fn wait3(t: Tensor<3>) -> Tensor<3> {
    let _ = t.clone().into_data();
    t
}

/// Wait for `t` (copy it to the host) and return it.
fn wait4(t: Tensor<4>) -> Tensor<4> {
    let _ = t.clone().into_data();
    t
}

fn serve(model: &HoiclipModel, inputs: &BTreeMap<String, HoiclipInput>) -> Res<()> {
    println!("{}", json!({"ready": true}));
    for line in std::io::stdin().lock().lines() {
        let line = line?;
        let words: Vec<&str> = line.split_whitespace().collect();
        let reply = match words.as_slice() {
            ["run", name] => match inputs.get(*name) {
                Some(input) => json!({"batch": name, "seconds": timed_forward(model, input)?}),
                None => json!({"error": format!("unknown batch {name}")}),
            },
            ["stats"] => json!({"peak_rss_mb": rss_mb("VmHWM"), "rss_mb": rss_mb("VmRSS")}),
            ["quit"] => break,
            _ => json!({"error": format!("unknown command {line}")}),
        };
        println!("{reply}");
    }
    Ok(())
}
