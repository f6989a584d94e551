//! Interaction decoder with knowledge integration vs PyTorch
//! (tests/fixtures/gen_interaction_fixtures.py): small widths, 2 fusion layers, random
//! weights (including the unused `norm4`, which must load as known-unused).

mod common;

use burn::tensor::Tensor;
use common::{Fixture, assert_close, backends, fixture, tolerance};
use hoiclip::interaction::{InteractionDecoder, InteractionDecoderConfig};
use hoiclip::weights::{WeightLoader, WeightMap};

fn config() -> InteractionDecoderConfig {
    InteractionDecoderConfig::new()
        .with_d_model(32)
        .with_clip_dim(64)
        .with_n_heads(4)
        .with_dim_feedforward(96)
        .with_layers(2)
}

#[test]
fn interaction_decoder_matches_pytorch() {
    let io = Fixture::open("interaction_small_io.safetensors");
    let map = WeightMap::from_file(fixture("interaction_small.pth")).expect("map");
    let map = map.with_prefix("model.");
    for (backend, device) in backends() {
        let tol = tolerance(backend);
        let mut loader = WeightLoader::new(&map, &device);
        let decoder =
            InteractionDecoder::load(&mut loader, "transformer", &config()).expect("load");
        // Every tensor is used, norm4 included (marked as known-unused by the loader).
        loader.finish(|_| false).expect("no unexpected tensors");
        let out = decoder.forward(
            io.tensor::<3>("h_last", &device),
            io.tensor::<3>("o_last", &device),
            io.tensor::<3>("memory", &device),
            io.tensor::<3>("clip_tokens", &device),
        );
        let what = |n: &str| format!("[{backend}] {n}");
        assert_close(&what("queries"), out.queries, &io.f32("queries"), tol);
        assert_close(
            &what("memory_proj"),
            out.memory_proj,
            &io.f32("memory_proj"),
            tol,
        );
        assert_eq!(out.layer_outputs.len(), 2);
        assert_close(
            &what("layer_outputs"),
            Tensor::stack::<4>(out.layer_outputs, 0),
            &io.f32("layer_outputs"),
            tol,
        );
    }
}

#[test]
fn defaults_are_hoiclips() {
    let c = InteractionDecoderConfig::new();
    assert_eq!(
        (
            c.d_model,
            c.clip_dim,
            c.n_heads,
            c.dim_feedforward,
            c.layers
        ),
        (256, 768, 8, 2048, 3)
    );
}
