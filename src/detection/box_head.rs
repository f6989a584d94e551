//! Box heads (DETR's `MLP`: Linear layers with ReLU between, sigmoid after) and box
//! conversions.

use crate::nn::Linear;
use burn::module::Module;

use burn::tensor::activation::{relu, sigmoid};
use burn::tensor::{Device, Tensor};

use crate::error::HoiclipError;
use crate::weights::WeightLoader;

type Res<T> = std::result::Result<T, HoiclipError>;

/// An MLP of `Linear` layers with ReLU between them (DETR's `MLP`), as
/// `hum_bbox_embed` / `obj_bbox_embed` (3 layers, `d → d → d → 4`) and HOICLIP's `inter2verb`.
#[derive(Module, Debug)]
pub struct Mlp {
    /// The layers (`layers.N`).
    pub layers: Vec<Linear>,
}

impl Mlp {
    /// A randomly initialised (lazily) MLP `input → hidden × (n - 1) → output`.
    pub fn init(input: usize, hidden: usize, output: usize, n: usize, device: &Device) -> Self {
        let layers = (0..n)
            .map(|i| {
                let d_in = if i == 0 { input } else { hidden };
                let d_out = if i + 1 == n { output } else { hidden };
                Linear::init(d_in, d_out, true, device)
            })
            .collect();
        Self { layers }
    }

    /// Load `{prefix}.layers.{0..n}`.
    pub fn load(
        loader: &mut WeightLoader<'_>,
        prefix: &str,
        input: usize,
        hidden: usize,
        output: usize,
        n: usize,
    ) -> Res<Self> {
        let layers = (0..n)
            .map(|i| {
                let d_in = if i == 0 { input } else { hidden };
                let d_out = if i + 1 == n { output } else { hidden };
                loader.linear(&format!("{prefix}.layers.{i}"), d_in, d_out, true)
            })
            .collect::<Res<_>>()?;
        Ok(Self { layers })
    }

    /// `[..., input]` → `[..., output]`.
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        let last = self.layers.len().saturating_sub(1);
        self.layers.iter().enumerate().fold(x, |x, (i, layer)| {
            let y = layer.forward(x);
            if i < last { relu(y) } else { y }
        })
    }

    /// Boxes: `sigmoid(mlp(x))`, normalised `cxcywh`, `[..., 4]`.
    pub fn boxes<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        sigmoid(self.forward(x))
    }
}

/// A normalised `(cx, cy, w, h)` box → `(x0, y0, x1, y1)` in pixels of an image of
/// `width × height` (DETR's `box_cxcywh_to_xyxy` then scaling by the original size).
pub fn cxcywh_to_xyxy_pixels(b: [f32; 4], width: f32, height: f32) -> [f32; 4] {
    let [cx, cy, w, h] = b;
    [
        (cx - 0.5 * w) * width,
        (cy - 0.5 * h) * height,
        (cx + 0.5 * w) * width,
        (cy + 0.5 * h) * height,
    ]
}
