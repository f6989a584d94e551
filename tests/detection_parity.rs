//! Detection-branch parity with PyTorch (tests/fixtures/gen_detection_fixtures.py): a small
//! ResNet with frozen batch norm, input_proj, 2 encoder + 2 instance-decoder layers, 5 pair
//! queries, box heads; a padded batch of two images of different sizes and a single image.

mod common;

use burn::tensor::{Device, Tensor, TensorData};
use common::{
    Fixture, assert_close, backends, fixture, max_abs_diff, tolerance, unpad_fixture_images, values,
};
use hoiclip::HoiclipError;
use hoiclip::detection::batch::{PaddedBatch, pad_batch};
use hoiclip::detection::box_head::cxcywh_to_xyxy_pixels;
use hoiclip::detection::{DetectionBranch, DetectionConfig};
use hoiclip::nn::AttentionMasks;

const HEADS: usize = 4;

/// Cut each image of the fixture's padded batch back out (its size from the mask) and pad
/// them again with `pad_batch`, as a caller would.
fn batch_from_fixture(io: &Fixture, prefix: &str, device: &Device) -> PaddedBatch {
    let shape = io.shape(&format!("{prefix}images"));
    let [b, h, w] = [shape[0], shape[2], shape[3]];
    let images = io.f32(&format!("{prefix}images"));
    let mask = io.i64_or_u8(&format!("{prefix}mask"));
    let indices: Vec<usize> = (0..b).collect();
    let prepared = unpad_fixture_images(
        io,
        &format!("{prefix}images"),
        &format!("{prefix}mask"),
        &indices,
    );
    let batch = pad_batch(&prepared, device).expect("pad");
    assert_eq!((batch.height, batch.width), (h, w));
    let padding: Vec<bool> = mask.iter().map(|&m| m != 0).collect();
    assert_eq!(
        batch.padding, padding,
        "padding mask differs from the reference"
    );
    assert_eq!(values(batch.images.clone()), images, "padded images differ");
    batch
}

fn check(prefix: &str) {
    let io = Fixture::open("detection_small_io.safetensors");
    for (backend, device) in backends() {
        let tol = tolerance(backend);
        let branch = DetectionBranch::from_file(fixture("detection_small.pth"), HEADS, &device)
            .expect("load");
        let batch = batch_from_fixture(&io, prefix, &device);
        let out = branch.forward(&batch);
        let what = |name: &str| format!("[{backend}] {prefix}{name}");
        assert_close(
            &what("features"),
            out.features.clone(),
            &io.f32(&format!("{prefix}features")),
            tol,
        );
        let feature_mask: Vec<bool> = io
            .i64_or_u8(&format!("{prefix}feature_mask"))
            .iter()
            .map(|&m| m != 0)
            .collect();
        assert_eq!(out.feature_padding, feature_mask, "{prefix}feature_mask");
        // pos is [b, d, h, w] in the fixture, [b, h·w, d] here.
        let [b, tokens, d] = out.pos.dims();
        let pos = out.pos.clone().swap_dims(1, 2).reshape([b, d, tokens]);
        assert_close(&what("pos"), pos, &io.f32(&format!("{prefix}pos")), 1e-5);
        assert_close(
            &what("memory"),
            out.memory.clone(),
            &io.f32(&format!("{prefix}memory")),
            tol,
        );
        let layers = out.human_states.len();
        assert_eq!(layers, io.shape(&format!("{prefix}hs_h"))[0]);
        let stack = |states: &[Tensor<3>]| Tensor::stack::<4>(states.to_vec(), 0);
        assert_close(
            &what("hs_h"),
            stack(&out.human_states),
            &io.f32(&format!("{prefix}hs_h")),
            tol,
        );
        assert_close(
            &what("hs_o"),
            stack(&out.object_states),
            &io.f32(&format!("{prefix}hs_o")),
            tol,
        );
        assert_close(
            &what("boxes_h"),
            out.human_boxes.clone(),
            &io.f32(&format!("{prefix}boxes_h")),
            tol,
        );
        assert_close(
            &what("boxes_o"),
            out.object_boxes.clone(),
            &io.f32(&format!("{prefix}boxes_o")),
            tol,
        );
        let per_layer = branch.boxes_per_layer(&out);
        let all_h = Tensor::stack::<4>(per_layer.iter().map(|(h, _)| h.clone()).collect(), 0);
        let all_o = Tensor::stack::<4>(per_layer.iter().map(|(_, o)| o.clone()).collect(), 0);
        assert_close(
            &what("boxes_h_all"),
            all_h,
            &io.f32(&format!("{prefix}boxes_h_all")),
            tol,
        );
        assert_close(
            &what("boxes_o_all"),
            all_o,
            &io.f32(&format!("{prefix}boxes_o_all")),
            tol,
        );
    }
}

