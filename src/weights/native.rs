//! The native fast-reload format: Burn's burnpack, with the model configuration as JSON in
//! the file's metadata so that one file is enough to rebuild the model.

use std::path::Path;

use burn::module::Module;
use burn::store::{BurnpackStore, ModuleSnapshot};

use crate::error::{HoiclipError, Result};

/// Metadata key holding which model a file stores (`clip`, `hoiclip`, ...).
pub const KIND_KEY: &str = "hoiclip.kind";
/// Metadata key holding the model configuration as JSON.
pub const CONFIG_KEY: &str = "hoiclip.config";

/// Write `module` to `path` (burnpack), tagging it with `kind` and `config_json`.
/// An existing file is replaced.
pub fn save<M: Module>(module: &M, path: &Path, kind: &str, config_json: &str) -> Result<()> {
    let mut store = BurnpackStore::from_file(path)
        .auto_extension(false)
        .overwrite(true)
        .metadata(KIND_KEY, kind)
        .metadata(CONFIG_KEY, config_json);
    module
        .save_into(&mut store)
        .map_err(|err| HoiclipError::Write {
            path: path.to_path_buf(),
            reason: err.to_string(),
        })
}

/// Read the configuration JSON of a native file, checking it stores a model of `kind`.
pub fn read_config(path: &Path, kind: &str) -> Result<String> {
    if let Err(source) = std::fs::metadata(path) {
        return Err(HoiclipError::Io {
            path: path.to_path_buf(),
            source,
        });
    }
    let reader = burn::store::burn_pack::Reader::from_file(path).map_err(|err| {
        HoiclipError::WeightFile {
            path: path.to_path_buf(),
            reason: format!("not a hoiclip native (burnpack) file: {err}"),
        }
    })?;
    let metadata = reader.metadata();
    let found = metadata
        .get(KIND_KEY)
        .ok_or_else(|| HoiclipError::WeightFile {
            path: path.to_path_buf(),
            reason: format!(
                "burnpack file without the `{KIND_KEY}` metadata: not written by hoiclip"
            ),
        })?;
    if found != kind {
        return Err(HoiclipError::WeightFile {
            path: path.to_path_buf(),
            reason: format!("holds a `{found}` model, expected `{kind}`"),
        });
    }
    metadata
        .get(CONFIG_KEY)
        .cloned()
        .ok_or_else(|| HoiclipError::WeightFile {
            path: path.to_path_buf(),
            reason: format!("missing the `{CONFIG_KEY}` metadata"),
        })
}

/// Load the tensors of a native file into `module` (a skeleton built from the file's
/// configuration). Every tensor must be present with the right shape.
pub fn load_into<M: Module>(module: &mut M, path: &Path) -> Result<()> {
    let mut store = BurnpackStore::from_file(path).auto_extension(false);
    let result = module
        .load_from(&mut store)
        .map_err(|err| HoiclipError::WeightFile {
            path: path.to_path_buf(),
            reason: err.to_string(),
        })?;
    if let Some(error) = result.errors.first() {
        return Err(HoiclipError::WeightFile {
            path: path.to_path_buf(),
            reason: error.to_string(),
        });
    }
    if let Some((name, _)) = result.missing.first() {
        return Err(HoiclipError::MissingTensor {
            name: name.clone(),
            expected: Vec::new(),
            source_name: path.display().to_string(),
        });
    }
    if !result.unused.is_empty() {
        return Err(HoiclipError::UnexpectedTensors {
            count: result.unused.len(),
            names: result
                .unused
                .iter()
                .take(8)
                .cloned()
                .collect::<Vec<_>>()
                .join(", "),
            source_name: path.display().to_string(),
        });
    }
    Ok(())
}
