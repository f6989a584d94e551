//! Export of a model under the authors' state-dict key names (`hoiclip::model::export`):
//!
//! - the export of a model loaded from a fixture checkpoint (HICO-DET and V-COCO) holds
//!   exactly the checkpoint's `model` tensors that the loader reads (every key but the
//!   known-unused ones), with the same shapes and the same values (fp16 CLIP tensors cast to
//!   f32, equal exactly);
//! - a safetensors file written by `save_safetensors` is fp32 with `{"format": "pt"}`, opens
//!   as a `Checkpoint`, and the model loaded from it gives exactly the original model's
//!   outputs.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use burn::tensor::{Device, Tensor};
use common::{Fixture, backends, fixture, max_abs_diff, values};
use hoiclip::HoiclipError;
use hoiclip::model::checkpoint::is_known_unused;
use hoiclip::model::export::{
    CLIP_PREFIX, ExportedTensor, save_safetensors, state_dict, write_safetensors,
};
use hoiclip::model::{Checkpoint, HoiclipInput, HoiclipModel, ResizeConfig};
use hoiclip::weights::{WeightDtype, WeightMap};

/// The fixtures' detection resize (as in the parity tests).
const RESIZE: ResizeConfig = ResizeConfig {
    shorter: 48,
    max_size: Some(80),
};

/// Names in an OpenAI CLIP state dict that hold no weights (JIT-archive buffers), which the
/// CLIP loader skips.
fn is_clip_buffer(name: &str) -> bool {
    name.strip_prefix(CLIP_PREFIX)
        .is_some_and(|rest| matches!(rest, "input_resolution" | "context_length" | "vocab_size"))
}

/// The exported tensors by name, checking that no name appears twice.
fn by_name(tensors: &[ExportedTensor]) -> BTreeMap<&str, &ExportedTensor> {
    let mut map = BTreeMap::new();
    for tensor in tensors {
        assert!(
            map.insert(tensor.name.as_str(), tensor).is_none(),
            "`{}` exported twice",
            tensor.name
        );
        assert_eq!(
            tensor.values.len(),
            tensor.numel(),
            "`{}`: values do not fill the shape {:?}",
            tensor.name,
            tensor.shape
        );
    }
    map
}

/// The export of `model` against the `model` dict of the checkpoint it was loaded from:
/// same key set (all but the known-unused keys), same shapes, equal values.
fn assert_export_reproduces(model: &HoiclipModel, checkpoint_file: &str) {
    let checkpoint = Checkpoint::open(&fixture(checkpoint_file)).expect("fixture opens");
    let weights = &checkpoint.weights;
    let eval = model.config.uses_eval_heads();
    let expected: BTreeSet<&str> = weights
        .names()
        .filter(|name| !is_known_unused(name, eval) && !is_clip_buffer(name))
        .collect();
    let exported = state_dict(model).expect("export");
    let exported = by_name(&exported);
    let names: BTreeSet<&str> = exported.keys().copied().collect();
    let missing: Vec<&&str> = expected.difference(&names).collect();
    let extra: Vec<&&str> = names.difference(&expected).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{checkpoint_file}: missing from the export {missing:?}; not in the checkpoint {extra:?}"
    );
    let mut fp16 = 0;
    for (name, tensor) in &exported {
        assert_eq!(
            tensor.shape,
            weights.shape(name).expect("checked above"),
            "{checkpoint_file}: shape of `{name}`"
        );
        if weights.dtype(name) == Some(WeightDtype::F16) {
            fp16 += 1;
        }
        // f32 values as stored, or fp16 ones cast to f32: exactly what the loader read.
        let stored = weights.read_f32(name).expect("readable");
        let differing = tensor
            .values
            .iter()
            .zip(&stored)
            .filter(|(a, b)| a.to_bits() != b.to_bits())
            .count();
        assert_eq!(
            differing,
            0,
            "{checkpoint_file}: `{name}` differs in {differing} of {} values",
            stored.len()
        );
    }
    // The check covered the fp16 CLIP tensors, the 0-d scalars, the packed attention and
    // the transposed linear layers.
    assert!(fp16 > 0, "{checkpoint_file}: no fp16 tensor compared");
    for scalar in ["logit_scale", "obj_logit_scale", "clip_model.logit_scale"] {
        assert_eq!(exported[scalar].shape, Vec::<usize>::new(), "`{scalar}`");
    }
    for packed in [
        "transformer.encoder.layers.0.self_attn.in_proj_weight",
        "clip_model.visual.transformer.resblocks.0.attn.in_proj_weight",
        "transformer.clip_interaction_decoder.layers.0.multihead_attn.in_proj_bias",
    ] {
        assert!(exported.contains_key(packed), "`{packed}` not exported");
    }
    println!(
        "{checkpoint_file}: {} tensors exported, equal to the checkpoint's ({fp16} stored fp16); \
         {} known-unused tensors left out",
        exported.len(),
        weights.len() - exported.len()
    );
}

