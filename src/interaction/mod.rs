//! HOICLIP's interaction branch.
//!
//! - [`decoder`]: pair queries `(h + o) / 2` → CLIP width; fusion layers that attend the CLIP
//!   token map and the projected detection memory with one shared attention and norm
//!   (knowledge integration).
//! - [`heads`]: the HOI classifier built from CLIP text embeddings, the verb adapter
//!   (`inter2verb`, `verb_projection`, verb → HOI map) and the object classifier.
//! - [`verb_representations`]: the verb adapter's representations built from annotated images
//!   (visual semantic arithmetic), the authors' `verb.pth`.

pub mod decoder;
pub mod heads;
pub mod verb_representations;

pub use decoder::{FusionLayer, InteractionDecoder, InteractionDecoderConfig, InteractionOutput};
pub use heads::{HeadsConfig, HoiHeads};
pub use verb_representations::{
    Accumulation, VerbRepresentationOptions, VerbRepresentations, build_verb_representations,
};
