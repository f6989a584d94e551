//! Helpers shared by the integration tests: backend selection, fixtures, comparisons.
#![allow(dead_code)]

use std::path::PathBuf;

use burn::tensor::{Device, Tensor};
use hoiclip::BackendChoice;
use safetensors::SafeTensors;

/// Path of a file under tests/fixtures.
pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("fixtures")
        .join(name)
}

/// The backends a test must run on: `HOICLIP_TEST_BACKENDS` (comma separated, e.g.
/// `flex,ndarray,wgpu`), or by default every compiled CPU backend. A backend that is
/// listed but not compiled fails the test: nothing is skipped silently.
pub fn backends() -> Vec<(BackendChoice, Device)> {
    let names = std::env::var("HOICLIP_TEST_BACKENDS").unwrap_or_default();
    let choices: Vec<BackendChoice> = if names.trim().is_empty() {
        BackendChoice::compiled()
            .into_iter()
            .filter(|b| *b != BackendChoice::Wgpu)
            .collect()
    } else {
        names
            .split(',')
            .map(|n| {
                n.parse()
                    .expect("HOICLIP_TEST_BACKENDS names an unknown backend")
            })
            .collect()
    };
    assert!(!choices.is_empty(), "no backend to test");
    choices
        .into_iter()
        .map(|b| {
            (
                b,
                b.device()
                    .expect("backend listed in HOICLIP_TEST_BACKENDS is not compiled in"),
            )
        })
        .collect()
}

/// Absolute tolerance for parity checks on a backend: 1e-4 on the CPU backends;
/// wgpu (lavapipe or a GPU) reorders float sums more, see docs/testing.md.
pub fn tolerance(backend: BackendChoice) -> f32 {
    match backend {
        BackendChoice::Wgpu => 5e-4,
        _ => 1e-4,
    }
}

/// A safetensors fixture held in memory.
pub struct Fixture {
    bytes: Vec<u8>,
    name: String,
}

impl Fixture {
    /// Read tests/fixtures/`name`.
    pub fn open(name: &str) -> Fixture {
        Self::open_path(&fixture(name))
    }

    /// Read a safetensors file anywhere.
    pub fn open_path(path: &std::path::Path) -> Fixture {
        let name = path.display().to_string();
        let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("cannot read {name}: {e}"));
        Fixture { bytes, name }
    }

    fn tensors(&self) -> SafeTensors<'_> {
        SafeTensors::deserialize(&self.bytes).expect("valid safetensors fixture")
    }

    /// Shape of a tensor.
    pub fn shape(&self, key: &str) -> Vec<usize> {
        self.tensors()
            .tensor(key)
            .unwrap_or_else(|e| panic!("{}: no tensor {key}: {e}", self.name))
            .shape()
            .to_vec()
    }

    /// A float tensor as f32 values (f32, f16 or f64 stored).
    pub fn f32(&self, key: &str) -> Vec<f32> {
        let st = self.tensors();
        let view = st
            .tensor(key)
            .unwrap_or_else(|e| panic!("{}: no tensor {key}: {e}", self.name));
        let data = view.data();
        match view.dtype() {
            safetensors::Dtype::F32 => data
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
            safetensors::Dtype::F64 => data
                .chunks_exact(8)
                .map(|c| f64::from_le_bytes(c.try_into().unwrap()) as f32)
                .collect(),
            safetensors::Dtype::F16 => data
                .chunks_exact(2)
                .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32())
                .collect(),
            other => panic!("{key}: dtype {other:?} is not float"),
        }
    }

    /// A float64 tensor's values (f32 stored is widened).
    pub fn f64(&self, key: &str) -> Vec<f64> {
        let st = self.tensors();
        let view = st
            .tensor(key)
            .unwrap_or_else(|e| panic!("{}: no tensor {key}: {e}", self.name));
        match view.dtype() {
            safetensors::Dtype::F64 => view
                .data()
                .chunks_exact(8)
                .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
                .collect(),
            _ => self.f32(key).into_iter().map(f64::from).collect(),
        }
    }

    /// An integer tensor as i64 values (i64 or i32 stored).
    pub fn i64(&self, key: &str) -> Vec<i64> {
        let st = self.tensors();
        let view = st
            .tensor(key)
            .unwrap_or_else(|e| panic!("{}: no tensor {key}: {e}", self.name));
        let data = view.data();
        match view.dtype() {
            safetensors::Dtype::I64 => data
                .chunks_exact(8)
                .map(|c| i64::from_le_bytes(c.try_into().unwrap()))
                .collect(),
            safetensors::Dtype::I32 => data
                .chunks_exact(4)
                .map(|c| i32::from_le_bytes(c.try_into().unwrap()) as i64)
                .collect(),
            other => panic!("{key}: dtype {other:?} is not an integer"),
        }
    }

    /// An integer or u8/bool tensor as i64 values.
    pub fn i64_or_u8(&self, key: &str) -> Vec<i64> {
        let st = self.tensors();
        let view = st
            .tensor(key)
            .unwrap_or_else(|e| panic!("{}: no tensor {key}: {e}", self.name));
        match view.dtype() {
            safetensors::Dtype::U8 | safetensors::Dtype::BOOL => {
                view.data().iter().map(|&b| b as i64).collect()
            }
            _ => self.i64(key),
        }
    }

    /// A float tensor on `device`.
    pub fn tensor<const D: usize>(&self, key: &str, device: &Device) -> Tensor<D> {
        let shape = self.shape(key);
        let values = self.f32(key);
        Tensor::from_data(burn::tensor::TensorData::new(values, shape), device)
    }
}

