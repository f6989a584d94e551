//! CLIP parity with PyTorch: small random models written by tests/fixtures/gen_clip_fixtures.py
//! (OpenAI `clip.model.CLIP` and Hugging Face `CLIPModel`), loaded from every supported file
//! form and compared output by output on every backend under test.

mod common;

use burn::tensor::Device;
use common::{Fixture, assert_close, backends, fixture, tolerance, values};
use hoiclip::HoiclipError;
use hoiclip::clip::{Clip, ClipConfig};

fn small_config() -> ClipConfig {
    common::clip_small_config()
}

fn token_rows(io: &Fixture) -> Vec<Vec<u32>> {
    let shape = io.shape("text_tokens");
    io.i64("text_tokens")
        .chunks(shape[1])
        .map(|row| row.iter().map(|&id| id as u32).collect())
        .collect()
}

/// Compare every output of `model` with the fixture's `{prefix}image_embedding`, ... .
fn check_outputs(what: &str, model: &Clip, io: &Fixture, prefix: &str, device: &Device, tol: f32) {
    let images = io.tensor::<4>("images", device);
    let tokens = token_rows(io);
    let out = model.encode_image(images.clone()).expect("encode_image");
    assert_close(
        &format!("{what} image_embedding"),
        out.embedding,
        &io.f32(&format!("{prefix}image_embedding")),
        tol,
    );
    assert_eq!(
        out.token_map.dims().to_vec(),
        io.shape(&format!("{prefix}token_map"))
    );
    assert_close(
        &format!("{what} token_map"),
        out.token_map,
        &io.f32(&format!("{prefix}token_map")),
        tol,
    );
    assert_close(
        &format!("{what} text_embedding"),
        model.encode_tokens(&tokens).expect("encode_tokens"),
        &io.f32(&format!("{prefix}text_embedding")),
        tol,
    );
    // Logits are scaled by exp(logit_scale) (about 14 to 100): compare relative to that.
    let logits = model.logits_per_image(images, &tokens).expect("logits");
    let scale = values(model.logit_scale.val().exp())[0];
    assert_close(
        &format!("{what} logits_per_image"),
        logits,
        &io.f32(&format!("{prefix}logits_per_image")),
        tol * scale.max(1.0),
    );
}

#[test]
fn openai_safetensors_matches_pytorch() {
    let io = Fixture::open("clip_openai_small_io.safetensors");
    for (backend, device) in backends() {
        let model = Clip::from_file_with_config(
            fixture("clip_openai_small.safetensors"),
            &small_config(),
            &device,
        )
        .expect("load");
        check_outputs(
            &format!("[{backend}] openai safetensors"),
            &model,
            &io,
            "",
            &device,
            tolerance(backend),
        );
    }
}

#[test]
fn openai_pth_top_level_matches_pytorch() {
    let io = Fixture::open("clip_openai_small_io.safetensors");
    for (backend, device) in backends() {
        let model =
            Clip::from_file_with_config(fixture("clip_openai_small.pth"), &small_config(), &device)
                .expect("load");
        check_outputs(
            &format!("[{backend}] openai pth"),
            &model,
            &io,
            "",
            &device,
            tolerance(backend),
        );
    }
}

#[test]
fn hoiclip_checkpoint_fp16_nested_under_model_with_prefix() {
    let io = Fixture::open("clip_openai_small_io.safetensors");
    for (backend, device) in backends() {
        let model = Clip::from_file_with_config(
            fixture("clip_hoiclip_small_fp16.pth"),
            &small_config(),
            &device,
        )
        .expect("load HOICLIP-style checkpoint");
        check_outputs(
            &format!("[{backend}] hoiclip fp16 pth"),
            &model,
            &io,
            "fp16_",
            &device,
            tolerance(backend),
        );
    }
}

#[test]
fn hugging_face_layout_matches_transformers() {
    let io = Fixture::open("clip_hf_small_io.safetensors");
    for (backend, device) in backends() {
        let model = Clip::from_file_with_config(
            fixture("clip_hf_small.safetensors"),
            &small_config(),
            &device,
        )
        .expect("load HF layout");
        check_outputs(
            &format!("[{backend}] hugging face"),
            &model,
            &io,
            "",
            &device,
            tolerance(backend),
        );
    }
}

