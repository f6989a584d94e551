//! Detection backbone parts against PyTorch: padded batches and masks, nearest mask resize,
//! the sine position embedding, frozen batch norm and the ResNet body.
//!
//! Reference values come from `tests/fixtures/detection_small*` (written by
//! `tests/fixtures/gen_detection_fixtures.py`: torchvision's real `ResNet`/`Bottleneck` with
//! `FrozenBatchNorm2d`, stem 8, planes [8, 16, 32, 64], blocks [1, 2, 1, 1], hidden 32) and
//! from the small cases hard-coded below (Python commands in the comments).

mod common;

use burn::module::{Module, ModuleMapper, Param};
use burn::tensor::{Device, Tensor, TensorData};
use common::{Fixture, assert_close, backends, fixture, max_abs_diff, tolerance, values};
use hoiclip::HoiclipError;
use hoiclip::detection::batch::{
    PreparedImage, mask_tensor, nearest_source_index, pad_batch, resize_mask,
};
use hoiclip::detection::position::{dim_t, sine_position_embedding, sine_position_values};
use hoiclip::detection::resnet::{FrozenBatchNorm2d, ResNet, ResNetConfig, output_size};
use hoiclip::weights::{WeightFormat, WeightLoader, WeightMap};

const IO: &str = "detection_small_io.safetensors";
const CHECKPOINT: &str = "detection_small.pth";
const TORCHVISION: &str = "detection_small_resnet_torchvision.pth";

/// The fixture's backbone: stem 8, planes [8, 16, 32, 64], blocks [1, 2, 1, 1].
fn small_config() -> ResNetConfig {
    ResNetConfig::new([1, 2, 1, 1], [8, 16, 32, 64]).with_stem_width(8)
}

/// A uint8 tensor of the I/O fixture (the masks), with its shape.
fn u8_tensor(key: &str) -> (Vec<usize>, Vec<u8>) {
    let bytes = std::fs::read(fixture(IO)).expect("read I/O fixture");
    let st = safetensors::SafeTensors::deserialize(&bytes).expect("valid safetensors");
    let view = st
        .tensor(key)
        .unwrap_or_else(|e| panic!("no tensor {key}: {e}"));
    assert_eq!(view.dtype(), safetensors::Dtype::U8, "{key}");
    (view.shape().to_vec(), view.data().to_vec())
}

fn bool_mask(key: &str) -> (Vec<usize>, Vec<bool>) {
    let (shape, data) = u8_tensor(key);
    (shape, data.into_iter().map(|v| v != 0).collect())
}

