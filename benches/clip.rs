//! CLIP benches at full size (ViT-B/32, random weights): image encode at batch 1 and 8,
//! text encode of 600 HOI-style prompts, on every compiled CPU backend (flex, ndarray).
//!
//! `cargo bench --bench clip` (add `-- flex` to run one backend only, `-- wgpu` for the GPU).

use std::hint::black_box;
use std::time::Duration;

use burn::tensor::{Distribution, Tensor};
mod common;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use hoiclip::clip::ClipConfig;
use hoiclip::clip::tokenizer::ClipTokenizer;

/// 600 prompts shaped like HOICLIP's ("a photo of a person <verb> a <object>").
fn prompts() -> Vec<String> {
    const VERBS: [&str; 20] = [
        "riding",
        "holding",
        "eating",
        "sitting on",
        "carrying",
        "throwing",
        "catching",
        "cutting",
        "kicking",
        "washing",
        "feeding",
        "pushing",
        "pulling",
        "hugging",
        "repairing",
        "walking",
        "lying on",
        "inspecting",
        "boarding",
        "watching",
    ];
    const OBJECTS: [&str; 30] = [
        "bicycle",
        "horse",
        "pizza",
        "chair",
        "backpack",
        "frisbee",
        "sports ball",
        "cake",
        "skateboard",
        "car",
        "dog",
        "cart",
        "kite",
        "teddy bear",
        "motorcycle",
        "cow",
        "bed",
        "laptop",
        "airplane",
        "tv",
        "bus",
        "train",
        "boat",
        "umbrella",
        "surfboard",
        "tennis racket",
        "cell phone",
        "book",
        "banana",
        "toothbrush",
    ];
    VERBS
        .iter()
        .flat_map(|v| {
            OBJECTS
                .iter()
                .map(move |o| format!("a photo of a person {v} a {o}"))
        })
        .collect()
}

fn bench_clip(c: &mut Criterion) {
    let config = ClipConfig::vit_b_32();
    let tokenizer = ClipTokenizer::new().expect("tokenizer");
    let prompts = prompts();
    let prompt_refs: Vec<&str> = prompts.iter().map(String::as_str).collect();
    let tokens = tokenizer.tokenize_batch(&prompt_refs).expect("tokenize");

    let mut group = c.benchmark_group("clip_vit_b32");
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(2));
    group.measurement_time(Duration::from_secs(20));
    for (backend, device) in common::backends_to_bench() {
        let model = config.init(&device);
        for batch in [1usize, 8] {
            let images = Tensor::<4>::random(
                [batch, 3, 224, 224],
                Distribution::Normal(0.0, 1.0),
                &device,
            );
            group.bench_with_input(
                BenchmarkId::new(format!("{backend}/encode_image"), batch),
                &images,
                |b, images| {
                    b.iter(|| {
                        let out = model.encode_image(images.clone()).expect("encode");
                        black_box(out.embedding.into_data());
                    })
                },
            );
        }
        group.bench_function(format!("{backend}/encode_text_600"), |b| {
            b.iter(|| black_box(model.encode_tokens(&tokens).expect("text").into_data()))
        });
    }
    group.finish();
}

criterion_group!(benches, bench_clip);
criterion_main!(benches);
