//! The crate's one error type.

use std::path::PathBuf;

/// Every failure `hoiclip` reports. Messages name the file, tensor, key or value at fault.
#[derive(Debug, thiserror::Error)]
pub enum HoiclipError {
    /// A file could not be opened or read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file at fault.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },

    /// A file could not be written.
    #[error("cannot write {path}: {reason}")]
    Write {
        /// The file at fault.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },

    /// A weight file is not in a format this crate reads, or is corrupt or truncated.
    #[error("{path} is not a readable weight file: {reason}")]
    WeightFile {
        /// The file at fault.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },

    /// A tensor the model needs is absent from the weights.
    #[error("tensor `{name}` (expected shape {expected:?}) is missing from {source_name}")]
    MissingTensor {
        /// The tensor's name as the file would spell it.
        name: String,
        /// The shape the model expects.
        expected: Vec<usize>,
        /// The weight source (file path or description).
        source_name: String,
    },

    /// A tensor has a different shape than the model expects.
    #[error("tensor `{name}` in {source_name} has shape {found:?}, the model expects {expected:?}")]
    ShapeMismatch {
        /// The tensor's name.
        name: String,
        /// The shape the model expects.
        expected: Vec<usize>,
        /// The shape found in the file.
        found: Vec<usize>,
        /// The weight source (file path or description).
        source_name: String,
    },

    /// The weights hold tensors the model does not know.
    #[error("{source_name} holds {count} tensor(s) the model does not use: {names}")]
    UnexpectedTensors {
        /// How many unexpected tensors.
        count: usize,
        /// The first few names, comma separated.
        names: String,
        /// The weight source (file path or description).
        source_name: String,
    },

    /// A tensor has an element type that cannot be turned into f32 weights.
    #[error("tensor `{name}` in {source_name} has unsupported dtype {dtype}")]
    UnsupportedDtype {
        /// The tensor's name.
        name: String,
        /// The dtype found.
        dtype: String,
        /// The weight source.
        source_name: String,
    },

    /// A checkpoint holds a different model than the one asked for (for example a plain DETR
    /// or a GEN-VLKT checkpoint given as a HOICLIP checkpoint).
    #[error("{path} is not a {expected} checkpoint: it holds {found}")]
    WrongCheckpoint {
        /// The file at fault.
        path: PathBuf,
        /// The model that was asked for.
        expected: String,
        /// What the file holds, as far as it can be told, with the evidence.
        found: String,
    },

    /// The weights describe a model this crate cannot build, or a configuration is invalid.
    #[error("invalid configuration: {0}")]
    Config(String),

    /// A prompt could not be tokenized (for example too long under the strict policy).
    #[error("cannot tokenize prompt {prompt:?}: {reason}")]
    Tokenize {
        /// The prompt at fault (shortened if long).
        prompt: String,
        /// What went wrong.
        reason: String,
    },

    /// An image could not be decoded or has an unusable size.
    #[error("image {what}: {reason}")]
    Image {
        /// The image at fault (a path, or a description such as `input 3`).
        what: String,
        /// What went wrong.
        reason: String,
    },

    /// A tensor or input given to a forward pass has the wrong shape.
    #[error("input `{name}` has shape {found:?}, expected {expected}")]
    InputShape {
        /// The input at fault.
        name: String,
        /// What was expected, in words such as `[batch, 3, 224, 224]`.
        expected: String,
        /// The shape found.
        found: Vec<usize>,
    },

    /// The requested backend was not compiled in or could not start.
    #[error("backend `{backend}` is unavailable: {reason}")]
    Backend {
        /// The backend's name.
        backend: String,
        /// Why.
        reason: String,
    },

    /// A training target (annotation) the criterion cannot use.
    #[error("training target of image {image}: {reason}")]
    Target {
        /// The image, by its position in the batch or its file name.
        image: String,
        /// What is wrong, naming the pair or field.
        reason: String,
    },

    /// Training produced a non-finite value; the run stops before the optimiser applies it.
    #[error("non-finite {what} at training step {step}: {value}")]
    NonFinite {
        /// The optimiser step (0-based) at which it happened.
        step: u64,
        /// The loss term or gradient at fault (e.g. `loss_hoi_labels_0`, `gradient norm`).
        what: String,
        /// The value found (NaN or ±inf).
        value: f64,
    },

    /// Training was configured or resumed inconsistently.
    #[error("training: {0}")]
    Training(String),
}

/// `Result` with [`HoiclipError`].
pub type Result<T> = std::result::Result<T, HoiclipError>;

/// Read the text file at `path`, an I/O error naming it.
pub(crate) fn read_text(path: &std::path::Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|source| HoiclipError::Io {
        path: path.to_path_buf(),
        source,
    })
}
