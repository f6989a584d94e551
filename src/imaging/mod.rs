//! Image preprocessing shared by the CLIP and detection branches.
//!
//! * [`pil_resample`]: Pillow's `Image.resize` (convolution filters) for 8-bit images, byte
//!   for byte.
//! * [`pil_image`]: an image in its Pillow mode, with Pillow's crop and `convert("RGB")` and
//!   torchvision's `ToTensor` + `Normalize`.
//! * [`detr_transform`]: the detection branch's test-time transform (DETR `RandomResize([800],
//!   max_size=1333)`, bilinear, ImageNet normalisation).
//!
//! * [`color_jitter`]: torchvision's `ColorJitter` adjustments on a PIL image (Pillow's
//!   `ImageEnhance`), byte for byte.
//!
//! * [`open_image`]: decoding a file, with errors naming it.
//!
//! CLIP's transform is [`crate::clip::preprocess`]. Exactness is documented in
//! `docs/preprocessing.md`.

pub mod color_jitter;
pub mod detr_transform;
mod open;
pub mod pil_image;
pub mod pil_resample;

pub use open::{image_size, open_image};
