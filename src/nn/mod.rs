//! Neural-network building blocks shared by every part of the model.
//!
//! - [`attention`]: multi-head attention with `torch.nn.MultiheadAttention`'s weights and
//!   semantics (packed in-projection, masks), reused by CLIP, the DETR transformer and the
//!   HOICLIP decoders.
//! - [`activation`]: QuickGELU (CLIP's activation).
//! - [`linear`]: [`Linear`], Burn's linear layer on the CPU kernels where they apply.
//! - [`conv`]: Burn's `Conv2d` / `MaxPool2d` packed for the CPU kernels.
//! - [`mod@dropout`]: [`dropout()`], as `torch.nn.functional.dropout`.
//! - [`cpu`]: channels-last CPU kernels (convolution, max pool, attention) for CPU devices,
//!   the layer below these (they depend on nothing in this module but themselves).

pub mod activation;
pub mod attention;
pub mod conv;
pub mod cpu;
pub mod dropout;
pub mod linear;

pub use activation::quick_gelu;
pub use attention::{AttentionMasks, TorchMultiheadAttention, TorchMultiheadAttentionConfig};
pub use dropout::dropout;
pub use linear::Linear;
