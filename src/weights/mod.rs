//! Reading weight files: PyTorch `torch.save` checkpoints, safetensors, and a loader that hands
//! tensors to modules by name while checking shapes and tracking what was used.
//!
//! - [`WeightMap`]: every tensor of a file by name, bytes not yet read (PyTorch zip files are
//!   read lazily; nested dictionaries are flattened with dots, as in `model.visual.conv1.weight`).
//! - [`WeightLoader`]: takes tensors out of a [`WeightMap`] as `f32` Burn tensors (fp16, bf16
//!   and f64 are converted), errors naming the tensor and both shapes on a mismatch, and at
//!   the end reports tensors nobody asked for.
//! - [`read_bare_tensor`]: a `torch.save(tensor)` file (one tensor, no dictionary), such as
//!   the authors' `verb.pth`.

mod loader;
mod map;
pub mod native;
mod pickle_args;
mod torch_tensor_file;
mod torch_zip;

pub use loader::WeightLoader;
pub use map::{WeightDtype, WeightFormat, WeightMap};
pub use pickle_args::{ArgValue, read_checkpoint_entries};
pub use torch_tensor_file::{read_bare_tensor, write_bare_tensor};

pub(crate) use loader::transpose_rows;
