//! Training checkpoints: model, optimiser moments, schedule position and sampler state, in a
//! directory written so that a kill at any moment never loses the last good checkpoint.
//!
//! Layout of a run directory:
//!
//! - `step-00000120/`: one checkpoint: `model.bpk` (the native format), `optimizer.bpk`
//!   (burn-optim's record), `state.json` ([`TrainerState`]).
//! - `LATEST`: the name of the newest complete checkpoint.
//!
//! A checkpoint is first written to `step-….partial/`, every file synced, then renamed into
//! place, and only then is `LATEST` replaced (written to `LATEST.partial`, synced, renamed).
//! Renames within a directory are atomic on POSIX file systems, so a reader sees either the
//! old `LATEST` (and its complete directory) or the new one. Leftover `.partial` directories
//! of a killed save are removed by the next save.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use burn::module::{Module, ModuleMapper, Param, ParamId};
use burn::tensor::{Device, Tensor};

use super::params::parameters;
use crate::error::{HoiclipError, Result};
use crate::model::HoiclipModel;

/// The file naming the newest checkpoint of a run directory.
pub const LATEST: &str = "LATEST";
/// The checkpoint format version written in `state.json`.
pub const FORMAT_VERSION: u32 = 1;

/// Environment variable for fault-injection tests: `<stage>` or `<stage>@<step>` with stage
/// `model`, `optimizer`, `state` or `rename` makes [`save`] abort the process right after
/// that point of writing a checkpoint (of global step `<step>`, or of any step), simulating a
/// kill in the middle of a save.
pub const CRASH_ENV: &str = "HOICLIP_CHECKPOINT_CRASH_AFTER";

/// Where a run stands: everything besides the tensors that resuming needs.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TrainerState {
    /// Format version ([`FORMAT_VERSION`]).
    pub format_version: u32,
    /// Optimiser steps done so far (the next step's index).
    pub global_step: u64,
    /// The epoch the next step belongs to (0-based).
    pub epoch: usize,
    /// Batches of that epoch already done.
    pub batch_in_epoch: usize,
    /// The run's seed (the sampler's order is a function of seed and epoch).
    pub seed: u64,
    /// The training configuration, as JSON (checked on resume).
    pub config_json: String,
    /// Each parameter's Burn path and id; the optimiser's moments are keyed by id, so a
    /// resumed model gets these ids back.
    pub param_ids: Vec<(String, u64)>,
    /// The last step's total loss (for logs).
    pub last_loss: Option<f64>,
}

fn io_err(path: &Path, source: std::io::Error) -> HoiclipError {
    HoiclipError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn sync_file(path: &Path) -> Result<()> {
    fs::File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(|e| io_err(path, e))
}

fn sync_dir(path: &Path) -> Result<()> {
    // Directories can be opened and synced on Unix; elsewhere this is best effort.
    match fs::File::open(path) {
        Ok(f) => {
            let _ = f.sync_all();
            Ok(())
        }
        Err(e) => Err(io_err(path, e)),
    }
}

fn crash_point(stage: &str, step: u64) {
    let Ok(spec) = std::env::var(CRASH_ENV) else {
        return;
    };
    let (want_stage, want_step) = match spec.split_once('@') {
        Some((s, n)) => (s.to_string(), n.trim().parse::<u64>().ok()),
        None => (spec.clone(), None),
    };
    if want_stage == stage && want_step.is_none_or(|n| n == step) {
        std::process::abort();
    }
}

/// The directory name of the checkpoint after `global_step` steps.
pub fn checkpoint_name(global_step: u64) -> String {
    format!("step-{global_step:08}")
}

/// Write a checkpoint of `model` (on any device), the optimiser record bytes and `state`
/// into `run_dir`, then point `LATEST` at it and remove all but the newest `keep`
/// checkpoints (at least 1). Returns the checkpoint's directory.
///
/// # Errors
///
/// [`HoiclipError::Io`] / [`HoiclipError::Write`] naming the file that could not be written.
pub fn save(
    run_dir: &Path,
    model: &HoiclipModel,
    optimizer: &[u8],
    state: &TrainerState,
    keep: usize,
) -> Result<PathBuf> {
    fs::create_dir_all(run_dir).map_err(|e| io_err(run_dir, e))?;
    remove_partials(run_dir)?;
    let name = checkpoint_name(state.global_step);
    let partial = run_dir.join(format!("{name}.partial"));
    fs::create_dir_all(&partial).map_err(|e| io_err(&partial, e))?;

    let model_path = partial.join("model.bpk");
    model.save_native(&model_path)?;
    sync_file(&model_path)?;
    crash_point("model", state.global_step);

    let optimizer_path = partial.join("optimizer.bpk");
    write_synced(&optimizer_path, optimizer)?;
    crash_point("optimizer", state.global_step);

    let state_path = partial.join("state.json");
    let json = serde_json::to_vec_pretty(state).map_err(|e| HoiclipError::Write {
        path: state_path.clone(),
        reason: e.to_string(),
    })?;
    write_synced(&state_path, &json)?;
    crash_point("state", state.global_step);
    sync_dir(&partial)?;

    let done = run_dir.join(&name);
    if done.exists() {
        fs::remove_dir_all(&done).map_err(|e| io_err(&done, e))?;
    }
    fs::rename(&partial, &done).map_err(|e| io_err(&done, e))?;
    sync_dir(run_dir)?;
    crash_point("rename", state.global_step);

    let latest_partial = run_dir.join(format!("{LATEST}.partial"));
    write_synced(&latest_partial, name.as_bytes())?;
    let latest = run_dir.join(LATEST);
    fs::rename(&latest_partial, &latest).map_err(|e| io_err(&latest, e))?;
    sync_dir(run_dir)?;

    prune(run_dir, keep.max(1))?;
    Ok(done)
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut file = fs::File::create(path).map_err(|e| io_err(path, e))?;
    file.write_all(bytes).map_err(|e| io_err(path, e))?;
    file.sync_all().map_err(|e| io_err(path, e))
}

fn remove_partials(run_dir: &Path) -> Result<()> {
    for entry in fs::read_dir(run_dir).map_err(|e| io_err(run_dir, e))? {
        let path = entry.map_err(|e| io_err(run_dir, e))?.path();
        let is_partial = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("step-") && n.ends_with(".partial"));
        if is_partial {
            fs::remove_dir_all(&path).map_err(|e| io_err(&path, e))?;
        }
    }
    Ok(())
}

