//! A `torch.save` zip archive (`{archive}/data.pkl` plus `{archive}/data/{key}` storages):
//! opening it and reading its entries, with errors naming the file. Shared by the readers of
//! plain pickle values ([`super::pickle_args`]) and of bare tensors
//! ([`super::torch_tensor_file`]).

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::error::{HoiclipError, Result};

/// The most a deflate stream expands: 1032 output bytes per input byte (a 258-byte match
/// coded in 2 bits), so a declared size above this many times the compressed size is a
/// corrupt field, not data.
const MAX_DEFLATE_RATIO: u64 = 1032;

/// An opened `torch.save` zip file.
pub(crate) struct TorchZip {
    path: PathBuf,
    /// The file's length in bytes (bounds the sizes its headers may declare).
    len: u64,
    archive: zip::ZipArchive<File>,
    pickle: Option<String>,
}

impl TorchZip {
    /// Open `path`; `Ok(None)` when it is not a zip archive (e.g. a legacy `torch.save`).
    pub(crate) fn open(path: &Path) -> Result<Option<Self>> {
        let file = File::open(path).map_err(|source| HoiclipError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let len = file
            .metadata()
            .map_err(|source| HoiclipError::Io {
                path: path.to_path_buf(),
                source,
            })?
            .len();
        let Ok(archive) = zip::ZipArchive::new(file) else {
            return Ok(None);
        };
        let pickle = archive
            .file_names()
            .filter_map(|n| n.ok())
            .find(|n| n == "data.pkl" || n.ends_with("/data.pkl"))
            .map(|n| n.into_owned());
        Ok(Some(Self {
            path: path.to_path_buf(),
            len,
            archive,
            pickle,
        }))
    }

    /// The name of the archive's `data.pkl` entry, if it has one.
    pub(crate) fn pickle_name(&self) -> Option<&str> {
        self.pickle.as_deref()
    }

    /// A [`HoiclipError::WeightFile`] naming the file.
    pub(crate) fn error(&self, reason: impl Into<String>) -> HoiclipError {
        HoiclipError::WeightFile {
            path: self.path.clone(),
            reason: reason.into(),
        }
    }

    /// The bytes of entry `name`.
    ///
    /// The sizes in the zip headers are file content: before anything is allocated, the
    /// entry's compressed size must fit in the file and its uncompressed size in what that
    /// many compressed bytes can expand to (stored: the same; deflate: at most
    /// [`MAX_DEFLATE_RATIO`] times); the bytes read must then be exactly the declared size.
    pub(crate) fn read(&mut self, name: &str) -> Result<Vec<u8>> {
        let path = self.path.clone();
        let error = |reason: String| HoiclipError::WeightFile {
            path: path.clone(),
            reason,
        };
        let file_len = self.len;
        let mut entry = self
            .archive
            .by_name(name)
            .map_err(|e| error(format!("cannot open `{name}`: {e}")))?;
        let (packed, declared) = (entry.compressed_size(), entry.size());
        if packed > file_len {
            return Err(error(format!(
                "entry `{name}` declares {packed} compressed bytes, more than the file's \
                 {file_len} (truncated or corrupt)"
            )));
        }
        let most = match entry.compression() {
            zip::CompressionMethod::Stored => packed,
            _ => packed
                .saturating_mul(MAX_DEFLATE_RATIO)
                .saturating_add(1024),
        };
        if declared > most {
            return Err(error(format!(
                "entry `{name}` declares {declared} bytes, more than its {packed} stored bytes \
                 can hold (corrupt size field)"
            )));
        }
        let mut bytes = Vec::with_capacity(usize::try_from(declared).unwrap_or(0));
        // One byte past the declared size: a longer entry is detected, and the end of the
        // entry is reached, where the CRC is checked.
        (&mut entry)
            .take(declared.saturating_add(1))
            .read_to_end(&mut bytes)
            .map_err(|source| HoiclipError::Io {
                path: self.path.clone(),
                source,
            })?;
        if bytes.len() as u64 != declared {
            return Err(error(format!(
                "entry `{name}` holds {} bytes, its header declares {declared} (truncated or \
                 corrupt)",
                bytes.len()
            )));
        }
        Ok(bytes)
    }
}
