//! Burn's convolution-family modules prepared for the CPU kernels: [`pack_conv2d`] packs a
//! `Conv2d` (with a per-channel affine map after it, such as a frozen batch norm) into a
//! [`PackedConv2d`], and [`square_max_pool`] reads a `MaxPool2d`'s geometry as a
//! [`SquarePool`]. Both answer `None` for a configuration the kernels do not handle, so
//! that the caller keeps Burn's operations.

use burn::nn::PaddingConfig2d;
use burn::nn::conv::Conv2d;
use burn::nn::pool::MaxPool2d;
use burn::tensor::Tensor;

use crate::error::{HoiclipError, Result};
use crate::nn::cpu::{PackedConv2d, Padding, SquarePool};

/// The values of a parameter tensor on the host (`what` names it in the error).
pub fn parameter_values<const D: usize>(tensor: Tensor<D>, what: &str) -> Result<Vec<f32>> {
    crate::nn::cpu::host_values(tensor).map_err(|e| HoiclipError::Backend {
        backend: "host".into(),
        reason: format!("cannot read {what}: {e}"),
    })
}

/// `conv` followed by the per-output-channel affine map `affine = (scale, shift)`
/// (`v · scale + shift`), packed; without `affine`, the convolution's bias alone. A
/// convolution bias under an affine map is scaled into the shift (`shift + bias · scale`).
/// `None` when the convolution is not one the kernels handle (groups, dilation, `Same`
/// padding).
///
/// Errors when a parameter cannot be read to the host or a length disagrees with the
/// weight's shape ([`PackedConv2d::from_torch_layout`]).
pub fn pack_conv2d(
    conv: &Conv2d,
    affine: Option<(Vec<f32>, Vec<f32>)>,
) -> Result<Option<PackedConv2d>> {
    let padding = match conv.padding {
        PaddingConfig2d::Explicit(top, left, bottom, right) => Padding {
            top,
            left,
            bottom,
            right,
        },
        PaddingConfig2d::Valid => Padding::default(),
        PaddingConfig2d::Same => return Ok(None),
    };
    if conv.groups != 1 || conv.dilation != [1, 1] {
        return Ok(None);
    }
    let weight_dims = conv.weight.dims();
    let weight = parameter_values(conv.weight.val(), "a convolution weight")?;
    let bias = match &conv.bias {
        Some(bias) => Some(parameter_values(bias.val(), "a convolution bias")?),
        None => None,
    };
    let (scale, shift) = match (affine, bias) {
        (Some((scale, mut shift)), Some(bias)) => {
            for ((t, b), s) in shift.iter_mut().zip(&bias).zip(&scale) {
                *t += b * s;
            }
            (Some(scale), Some(shift))
        }
        (Some((scale, shift)), None) => (Some(scale), Some(shift)),
        (None, bias) => (None, bias),
    };
    PackedConv2d::from_torch_layout(&weight, weight_dims, conv.stride, padding, scale, shift)
        .map(Some)
}

/// `pool`'s geometry, if the kernels handle it: a square kernel and stride, the same
/// padding on every side, dilation 1, floor mode.
pub fn square_max_pool(pool: &MaxPool2d) -> Option<SquarePool> {
    let square = pool.kernel_size[0] == pool.kernel_size[1] && pool.stride[0] == pool.stride[1];
    let padding = match pool.padding {
        PaddingConfig2d::Explicit(top, left, bottom, right)
            if top == left && left == bottom && bottom == right =>
        {
            top
        }
        PaddingConfig2d::Valid => 0,
        _ => return None,
    };
    if !square || pool.dilation != [1, 1] || pool.ceil_mode {
        return None;
    }
    Some(SquarePool {
        kernel: pool.kernel_size[0],
        stride: pool.stride[0],
        padding,
    })
}
