//! HOICLIP's interaction branch.
//!
//! - [`decoder`]: pair queries `(h + o) / 2` → CLIP width; fusion layers that attend the CLIP
//!   token map and the projected detection memory with one shared attention and norm
//!   (knowledge integration).
//! - [`heads`]: the HOI classifier built from CLIP text embeddings, the verb adapter
//!   (`inter2verb`, `verb_projection`, verb → HOI map) and the object classifier.

pub mod decoder;
pub mod heads;

pub use decoder::{FusionLayer, InteractionDecoder, InteractionDecoderConfig, InteractionOutput};
pub use heads::{HeadsConfig, HoiHeads};
