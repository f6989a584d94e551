//! CPU kernels for the convolution-heavy part of the model (the ResNet backbone), used
//! instead of Burn's operations when the model runs on a CPU backend (flex or ndarray).
//!
//! Burn's CPU backends run convolutions channels-first, converting layouts and calling one
//! small matrix product per tile; most of a ResNet's time went there. These kernels keep
//! activations channels-last ([`FeatureMap`]) from the first convolution to the last, run
//! every convolution as large matrix products on the `gemm` crate (the one flex itself uses)
//! across rayon's pool, and fuse the frozen batch norm, the residual sum and the ReLU into
//! each product's output tile.
//!
//! - [`feature_map`]: the channels-last map and its conversions to and from Burn tensors.
//! - [`conv`]: [`PackedConv2d`], convolution + affine map + residual + ReLU.
//! - [`conv_avx2`]: its AVX2 + FMA implicit-GEMM micro-kernel.
//! - [`winograd`]: Winograd F(2×2, 3×3) for its 3×3 stride-1 case on that micro-kernel.
//! - [`max_pool`]: [`max_pool2d`], max pooling with −∞ padding.
//! - [`attention`]: [`multi_head_attention`], masks as `torch.nn.MultiheadAttention`'s.
//! - [`math`]: a vectorisable `exp`.
//! - [`workspace`]: [`Workspace`], buffers recycled within a forward pass.
//! - [`plan`]: [`CpuPlan`], a module's packed weights, built on first use.

pub mod attention;
pub mod conv;
pub mod conv_avx2;
pub mod feature_map;
pub mod math;
pub mod max_pool;
pub mod plan;
pub mod winograd;
pub mod workspace;

pub use attention::{AttentionMask, AttentionShape, multi_head_attention};
pub use conv::{ConvKernel, Epilogue, PackedConv2d, Padding};
pub use feature_map::{FeatureMap, MapView};
pub use max_pool::max_pool2d;
pub use plan::CpuPlan;
pub use workspace::Workspace;

use std::sync::atomic::{AtomicU8, Ordering};

use burn::tensor::{Device, Tensor};

use crate::error::{HoiclipError, Result};

/// 0: not decided yet (read `HOICLIP_CPU_KERNELS`), 1: enabled, 2: disabled.
static KERNELS: AtomicU8 = AtomicU8::new(0);

/// Whether the CPU kernels are enabled for this process: yes unless
/// [`set_kernels_enabled`]`(false)` was called or the environment variable
/// `HOICLIP_CPU_KERNELS` is `0` (or `false`, `off`) when first asked.
pub fn kernels_enabled() -> bool {
    match KERNELS.load(Ordering::Relaxed) {
        1 => true,
        2 => false,
        _ => {
            let off = std::env::var("HOICLIP_CPU_KERNELS").is_ok_and(|v| {
                matches!(
                    v.trim().to_ascii_lowercase().as_str(),
                    "0" | "false" | "off"
                )
            });
            KERNELS.store(if off { 2 } else { 1 }, Ordering::Relaxed);
            !off
        }
    }
}

/// Turn the CPU kernels on or off for the whole process (off: Burn's operations run on
/// every backend, as on wgpu). Both compute the same function; this is for comparisons and
/// benchmarks.
pub fn set_kernels_enabled(enabled: bool) {
    KERNELS.store(if enabled { 1 } else { 2 }, Ordering::Relaxed);
}

/// Whether `device` is a CPU backend's (flex or ndarray), whose tensors live in host memory
/// and can use these kernels. wgpu devices (lavapipe included) are not.
pub fn is_host_device(device: &Device) -> bool {
    #[cfg(feature = "flex")]
    if *device == Device::flex() {
        return true;
    }
    #[cfg(feature = "ndarray")]
    #[allow(deprecated)]
    if *device == Device::ndarray() {
        return true;
    }
    let _ = device;
    false
}

/// Whether work on `device` should use the CPU kernels: enabled, a CPU backend, and no
/// autodiff (the kernels record no gradients).
pub fn use_kernels(device: &Device) -> bool {
    kernels_enabled() && !device.is_autodiff() && is_host_device(device)
}

/// A float tensor's values on the host as f32 (a copy unless the tensor is flex's, f32 and
/// unshared).
pub fn host_values<const D: usize>(tensor: Tensor<D>) -> Result<Vec<f32>> {
    tensor
        .into_data()
        .try_into_vec_as::<f32>()
        .map_err(|e| HoiclipError::Backend {
            backend: "host".into(),
            reason: format!("cannot read a float tensor: {e:?}"),
        })
}