#[test]
fn hico_export_reproduces_the_checkpoint() {
    for (backend, device) in backends() {
        println!("{backend}:");
        assert_export_reproduces(&common::hoiclip_small_model(&device), "hoiclip_small.pth");
    }
}

#[test]
fn vcoco_export_reproduces_the_checkpoint() {
    for (backend, device) in backends() {
        println!("{backend}:");
        assert_export_reproduces(
            &common::hoiclip_vcoco_small_model(&device),
            "hoiclip_vcoco_small.pth",
        );
    }
}

/// The two fixture images of an `_io` file, preprocessed for a model with 32-pixel CLIP crops.
fn input(io_file: &str, device: &Device) -> HoiclipInput {
    let io = Fixture::open(io_file);
    let images = [
        common::fixture_rgb_image(&io, "image_0"),
        common::fixture_rgb_image(&io, "image_1"),
    ];
    HoiclipInput::from_images(&[&images[0], &images[1]], 32, RESIZE, device).expect("preprocess")
}

fn assert_equal<const D: usize>(what: &str, actual: Tensor<D>, expected: Tensor<D>) {
    assert_eq!(actual.dims(), expected.dims(), "{what}: shape");
    let err = max_abs_diff(&values(actual), &values(expected));
    println!("{what}: max abs difference {err:e}");
    assert_eq!(err, 0.0, "{what}: outputs differ by {err}");
}

/// Write `model` to safetensors, check the file, load it back with the same configuration
/// and compare the forward outputs on the `io_file` images.
fn assert_round_trip(what: &str, model: &HoiclipModel, io_file: &str, device: &Device) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("exported.safetensors");
    save_safetensors(model, &path).expect("save_safetensors");

    // The file: fp32 only, `{"format": "pt"}`, the exported tensors.
    let bytes = std::fs::read(&path).expect("read back");
    let (_, metadata) = safetensors::SafeTensors::read_metadata(&bytes).expect("safetensors");
    let header = metadata.metadata().clone().expect("metadata");
    assert_eq!(header.len(), 1, "{what}: metadata {header:?}");
    assert_eq!(header.get("format").map(String::as_str), Some("pt"));
    let exported = state_dict(model).expect("export");
    let infos = metadata.tensors();
    assert_eq!(infos.len(), exported.len(), "{what}: tensors in the file");
    for tensor in &exported {
        let info = &infos[&tensor.name];
        assert_eq!(info.dtype, safetensors::Dtype::F32, "`{}`", tensor.name);
        assert_eq!(info.shape, tensor.shape, "`{}`", tensor.name);
    }

    // A bare state dict opens as a checkpoint (no `args`), and loads with the configuration.
    let checkpoint = Checkpoint::open(&path).expect("the export opens as a checkpoint");
    assert!(checkpoint.args.is_none());
    let reloaded = HoiclipModel::load(&checkpoint, model.config.clone(), device)
        .expect("the export loads, with no unexpected tensor");
    assert_eq!(
        state_dict(&reloaded).expect("export the reloaded model"),
        exported,
        "{what}: the reloaded model exports differently"
    );
    assert_equal(
        &format!("{what} hoi_text_embeddings"),
        reloaded.hoi_text_embeddings.val(),
        model.hoi_text_embeddings.val(),
    );

    let input = input(io_file, device);
    let before = model.forward(&input).expect("forward");
    let after = reloaded.forward(&input).expect("forward");
    assert_equal(
        &format!("{what} hoi_logits"),
        after.hoi_logits,
        before.hoi_logits,
    );
    assert_equal(
        &format!("{what} object_logits"),
        after.object_logits,
        before.object_logits,
    );
    assert_equal(
        &format!("{what} human_boxes"),
        after.human_boxes,
        before.human_boxes,
    );
    assert_equal(
        &format!("{what} object_boxes"),
        after.object_boxes,
        before.object_boxes,
    );
    assert_equal(
        &format!("{what} clip_hoi_scores"),
        after.clip_hoi_scores,
        before.clip_hoi_scores,
    );
}

