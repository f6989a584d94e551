//! Whole-model benches, stage by stage, at full size with random weights (ResNet-50, DETR
//! 6 + 3 layers at 256 wide, 64 pair queries, CLIP ViT-B/32, 3 fusion layers, 600 HOI
//! classes), one 800×1066 image, on every compiled CPU backend — so that a regression in one
//! stage shows:
//!
//! - `clip_visual`: CLIP's image encoder (embedding and token map) on the 224×224 crop;
//! - `backbone`: ResNet-50 to `layer4` (on CPU backends: the channels-last CPU kernels);
//! - `backbone_burn_ops`: the same with Burn's operations (`ResNet::forward_burn`);
//! - `encoder`: `input_proj`, position embedding, padding mask and the 6 encoder layers;
//! - `instance_decoder`: the 3 instance-decoder layers and the box heads;
//! - `interaction_decoder`: memory projection, pair queries and the 3 fusion layers;
//! - `heads`: `visual.proj`, the HOI, verb and object classifiers and CLIP's HOI scores;
//! - `postprocess`: scores, top-k, triplet NMS into detections (host side);
//! - `end_to_end`: `HoiclipModel::forward` and post-processing.
//!
//! `cargo bench --all-features --bench model -- flex` (or `ndarray`; `wgpu` only when named).
//! Each stage's output is copied to the host inside the timed closure.

use std::hint::black_box;
use std::time::Duration;

mod common;

use burn::tensor::{Distribution, Tensor};
use criterion::{Criterion, criterion_group, criterion_main};
use hoiclip::Hoiclip;
use hoiclip::clip::l2_normalize;
use hoiclip::detection::batch::pad_batch;
use hoiclip::model::{HoiVocabulary, HoiclipConfig, HoiclipInput, HoiclipModel};

fn bench_model(c: &mut Criterion) {
    let config = HoiclipConfig::hico_default();
    let mut group = c.benchmark_group("model");
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(20));
    for (backend, device) in common::backends_to_bench() {
        let model = HoiclipModel::init(&config, HoiVocabulary::hico(), &device);
        let detector = Hoiclip::new(model, &device);
        let model = detector.model();
        let batch = pad_batch(&[common::random_image(800, 1066, 1)], &device).expect("batch");
        let n_px = config.clip.vision.image_resolution;
        let clip_images =
            Tensor::<4>::random([1, 3, n_px, n_px], Distribution::Normal(0.0, 1.0), &device);
        let input = HoiclipInput {
            batch,
            clip_images,
            original_sizes: vec![(640, 480)],
        };
        let det = &model.detection;
        let name = |stage: &str| format!("{backend}/{stage}");

        group.bench_function(name("clip_visual"), |b| {
            b.iter(|| {
                let out = model
                    .clip
                    .encode_image(input.clip_images.clone())
                    .expect("clip");
                black_box(out.token_map.into_data())
            })
        });
        group.bench_function(name("backbone"), |b| {
            b.iter(|| black_box(det.backbone.forward(input.batch.images.clone()).into_data()))
        });
        // The same backbone with Burn's operations (what runs without the CPU kernels).
        group.bench_function(name("backbone_burn_ops"), |b| {
            b.iter(|| {
                black_box(
                    det.backbone
                        .forward_burn(input.batch.images.clone())
                        .into_data(),
                )
            })
        });

        // The pieces the later stages take, computed once.
        let features = det.backbone.forward(input.batch.images.clone());
        let bs = features.dims()[0];
        let encoder_inputs = || {
            let inputs = det.encoder_inputs(features.clone(), &input.batch);
            let masks = inputs.masks();
            (inputs.src, inputs.pos, masks)
        };
        group.bench_function(name("encoder"), |b| {
            b.iter(|| {
                let (src, pos, masks) = encoder_inputs();
                black_box(det.encoder.forward(src, pos, &masks).into_data())
            })
        });
        let (src, pos, masks) = encoder_inputs();
        let memory = det.encoder.forward(src, pos.clone(), &masks);
        let q = config.detection.num_queries;
        let query_pos = det.query_pos(bs);
        group.bench_function(name("instance_decoder"), |b| {
            b.iter(|| {
                let states = det.instance_decoder.forward(
                    query_pos.clone(),
                    memory.clone(),
                    pos.clone(),
                    &masks,
                );
                let last = states.last().cloned().expect("layers");
                let boxes = det.hum_bbox_embed.boxes(last.clone().narrow(1, 0, q));
                let boxes_o = det.obj_bbox_embed.boxes(last.narrow(1, q, q));
                black_box((boxes.into_data(), boxes_o.into_data()))
            })
        });
        let states = det
            .instance_decoder
            .forward(query_pos, memory.clone(), pos, &masks);
        let last = states.last().cloned().expect("layers");
        let human = last.clone().narrow(1, 0, q);
        let object = last.narrow(1, q, q);
        let vision = model
            .clip
            .encode_image(input.clip_images.clone())
            .expect("clip");
        group.bench_function(name("interaction_decoder"), |b| {
            b.iter(|| {
                let out = model.interaction.forward(
                    human.clone(),
                    object.clone(),
                    memory.clone(),
                    vision.token_map.clone(),
                );
                black_box(
                    out.layer_outputs
                        .last()
                        .cloned()
                        .expect("layers")
                        .into_data(),
                )
            })
        });
        let inter = model
            .interaction
            .forward(human, object.clone(), memory, vision.token_map.clone())
            .layer_outputs
            .last()
            .cloned()
            .expect("layers");
        group.bench_function(name("heads"), |b| {
            b.iter(|| {
                let projected = model.clip.visual.proj.forward(inter.clone());
                let hoi = model
                    .heads
                    .hoi_logits(projected, model.config.uses_eval_heads())
                    .expect("heads");
                let obj = model.heads.object_logits(object.clone());
                let scores = l2_normalize(vision.embedding.clone())
                    .matmul(model.hoi_text_embeddings.val().transpose());
                black_box((hoi.into_data(), obj.into_data(), scores.into_data()))
            })
        });
        let output = model.forward(&input).expect("forward");
        group.bench_function(name("postprocess"), |b| {
            b.iter(|| {
                black_box(
                    detector
                        .postprocess(&output, &input.original_sizes)
                        .expect("postprocess"),
                )
            })
        });
        group.bench_function(name("end_to_end"), |b| {
            b.iter(|| {
                let output = model.forward(&input).expect("forward");
                black_box(
                    detector
                        .postprocess(&output, &input.original_sizes)
                        .expect("postprocess"),
                )
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench_model);
criterion_main!(benches);
