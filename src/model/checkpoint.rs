//! The authors' released checkpoints: what a file holds, and which of its tensors the
//! forward pass never uses.
//!
//! Released files are `torch.save({'model', 'optimizer', 'lr_scheduler', 'epoch', 'args'})`
//! with the state dict under `model` and CLIP under `model.clip_model.` in fp16.

use std::collections::HashMap;
use std::path::Path;

use crate::detection::resnet::ResNet;
use crate::error::{HoiclipError, Result};
use crate::weights::{ArgValue, WeightMap, read_checkpoint_entries};

/// The tensor that marks a HOICLIP state dict: the knowledge-integration decoder's norm.
pub const HOICLIP_ANCHOR: &str = "transformer.clip_interaction_decoder.norm.weight";

/// A HOICLIP checkpoint opened for loading: the state dict at top level and the `args`
/// Namespace's entries (empty when the file has none).
pub struct Checkpoint {
    /// The state dict, names relative to the model (`input_proj.weight`, `clip_model.…`).
    pub weights: WeightMap,
    /// `args` of the training run, when the file carries them.
    pub args: Option<HashMap<String, ArgValue>>,
}

impl Checkpoint {
    /// Open a released `.pth` (or a safetensors export of the same state dict), find the
    /// HOICLIP state dict under any prefix and read `args`.
    ///
    /// # Errors
    ///
    /// [`HoiclipError::WrongCheckpoint`] for a file holding another model (plain DETR,
    /// GEN-VLKT, a bare CLIP, a torchvision ResNet), naming what was found;
    /// the weight-file errors of [`WeightMap::from_file`].
    pub fn open(path: &Path) -> Result<Self> {
        let map = WeightMap::from_file(path)?;
        let Some(prefix) = map.find_prefix(HOICLIP_ANCHOR) else {
            return Err(HoiclipError::WrongCheckpoint {
                path: path.to_path_buf(),
                expected: "HOICLIP".into(),
                found: identify_other_model(&map),
            });
        };
        let weights = map.with_prefix(&prefix);
        let args = match read_checkpoint_entries(path)? {
            Some(entries) => match entries.get("args") {
                Some(ArgValue::Dict(args)) => Some(args.clone()),
                _ => None,
            },
            None => None,
        };
        if let Some(args) = &args
            && let Some(ArgValue::Str(name)) = args.get("model_name")
            && name != "HOICLIP"
        {
            return Err(HoiclipError::WrongCheckpoint {
                path: path.to_path_buf(),
                expected: "HOICLIP".into(),
                found: format!("a `{name}` model (args.model_name)"),
            });
        }
        Ok(Self { weights, args })
    }
}

/// Describe a state dict that is not HOICLIP's, for the error message.
fn identify_other_model(map: &WeightMap) -> String {
    let has = |anchor: &str| map.find_prefix(anchor).is_some();
    if has("transformer.interaction_decoder.norm.weight") {
        if has("visual_projection.weight") || has("hoi_class_fc.0.weight") {
            "a GEN-VLKT model (`transformer.interaction_decoder` without HOICLIP's \
             `transformer.clip_interaction_decoder`)"
                .into()
        } else {
            "a two-branch DETR (GEN-VLKT's pre-training initialisation: \
             `transformer.interaction_decoder`, no CLIP heads)"
                .into()
        }
    } else if has("transformer.decoder.norm.weight") && has("class_embed.weight") {
        "a plain DETR detector (`transformer.decoder`, `class_embed`)".into()
    } else if has("visual.conv1.weight") || has("vision_model.embeddings.patch_embedding.weight") {
        "a CLIP model only".into()
    } else if has("layer1.0.conv1.weight") && has("fc.weight") {
        "a torchvision ResNet".into()
    } else {
        let examples: Vec<&str> = map.names().take(3).collect();
        format!(
            "no `{HOICLIP_ANCHOR}` under any prefix ({} tensors, e.g. {})",
            map.len(),
            examples.join(", ")
        )
    }
}

/// Tensors of a HOICLIP state dict that the forward pass never reads: GEN-VLKT's
/// interaction decoder (`transformer.interaction_decoder`), `transformer.inter_guided_embedd`,
/// `hoi_class_fc` (only used without `with_clip_label`), each fusion layer's `norm4`,
/// `verb2hoi_proj_eval` of non-zero-shot HICO-DET models, and the ResNet buffers that
/// DETR's frozen batch norm ignores. The CLIP weights (`clip_model.`) are accounted for
/// by the CLIP loader.
pub fn is_known_unused(name: &str, uses_eval_heads: bool) -> bool {
    name.starts_with("transformer.interaction_decoder.")
        || name.starts_with("transformer.inter_guided_embedd.")
        || name.starts_with("hoi_class_fc.")
        || (name.starts_with("transformer.clip_interaction_decoder.layers.")
            && name.contains(".norm4."))
        || (!uses_eval_heads && name == "verb2hoi_proj_eval")
        || name
            .strip_prefix("backbone.0.body.")
            .is_some_and(ResNet::is_known_unused)
}