/// Every tensor of a weight file as `(name, shape, f32 values)`, integer buffers skipped.
fn f32_tensors(map: &WeightMap) -> Vec<(String, Vec<usize>, Vec<f32>)> {
    map.names()
        .filter(|name| !name.ends_with("num_batches_tracked"))
        .map(|name| {
            let shape = map.shape(name).expect("shape").to_vec();
            let values = map.read_f32(name).expect("f32 tensor");
            (name.to_string(), shape, values)
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// Sizes and masks
// ---------------------------------------------------------------------------------------

#[test]
fn output_size_follows_torchvision_arithmetic() {
    // torchvision: every stage maps n to (n - 1) // 2 + 1
    for (input, expected) in [
        (800, 25),
        (1066, 34),
        (1333, 42),
        (1201, 38),
        (96, 3),
        (90, 3),
        (70, 3),
        (40, 2),
        (33, 2),
        (32, 1),
        (1, 1),
    ] {
        assert_eq!(output_size(input), expected, "side {input}");
    }
    assert_eq!(output_size(0), 0);
}

#[test]
fn nearest_index_matches_torch() {
    // python3 -c "import torch, torch.nn.functional as F
    // for i, o in [(26,22),(30,22),(25,1),(37,2),(7,3),(3,7),(14,46)]:
    //     x = torch.arange(i, dtype=torch.float32)[None, None, None, :]
    //     print((i, o), F.interpolate(x, size=(1, o))[0, 0, 0].long().tolist())"
    // (26, 22) and (30, 22) are sizes where the exact floor(k * in / out) differs from
    // torch's float32 scale.
    let cases: [(usize, usize, &[usize]); 7] = [
        (
            26,
            22,
            &[
                0, 1, 2, 3, 4, 5, 7, 8, 9, 10, 11, 12, 14, 15, 16, 17, 18, 20, 21, 22, 23, 24,
            ],
        ),
        (
            30,
            22,
            &[
                0, 1, 2, 4, 5, 6, 8, 9, 10, 12, 13, 15, 16, 17, 19, 20, 21, 23, 24, 25, 27, 28,
            ],
        ),
        (25, 1, &[0]),
        (37, 2, &[0, 18]),
        (7, 3, &[0, 2, 4]),
        (3, 7, &[0, 0, 0, 1, 1, 2, 2]),
        (
            14,
            46,
            &[
                0, 0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 5, 5, 5, 6, 6, 6, 6, 7, 7, 7, 8,
                8, 8, 9, 9, 9, 10, 10, 10, 10, 11, 11, 11, 12, 12, 12, 13, 13, 13,
            ],
        ),
    ];
    for (input, output, expected) in cases {
        let got: Vec<usize> = (0..output)
            .map(|d| nearest_source_index(d, input, output))
            .collect();
        assert_eq!(got, expected, "{input} -> {output}");
    }
    // equal sizes and exact doubling take torch's shortcuts
    assert_eq!(nearest_source_index(5, 9, 9), 5);
    assert_eq!(nearest_source_index(7, 4, 8), 3);
}

#[test]
fn resize_mask_matches_fixture_cases() {
    let io = Fixture::open(IO);
    for case in 0..5 {
        let (in_shape, input) = bool_mask(&format!("resize_in_{case}"));
        let (out_shape, expected) = bool_mask(&format!("resize_out_{case}"));
        let (in_h, in_w, out_h, out_w) = (in_shape[0], in_shape[1], out_shape[0], out_shape[1]);
        let got = resize_mask(&input, 1, in_h, in_w, out_h, out_w);
        assert_eq!(
            got, expected,
            "case {case}: {in_h}x{in_w} -> {out_h}x{out_w}"
        );
        let rows: Vec<i64> = (0..out_h)
            .map(|d| nearest_source_index(d, in_h, out_h) as i64)
            .collect();
        let cols: Vec<i64> = (0..out_w)
            .map(|d| nearest_source_index(d, in_w, out_w) as i64)
            .collect();
        assert_eq!(
            rows,
            io.i64(&format!("resize_rows_{case}")),
            "case {case} rows"
        );
        assert_eq!(
            cols,
            io.i64(&format!("resize_cols_{case}")),
            "case {case} cols"
        );
    }
}

#[test]
fn resize_mask_of_padded_batch_matches_fixture() {
    for prefix in ["batch", "single"] {
        let (shape, mask) = bool_mask(&format!("{prefix}_mask"));
        let (fshape, expected) = bool_mask(&format!("{prefix}_feature_mask"));
        let got = resize_mask(&mask, shape[0], shape[1], shape[2], fshape[1], fshape[2]);
        assert_eq!(got, expected, "{prefix}");
    }
}

#[test]
fn resize_mask_reads_missing_cells_as_padding() {
    assert_eq!(resize_mask(&[false], 1, 2, 1, 2, 1), vec![false, true]);
    assert_eq!(resize_mask(&[], 2, 0, 3, 1, 1), vec![true, true]);
}

/// The fixture's two images (70×90 and 96×40) as prepared images.
fn fixture_images(io: &Fixture) -> Vec<PreparedImage> {
    let single = io.f32("single_images"); // [1, 3, 70, 90]
    let batch = io.f32("batch_images"); // [2, 3, 96, 90]
    let (h, w) = (96, 90);
    let mut second = Vec::with_capacity(3 * 96 * 40);
    for c in 0..3 {
        for y in 0..96 {
            let start = ((3 + c) * h + y) * w;
            second.extend_from_slice(&batch[start..start + 40]);
        }
    }
    vec![
        PreparedImage {
            values: single,
            height: 70,
            width: 90,
        },
        PreparedImage {
            values: second,
            height: 96,
            width: 40,
        },
    ]
}

#[test]
fn pad_batch_matches_nested_tensor_from_tensor_list() {
    let io = Fixture::open(IO);
    let images = fixture_images(&io);
    let (_, expected_mask) = bool_mask("batch_mask");
    for (backend, device) in backends() {
        let batch = pad_batch(&images, &device).expect("pad");
        assert_eq!((batch.height, batch.width), (96, 90));
        assert_eq!(batch.sizes, vec![(70, 90), (96, 40)]);
        assert_eq!(batch.len(), 2);
        assert_eq!(batch.padding, expected_mask, "{backend:?}");
        assert_eq!(batch.images.dims(), [2, 3, 96, 90]);
        let err = max_abs_diff(&values(batch.images), &io.f32("batch_images"));
        assert_eq!(err, 0.0, "{backend:?}: padded images differ");
    }
}

#[test]
fn pad_batch_rejects_bad_input() {
    let device = backends()[0].1.clone();
    assert!(matches!(
        pad_batch(&[], &device),
        Err(HoiclipError::Image { .. })
    ));
    let empty = PreparedImage {
        values: Vec::new(),
        height: 0,
        width: 4,
    };
    assert!(matches!(
        pad_batch(&[empty], &device),
        Err(HoiclipError::Image { .. })
    ));
    let short = PreparedImage {
        values: vec![0.0; 3 * 4 * 5 - 1],
        height: 4,
        width: 5,
    };
    match pad_batch(&[short], &device) {
        Err(HoiclipError::InputShape { name, found, .. }) => {
            assert_eq!(name, "images[0]");
            assert_eq!(found, vec![59]);
        }
        other => panic!("expected InputShape, got {other:?}"),
    }
}

#[test]
fn mask_tensor_is_built_on_each_backend() {
    let mask = [true, false, false, true, true, false];
    for (backend, device) in backends() {
        let t3 = mask_tensor(&mask, [1, 2, 3], &device);
        let got: Vec<bool> = t3.into_data().iter::<bool>().collect();
        assert_eq!(got, mask, "{backend:?}");
        let t2 = mask_tensor(&mask, [2, 3], &device);
        assert_eq!(t2.dims(), [2, 3]);
        let got: Vec<bool> = t2.into_data().iter::<bool>().collect();
        assert_eq!(got, mask, "{backend:?}");
    }
}

// ---------------------------------------------------------------------------------------
// Position embedding
// ---------------------------------------------------------------------------------------

#[test]
fn dim_t_matches_torch_bit_for_bit() {
    // python3 -c "import torch; d = torch.arange(128, dtype=torch.float32)
    // d = 10000 ** (2 * (d // 2) / 128); print({k: float(d[k]) for k in (0,1,2,3,63,64,65,126,127)})"
    let d = dim_t(128);
    for (k, expected) in [
        (0, 1.0f32),
        (1, 1.0),
        (2, 1.154_781_9),
        (3, 1.154_781_9),
        (63, 86.596_436),
        (64, 100.0),
        (65, 100.0),
        (126, 8_659.644),
        (127, 8_659.644),
    ] {
        assert_eq!(d[k], expected, "dim_t[{k}]");
    }
}

#[test]
fn position_embedding_small_case_matches_torch() {
    // DETR's PositionEmbeddingSine(4, normalize=True) on one 2×3 mask
    // [[0, 0, 1], [1, 1, 1]] (1 = padding), torch 2.15.0:
    // mask = torch.tensor([[[0,0,1],[1,1,1]]], dtype=torch.bool); the module's forward body
    // as in models/position_encoding.py, printed with [float(v) for v in out.flatten()].
    let expected: [f32; 48] = [
        -6.024_037_7e-6,
        -6.024_037_7e-6,
        0.0,
        -6.024_037_7e-6,
        -6.024_037_7e-6,
        0.0,
        1.0,
        1.0,
        1.0,
        1.0,
        1.0,
        1.0,
        0.062_790_45,
        0.062_790_45,
        0.0,
        0.062_790_45,
        0.062_790_45,
        0.0,
        0.998_026_7,
        0.998_026_7,
        1.0,
        0.998_026_7,
        0.998_026_7,
        1.0,
        1.343_088_7e-6,
        -2.686_177_4e-6,
        -2.686_177_4e-6,
        0.0,
        0.0,
        0.0,
        -1.0,
        1.0,
        1.0,
        1.0,
        1.0,
        1.0,
        0.031_410_746,
        0.062_790_49,
        0.062_790_49,
        0.0,
        0.0,
        0.0,
        0.999_506_5,
        0.998_026_7,
        0.998_026_7,
        1.0,
        1.0,
        1.0,
    ];
    let mask = [false, false, true, true, true, true];
    let host = sine_position_values(&mask, 1, 2, 3, 4);
    let err = max_abs_diff(&host, &expected);
    println!("position 2x3 host: max abs error {err:.3e}");
    assert!(err <= 1e-6, "{err}");
    for (backend, device) in backends() {
        let pos = sine_position_embedding(&mask, 1, 2, 3, 4, &device);
        assert_eq!(pos.dims(), [1, 8, 2, 3]);
        assert_close(&format!("position 2x3 {backend:?}"), pos, &expected, 1e-6);
    }
}

#[test]
fn position_embedding_matches_fixture() {
    let io = Fixture::open(IO);
    for prefix in ["batch", "single"] {
        let (shape, mask) = bool_mask(&format!("{prefix}_feature_mask"));
        let expected = io.f32(&format!("{prefix}_pos"));
        let pos_shape = io.shape(&format!("{prefix}_pos"));
        let num_pos_feats = pos_shape[1] / 2;
        for (backend, device) in backends() {
            let pos = sine_position_embedding(
                &mask,
                shape[0],
                shape[1],
                shape[2],
                num_pos_feats,
                &device,
            );
            assert_eq!(pos.dims().to_vec(), pos_shape);
            assert_close(&format!("{prefix}_pos {backend:?}"), pos, &expected, 1e-6);
        }
    }
}

// ---------------------------------------------------------------------------------------
// Frozen batch norm, max pool
// ---------------------------------------------------------------------------------------

fn tensor1(values: &[f32], device: &Device) -> Tensor<1> {
    Tensor::from_data(TensorData::new(values.to_vec(), [values.len()]), device)
}

#[test]
fn frozen_batch_norm_follows_detr_formula() {
    let weight = [0.7f32, -1.3, 2.1];
    let bias = [0.05f32, -0.4, 1.5];
    let mean = [0.3f32, -2.0, 0.01];
    let var = [0.9f32, 1e-6, 4.2];
    let x: Vec<f32> = (0..3 * 2 * 2).map(|i| (i as f32 - 5.5) * 0.37).collect();
    let mut expected = Vec::new();
    for c in 0..3 {
        let scale = weight[c] * (1.0 / (var[c] + 1e-5).sqrt());
        let shift = bias[c] - mean[c] * scale;
        expected.extend(x[c * 4..c * 4 + 4].iter().map(|v| v * scale + shift));
    }
    for (backend, device) in backends() {
        let bn = FrozenBatchNorm2d {
            weight: burn::module::Param::from_tensor(tensor1(&weight, &device)),
            bias: burn::module::Param::from_tensor(tensor1(&bias, &device)),
            running_mean: burn::module::Param::from_tensor(tensor1(&mean, &device)),
            running_var: burn::module::Param::from_tensor(tensor1(&var, &device)),
        };
        let input = Tensor::from_data(TensorData::new(x.clone(), [1, 3, 2, 2]), &device);
        assert_close(
            &format!("frozen bn {backend:?}"),
            bn.forward(input),
            &expected,
            1e-5,
        );
    }
}

#[test]
fn stem_max_pool_pads_with_negative_infinity() {
    // All-negative input: PyTorch's padding never wins the max.
    // x[0,0] = -(1 + i) over a 4×4 map, 3×3 window, stride 2, padding 1:
    // windows centred at (0,0), (0,2), (2,0), (2,2) → maxima -1, -2, -5, -6.
    let x: Vec<f32> = (0..16).map(|i| -(1.0 + i as f32)).collect();
    for (backend, device) in backends() {
        let resnet = small_config().init(&device);
        let input = Tensor::from_data(TensorData::new(x.clone(), [1, 1, 4, 4]), &device);
        let out = resnet.maxpool.forward(input);
        assert_eq!(out.dims(), [1, 1, 2, 2]);
        assert_close(
            &format!("max pool {backend:?}"),
            out,
            &[-1.0, -2.0, -5.0, -6.0],
            0.0,
        );
    }
}

// ---------------------------------------------------------------------------------------
// ResNet
// ---------------------------------------------------------------------------------------

#[test]
fn resnet_matches_torchvision_on_padded_batch() {
    let io = Fixture::open(IO);
    let map = WeightMap::from_file(fixture(CHECKPOINT)).expect("checkpoint");
    let model_map = map.with_prefix("model.");
    for (backend, device) in backends() {
        let mut loader = WeightLoader::new(&model_map, &device);
        let resnet = ResNet::load(&mut loader, "backbone.0.body", &small_config()).expect("load");
        assert_eq!(resnet.out_channels(), 256);
        for prefix in ["batch", "single"] {
            let images = io.tensor::<4>(&format!("{prefix}_images"), &device);
            let features = resnet.forward(images);
            assert_eq!(
                features.dims().to_vec(),
                io.shape(&format!("{prefix}_features"))
            );
            assert_close(
                &format!("{prefix}_features {backend:?}"),
                features,
                &io.f32(&format!("{prefix}_features")),
                tolerance(backend),
            );
        }
    }
}

/// Multiplies every float parameter by a constant (to change a module's weights through
/// `Module::map`, as loading does).
struct Scale(f32);

impl ModuleMapper for Scale {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let factor = self.0;
        param.map(|t| t * factor)
    }
}

#[test]
fn cpu_kernels_match_burn_operations() {
    // On the CPU backends `forward` runs the channels-last CPU kernels; `forward_burn` the
    // Burn operations wgpu uses. Same function, so they agree to float rounding, also on a
    // batch of two, odd sizes and a one-pixel image.
    let map = WeightMap::from_file(fixture(CHECKPOINT)).expect("checkpoint");
    let model_map = map.with_prefix("model.");
    let io = Fixture::open(IO);
    for (backend, device) in backends() {
        let mut loader = WeightLoader::new(&model_map, &device);
        let resnet = ResNet::load(&mut loader, "backbone.0.body", &small_config()).expect("load");
        let mut inputs = vec![
            io.tensor::<4>("batch_images", &device),
            io.tensor::<4>("single_images", &device),
        ];
        for (i, [b, h, w]) in [[2, 37, 23], [1, 1, 1], [1, 2, 65]].into_iter().enumerate() {
            let n = b * 3 * h * w;
            let x: Vec<f32> = (0..n)
                .map(|j| ((j * 7919 + i) % 211) as f32 / 50.0 - 2.0)
                .collect();
            inputs.push(Tensor::from_data(TensorData::new(x, [b, 3, h, w]), &device));
        }
        for input in inputs {
            let dims = input.dims();
            let kernels = resnet.forward(input.clone());
            let burn_ops = resnet.forward_burn(input);
            assert_eq!(kernels.dims(), burn_ops.dims(), "{dims:?}");
            let err = max_abs_diff(&values(kernels), &values(burn_ops));
            println!("{backend:?} {dims:?}: CPU kernels vs Burn ops {err:.3e}");
            assert!(err <= 1e-5, "{backend:?} {dims:?}: {err}");
        }
        assert_eq!(
            hoiclip::nn::cpu::is_host_device(&device),
            backend != hoiclip::BackendChoice::Wgpu
        );
    }
}

#[test]
fn cpu_plan_follows_the_weights() {
    // The packed copy is built on the first CPU forward pass; mapping the parameters (as
    // loading does) must drop it, and `reset_cpu_plan` after a field is replaced by hand.
    let map = WeightMap::from_file(fixture(CHECKPOINT)).expect("checkpoint");
    let model_map = map.with_prefix("model.");
    let io = Fixture::open(IO);
    for (backend, device) in backends() {
        let mut loader = WeightLoader::new(&model_map, &device);
        let resnet = ResNet::load(&mut loader, "backbone.0.body", &small_config()).expect("load");
        let images = io.tensor::<4>("batch_images", &device);
        let before = values(resnet.forward(images.clone()));
        let scaled = resnet.clone().map(&mut Scale(0.5));
        let expected = values(scaled.forward_burn(images.clone()));
        let after = values(scaled.forward(images.clone()));
        assert!(
            max_abs_diff(&before, &expected) > 1e-3,
            "scaling changes the output"
        );
        let err = max_abs_diff(&after, &expected);
        assert!(err <= 1e-5, "{backend:?}: stale CPU plan after map ({err})");
        // The original module keeps its own weights and plan.
        assert!(max_abs_diff(&values(resnet.forward(images.clone())), &before) <= 1e-6);

        let mut edited = resnet.clone();
        edited.conv1 = scaled.conv1.clone();
        edited.reset_cpu_plan();
        let expected = values(edited.forward_burn(images.clone()));
        let err = max_abs_diff(&values(edited.forward(images.clone())), &expected);
        assert!(
            err <= 1e-5,
            "{backend:?}: stale CPU plan after reset ({err})"
        );
    }
}

#[test]
fn resnet_from_checkpoint_file_finds_the_backbone_prefix() {
    let io = Fixture::open(IO);
    let (backend, device) = backends()[0].clone();
    let resnet = ResNet::from_file(fixture(CHECKPOINT), &small_config(), &device).expect("load");
    let features = resnet.forward(io.tensor::<4>("batch_images", &device));
    assert_close(
        &format!("checkpoint from_file {backend:?}"),
        features,
        &io.f32("batch_features"),
        tolerance(backend),
    );
}

#[test]
fn resnet_from_plain_torchvision_state_dict() {
    // fc.weight, fc.bias and every *.num_batches_tracked are known-unused.
    let io = Fixture::open(IO);
    let map = WeightMap::from_file(fixture(TORCHVISION)).expect("torchvision state dict");
    assert!(map.contains("fc.weight") && map.contains("bn1.num_batches_tracked"));
    assert!(ResNet::is_known_unused("fc.weight"));
    assert!(ResNet::is_known_unused("fc.bias"));
    assert!(ResNet::is_known_unused(
        "layer3.0.downsample.1.num_batches_tracked"
    ));
    assert!(!ResNet::is_known_unused(
        "layer3.0.downsample.1.running_var"
    ));
    for (backend, device) in backends() {
        let resnet = ResNet::from_file(fixture(TORCHVISION), &small_config(), &device)
            .expect("load torchvision layout");
        let features = resnet.forward(io.tensor::<4>("batch_images", &device));
        assert_close(
            &format!("torchvision layout {backend:?}"),
            features,
            &io.f32("batch_features"),
            tolerance(backend),
        );
    }
}

#[test]
fn resnet_reports_unknown_tensors() {
    let map = WeightMap::from_file(fixture(TORCHVISION)).expect("torchvision state dict");
    let mut tensors = f32_tensors(&map);
    tensors.push(("layer2.1.extra.weight".into(), vec![2], vec![0.0, 1.0]));
    let map =
        WeightMap::from_f32_tensors("edited", WeightFormat::Safetensors, tensors).expect("map");
    let device = backends()[0].1.clone();
    match ResNet::from_weight_map(&map, &small_config(), &device) {
        Err(HoiclipError::UnexpectedTensors { count, names, .. }) => {
            assert_eq!(count, 1);
            assert_eq!(names, "layer2.1.extra.weight");
        }
        other => panic!("expected UnexpectedTensors, got {other:?}"),
    }
}

#[test]
fn resnet_wrong_shape_names_the_tensor() {
    let map = WeightMap::from_file(fixture(TORCHVISION)).expect("torchvision state dict");
    let device = backends()[0].1.clone();

    let mut tensors = f32_tensors(&map);
    for (name, shape, _) in &mut tensors {
        if name == "layer2.0.conv2.weight" {
            // [16, 16, 3, 3] stored as [16, 16, 9, 1]
            *shape = vec![16, 16, 9, 1];
        }
    }
    let edited =
        WeightMap::from_f32_tensors("edited", WeightFormat::Safetensors, tensors).expect("map");
    match ResNet::from_weight_map(&edited, &small_config(), &device) {
        Err(HoiclipError::ShapeMismatch {
            name,
            expected,
            found,
            ..
        }) => {
            assert_eq!(name, "layer2.0.conv2.weight");
            assert_eq!(expected, vec![16, 16, 3, 3]);
            assert_eq!(found, vec![16, 16, 9, 1]);
        }
        other => panic!("expected ShapeMismatch, got {other:?}"),
    }

    // The right file with the wrong configuration: the first tensor that disagrees is named.
    let wrong = ResNetConfig::new([1, 2, 1, 1], [8, 16, 48, 64]).with_stem_width(8);
    match ResNet::from_weight_map(&map, &wrong, &device) {
        Err(HoiclipError::ShapeMismatch { name, .. }) => {
            assert_eq!(name, "layer3.0.conv1.weight");
        }
        other => panic!("expected ShapeMismatch, got {other:?}"),
    }

    // A missing block.
    let deeper = ResNetConfig::new([1, 3, 1, 1], [8, 16, 32, 64]).with_stem_width(8);
    match ResNet::from_weight_map(&map, &deeper, &device) {
        Err(HoiclipError::MissingTensor { name, .. }) => {
            assert_eq!(name, "layer2.2.conv1.weight");
        }
        other => panic!("expected MissingTensor, got {other:?}"),
    }
}

#[test]
fn resnet_init_gives_torchvision_shapes_and_checks_input() {
    for (backend, device) in backends() {
        let resnet = small_config().init(&device);
        assert_eq!(resnet.out_channels(), 256);
        // layer1 changes the channel count (8 → 32): downsample without stride
        assert!(resnet.layer1[0].downsample.is_some());
        assert!(resnet.layer2[1].downsample.is_none());
        let images = Tensor::<4>::zeros([1, 3, 33, 47], &device);
        let features = resnet.try_forward(images).expect("forward");
        assert_eq!(
            features.dims(),
            [1, 256, output_size(33), output_size(47)],
            "{backend:?}"
        );
        let grey = Tensor::<4>::zeros([1, 1, 32, 32], &device);
        assert!(matches!(
            resnet.try_forward(grey),
            Err(HoiclipError::InputShape { .. })
        ));
    }
    // torchvision presets
    assert_eq!(ResNetConfig::resnet50().out_channels(), 2048);
    assert_eq!(ResNetConfig::resnet101().blocks, [3, 4, 23, 3]);
}
