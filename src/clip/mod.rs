//! CLIP: tokenizer, vision transformer (embedding + token map), text transformer, weights.
//!
//! - [`config`]: shapes, presets (ViT-B/32, ViT-B/16, ViT-L/14) and inference from weights.
//! - [`block`]: the pre-norm residual attention block with QuickGELU.
//! - [`vision`]: the vision transformer, returning the embedding and the token map.
//! - [`text`]: the causal text transformer.
//! - [`model`]: [`Clip`], weight loading and the native format.
//! - [`hf_layout`]: Hugging Face `CLIPModel` names → OpenAI names.
//! - [`tokenizer`]: OpenAI's BPE tokenizer, vocabulary embedded.
//! - [`preprocess`]: the reference image transform.

pub mod block;
pub mod config;
pub mod hf_layout;
pub mod model;
pub mod preprocess;
pub mod text;
pub mod tokenizer;
pub mod vision;

pub use config::{ClipConfig, TextConfig, VisionConfig};
pub use model::{Clip, ClipLayout, l2_normalize};
pub use vision::VisionOutput;
