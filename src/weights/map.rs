//! [`WeightMap`]: the tensors of a weight file by name.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use burn::store::pytorch_reader::{self, PytorchReader};

use crate::error::{HoiclipError, Result};

/// Element type of a stored tensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WeightDtype {
    /// 32-bit float.
    F32,
    /// 16-bit IEEE float (CLIP weights in HOICLIP checkpoints).
    F16,
    /// bfloat16.
    BF16,
    /// 64-bit float.
    F64,
    /// 64-bit integer.
    I64,
    /// 32-bit integer.
    I32,
    /// Anything else (kept for error messages).
    Other(&'static str),
}

impl WeightDtype {
    fn size(self) -> usize {
        match self {
            Self::F32 | Self::I32 => 4,
            Self::F16 | Self::BF16 => 2,
            Self::F64 | Self::I64 => 8,
            Self::Other(_) => 1,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::F32 => "f32",
            Self::F16 => "f16",
            Self::BF16 => "bf16",
            Self::F64 => "f64",
            Self::I64 => "i64",
            Self::I32 => "i32",
            Self::Other(name) => name,
        }
    }
}

/// The container a [`WeightMap`] was read from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WeightFormat {
    /// A PyTorch `torch.save` file (zip or legacy pickle).
    Pytorch,
    /// A safetensors file.
    Safetensors,
}

#[derive(Clone)]
enum Storage {
    /// A byte range of an in-memory safetensors file.
    Buffer {
        bytes: Arc<Vec<u8>>,
        start: usize,
        end: usize,
    },
    /// A tensor of a PyTorch checkpoint, read on demand.
    Pytorch(pytorch_reader::Tensor),
    /// f32 values built in memory (a converted layout).
    Owned(Arc<Vec<f32>>),
}

/// One stored tensor: dtype, shape and where its bytes are.
#[derive(Clone)]
pub(crate) struct StoredTensor {
    pub(crate) dtype: WeightDtype,
    pub(crate) shape: Vec<usize>,
    storage: Storage,
}

impl StoredTensor {
    /// Read the tensor as f32 values, row-major.
    pub(crate) fn read_f32(&self, name: &str, source_name: &str) -> Result<Vec<f32>> {
        if let Storage::Owned(values) = &self.storage {
            return Ok(values.as_ref().clone());
        }
        let bytes: std::borrow::Cow<'_, [u8]> = match &self.storage {
            Storage::Buffer { bytes, start, end } => {
                std::borrow::Cow::Borrowed(&bytes[*start..*end])
            }
            Storage::Owned(_) => std::borrow::Cow::Borrowed(&[][..]),
            Storage::Pytorch(tensor) => {
                std::borrow::Cow::Owned(tensor.read().map_err(|err| HoiclipError::WeightFile {
                    path: PathBuf::from(source_name),
                    reason: format!("cannot read tensor `{name}`: {err}"),
                })?)
            }
        };
        let count: usize = self.shape.iter().product();
        if bytes.len() != count * self.dtype.size() {
            return Err(HoiclipError::WeightFile {
                path: PathBuf::from(source_name),
                reason: format!(
                    "tensor `{name}` holds {} bytes, its shape {:?} and dtype {} need {}",
                    bytes.len(),
                    self.shape,
                    self.dtype.name(),
                    count * self.dtype.size()
                ),
            });
        }
        let values = match self.dtype {
            WeightDtype::F32 => bytes
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
            WeightDtype::F16 => bytes
                .chunks_exact(2)
                .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32())
                .collect(),
            WeightDtype::BF16 => bytes
                .chunks_exact(2)
                .map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f32())
                .collect(),
            WeightDtype::F64 => bytes
                .chunks_exact(8)
                .map(|c| {
                    f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]) as f32
                })
                .collect(),
            WeightDtype::I64 => bytes
                .chunks_exact(8)
                .map(|c| {
                    i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]) as f32
                })
                .collect(),
            WeightDtype::I32 => bytes
                .chunks_exact(4)
                .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f32)
                .collect(),
            WeightDtype::Other(dtype) => {
                return Err(HoiclipError::UnsupportedDtype {
                    name: name.to_string(),
                    dtype: dtype.to_string(),
                    source_name: source_name.to_string(),
                });
            }
        };
        Ok(values)
    }
}

/// Every tensor of a weight file, by name; bytes are read only when a tensor is taken.
#[derive(Clone)]
pub struct WeightMap {
    source_name: String,
    format: WeightFormat,
    tensors: BTreeMap<String, StoredTensor>,
}

impl std::fmt::Debug for WeightMap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WeightMap")
            .field("source", &self.source_name)
            .field("format", &self.format)
            .field("tensors", &self.tensors.len())
            .finish()
    }
}

const ZIP_MAGIC: &[u8] = b"PK\x03\x04";