#[test]
fn hico_safetensors_round_trip_gives_the_same_outputs() {
    for (backend, device) in backends() {
        let model = common::hoiclip_small_model(&device);
        assert_round_trip(
            &format!("{backend} hico"),
            &model,
            "hoiclip_small_io.safetensors",
            &device,
        );
    }
}

#[test]
fn vcoco_safetensors_round_trip_gives_the_same_outputs() {
    for (backend, device) in backends() {
        let model = common::hoiclip_vcoco_small_model(&device);
        assert_round_trip(
            &format!("{backend} vcoco"),
            &model,
            "hoiclip_vcoco_small_io.safetensors",
            &device,
        );
    }
}

#[test]
fn an_exported_file_is_a_readable_state_dict() {
    // A written file reads back, as f32 with the same values, through the crate's reader.
    let tensors = vec![
        ExportedTensor {
            name: "a.weight".into(),
            shape: vec![2, 3],
            values: vec![1.0, -2.0, 3.5, 0.0, 1e-8, -7.25],
        },
        ExportedTensor {
            name: "logit_scale".into(),
            shape: vec![],
            values: vec![4.6052],
        },
    ];
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("small.safetensors");
    write_safetensors(&tensors, &path).expect("write");
    let map = WeightMap::from_file(&path).expect("read back");
    assert_eq!(map.len(), 2);
    for tensor in &tensors {
        assert_eq!(map.shape(&tensor.name), Some(tensor.shape.as_slice()));
        assert_eq!(map.dtype(&tensor.name), Some(WeightDtype::F32));
        assert_eq!(map.read_f32(&tensor.name).expect("read"), tensor.values);
    }
}

#[test]
fn writing_refuses_inconsistent_tensors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bad.safetensors");
    let tensor = |name: &str, shape: Vec<usize>, values: Vec<f32>| ExportedTensor {
        name: name.into(),
        shape,
        values,
    };
    let twice = [
        tensor("x", vec![1], vec![1.0]),
        tensor("x", vec![1], vec![2.0]),
    ];
    let err = write_safetensors(&twice, &path).expect_err("duplicate name");
    assert!(
        matches!(&err, HoiclipError::Write { reason, .. } if reason.contains("`x`")),
        "{err}"
    );
    let short = [tensor("y", vec![2, 2], vec![1.0, 2.0, 3.0])];
    let err = write_safetensors(&short, &path).expect_err("values do not fill the shape");
    assert!(
        matches!(&err, HoiclipError::Write { reason, .. } if reason.contains("`y`")),
        "{err}"
    );
    assert!(!path.exists(), "nothing is written for a refused export");
}
