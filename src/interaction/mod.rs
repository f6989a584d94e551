//! HOICLIP's interaction branch: the interaction decoder with knowledge integration.
//!
//! - [`decoder`]: pair queries `(h + o) / 2` → CLIP width; fusion layers that attend the CLIP
//!   token map and the projected detection memory with one shared attention and norm.

pub mod decoder;

pub use decoder::{FusionLayer, InteractionDecoder, InteractionDecoderConfig, InteractionOutput};
