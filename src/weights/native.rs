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
    check_header(path)?;
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

/// The burnpack header: magic (4 bytes), format version (2), metadata size (4, little-endian).
const HEADER_SIZE: u64 = 10;

/// Check the header of a native file before Burn's reader allocates the metadata it
/// declares: a metadata size larger than the rest of the file is a truncated or corrupt
/// file (Burn's reader would allocate up to its 100 MiB cap before finding out).
fn check_header(path: &Path) -> Result<()> {
    use std::io::Read;
    let io = |source| HoiclipError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut file = std::fs::File::open(path).map_err(io)?;
    let len = file.metadata().map_err(io)?.len();
    let mut header = [0u8; HEADER_SIZE as usize];
    let mut read = 0;
    while read < header.len() {
        match file.read(&mut header[read..]).map_err(io)? {
            0 => break,
            n => read += n,
        }
    }
    let bad = |reason: String| HoiclipError::WeightFile {
        path: path.to_path_buf(),
        reason,
    };
    if read < header.len() || &header[..4] != b"NRUB" {
        return Err(bad(
            "not a hoiclip native (burnpack) file: no burnpack header".into(),
        ));
    }
    let metadata = u64::from(u32::from_le_bytes([
        header[6], header[7], header[8], header[9],
    ]));
    if HEADER_SIZE + metadata > len {
        return Err(bad(format!(
            "the header declares {metadata} bytes of metadata, the file holds {} after the \
             header (truncated or corrupt)",
            len - HEADER_SIZE
        )));
    }
    Ok(())
}

/// Load the tensors of a native file into `module` (a skeleton built from the file's
/// configuration). Every tensor must be present with the right shape.
pub fn load_into<M: Module>(module: &mut M, path: &Path) -> Result<()> {
    check_header(path)?;
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
