//! HOI / object classifiers and the verb adapter vs PyTorch
//! (tests/fixtures/gen_heads_fixtures.py): small sizes, random weights.

mod common;

use common::{Fixture, assert_close, backends, fixture, tolerance};
use hoiclip::interaction::{HeadsConfig, HoiHeads};
use hoiclip::weights::{WeightLoader, WeightMap};

fn config() -> HeadsConfig {
    HeadsConfig {
        clip_embed_dim: 32,
        hidden_dim: 16,
        hoi_classes: 12,
        verbs: 4,
        object_classes: 7,
        eval_hoi_classes: Some(12),
        visual_bias: true,
        object_bias: true,
    }
}

#[test]
fn heads_match_pytorch() {
    let io = Fixture::open("heads_small_io.safetensors");
    let map = WeightMap::from_file(fixture("heads_small.pth")).expect("map");
    let map = map.with_prefix("model.");
    for (backend, device) in backends() {
        // Logits reach about 8 here; measured errors are ~1e-6.
        let tol = tolerance(backend);
        let mut loader = WeightLoader::new(&map, &device);
        let heads = HoiHeads::load(&mut loader, &config(), 0.5).expect("load");
        loader.finish(|_| false).expect("every tensor used");
        let inter = io.tensor::<4>("inter_hs", &device);
        let what = |n: &str| format!("[{backend}] {n}");
        assert_close(
            &what("hoi_logits"),
            heads.hoi_logits(inter.clone(), false).expect("hoi"),
            &io.f32("hoi_logits"),
            tol,
        );
        assert_close(
            &what("hoi_logits_eval"),
            heads.hoi_logits(inter, true).expect("eval"),
            &io.f32("hoi_logits_eval"),
            tol,
        );
        assert_close(
            &what("obj_logits"),
            heads.object_logits(io.tensor::<4>("o_hs", &device)),
            &io.f32("obj_logits"),
            tol,
        );
    }
}

#[test]
fn zero_shot_heads_are_required_for_zero_shot_evaluation() {
    let (_, device) = backends().remove(0);
    let map = WeightMap::from_file(fixture("heads_small.pth")).expect("map");
    let map = map.with_prefix("model.");
    let mut loader = WeightLoader::new(&map, &device);
    let mut cfg = config();
    cfg.eval_hoi_classes = None;
    let heads = HoiHeads::load(&mut loader, &cfg, 0.5).expect("load");
    let inter = burn::tensor::Tensor::<3>::ones([1, 5, 32], &device);
    assert!(heads.hoi_logits(inter, true).is_err());
}
