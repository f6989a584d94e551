//! Training dropout: the rate of the authors' transformers (`--dropout`, 0.1 in every
//! script), set on every layer that has one in the reference — the DETR encoder and instance
//! decoder layers and the interaction decoder's fusion layers (residual branches, inside the
//! FFN, and the attention weights of their `nn.MultiheadAttention`s). CLIP has no dropout.
//!
//! Dropout acts only on an autodiff device ([`crate::nn::dropout()`]), so a model handed to
//! inference ([`burn::module::Module::valid`]) is unaffected whatever the rate.

use crate::detection::transformer::{DecoderLayer, EncoderLayer};
use crate::error::{HoiclipError, Result};
use crate::model::HoiclipModel;

fn set_decoder(layer: &mut DecoderLayer, prob: f64) {
    layer.dropout = prob;
    layer.self_attn.dropout = prob;
    layer.multihead_attn.dropout = prob;
}

fn set_encoder(layer: &mut EncoderLayer, prob: f64) {
    layer.dropout = prob;
    layer.self_attn.dropout = prob;
}

/// `model` with dropout probability `prob` on every transformer layer the reference gives
/// one (see the module documentation).
///
/// # Errors
///
/// [`HoiclipError::Config`] when `prob` is not in `[0, 1)`.
pub fn set_dropout(model: HoiclipModel, prob: f64) -> Result<HoiclipModel> {
    if !(0.0..1.0).contains(&prob) {
        return Err(HoiclipError::Config(format!(
            "dropout must be in [0, 1), got {prob}"
        )));
    }
    Ok(apply(model, prob))
}

/// `model` with every dropout rate back at 0 (as loaded).
pub fn without_dropout(model: HoiclipModel) -> HoiclipModel {
    apply(model, 0.0)
}

fn apply(mut model: HoiclipModel, prob: f64) -> HoiclipModel {
    for layer in &mut model.detection.encoder.layers {
        set_encoder(layer, prob);
    }
    for layer in &mut model.detection.instance_decoder.layers {
        set_decoder(layer, prob);
    }
    for fusion in &mut model.interaction.layers {
        set_decoder(&mut fusion.layer, prob);
    }
    model
}

/// The seed of the random draws (dropout masks) of training step `global_step` of a run
/// seeded with `seed`: the trainer seeds the device with it before each step, so a resumed
/// run draws the same masks as an uninterrupted one.
pub fn step_seed(seed: u64, global_step: u64) -> u64 {
    // SplitMix64 of the pair: distinct, well-mixed seeds for consecutive steps.
    let mut z = seed ^ global_step.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