#[test]
fn padded_batch_of_two_matches_pytorch() {
    check("batch_");
}

#[test]
fn single_image_matches_pytorch() {
    check("single_");
}

/// The padding mask makes the transformer blind to padded positions: whatever the memory
/// holds there, the unpadded tokens and every query come out the same. (The backbone does see
/// the zero padding near the bottom/right edges, in PyTorch as here: a convolution's window
/// reaches into it. So an image alone and the same image inside a padded batch differ in
/// PyTorch too — by up to 0.5 on this fixture's features — and both are compared with their
/// own PyTorch outputs above.)
#[test]
fn masked_positions_never_change_the_transformer_outputs() {
    let io = Fixture::open("detection_small_io.safetensors");
    for (backend, device) in backends() {
        let branch = DetectionBranch::from_file(fixture("detection_small.pth"), HEADS, &device)
            .expect("load");
        let batch = batch_from_fixture(&io, "batch_", &device);
        let out = branch.forward(&batch);
        let [b, tokens, d] = out.memory.dims();
        let padding: Vec<bool> = out.feature_padding.clone();
        assert!(
            padding.iter().any(|&p| p),
            "the fixture must have padded feature positions"
        );
        // Encoder input with garbage at every padded token.
        let src = branch
            .input_proj
            .forward(out.features.clone())
            .reshape([b, d, tokens])
            .swap_dims(1, 2);
        let noise: Vec<f32> = (0..b * tokens * d)
            .map(|i| {
                if padding[i / d] {
                    ((i * 7919) % 1000) as f32 / 10.0 - 50.0
                } else {
                    0.0
                }
            })
            .collect();
        let keep: Vec<f32> = (0..b * tokens * d)
            .map(|i| if padding[i / d] { 0.0 } else { 1.0 })
            .collect();
        let noisy = src.clone() * Tensor::from_data(TensorData::new(keep, [b, tokens, d]), &device)
            + Tensor::from_data(TensorData::new(noise, [b, tokens, d]), &device);
        let masks = AttentionMasks {
            key_padding: Some(out.memory_padding.clone()),
            ..Default::default()
        };
        let memory = branch.encoder.forward(noisy, out.pos.clone(), &masks);
        let clean = values(out.memory.clone());
        let dirty = values(memory.clone());
        for i in 0..clean.len() {
            if !padding[i / d] {
                assert!(
                    (clean[i] - dirty[i]).abs() < 1e-4,
                    "[{backend}] unpadded memory changed at {i}"
                );
            }
        }
        // The decoder sees the noisy memory only at padded (masked) keys.
        let q = branch.query_embed_h.dims()[0];
        let guided = branch.pos_guided_embedd.val();
        let query_pos = Tensor::cat(
            vec![
                branch.query_embed_h.val() + guided.clone(),
                branch.query_embed_o.val() + guided,
            ],
            0,
        )
        .unsqueeze::<3>()
        .expand([b, 2 * q, d]);
        let states = branch
            .instance_decoder
            .forward(query_pos, memory, out.pos.clone(), &masks);
        let last = values(states.last().expect("layers").clone().narrow(1, 0, q));
        let err = max_abs_diff(
            &last,
            &values(out.human_states.last().expect("layers").clone()),
        );
        assert!(
            err < 1e-4,
            "[{backend}] queries changed by {err} with garbage at padded keys"
        );
    }
}

#[test]
fn configuration_is_inferred_from_the_checkpoint() {
    let map = hoiclip::weights::WeightMap::from_file(fixture("detection_small.pth")).expect("map");
    let map = map.with_prefix(&map.find_prefix("input_proj.weight").expect("prefix"));
    let config = DetectionConfig::from_weights(&map, HEADS).expect("config");
    assert_eq!(config.hidden_dim, 32);
    assert_eq!(config.enc_layers, 2);
    assert_eq!(config.dec_layers, 2);
    assert_eq!(config.num_queries, 5);
    assert_eq!(config.dim_feedforward, 64);
    assert_eq!(config.backbone.blocks, [1, 2, 1, 1]);
    assert_eq!(config.backbone.out_channels(), 256);
    let real = DetectionConfig::hoiclip_default();
    assert_eq!(
        (
            real.hidden_dim,
            real.n_heads,
            real.enc_layers,
            real.dec_layers,
            real.num_queries
        ),
        (256, 8, 6, 3, 64)
    );
    assert_eq!(real.backbone.blocks, [3, 4, 6, 3]);
}