impl WeightMap {
    /// Open a weight file, telling PyTorch (zip or legacy pickle) from safetensors by its
    /// first bytes. Nested dictionaries of a PyTorch file are flattened with dots
    /// (`model.clip_model.visual.conv1.weight`); tensors are not read yet.
    pub fn from_file(path: impl AsRef<Path>) -> Result<WeightMap> {
        let path = path.as_ref();
        let mut head = [0u8; 16];
        let read = {
            use std::io::Read;
            let mut file = std::fs::File::open(path).map_err(|source| HoiclipError::Io {
                path: path.to_path_buf(),
                source,
            })?;
            let mut read = 0;
            while read < head.len() {
                match file.read(&mut head[read..]) {
                    Ok(0) => break,
                    Ok(n) => read += n,
                    Err(source) => {
                        return Err(HoiclipError::Io {
                            path: path.to_path_buf(),
                            source,
                        });
                    }
                }
            }
            read
        };
        let head = &head[..read];
        // safetensors: a little-endian u64 header length, then a JSON object.
        if head.len() >= 9 && head[8] == b'{' && !head.starts_with(ZIP_MAGIC) {
            Self::from_safetensors(path)
        } else if head.starts_with(ZIP_MAGIC) || head.first() == Some(&0x80) {
            Self::from_pytorch(path)
        } else {
            Err(HoiclipError::WeightFile {
                path: path.to_path_buf(),
                reason: "neither a PyTorch checkpoint (zip or pickle) nor a safetensors file"
                    .into(),
            })
        }
    }

    /// Open a PyTorch `torch.save` file. See [`WeightMap::from_file`].
    pub fn from_pytorch(path: impl AsRef<Path>) -> Result<WeightMap> {
        let path = path.as_ref();
        let reader = PytorchReader::new(path).map_err(|err| HoiclipError::WeightFile {
            path: path.to_path_buf(),
            reason: err.to_string(),
        })?;
        let mut tensors = BTreeMap::new();
        for (name, tensor) in reader.into_tensors() {
            let dtype = match tensor.dtype() {
                pytorch_reader::DType::F32 => WeightDtype::F32,
                pytorch_reader::DType::F16 => WeightDtype::F16,
                pytorch_reader::DType::BF16 => WeightDtype::BF16,
                pytorch_reader::DType::F64 => WeightDtype::F64,
                pytorch_reader::DType::I64 => WeightDtype::I64,
                pytorch_reader::DType::I32 => WeightDtype::I32,
                pytorch_reader::DType::I16 => WeightDtype::Other("i16"),
                pytorch_reader::DType::I8 => WeightDtype::Other("i8"),
                pytorch_reader::DType::U64 => WeightDtype::Other("u64"),
                pytorch_reader::DType::U32 => WeightDtype::Other("u32"),
                pytorch_reader::DType::U16 => WeightDtype::Other("u16"),
                pytorch_reader::DType::U8 => WeightDtype::Other("u8"),
                pytorch_reader::DType::Bool => WeightDtype::Other("bool"),
            };
            let shape = tensor.shape().to_vec();
            tensors.insert(
                name,
                StoredTensor {
                    dtype,
                    shape,
                    storage: Storage::Pytorch(tensor),
                },
            );
        }
        Ok(WeightMap {
            source_name: path.display().to_string(),
            format: WeightFormat::Pytorch,
            tensors,
        })
    }

