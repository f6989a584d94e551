//! A `torch.save` zip archive (`{archive}/data.pkl` plus `{archive}/data/{key}` storages):
//! opening it and reading its entries, with errors naming the file. Shared by the readers of
//! plain pickle values ([`super::pickle_args`]) and of bare tensors
//! ([`super::torch_tensor_file`]).

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::error::{HoiclipError, Result};

/// An opened `torch.save` zip file.
pub(crate) struct TorchZip {
    path: PathBuf,
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
    pub(crate) fn read(&mut self, name: &str) -> Result<Vec<u8>> {
        let mut bytes = Vec::new();
        let mut entry = self
            .archive
            .by_name(name)
            .map_err(|e| HoiclipError::WeightFile {
                path: self.path.clone(),
                reason: format!("cannot open `{name}`: {e}"),
            })?;
        entry
            .read_to_end(&mut bytes)
            .map_err(|source| HoiclipError::Io {
                path: self.path.clone(),
                source,
            })?;
        Ok(bytes)
    }
}