#[test]
fn native_format_round_trip_is_exact() {
    let (_, device) = backends().remove(0);
    let model = Clip::from_file_with_config(
        fixture("clip_openai_small.safetensors"),
        &small_config(),
        &device,
    )
    .expect("load");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("clip_small.bpk");
    model.save_native(&path).expect("save native");
    let reloaded = Clip::load_native(&path, &device).expect("load native");
    assert_eq!(reloaded.config(), small_config());
    let io = Fixture::open("clip_openai_small_io.safetensors");
    let images = io.tensor::<4>("images", &device);
    let a = values(
        model
            .encode_image(images.clone())
            .expect("encode")
            .token_map,
    );
    let b = values(reloaded.encode_image(images).expect("encode").token_map);
    assert_eq!(a, b, "native reload changes outputs");
    let tokens = token_rows(&io);
    assert_eq!(
        values(model.encode_tokens(&tokens).expect("text")),
        values(reloaded.encode_tokens(&tokens).expect("text"))
    );
    // A native file of another kind of model, or a non-burnpack file, is refused.
    let err =
        Clip::load_native(fixture("clip_openai_small.pth"), &device).expect_err("not burnpack");
    assert!(matches!(err, HoiclipError::WeightFile { .. }), "{err}");
}

#[test]
fn config_is_inferred_like_openai_build_model() {
    let (_, device) = backends().remove(0);
    // Text width 48 is not a multiple of 64: OpenAI's rule (heads = width / 64) cannot
    // apply, and the error says so instead of building a broken model.
    let err =
        Clip::from_file(fixture("clip_openai_small.safetensors"), &device).expect_err("heads");
    let message = err.to_string();
    assert!(message.contains("text width 48"), "{message}");
    let map = hoiclip::weights::WeightMap::from_file(fixture("clip_openai_small.safetensors"))
        .expect("map");
    assert_eq!(
        hoiclip::clip::config::count_layers(&map, "visual.transformer.resblocks."),
        2
    );
    assert_eq!(
        ClipConfig::from_name("ViT-B/32").expect("preset"),
        ClipConfig::vit_b_32()
    );
    assert_eq!(ClipConfig::vit_b_32().vision.tokens(), 50);
    assert_eq!(ClipConfig::vit_b_16().vision.tokens(), 197);
    assert_eq!(ClipConfig::vit_l_14().vision.heads, 16);
    assert_eq!(ClipConfig::vit_l_14().text.width, 768);
    assert!(ClipConfig::from_name("RN50").is_err());
}

fn write_safetensors(path: &std::path::Path, tensors: Vec<(String, Vec<usize>, Vec<f32>)>) {
    let data: Vec<(String, Vec<u8>, Vec<usize>)> = tensors
        .into_iter()
        .map(|(n, s, v)| (n, v.iter().flat_map(|x| x.to_le_bytes()).collect(), s))
        .collect();
    let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = data
        .iter()
        .map(|(n, b, s)| {
            (
                n.clone(),
                safetensors::tensor::TensorView::new(safetensors::Dtype::F32, s.clone(), b)
                    .expect("view"),
            )
        })
        .collect();
    safetensors::serialize_to_file(views, None, path).expect("write safetensors");
}

/// The OpenAI fixture's tensors, for editing.
fn fixture_tensors() -> Vec<(String, Vec<usize>, Vec<f32>)> {
    let map = hoiclip::weights::WeightMap::from_file(fixture("clip_openai_small.safetensors"))
        .expect("map");
    map.names()
        .map(|n| {
            (
                n.to_string(),
                map.shape(n).expect("shape").to_vec(),
                map.read_f32(n).expect("read"),
            )
        })
        .collect()
}