type Tensors = Vec<(String, Vec<usize>, Vec<f32>)>;

fn write_safetensors(path: &std::path::Path, data: Tensors) {
    let bytes: Vec<(String, Vec<u8>, Vec<usize>)> = data
        .into_iter()
        .map(|(n, s, v)| (n, v.iter().flat_map(|x| x.to_le_bytes()).collect(), s))
        .collect();
    let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = bytes
        .iter()
        .map(|(n, b, s)| {
            let view = safetensors::tensor::TensorView::new(safetensors::Dtype::F32, s.clone(), b);
            (n.clone(), view.expect("view"))
        })
        .collect();
    safetensors::serialize_to_file(views, None, path).expect("write");
}

#[test]
fn wrong_missing_or_unknown_tensors_are_named() {
    let (_, device) = backends().remove(0);
    let map = hoiclip::weights::WeightMap::from_file(fixture("detection_small.pth")).expect("map");
    let tensors: Tensors = map
        .names()
        .map(|k| {
            (
                k.to_string(),
                map.shape(k).expect("shape").to_vec(),
                map.read_f32(k).expect("read"),
            )
        })
        .collect();
    let dir = tempfile::tempdir().expect("tmp");

    let mut wrong = tensors.clone();
    for (name, shape, vals) in &mut wrong {
        if name.ends_with("transformer.encoder.layers.1.linear1.bias") {
            shape[0] = 63;
            vals.truncate(63);
        }
    }
    let path = dir.path().join("wrong.safetensors");
    write_safetensors(&path, wrong);
    let err = DetectionBranch::from_file(&path, HEADS, &device).expect_err("shape");
    assert!(
        matches!(&err, HoiclipError::ShapeMismatch { name, found, expected, .. }
            if name.ends_with("encoder.layers.1.linear1.bias") && *found == vec![63] && *expected == vec![64]),
        "{err}"
    );

    let missing: Tensors = tensors
        .iter()
        .filter(|(n, _, _)| !n.ends_with("pos_guided_embedd.weight"))
        .cloned()
        .collect();
    let path = dir.path().join("missing.safetensors");
    write_safetensors(&path, missing);
    let err = DetectionBranch::from_file(&path, HEADS, &device).expect_err("missing");
    assert!(
        matches!(&err, HoiclipError::MissingTensor { name, .. } if name == "pos_guided_embedd.weight"),
        "{err}"
    );

    // An unknown tensor inside the branch's namespaces is an error; tensors of the rest of
    // HOICLIP (here a CLIP weight) are left for the full model to check.
    let mut extra = tensors.clone();
    extra.push((
        "model.transformer.encoder.layers.0.extra.weight".into(),
        vec![2],
        vec![1.0, 2.0],
    ));
    extra.push((
        "model.clip_model.visual.proj".into(),
        vec![2],
        vec![1.0, 2.0],
    ));
    let path = dir.path().join("extra.safetensors");
    write_safetensors(&path, extra);
    let err = DetectionBranch::from_file(&path, HEADS, &device).expect_err("unexpected");
    assert!(
        matches!(&err, HoiclipError::UnexpectedTensors { count: 1, .. }),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains("transformer.encoder.layers.0.extra.weight"),
        "{err}"
    );

    let err = DetectionBranch::from_file(fixture("clip_openai_small.safetensors"), HEADS, &device)
        .expect_err("not a detector");
    assert!(err.to_string().contains("no detection branch"), "{err}");
}

#[test]
fn boxes_convert_to_pixels_of_the_original_image() {
    let b = cxcywh_to_xyxy_pixels([0.5, 0.25, 0.2, 0.5], 640.0, 480.0);
    assert_eq!(b, [256.0, 0.0, 384.0, 240.0]);
}

#[test]
fn empty_batch_is_an_error() {
    let (_, device) = backends().remove(0);
    assert!(pad_batch(&[], &device).is_err());
}
