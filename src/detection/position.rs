//! DETR's `PositionEmbeddingSine` as HOICLIP builds it (`num_pos_feats = hidden_dim / 2`,
//! temperature 10000, `normalize = True`, scale 2π), computed on the host in f32 from the
//! padding mask, following PyTorch's f32 arithmetic step by step:
//!
//! ```text
//! y = cumsum(!mask, rows); x = cumsum(!mask, cols)                      (f32)
//! y = y / (y[last row] + 1e-6) * 2π; x = x / (x[last col] + 1e-6) * 2π  (f32)
//! dim_t[k] = 10000 ^ (2 ⌊k / 2⌋ / n)                                    (f32 exponent,
//!                                                                        pow correctly rounded)
//! feature k of y (or x) = sin(y / dim_t[k]) for even k, cos(y / dim_t[k]) for odd k
//! output channels: n features of y, then n of x
//! ```

use std::f64::consts::PI;

use burn::tensor::{Device, Tensor, TensorData};

/// DETR's sine temperature.
pub const TEMPERATURE: f32 = 10000.0;
/// Epsilon added to the last cumulative sum before normalising.
pub const NORMALIZE_EPS: f32 = 1e-6;

/// `dim_t` of `PositionEmbeddingSine`: `temperature ** (2 * (k // 2) / num_pos_feats)` for
/// `k` in `0..num_pos_feats`, the exponent computed in f32 as PyTorch does and the power
/// rounded from f64 (which reproduces PyTorch's f32 `pow` bit for bit).
pub fn dim_t(num_pos_feats: usize) -> Vec<f32> {
    let n = num_pos_feats as f32;
    (0..num_pos_feats)
        .map(|k| {
            let exponent = (2 * (k / 2)) as f32 / n;
            f64::from(TEMPERATURE).powf(f64::from(exponent)) as f32
        })
        .collect()
}

/// The normalised cumulative positions `(y_embed, x_embed)`, each `[batch, height, width]`
/// row-major, of a padding mask (true on padding), as `PositionEmbeddingSine` computes them.
pub fn normalized_positions(
    mask: &[bool],
    batch: usize,
    height: usize,
    width: usize,
) -> (Vec<f32>, Vec<f32>) {
    let scale = (2.0 * PI) as f32;
    let n = batch * height * width;
    let valid = |i: usize| -> f32 {
        match mask.get(i) {
            Some(false) => 1.0,
            _ => 0.0,
        }
    };
    let mut y_embed = vec![0.0f32; n];
    let mut x_embed = vec![0.0f32; n];
    for b in 0..batch {
        let base = b * height * width;
        // cumsum over rows, then normalise by the last row
        for x in 0..width {
            let mut sum = 0.0f32;
            for y in 0..height {
                let i = base + y * width + x;
                sum += valid(i);
                y_embed[i] = sum;
            }
            let denominator = sum + NORMALIZE_EPS;
            for y in 0..height {
                let i = base + y * width + x;
                y_embed[i] = y_embed[i] / denominator * scale;
            }
        }
        // cumsum over columns, then normalise by the last column
        for y in 0..height {
            let row = base + y * width;
            let mut sum = 0.0f32;
            for x in 0..width {
                sum += valid(row + x);
                x_embed[row + x] = sum;
            }
            let denominator = sum + NORMALIZE_EPS;
            for value in &mut x_embed[row..row + width] {
                *value = *value / denominator * scale;
            }
        }
    }
    (y_embed, x_embed)
}

/// The sine position embedding of a host padding mask `[batch, height, width]` (row-major,
/// true on padding) as a tensor `[batch, 2 · num_pos_feats, height, width]` on `device`:
/// channels `0..num_pos_feats` encode the row position, the rest the column position, each
/// as `sin` (even channels) / `cos` (odd channels) of `position / dim_t`.
///
/// HOICLIP uses `num_pos_feats = hidden_dim / 2 = 128`. Cells beyond a `mask` shorter than
/// `batch · height · width` count as padding.
pub fn sine_position_embedding(
    mask: &[bool],
    batch: usize,
    height: usize,
    width: usize,
    num_pos_feats: usize,
    device: &Device,
) -> Tensor<4> {
    let values = sine_position_values(mask, batch, height, width, num_pos_feats);
    Tensor::from_data(
        TensorData::new(values, [batch, 2 * num_pos_feats, height, width]),
        device,
    )
}

/// The values of [`sine_position_embedding`], `[batch, 2 · num_pos_feats, height, width]`
/// row-major, on the host.
pub fn sine_position_values(
    mask: &[bool],
    batch: usize,
    height: usize,
    width: usize,
    num_pos_feats: usize,
) -> Vec<f32> {
    let (y_embed, x_embed) = normalized_positions(mask, batch, height, width);
    let dim_t = dim_t(num_pos_feats);
    let plane = height * width;
    let mut out = vec![0.0f32; batch * 2 * num_pos_feats * plane];
    for b in 0..batch {
        let positions = &[&y_embed, &x_embed];
        for (part, embed) in positions.iter().enumerate() {
            let embed = &embed[b * plane..(b + 1) * plane];
            for (k, &d) in dim_t.iter().enumerate() {
                let channel = (b * 2 + part) * num_pos_feats + k;
                let dst = &mut out[channel * plane..(channel + 1) * plane];
                if k % 2 == 0 {
                    for (o, &p) in dst.iter_mut().zip(embed) {
                        *o = (p / d).sin();
                    }
                } else {
                    for (o, &p) in dst.iter_mut().zip(embed) {
                        *o = (p / d).cos();
                    }
                }
            }
        }
    }
    out
}