#[test]
fn bad_files_give_typed_errors_naming_the_problem() {
    let (_, device) = backends().remove(0);
    let dir = tempfile::tempdir().expect("tempdir");

    // Missing file.
    let err = Clip::from_file(dir.path().join("absent.pth"), &device).expect_err("missing");
    assert!(matches!(err, HoiclipError::Io { .. }), "{err}");

    // Not a checkpoint at all.
    let text = dir.path().join("notes.pth");
    std::fs::write(&text, "these are not weights\n").expect("write");
    let err = Clip::from_file(&text, &device).expect_err("not weights");
    assert!(matches!(err, HoiclipError::WeightFile { .. }), "{err}");
    assert!(err.to_string().contains("notes.pth"), "{err}");

    // A truncated PyTorch file and a truncated safetensors file.
    for name in ["clip_openai_small.pth", "clip_openai_small.safetensors"] {
        let bytes = std::fs::read(fixture(name)).expect("read");
        let cut = dir.path().join(format!("cut_{name}"));
        std::fs::write(&cut, &bytes[..bytes.len() / 2]).expect("write");
        let err =
            Clip::from_file_with_config(&cut, &small_config(), &device).expect_err("truncated");
        assert!(
            matches!(err, HoiclipError::WeightFile { .. }),
            "{name}: {err}"
        );
    }

    // A tensor of the wrong shape: the error names it and both shapes.
    let mut tensors = fixture_tensors();
    for (name, shape, values) in &mut tensors {
        if name == "visual.ln_pre.weight" {
            *shape = vec![32];
            values.truncate(32);
        }
    }
    let wrong = dir.path().join("wrong_shape.safetensors");
    write_safetensors(&wrong, tensors);
    let err = Clip::from_file_with_config(&wrong, &small_config(), &device).expect_err("shape");
    match &err {
        HoiclipError::ShapeMismatch {
            name,
            expected,
            found,
            ..
        } => {
            assert_eq!(name, "visual.ln_pre.weight");
            assert_eq!(expected, &vec![64]);
            assert_eq!(found, &vec![32]);
        }
        other => panic!("expected ShapeMismatch, got {other}"),
    }
    assert!(
        err.to_string().contains("[32]") && err.to_string().contains("[64]"),
        "{err}"
    );

    // A missing tensor.
    let tensors: Vec<_> = fixture_tensors()
        .into_iter()
        .filter(|(n, _, _)| n != "ln_final.bias")
        .collect();
    let missing = dir.path().join("missing.safetensors");
    write_safetensors(&missing, tensors);
    let err = Clip::from_file_with_config(&missing, &small_config(), &device).expect_err("missing");
    assert!(
        matches!(&err, HoiclipError::MissingTensor { name, .. } if name == "ln_final.bias"),
        "{err}"
    );

    // An unexpected tensor.
    let mut tensors = fixture_tensors();
    tensors.push(("visual.extra_head.weight".into(), vec![2], vec![0.0, 1.0]));
    let extra = dir.path().join("extra.safetensors");
    write_safetensors(&extra, tensors);
    let err =
        Clip::from_file_with_config(&extra, &small_config(), &device).expect_err("unexpected");
    assert!(
        err.to_string().contains("visual.extra_head.weight"),
        "{err}"
    );

    // A file with no CLIP at all.
    let other = dir.path().join("other.safetensors");
    write_safetensors(
        &other,
        vec![("backbone.conv1.weight".into(), vec![1], vec![0.5])],
    );
    let err = Clip::from_file(&other, &device).expect_err("no clip");
    assert!(err.to_string().contains("no CLIP weights"), "{err}");
}

#[test]
fn wrong_image_shape_is_an_error_not_a_panic() {
    let (_, device) = backends().remove(0);
    let model = small_config().init(&device);
    let images = burn::tensor::Tensor::<4>::zeros([1, 3, 31, 32], &device);
    let err = model.encode_image(images).expect_err("shape");
    assert!(matches!(err, HoiclipError::InputShape { .. }), "{err}");
    let err = model.encode_tokens(&[vec![1, 2, 600]]).expect_err("vocab");
    assert!(err.to_string().contains("600"), "{err}");
    let err = model.encode_tokens(&[]).expect_err("empty");
    assert!(matches!(err, HoiclipError::InputShape { .. }), "{err}");
}
