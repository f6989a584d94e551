//! Hugging Face `CLIPModel` weight layout → OpenAI layout.
//!
//! Hugging Face stores separate `q_proj`/`k_proj`/`v_proj` Linears and different names; this
//! module renames them to OpenAI's (`visual.transformer.resblocks.N.attn.in_proj_weight`, ...),
//! packs q/k/v into `in_proj_*`, and turns the projection Linears (`[out, in]`) into OpenAI's
//! `x @ proj` matrices (`[in, out]`). Buffers such as `position_ids` are dropped.

use crate::error::{HoiclipError, Result};
use crate::weights::{WeightFormat, WeightMap};

use super::config::count_layers;

/// The tensor whose presence marks the Hugging Face layout.
pub const HF_ANCHOR: &str = "vision_model.embeddings.patch_embedding.weight";

/// Convert a map holding a Hugging Face `CLIPModel` state dict at top level into OpenAI names.
pub fn hf_to_openai(map: &WeightMap) -> Result<WeightMap> {
    let mut out: Vec<(String, Vec<usize>, Vec<f32>)> = Vec::new();
    let take =
        |from: &str, to: &str, out: &mut Vec<(String, Vec<usize>, Vec<f32>)>| -> Result<()> {
            let shape = map
                .shape(from)
                .ok_or_else(|| HoiclipError::MissingTensor {
                    name: from.to_string(),
                    expected: Vec::new(),
                    source_name: map.source_name().to_string(),
                })?
                .to_vec();
            out.push((to.to_string(), shape, map.read_f32(from)?));
            Ok(())
        };
    take(
        "vision_model.embeddings.patch_embedding.weight",
        "visual.conv1.weight",
        &mut out,
    )?;
    take(
        "vision_model.embeddings.class_embedding",
        "visual.class_embedding",
        &mut out,
    )?;
    take(
        "vision_model.embeddings.position_embedding.weight",
        "visual.positional_embedding",
        &mut out,
    )?;
    for (hf, openai) in [
        ("vision_model.pre_layrnorm", "visual.ln_pre"),
        ("vision_model.post_layernorm", "visual.ln_post"),
        ("text_model.final_layer_norm", "ln_final"),
    ] {
        take(
            &format!("{hf}.weight"),
            &format!("{openai}.weight"),
            &mut out,
        )?;
        take(&format!("{hf}.bias"), &format!("{openai}.bias"), &mut out)?;
    }
    take(
        "text_model.embeddings.token_embedding.weight",
        "token_embedding.weight",
        &mut out,
    )?;
    take(
        "text_model.embeddings.position_embedding.weight",
        "positional_embedding",
        &mut out,
    )?;
    if map.contains("logit_scale") {
        take("logit_scale", "logit_scale", &mut out)?;
    }
    for (hf, openai) in [
        ("visual_projection.weight", "visual.proj"),
        ("text_projection.weight", "text_projection"),
    ] {
        let shape = map.shape(hf).ok_or_else(|| HoiclipError::MissingTensor {
            name: hf.to_string(),
            expected: Vec::new(),
            source_name: map.source_name().to_string(),
        })?;
        let [rows, cols] = shape else {
            return Err(HoiclipError::Config(format!(
                "`{hf}` in {} has shape {shape:?}, expected a matrix",
                map.source_name()
            )));
        };
        let (rows, cols) = (*rows, *cols);
        let values = map.read_f32(hf)?;
        out.push((
            openai.to_string(),
            vec![cols, rows],
            crate::weights::transpose_rows(&values, rows, cols),
        ));
    }
    for (hf_tower, openai_tower) in [
        (
            "vision_model.encoder.layers",
            "visual.transformer.resblocks",
        ),
        ("text_model.encoder.layers", "transformer.resblocks"),
    ] {
        let layers = count_layers(map, &format!("{hf_tower}."));
        for i in 0..layers {
            let hf = format!("{hf_tower}.{i}");
            let oa = format!("{openai_tower}.{i}");
            for (a, b) in [
                ("layer_norm1", "ln_1"),
                ("layer_norm2", "ln_2"),
                ("mlp.fc1", "mlp.c_fc"),
                ("mlp.fc2", "mlp.c_proj"),
                ("self_attn.out_proj", "attn.out_proj"),
            ] {
                take(
                    &format!("{hf}.{a}.weight"),
                    &format!("{oa}.{b}.weight"),
                    &mut out,
                )?;
                take(
                    &format!("{hf}.{a}.bias"),
                    &format!("{oa}.{b}.bias"),
                    &mut out,
                )?;
            }
            for part in ["weight", "bias"] {
                let mut packed = Vec::new();
                let mut shape: Vec<usize> = Vec::new();
                for proj in ["q_proj", "k_proj", "v_proj"] {
                    let name = format!("{hf}.self_attn.{proj}.{part}");
                    let s = map
                        .shape(&name)
                        .ok_or_else(|| HoiclipError::MissingTensor {
                            name: name.clone(),
                            expected: Vec::new(),
                            source_name: map.source_name().to_string(),
                        })?;
                    if shape.is_empty() {
                        shape = s.to_vec();
                    } else if shape != s {
                        return Err(HoiclipError::ShapeMismatch {
                            name,
                            expected: shape.clone(),
                            found: s.to_vec(),
                            source_name: map.source_name().to_string(),
                        });
                    }
                    packed.extend(map.read_f32(&name)?);
                }
                shape[0] *= 3;
                out.push((format!("{oa}.attn.in_proj_{part}"), shape, packed));
            }
        }
    }
    WeightMap::from_f32_tensors(
        &format!("{} (Hugging Face layout)", map.source_name()),
        WeightFormat::Safetensors,
        out,
    )
}

/// Hugging Face names that carry no weights of the model (buffers).
pub(crate) fn is_hf_buffer(name: &str) -> bool {
    name.ends_with("position_ids")
}

/// Every Hugging Face name [`hf_to_openai`] reads, to find unexpected tensors.
pub(crate) fn hf_names_used(map: &WeightMap) -> std::collections::BTreeSet<String> {
    let mut used: std::collections::BTreeSet<String> = [
        "vision_model.embeddings.patch_embedding.weight",
        "vision_model.embeddings.class_embedding",
        "vision_model.embeddings.position_embedding.weight",
        "vision_model.pre_layrnorm.weight",
        "vision_model.pre_layrnorm.bias",
        "vision_model.post_layernorm.weight",
        "vision_model.post_layernorm.bias",
        "text_model.final_layer_norm.weight",
        "text_model.final_layer_norm.bias",
        "text_model.embeddings.token_embedding.weight",
        "text_model.embeddings.position_embedding.weight",
        "logit_scale",
        "visual_projection.weight",
        "text_projection.weight",
    ]
    .into_iter()
    .map(str::to_string)
    .collect();
    for tower in ["vision_model.encoder.layers", "text_model.encoder.layers"] {
        for i in 0..count_layers(map, &format!("{tower}.")) {
            for module in [
                "layer_norm1",
                "layer_norm2",
                "mlp.fc1",
                "mlp.fc2",
                "self_attn.out_proj",
                "self_attn.q_proj",
                "self_attn.k_proj",
                "self_attn.v_proj",
            ] {
                for part in ["weight", "bias"] {
                    used.insert(format!("{tower}.{i}.{module}.{part}"));
                }
            }
        }
    }
    used
}