    /// Open a safetensors file (read into memory).
    pub fn from_safetensors(path: impl AsRef<Path>) -> Result<WeightMap> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| HoiclipError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_safetensors_bytes(bytes, &path.display().to_string())
    }

    /// Parse safetensors bytes held in memory; `source_name` is used in error messages.
    pub fn from_safetensors_bytes(bytes: Vec<u8>, source_name: &str) -> Result<WeightMap> {
        let (header_len, metadata) =
            safetensors::SafeTensors::read_metadata(&bytes).map_err(|err| {
                HoiclipError::WeightFile {
                    path: PathBuf::from(source_name),
                    reason: format!("invalid safetensors: {err}"),
                }
            })?;
        let data_start = 8 + header_len;
        let bytes = Arc::new(bytes);
        let mut tensors = BTreeMap::new();
        for (name, info) in metadata.tensors() {
            let dtype = match info.dtype {
                safetensors::Dtype::F32 => WeightDtype::F32,
                safetensors::Dtype::F16 => WeightDtype::F16,
                safetensors::Dtype::BF16 => WeightDtype::BF16,
                safetensors::Dtype::F64 => WeightDtype::F64,
                safetensors::Dtype::I64 => WeightDtype::I64,
                safetensors::Dtype::I32 => WeightDtype::I32,
                _ => WeightDtype::Other("non-float"),
            };
            let (start, end) = info.data_offsets;
            let (start, end) = (data_start + start, data_start + end);
            if end > bytes.len() || start > end {
                return Err(HoiclipError::WeightFile {
                    path: PathBuf::from(source_name),
                    reason: format!("tensor `{name}` lies outside the file (truncated?)"),
                });
            }
            tensors.insert(
                name.to_string(),
                StoredTensor {
                    dtype,
                    shape: info.shape.clone(),
                    storage: Storage::Buffer {
                        bytes: bytes.clone(),
                        start,
                        end,
                    },
                },
            );
        }
        Ok(WeightMap {
            source_name: source_name.to_string(),
            format: WeightFormat::Safetensors,
            tensors,
        })
    }

    /// The file (or description) the weights came from.
    pub fn source_name(&self) -> &str {
        &self.source_name
    }

    /// The container format.
    pub fn format(&self) -> WeightFormat {
        self.format
    }

    /// Number of tensors.
    pub fn len(&self) -> usize {
        self.tensors.len()
    }

    /// Whether the file holds no tensor.
    pub fn is_empty(&self) -> bool {
        self.tensors.is_empty()
    }

    /// All tensor names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.tensors.keys().map(String::as_str)
    }

    /// Whether a tensor of that name exists.
    pub fn contains(&self, name: &str) -> bool {
        self.tensors.contains_key(name)
    }

    /// The shape of a tensor, if present.
    pub fn shape(&self, name: &str) -> Option<&[usize]> {
        self.tensors.get(name).map(|t| t.shape.as_slice())
    }

    /// The shape of a tensor that must be present (for configuration inference).
    ///
    /// # Errors
    ///
    /// [`HoiclipError::MissingTensor`] naming the tensor and this map's source.
    pub fn required_shape(&self, name: &str) -> Result<Vec<usize>> {
        self.shape(name)
            .map(<[usize]>::to_vec)
            .ok_or_else(|| HoiclipError::MissingTensor {
                name: name.to_string(),
                expected: Vec::new(),
                source_name: self.source_name.clone(),
            })
    }

    /// The stored dtype of a tensor, if present.
    pub fn dtype(&self, name: &str) -> Option<WeightDtype> {
        self.tensors.get(name).map(|t| t.dtype)
    }

    /// Read a tensor as f32 values, whatever its stored float type.
    pub fn read_f32(&self, name: &str) -> Result<Vec<f32>> {
        let tensor = self
            .tensors
            .get(name)
            .ok_or_else(|| HoiclipError::MissingTensor {
                name: name.to_string(),
                expected: Vec::new(),
                source_name: self.source_name.clone(),
            })?;
        tensor.read_f32(name, &self.source_name)
    }

    /// A map built from f32 tensors held in memory, `(name, shape, values)`; `source_name`
    /// is used in error messages. Errors when a tensor's values do not fill its shape.
    pub fn from_f32_tensors(
        source_name: &str,
        format: WeightFormat,
        tensors: Vec<(String, Vec<usize>, Vec<f32>)>,
    ) -> Result<WeightMap> {
        let mut map = BTreeMap::new();
        for (name, shape, values) in tensors {
            if shape.iter().product::<usize>() != values.len() {
                return Err(HoiclipError::WeightFile {
                    path: PathBuf::from(source_name),
                    reason: format!(
                        "tensor `{name}` has {} values for shape {shape:?}",
                        values.len()
                    ),
                });
            }
            map.insert(
                name,
                StoredTensor {
                    dtype: WeightDtype::F32,
                    shape,
                    storage: Storage::Owned(Arc::new(values)),
                },
            );
        }
        Ok(WeightMap {
            source_name: source_name.to_string(),
            format,
            tensors: map,
        })
    }

    pub(crate) fn get(&self, name: &str) -> Option<&StoredTensor> {
        self.tensors.get(name)
    }

    /// The tensors whose names start with `prefix`, with the prefix removed.
    pub fn with_prefix(&self, prefix: &str) -> WeightMap {
        let tensors = self
            .tensors
            .iter()
            .filter_map(|(name, t)| {
                name.strip_prefix(prefix)
                    .map(|rest| (rest.to_string(), t.clone()))
            })
            .collect();
        WeightMap {
            source_name: if prefix.is_empty() {
                self.source_name.clone()
            } else {
                format!("{} (under `{prefix}`)", self.source_name)
            },
            format: self.format,
            tensors,
        }
    }

    /// The prefix under which `anchor` is stored: `""` when it is a top-level name, or, for
    /// example, `"model.clip_model."` when the file holds `model.clip_model.<anchor>`. `None`
    /// when no name ends in `anchor`. When several match, the shortest prefix wins.
    pub fn find_prefix(&self, anchor: &str) -> Option<String> {
        self.tensors
            .keys()
            .filter_map(|name| name.strip_suffix(anchor))
            .filter(|prefix| prefix.is_empty() || prefix.ends_with('.'))
            .min_by_key(|prefix| prefix.len())
            .map(str::to_string)
    }
}
