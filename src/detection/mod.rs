//! The detection branch (GEN-VLKT / DETR): ResNet with frozen batch norm, padded batches with
//! masks, sine positions, the DETR encoder, the pair-query instance decoder and box heads.
//!
//! - [`resnet`]: ResNet-50/101 with `FrozenBatchNorm2d`, layer4 output; on CPU devices it
//!   packs itself into the kernels' [`crate::nn::cpu::BottleneckNet`].
//! - [`batch`]: padding a list of images into one batch with a padding mask.
//! - [`position`]: DETR's sine position embedding.
//! - [`transformer`]: post-norm encoder and decoder layers, the instance decoder.
//! - [`box_head`]: MLP box heads and box conversions.
//! - [`branch`]: [`DetectionBranch`], the whole branch and its weights.

pub mod batch;
pub mod box_head;
pub mod branch;
pub mod position;
pub mod resnet;
pub mod transformer;

pub use branch::{DetectionBranch, DetectionConfig, DetectionOutput, EncoderInputs};
