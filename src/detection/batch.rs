//! Batching images of different sizes as DETR does (`nested_tensor_from_tensor_list`): zero
//! padding at the bottom and right up to the largest height and width, and a padding mask
//! (true on padding) that follows the features down with nearest-neighbour resizing.
//!
//! Masks are kept on the host (`Vec<bool>`, row-major) and turned into Burn bool tensors on
//! the device that needs them with [`mask_tensor`].

use burn::tensor::{Bool, Device, Tensor, TensorData};

use crate::error::{HoiclipError, Result};

/// One preprocessed image: normalised CHW values and its `[3, height, width]`.
#[derive(Clone, Debug, PartialEq)]
pub struct PreparedImage {
    /// `3 · height · width` values, channel-major (`[3, height, width]` row-major).
    pub values: Vec<f32>,
    /// Rows.
    pub height: usize,
    /// Columns.
    pub width: usize,
}

/// Images padded into one batch, with the padding mask.
#[derive(Clone, Debug)]
pub struct PaddedBatch {
    /// `[batch, 3, height, width]`, each image at the top left, zeros elsewhere.
    pub images: Tensor<4>,
    /// Host mask `[batch, height, width]` row-major, true on padding.
    pub padding: Vec<bool>,
    /// Padded height (the largest image height).
    pub height: usize,
    /// Padded width (the largest image width).
    pub width: usize,
    /// Each image's `(height, width)`, in batch order.
    pub sizes: Vec<(usize, usize)>,
}

impl PaddedBatch {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.sizes.len()
    }

    /// Whether the batch holds no image (never the case for a batch from [`pad_batch`]).
    pub fn is_empty(&self) -> bool {
        self.sizes.is_empty()
    }
}

/// Pad `images` into one `[batch, 3, H, W]` tensor on `device`, `H` and `W` the largest
/// height and width, as `nested_tensor_from_tensor_list`: each image copied to the top left,
/// zeros at the bottom and right, mask true on the padding.
///
/// Errors with [`HoiclipError::Image`] for an empty list or an image of zero size, and with
/// [`HoiclipError::InputShape`] when an image's values do not fill `[3, height, width]`.
pub fn pad_batch(images: &[PreparedImage], device: &Device) -> Result<PaddedBatch> {
    if images.is_empty() {
        return Err(HoiclipError::Image {
            what: "batch".into(),
            reason: "no images to batch".into(),
        });
    }
    for (i, image) in images.iter().enumerate() {
        if image.height == 0 || image.width == 0 {
            return Err(HoiclipError::Image {
                what: format!("input {i}"),
                reason: format!("has zero size {}×{}", image.width, image.height),
            });
        }
        let expected = image
            .height
            .checked_mul(image.width)
            .and_then(|n| n.checked_mul(3));
        if expected != Some(image.values.len()) {
            return Err(HoiclipError::InputShape {
                name: format!("images[{i}]"),
                expected: format!(
                    "{} values for [3, {}, {}]",
                    expected.map_or_else(|| "more than usize::MAX".to_string(), |n| n.to_string()),
                    image.height,
                    image.width
                ),
                found: vec![image.values.len()],
            });
        }
    }
    let batch = images.len();
    let height = images.iter().map(|im| im.height).max().unwrap_or(0);
    let width = images.iter().map(|im| im.width).max().unwrap_or(0);
    let plane = height * width;
    let mut values = vec![0.0f32; batch * 3 * plane];
    let mut padding = vec![true; batch * plane];
    for (b, image) in images.iter().enumerate() {
        let (h, w) = (image.height, image.width);
        for c in 0..3 {
            for y in 0..h {
                let src = (c * h + y) * w;
                let dst = ((b * 3 + c) * height + y) * width;
                values[dst..dst + w].copy_from_slice(&image.values[src..src + w]);
            }
        }
        for y in 0..h {
            let row = (b * height + y) * width;
            padding[row..row + w].fill(false);
        }
    }
    Ok(PaddedBatch {
        images: Tensor::from_data(TensorData::new(values, [batch, 3, height, width]), device),
        padding,
        height,
        width,
        sizes: images.iter().map(|im| (im.height, im.width)).collect(),
    })
}

/// PyTorch's `nearest` source index for `dst` when resizing `input` → `output` samples
/// without a scale factor (`upsample_nearest2d`): the identity for equal sizes, `dst / 2` for
/// exact doubling, otherwise `min(floor(dst · (input / output)), input − 1)` with the scale
/// and the product in f32, as PyTorch computes them.
pub fn nearest_source_index(dst: usize, input: usize, output: usize) -> usize {
    if output == input {
        dst
    } else if output == 2 * input {
        dst >> 1
    } else {
        let scale = input as f32 / output as f32;
        let src = (dst as f32 * scale).floor() as usize;
        src.min(input.saturating_sub(1))
    }
}

/// `F.interpolate(mask[None].float(), size=(out_h, out_w)).to(torch.bool)[0]` (mode
/// `nearest`) on a host mask `[batch, in_h, in_w]` row-major: each output cell takes the
/// source cell at [`nearest_source_index`] in both directions. Returns `[batch, out_h,
/// out_w]` row-major.
///
/// Cells outside a `mask` shorter than `batch · in_h · in_w` read as padding (true).
pub fn resize_mask(
    mask: &[bool],
    batch: usize,
    in_h: usize,
    in_w: usize,
    out_h: usize,
    out_w: usize,
) -> Vec<bool> {
    if in_h == 0 || in_w == 0 {
        return vec![true; batch * out_h * out_w];
    }
    let cols: Vec<usize> = (0..out_w)
        .map(|x| nearest_source_index(x, in_w, out_w))
        .collect();
    let mut out = Vec::with_capacity(batch * out_h * out_w);
    for b in 0..batch {
        for y in 0..out_h {
            let row = (b * in_h + nearest_source_index(y, in_h, out_h)) * in_w;
            out.extend(
                cols.iter()
                    .map(|&x| mask.get(row + x).copied().unwrap_or(true)),
            );
        }
    }
    out
}

/// A host mask (row-major, `shape.iter().product()` values) as a bool tensor of `shape`
/// built directly on `device` (`[batch, height, width]` for feature masks, `[batch, tokens]`
/// for key padding). Bool tensors are never moved between devices: Burn 0.22.1 panics
/// moving them from flex to wgpu.
///
/// A mask shorter than the shape is completed with `true` (padding); extra values are
/// ignored.
pub fn mask_tensor<const D: usize>(
    mask: &[bool],
    shape: [usize; D],
    device: &Device,
) -> Tensor<D, Bool> {
    let n: usize = shape.iter().product();
    let mut values: Vec<bool> = mask.iter().copied().take(n).collect();
    values.resize(n, true);
    Tensor::from_data(TensorData::new(values, shape), device)
}