/// Values of a tensor.
pub fn values<const D: usize>(tensor: Tensor<D>) -> Vec<f32> {
    tensor
        .into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .expect("float tensor")
}

/// Largest absolute difference; panics on a length mismatch or NaN.
pub fn max_abs_diff(actual: &[f32], expected: &[f32]) -> f32 {
    assert_eq!(actual.len(), expected.len(), "length mismatch");
    actual
        .iter()
        .zip(expected)
        .map(|(a, e)| {
            assert!(a.is_finite(), "non-finite output {a}");
            (a - e).abs()
        })
        .fold(0.0, f32::max)
}

/// Assert `actual` equals `expected` within `tol`, printing the error.
pub fn assert_close<const D: usize>(what: &str, actual: Tensor<D>, expected: &[f32], tol: f32) {
    let dims = actual.dims();
    let actual = values(actual);
    let err = max_abs_diff(&actual, expected);
    println!("{what}: shape {dims:?}, max abs error {err:.3e} (tolerance {tol:.0e})");
    assert!(err <= tol, "{what}: max abs error {err} exceeds {tol}");
}

/// Cut images out of a fixture's padded `[batch, 3, H, W]` batch (each image's size read
/// from the padding mask, true/1 on padding), in the order of `indices`.
pub fn unpad_fixture_images(
    io: &Fixture,
    images_key: &str,
    mask_key: &str,
    indices: &[usize],
) -> Vec<hoiclip::detection::batch::PreparedImage> {
    let shape = io.shape(images_key);
    let [h, w] = [shape[2], shape[3]];
    let images = io.f32(images_key);
    let mask = io.i64_or_u8(mask_key);
    indices
        .iter()
        .map(|&i| {
            let m = &mask[i * h * w..(i + 1) * h * w];
            let height = (0..h).filter(|&y| m[y * w] == 0).count();
            let width = (0..w).filter(|&x| m[x] == 0).count();
            let mut values = Vec::with_capacity(3 * height * width);
            for c in 0..3 {
                for y in 0..height {
                    let row = ((i * 3 + c) * h + y) * w;
                    values.extend_from_slice(&images[row..row + width]);
                }
            }
            hoiclip::detection::batch::PreparedImage {
                values,
                height,
                width,
            }
        })
        .collect()
}

/// The CLIP fixtures' shape (tests/fixtures/gen_clip_fixtures.py; text width 48 is not a
/// multiple of 64, so the heads are given).
pub fn clip_small_config() -> hoiclip::clip::ClipConfig {
    clip_config(500, 48, 4)
}

