//! [`max_pool2d`] (geometry [`SquarePool`]): max pooling over a channels-last [`FeatureMap`], padded with −∞ as in
//! PyTorch (padding never wins; `NaN` propagates).

use rayon::prelude::*;

use super::feature_map::FeatureMap;
use super::workspace::Workspace;
use crate::error::{HoiclipError, Result};

/// A square max pool's geometry: PyTorch's `MaxPool2d(kernel, stride, padding)` (floor
/// mode, dilation 1), the arguments of [`max_pool2d`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SquarePool {
    /// Kernel side.
    pub kernel: usize,
    /// Stride, both directions.
    pub stride: usize,
    /// Padding (−∞) on every side.
    pub padding: usize,
}

/// Max pool with a square `kernel`, `stride` and `padding` (PyTorch's `MaxPool2d(kernel,
/// stride, padding)`, floor mode): `[batch, h, w, c]` → `[batch, ⌊(h + 2·padding − kernel) /
/// stride⌋ + 1, …, c]`.
///
/// Errors with [`HoiclipError::InputShape`] when the padded input is smaller than the kernel
/// or the padding exceeds half the kernel (PyTorch refuses that too), and
/// [`HoiclipError::Config`] for a zero kernel or stride.
pub fn max_pool2d(
    input: &FeatureMap,
    kernel: usize,
    stride: usize,
    padding: usize,
    workspace: &mut Workspace,
) -> Result<FeatureMap> {
    if kernel == 0 || stride == 0 {
        return Err(HoiclipError::Config(format!(
            "max pool kernel {kernel} and stride {stride} must be non-zero"
        )));
    }
    let out_size = |n: usize| {
        (n + 2 * padding)
            .checked_sub(kernel)
            .map(|span| span / stride + 1)
    };
    let (Some(out_h), Some(out_w)) = (out_size(input.height), out_size(input.width)) else {
        return Err(HoiclipError::InputShape {
            name: "max pool input".into(),
            expected: format!("a padded size of at least {kernel}×{kernel}"),
            found: vec![input.batch, input.height, input.width, input.channels],
        });
    };
    if 2 * padding > kernel {
        return Err(HoiclipError::Config(format!(
            "max pool padding {padding} exceeds half the kernel {kernel}"
        )));
    }
    let (h, w, c) = (input.height, input.width, input.channels);
    let mut output = workspace.take(input.batch * out_h * out_w * c);
    if !output.is_empty() {
        // One output row per task.
        output
            .par_chunks_mut(out_w * c)
            .enumerate()
            .for_each(|(row, out_row)| {
                let (b, y) = (row / out_h, row % out_h);
                let image = &input.data[b * h * w * c..(b + 1) * h * w * c];
                let y0 = (y * stride) as isize - padding as isize;
                let ys = y0.max(0) as usize..((y0 + kernel as isize).min(h as isize)) as usize;
                for (x, pixel) in out_row.chunks_exact_mut(c).enumerate() {
                    let x0 = (x * stride) as isize - padding as isize;
                    let xs = x0.max(0) as usize..((x0 + kernel as isize).min(w as isize)) as usize;
                    pixel.fill(f32::NEG_INFINITY);
                    for iy in ys.clone() {
                        for ix in xs.clone() {
                            let source = &image[(iy * w + ix) * c..(iy * w + ix + 1) * c];
                            for (m, &v) in pixel.iter_mut().zip(source) {
                                // Branch-free (vectorises): `v` wins if larger or NaN.
                                let take = (v > *m) | v.is_nan();
                                *m = if take { v } else { *m };
                            }
                        }
                    }
                }
            });
    }
    FeatureMap::new(output, input.batch, out_h, out_w, c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padding_never_wins_and_nan_propagates() {
        // x = -(1 + i) over a 4×4 map, 3×3 window, stride 2, padding 1.
        let x: Vec<f32> = (0..16).map(|i| -(1.0 + i as f32)).collect();
        let input = FeatureMap::new(x, 1, 4, 4, 1).unwrap();
        let mut ws = Workspace::default();
        let out = max_pool2d(&input, 3, 2, 1, &mut ws).unwrap();
        assert_eq!((out.height, out.width), (2, 2));
        assert_eq!(out.data, vec![-1.0, -2.0, -5.0, -6.0]);
        let mut with_nan = input.clone();
        with_nan.data[5] = f32::NAN;
        let out = max_pool2d(&with_nan, 3, 2, 1, &mut ws).unwrap();
        assert!(out.data.iter().all(|v| v.is_nan()));
    }

    #[test]
    fn channels_are_pooled_independently() {
        // Two channels: channel 1 is channel 0 negated.
        let data: Vec<f32> = (0..9).flat_map(|i| [i as f32, -(i as f32)]).collect();
        let input = FeatureMap::new(data, 1, 3, 3, 2).unwrap();
        let out = max_pool2d(&input, 3, 2, 1, &mut Workspace::default()).unwrap();
        assert_eq!(out.data, vec![4.0, 0.0, 5.0, -1.0, 7.0, -3.0, 8.0, -4.0]);
    }

    #[test]
    fn bad_geometry_is_an_error() {
        let input = FeatureMap::new(vec![0.0; 4], 1, 2, 2, 1).unwrap();
        let mut ws = Workspace::default();
        assert!(max_pool2d(&input, 5, 1, 0, &mut ws).is_err());
        assert!(max_pool2d(&input, 0, 1, 0, &mut ws).is_err());
        assert!(max_pool2d(&input, 3, 2, 2, &mut ws).is_err());
    }
}