/// The complete checkpoints of `run_dir`, oldest first.
///
/// # Errors
///
/// [`HoiclipError::Io`] when the directory cannot be read.
pub fn list(run_dir: &Path) -> Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    for entry in fs::read_dir(run_dir).map_err(|e| io_err(run_dir, e))? {
        let path = entry.map_err(|e| io_err(run_dir, e))?.path();
        let complete = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("step-") && !n.ends_with(".partial"));
        if complete && path.is_dir() {
            found.push(path);
        }
    }
    found.sort();
    Ok(found)
}

fn prune(run_dir: &Path, keep: usize) -> Result<()> {
    let all = list(run_dir)?;
    let latest = latest(run_dir)?;
    if all.len() <= keep {
        return Ok(());
    }
    for old in &all[..all.len() - keep] {
        if Some(old) != latest.as_ref() {
            fs::remove_dir_all(old).map_err(|e| io_err(old, e))?;
        }
    }
    Ok(())
}

/// The checkpoint `LATEST` names, if the run directory has one.
///
/// # Errors
///
/// [`HoiclipError::Io`] when `LATEST` exists but cannot be read;
/// [`HoiclipError::Training`] when it names a checkpoint that is not there.
pub fn latest(run_dir: &Path) -> Result<Option<PathBuf>> {
    let path = run_dir.join(LATEST);
    if !path.exists() {
        return Ok(None);
    }
    let name = fs::read_to_string(&path).map_err(|e| io_err(&path, e))?;
    let dir = run_dir.join(name.trim());
    if !dir.join("state.json").is_file() {
        return Err(HoiclipError::Training(format!(
            "{} names {}, which is not a complete checkpoint",
            path.display(),
            dir.display()
        )));
    }
    Ok(Some(dir))
}

/// A checkpoint read back: the model on `device` with its saved parameter ids, the
/// optimiser record bytes and the state.
pub struct LoadedCheckpoint {
    /// The model (on the plain `device`; call [`Module::train`] to train it).
    pub model: HoiclipModel,
    /// burn-optim's record, as written.
    pub optimizer: Vec<u8>,
    /// Where the run stood.
    pub state: TrainerState,
}

/// Gives each parameter the id recorded for its path.
struct IdRestorer<'a> {
    stack: Vec<String>,
    ids: &'a std::collections::HashMap<String, u64>,
    missing: Vec<String>,
}

impl ModuleMapper for IdRestorer<'_> {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.stack.push(name.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.stack.pop();
    }

    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let path = self.stack.join(".");
        match self.ids.get(&path) {
            Some(&id) => {
                let (_, tensor, mapper) = param.consume();
                Param::from_mapped_value(ParamId::from(id), tensor, mapper)
            }
            None => {
                self.missing.push(path);
                param
            }
        }
    }
}

/// Read a checkpoint directory written by [`save`].
///
/// # Errors
///
/// [`HoiclipError::Io`] / [`HoiclipError::WeightFile`] naming the file at fault;
/// [`HoiclipError::Training`] for a state of another format version or a model whose
/// parameters do not match the recorded ones.
pub fn load(dir: &Path, device: &Device) -> Result<LoadedCheckpoint> {
    let state_path = dir.join("state.json");
    let json = fs::read(&state_path).map_err(|e| io_err(&state_path, e))?;
    let state: TrainerState =
        serde_json::from_slice(&json).map_err(|e| HoiclipError::WeightFile {
            path: state_path.clone(),
            reason: format!("invalid trainer state: {e}"),
        })?;
    if state.format_version != FORMAT_VERSION {
        return Err(HoiclipError::Training(format!(
            "{} has checkpoint format {}, this build reads {FORMAT_VERSION}",
            state_path.display(),
            state.format_version
        )));
    }
    let model = HoiclipModel::load_native(dir.join("model.bpk"), device)?;
    let ids: std::collections::HashMap<String, u64> = state.param_ids.iter().cloned().collect();
    let mut restorer = IdRestorer {
        stack: Vec::new(),
        ids: &ids,
        missing: Vec::new(),
    };
    let model = model.map(&mut restorer);
    if let Some(path) = restorer.missing.first() {
        return Err(HoiclipError::Training(format!(
            "{}: parameter `{path}` has no recorded id ({} of {} missing)",
            state_path.display(),
            restorer.missing.len(),
            parameters(&model).len()
        )));
    }
    let optimizer_path = dir.join("optimizer.bpk");
    let optimizer = fs::read(&optimizer_path).map_err(|e| io_err(&optimizer_path, e))?;
    Ok(LoadedCheckpoint {
        model,
        optimizer,
        state,
    })
}

/// Each parameter's path and id, for [`TrainerState::param_ids`].
pub fn param_ids(model: &HoiclipModel) -> Vec<(String, u64)> {
    parameters(model)
        .into_iter()
        .map(|p| (p.path, p.id.val()))
        .collect()
}