/// The whole-model fixture's CLIP (tests/fixtures/gen_hoiclip_fixtures.py): the real
/// vocabulary, text width 16 with 2 heads.
pub fn hoiclip_small_clip_config() -> hoiclip::clip::ClipConfig {
    clip_config(49408, 16, 2)
}

fn clip_config(vocab: usize, text_width: usize, text_heads: usize) -> hoiclip::clip::ClipConfig {
    hoiclip::clip::ClipConfig {
        vision: hoiclip::clip::VisionConfig {
            image_resolution: 32,
            patch_size: 8,
            width: 64,
            layers: 2,
            heads: 2,
            output_dim: 32,
        },
        text: hoiclip::clip::TextConfig {
            context_length: 77,
            vocab_size: vocab,
            width: text_width,
            layers: 2,
            heads: text_heads,
            output_dim: 32,
        },
    }
}

/// The whole-model fixture checkpoint (tests/fixtures/hoiclip_small.pth), opened.
pub fn hoiclip_small_checkpoint() -> hoiclip::model::Checkpoint {
    hoiclip::model::Checkpoint::open(&fixture("hoiclip_small.pth")).expect("fixture opens")
}

/// The configuration of an opened whole-model fixture checkpoint.
pub fn hoiclip_small_config(
    checkpoint: &hoiclip::model::Checkpoint,
) -> hoiclip::model::HoiclipConfig {
    hoiclip::model::HoiclipConfig::from_weights_with_clip(
        &checkpoint.weights,
        checkpoint.args.as_ref(),
        Some(hoiclip_small_clip_config()),
    )
    .expect("configuration of the fixture checkpoint")
}

/// The whole-model fixture loaded on `device`.
pub fn hoiclip_small_model(device: &Device) -> hoiclip::model::HoiclipModel {
    let checkpoint = hoiclip_small_checkpoint();
    let config = hoiclip_small_config(&checkpoint);
    hoiclip::model::HoiclipModel::load(&checkpoint, config, device).expect("fixture loads")
}

/// The V-COCO whole-model fixture (tests/fixtures/gen_hoiclip_vcoco_fixtures.py: text width
/// 8) loaded on `device`.
pub fn hoiclip_vcoco_small_model(device: &Device) -> hoiclip::model::HoiclipModel {
    let checkpoint = hoiclip::model::Checkpoint::open(&fixture("hoiclip_vcoco_small.pth"))
        .expect("fixture opens");
    let config = hoiclip::model::HoiclipConfig::from_weights_with_clip(
        &checkpoint.weights,
        checkpoint.args.as_ref(),
        Some(clip_config(49408, 8, 2)),
    )
    .expect("configuration of the V-COCO fixture");
    hoiclip::model::HoiclipModel::load(&checkpoint, config, device).expect("fixture loads")
}

/// An `[h, w, 3]` u8 fixture tensor as an RGB image.
pub fn fixture_rgb_image(io: &Fixture, key: &str) -> image::DynamicImage {
    let shape = io.shape(key);
    let bytes: Vec<u8> = io.i64_or_u8(key).into_iter().map(|v| v as u8).collect();
    let rgb = image::RgbImage::from_raw(shape[1] as u32, shape[0] as u32, bytes).expect("HWC u8");
    image::DynamicImage::ImageRgb8(rgb)
}

/// A JSON file under tests/fixtures, parsed.
pub fn json_fixture(name: &str) -> serde_json::Value {
    let path = fixture(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A JSON array of numbers as `f32`.
pub fn json_floats(v: &serde_json::Value) -> Vec<f32> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_f64().expect("number") as f32)
        .collect()
}

/// A JSON array of non-negative integers as indices.
pub fn json_indices(v: &serde_json::Value) -> Vec<usize> {
    v.as_array()
        .expect("indices")
        .iter()
        .map(|c| c.as_u64().expect("index") as usize)
        .collect()
}

/// The largest absolute difference between two boxes.
pub fn box_error(a: [f32; 4], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}
