//! Neural-network building blocks shared by every part of the model.
//!
//! - [`attention`]: multi-head attention with `torch.nn.MultiheadAttention`'s weights and
//!   semantics (packed in-projection, masks), reused by CLIP, the DETR transformer and the
//!   HOICLIP decoders.
//! - [`activation`]: QuickGELU (CLIP's activation).

pub mod activation;
pub mod attention;

pub use activation::quick_gelu;
pub use attention::{AttentionMasks, TorchMultiheadAttention, TorchMultiheadAttentionConfig};
