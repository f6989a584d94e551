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
//! # Layering
//!
//! These kernels are the bottom layer of the model: kernels (this module) ← layers
//! ([`crate::nn`]: `Linear`, attention, the glue that packs Burn modules for the kernels) ←
//! model parts ([`crate::detection`], [`crate::clip`], [`crate::interaction`], ...). Code
//! here uses only the standard library, external crates (Burn's tensor and module types,
//! `gemm`, `rayon`) and [`crate::error`]; it never names a layer or a model part, which
//! hand it what it needs as arguments (packed weights, geometry, epilogues). Within this
//! module the files form an acyclic graph, leaves first (shared value types and the
//! micro-kernel, then the paths that use them, then the operators that dispatch to those
//! paths), and this file only declares and re-exports them. The unit test
//! `layering::kernels_are_a_layer_below_the_model` checks both rules on the source.
//!
//! Leaves (no sibling dependencies):
//! - [`feature_map`]: the channels-last map and its conversions to and from Burn tensors.
//! - [`padding`]: [`Padding`], a convolution's input padding.
//! - [`math`]: a vectorisable `exp`.
//! - [`switch`]: [`switch::ProcessSwitch`], a process-wide on/off setting with an
//!   environment-variable default.
//!
//! Built on those:
//! - [`host`]: [`use_kernels`] (whether a device runs these kernels, [`switch`]) and
//!   [`host_values`].
//! - [`micro_kernel`]: the 6 × 16 micro-kernel (AVX2 + FMA, AVX-512F; its switch in
//!   [`switch`]) and its weight panels.
//! - [`epilogue`]: [`Epilogue`], residual + ReLU after a product (on [`MapView`]).
//! - [`workspace`]: [`Workspace`], buffers recycled within a forward pass.
//! - [`plan`]: [`CpuPlan`], a module's packed weights, built on first use.
//! - [`conv_avx2`]: the implicit-GEMM convolution path on the micro-kernel.
//! - [`winograd`]: Winograd F(2×2, 3×3) for 3×3 stride-1 convolutions on the micro-kernel.
//! - [`conv`]: [`PackedConv2d`], convolution + affine map + residual + ReLU, choosing among
//!   the `gemm`-crate, implicit-GEMM and Winograd paths.
//! - [`max_pool`]: [`max_pool2d`], max pooling with −∞ padding ([`SquarePool`]).
//! - [`attention`]: [`multi_head_attention`], masks as `torch.nn.MultiheadAttention`'s.
//! - [`bottleneck_net`]: [`BottleneckNet`], a ResNet-style bottleneck network end to end on
//!   packed convolutions (what the detection backbone runs on a CPU).

pub mod attention;
pub mod bottleneck_net;
pub mod conv;
pub mod conv_avx2;
pub mod epilogue;
pub mod feature_map;
pub mod host;
pub mod math;
pub mod max_pool;
pub mod micro_kernel;
pub mod padding;
pub mod plan;
pub mod switch;
pub mod winograd;
pub mod workspace;

pub use attention::{AttentionMask, AttentionShape, multi_head_attention};
pub use bottleneck_net::{BottleneckNet, PackedBottleneck};
pub use conv::{ConvKernel, PackedConv2d};
pub use epilogue::Epilogue;
pub use feature_map::{FeatureMap, MapView};
pub use host::{host_values, is_host_device, kernels_enabled, set_kernels_enabled, use_kernels};
pub use max_pool::{SquarePool, max_pool2d};
pub use padding::Padding;
pub use plan::CpuPlan;
pub use workspace::Workspace;

#[cfg(test)]
mod layering;
#[cfg(test)]
mod test_values;
