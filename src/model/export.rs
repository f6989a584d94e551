//! Export of a [`HoiclipModel`] under the authors' state-dict key names, so that a model
//! trained or edited in Rust loads into the reference PyTorch code with
//! `model.load_state_dict(sd, strict=False)`.
//!
//! [`state_dict`] is the mirror image of [`HoiclipModel::load`]: it produces exactly the
//! tensors the loader reads, under the same names and in PyTorch's layouts:
//!
//! - `torch.nn.Linear`: `weight` `[out, in]` (the crate's [`Linear`] holds `[in, out]`, so it
//!   is transposed back) and `bias` `[out]`;
//! - `torch.nn.MultiheadAttention`: `in_proj_weight` `[3 d, d]` and `in_proj_bias` `[3 d]`
//!   packed from the separate query, key and value projections (query rows first), then
//!   `out_proj.{weight,bias}`;
//! - `Conv2d`: `weight` `[c_out, c_in, k, k]` as it is (Burn and PyTorch agree), `bias`;
//! - `LayerNorm`: `weight` / `bias` (Burn's `gamma` / `beta`);
//! - DETR's `FrozenBatchNorm2d`: `weight`, `bias`, `running_mean`, `running_var`;
//! - `nn.Embedding` tables as `{name}.weight`, plain parameters (CLIP's
//!   `positional_embedding`, `class_embedding`, `verb2hoi_proj`) as they are;
//! - CLIP's `visual.proj` and `text_projection`: plain matrices `[in, out]` (applied as
//!   `x @ proj`, so not transposed);
//! - `logit_scale`, `obj_logit_scale` and CLIP's `logit_scale`: 0-d tensors, as the authors'
//!   `nn.Parameter(torch.ones([]) * ...)` (the crate holds them as `[1]`);
//! - CLIP under `clip_model.` with OpenAI's key names.
//!
//! Not exported, because the loader does not read them (they are
//! [`is_known_unused`](super::checkpoint::is_known_unused)): GEN-VLKT's
//! `transformer.interaction_decoder.*`, `transformer.inter_guided_embedd`, `hoi_class_fc.*`,
//! each fusion layer's `norm4`, `verb2hoi_proj_eval` of models without zero-shot evaluation
//! heads, and the ResNet's `num_batches_tracked` buffers. A PyTorch model keeps its own
//! values for those (`strict=False`); none of them changes the forward pass. The HOI text
//! embeddings ([`HoiclipModel::hoi_text_embeddings`], the reference's `transformer.hoi_cls`)
//! are not exported either: the reference holds them as a plain attribute computed from the
//! prompts, not as a parameter or buffer, so they are in no state dict.
//!
//! Every value is exported as f32, CLIP included (the released checkpoints store most of
//! CLIP in fp16; PyTorch casts on `load_state_dict`).

use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use burn::module::Param;
use burn::nn::LayerNorm;
use burn::nn::conv::Conv2d;
use burn::tensor::Tensor;

use super::hoiclip::HoiclipModel;
use crate::clip::Clip;
use crate::clip::block::ClipTransformer;
use crate::clip::text::TextTransformer;
use crate::clip::vision::VisionTransformer;
use crate::detection::DetectionBranch;
use crate::detection::box_head::Mlp;
use crate::detection::resnet::{Bottleneck, FrozenBatchNorm2d, ResNet};
use crate::detection::transformer::{DecoderLayer, EncoderLayer};
use crate::error::{HoiclipError, Result};
use crate::interaction::{HoiHeads, InteractionDecoder};
use crate::nn::cpu::host_values;
use crate::nn::{Linear, TorchMultiheadAttention};
use crate::weights::transpose_rows;

/// The prefix of the CLIP tensors in the authors' state dict (`HOICLIP.clip_model`).
pub const CLIP_PREFIX: &str = "clip_model.";

/// One tensor of an exported state dict: its key, its PyTorch shape and its values in
/// row-major (C) order, f32.
#[derive(Clone, Debug, PartialEq)]
pub struct ExportedTensor {
    /// The key in the authors' state dict (`transformer.encoder.layers.0.linear1.weight`,
    /// `clip_model.visual.proj`, ...).
    pub name: String,
    /// The shape PyTorch gives the tensor; empty for a 0-d scalar such as `logit_scale`.
    pub shape: Vec<usize>,
    /// The values, row-major; `shape.iter().product()` of them (1 for a 0-d scalar).
    pub values: Vec<f32>,
}

impl ExportedTensor {
    /// The number of elements (`shape.iter().product()`, 1 for a 0-d scalar).
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }
}

/// The parameters of `model` under the authors' state-dict key names and in PyTorch's
/// layouts (see the [module documentation](self)): exactly the tensors
/// [`HoiclipModel::load`] reads from a checkpoint, so that loading the result back gives the
/// same model, and `model.load_state_dict(sd, strict=False)` in the reference code loads every
/// parameter the forward pass uses. Tensors come in the model's order (detection branch,
/// CLIP, interaction decoder, heads).
///
/// # Errors
///
/// [`HoiclipError::Backend`] when a parameter cannot be read back to the host as f32;
/// [`HoiclipError::Config`] when a module has a shape or a parameter the authors' layout has
/// no place for (for example a bias on `verb_projection`, or attention projections that are
/// not square) — never for a model built by [`HoiclipModel::load`] or
/// [`HoiclipModel::init`] and trained.
pub fn state_dict(model: &HoiclipModel) -> Result<Vec<ExportedTensor>> {
    let mut sd = StateDict::default();
    detection(&mut sd, &model.detection)?;
    clip(&mut sd, &model.clip)?;
    interaction(&mut sd, "transformer", &model.interaction)?;
    heads(&mut sd, &model.heads)?;
    Ok(sd.tensors)
}

/// Write `model`'s [`state_dict`] to `path` as an fp32 safetensors file with the metadata
/// `{"format": "pt"}` (what `safetensors.torch.save_file` writes), loadable in PyTorch with
/// `safetensors.torch.load_file` and then `model.load_state_dict(sd, strict=False)`, and in
/// this crate with [`Checkpoint::open`](super::Checkpoint::open) and [`HoiclipModel::load`].
///
/// A bare state dict carries no training `args`: load it back with the model's
/// configuration ([`HoiclipModel::config`]), since attention heads, the zero-shot split and
/// the verb weight cannot be read from shapes.
///
/// # Errors
///
/// As [`state_dict`]; [`HoiclipError::Write`] when the file cannot be written.
pub fn save_safetensors(model: &HoiclipModel, path: &Path) -> Result<()> {
    write_safetensors(&state_dict(model)?, path)
}

/// Write `tensors` (as [`state_dict`] returns them, possibly filtered or renamed) to `path`
/// as an fp32 safetensors file with the metadata `{"format": "pt"}`.
///
/// # Errors
///
/// [`HoiclipError::Write`] when two tensors share a name, a tensor's values do not fill its
/// shape, or the file cannot be written.
pub fn write_safetensors(tensors: &[ExportedTensor], path: &Path) -> Result<()> {
    let fail = |reason: String| HoiclipError::Write {
        path: path.to_path_buf(),
        reason,
    };
    let mut names = BTreeSet::new();
    for tensor in tensors {
        if tensor.values.len() != tensor.numel() {
            return Err(fail(format!(
                "tensor `{}` has {} values for shape {:?}",
                tensor.name,
                tensor.values.len(),
                tensor.shape
            )));
        }
        if !names.insert(tensor.name.as_str()) {
            return Err(fail(format!("tensor `{}` appears twice", tensor.name)));
        }
    }
    let metadata = HashMap::from([("format".to_string(), "pt".to_string())]);
    let views = tensors.iter().map(|t| (t.name.as_str(), F32View(t)));
    safetensors::serialize_to_file(views, Some(metadata), path).map_err(|e| fail(e.to_string()))
}

/// An [`ExportedTensor`] as a safetensors view; its little-endian bytes are made only when
/// the writer asks for them, one tensor at a time.
struct F32View<'a>(&'a ExportedTensor);

impl safetensors::View for F32View<'_> {
    fn dtype(&self) -> safetensors::Dtype {
        safetensors::Dtype::F32
    }

    fn shape(&self) -> &[usize] {
        &self.0.shape
    }

    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Owned(self.0.values.iter().flat_map(|v| v.to_le_bytes()).collect())
    }

    fn data_len(&self) -> usize {
        self.0.values.len() * std::mem::size_of::<f32>()
    }
}

/// Whether a module's bias has a key in the authors' layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum BiasRule {
    /// The loader reads `{prefix}.bias` (a PyTorch layer built with `bias=True`): exported,
    /// as zeros when the module has none, which is the same function.
    Required,
    /// The loader reads `{prefix}.bias` when the checkpoint has one (the classifiers, without
    /// a bias under `fix_clip_label`): exported when the module has one.
    Optional,
    /// The PyTorch layer has no bias (`bias=False`): a bias on the module cannot be exported.
    Absent,
}

/// The tensors exported so far, with their names (no name may appear twice).
#[derive(Default)]
struct StateDict {
    tensors: Vec<ExportedTensor>,
    names: BTreeSet<String>,
}

impl StateDict {
    /// Add a tensor, checking its values fill its shape and its name is new.
    fn push(&mut self, name: String, shape: Vec<usize>, values: Vec<f32>) -> Result<()> {
        if values.len() != shape.iter().product::<usize>() {
            return Err(HoiclipError::Config(format!(
                "export: tensor `{name}` has {} values for shape {shape:?}",
                values.len()
            )));
        }
        if !self.names.insert(name.clone()) {
            return Err(HoiclipError::Config(format!(
                "export: tensor `{name}` would be written twice"
            )));
        }
        self.tensors.push(ExportedTensor {
            name,
            shape,
            values,
        });
        Ok(())
    }

    /// A tensor as it is (same shape in Burn and PyTorch).
    fn tensor<const D: usize>(&mut self, name: String, tensor: Tensor<D>) -> Result<()> {
        let shape = tensor.dims().to_vec();
        let values = host_values(tensor)?;
        self.push(name, shape, values)
    }

    /// A parameter as it is.
    fn param<const D: usize>(&mut self, name: String, param: &Param<Tensor<D>>) -> Result<()> {
        self.tensor(name, param.val())
    }

    /// A `[1]` parameter as the 0-d tensor the authors store (`torch.ones([])`).
    fn scalar(&mut self, name: String, param: &Param<Tensor<1>>) -> Result<()> {
        let values = host_values(param.val())?;
        if values.len() != 1 {
            return Err(HoiclipError::Config(format!(
                "export: `{name}` holds {} values, the authors' layout a 0-d scalar",
                values.len()
            )));
        }
        self.push(name, Vec::new(), values)
    }

    /// `{prefix}.bias` `[d_out]` by `rule`.
    fn bias(
        &mut self,
        prefix: &str,
        bias: Option<&Param<Tensor<1>>>,
        d_out: usize,
        rule: BiasRule,
    ) -> Result<()> {
        let name = format!("{prefix}.bias");
        match (bias, rule) {
            (Some(_), BiasRule::Absent) => Err(HoiclipError::Config(format!(
                "export: `{prefix}` has a bias, which the authors' layout has no place for"
            ))),
            (Some(bias), _) => {
                if bias.dims() != [d_out] {
                    return Err(HoiclipError::Config(format!(
                        "export: `{name}` has shape {:?}, its layer {d_out} outputs",
                        bias.dims()
                    )));
                }
                self.param(name, bias)
            }
            (None, BiasRule::Required) => self.push(name, vec![d_out], vec![0.0; d_out]),
            (None, _) => Ok(()),
        }
    }

    /// A `torch.nn.Linear`: `{prefix}.weight` `[d_out, d_in]` (the transpose of the crate's
    /// `[d_in, d_out]`) and `{prefix}.bias` `[d_out]` by `rule`.
    fn linear(&mut self, prefix: &str, linear: &Linear, rule: BiasRule) -> Result<()> {
        let [d_in, d_out] = linear.dims();
        let weight = host_values(linear.weight.val())?;
        self.push(
            format!("{prefix}.weight"),
            vec![d_out, d_in],
            transpose_rows(&weight, d_in, d_out),
        )?;
        self.bias(prefix, linear.bias.as_ref(), d_out, rule)
    }

    /// A projection stored as a plain matrix `name` `[d_in, d_out]` and applied as
    /// `x @ proj` (CLIP's `visual.proj`, `text_projection`): the crate's weight as it is.
    fn matrix(&mut self, name: String, linear: &Linear) -> Result<()> {
        if linear.bias.is_some() {
            return Err(HoiclipError::Config(format!(
                "export: `{name}` has a bias, which the authors' plain matrix has no place for"
            )));
        }
        self.param(name, &linear.weight)
    }

    /// A `torch.nn.LayerNorm`: `{prefix}.weight` (`gamma`) and `{prefix}.bias` (`beta`,
    /// zeros when the norm has none), `[d]`.
    fn layer_norm(&mut self, prefix: &str, norm: &LayerNorm) -> Result<()> {
        let [d] = norm.gamma.dims();
        self.param(format!("{prefix}.weight"), &norm.gamma)?;
        self.bias(prefix, norm.beta.as_ref(), d, BiasRule::Required)
    }

    /// A `torch.nn.Conv2d`: `{prefix}.weight` `[c_out, c_in, k, k]` as it is and
    /// `{prefix}.bias` `[c_out]` by `rule`.
    fn conv2d(&mut self, prefix: &str, conv: &Conv2d, rule: BiasRule) -> Result<()> {
        let [c_out, _, _, _] = conv.weight.dims();
        self.param(format!("{prefix}.weight"), &conv.weight)?;
        self.bias(prefix, conv.bias.as_ref(), c_out, rule)
    }

    /// DETR's `FrozenBatchNorm2d`: `{prefix}.{weight,bias,running_mean,running_var}`, `[c]`.
    fn frozen_batch_norm(&mut self, prefix: &str, norm: &FrozenBatchNorm2d) -> Result<()> {
        self.param(format!("{prefix}.weight"), &norm.weight)?;
        self.param(format!("{prefix}.bias"), &norm.bias)?;
        self.param(format!("{prefix}.running_mean"), &norm.running_mean)?;
        self.param(format!("{prefix}.running_var"), &norm.running_var)
    }

    /// A `torch.nn.MultiheadAttention`: `{prefix}.in_proj_weight` `[3 d, d]` (rows `0..d` the
    /// query projection, `d..2 d` the key, `2 d..3 d` the value, each `[d_out, d_in]`),
    /// `{prefix}.in_proj_bias` `[3 d]` (zeros where a projection has no bias) and
    /// `{prefix}.out_proj.{weight,bias}`.
    fn attention(&mut self, prefix: &str, attention: &TorchMultiheadAttention) -> Result<()> {
        let [d, _] = attention.query.dims();
        let projections = [&attention.query, &attention.key, &attention.value];
        let mut weight = Vec::with_capacity(3 * d * d);
        let mut bias = Vec::with_capacity(3 * d);
        for (part, projection) in ["query", "key", "value"].iter().zip(projections) {
            if projection.dims() != [d, d] {
                return Err(HoiclipError::Config(format!(
                    "export: `{prefix}`'s {part} projection is {:?}, `in_proj_weight` packs \
                     [{d}, {d}] projections",
                    projection.dims()
                )));
            }
            // [d_in, d_out] → [d_out, d_in]: this projection's `d` rows of `in_proj_weight`.
            let values = host_values(projection.weight.val())?;
            weight.extend(transpose_rows(&values, d, d));
            match &projection.bias {
                Some(b) if b.dims() == [d] => bias.extend(host_values(b.val())?),
                Some(b) => {
                    return Err(HoiclipError::Config(format!(
                        "export: `{prefix}`'s {part} bias is {:?}, expected [{d}]",
                        b.dims()
                    )));
                }
                None => bias.extend(std::iter::repeat_n(0.0, d)),
            }
        }
        self.push(format!("{prefix}.in_proj_weight"), vec![3 * d, d], weight)?;
        self.push(format!("{prefix}.in_proj_bias"), vec![3 * d], bias)?;
        self.linear(
            &format!("{prefix}.out_proj"),
            &attention.out_proj,
            BiasRule::Required,
        )
    }

    /// DETR's `MLP`: `{prefix}.layers.{i}` Linear layers with biases.
    fn mlp(&mut self, prefix: &str, mlp: &Mlp) -> Result<()> {
        for (i, layer) in mlp.layers.iter().enumerate() {
            self.linear(&format!("{prefix}.layers.{i}"), layer, BiasRule::Required)?;
        }
        Ok(())
    }
}

/// The detection branch at top level: `backbone.0.body.*`, `input_proj`,
/// `transformer.encoder`, `transformer.instance_decoder`, the query embeddings and the box
/// heads (mirrors [`DetectionBranch::load`]).
fn detection(sd: &mut StateDict, branch: &DetectionBranch) -> Result<()> {
    resnet(sd, "backbone.0.body", &branch.backbone)?;
    sd.conv2d("input_proj", &branch.input_proj, BiasRule::Required)?;
    for (i, layer) in branch.encoder.layers.iter().enumerate() {
        encoder_layer(sd, &format!("transformer.encoder.layers.{i}"), layer)?;
    }
    let decoder = &branch.instance_decoder;
    for (i, layer) in decoder.layers.iter().enumerate() {
        decoder_layer(
            sd,
            &format!("transformer.instance_decoder.layers.{i}"),
            layer,
        )?;
    }
    sd.layer_norm("transformer.instance_decoder.norm", &decoder.norm)?;
    // `nn.Embedding`s: `[queries, d]` tables under `.weight`.
    sd.param("query_embed_h.weight".into(), &branch.query_embed_h)?;
    sd.param("query_embed_o.weight".into(), &branch.query_embed_o)?;
    sd.param("pos_guided_embedd.weight".into(), &branch.pos_guided_embedd)?;
    sd.mlp("hum_bbox_embed", &branch.hum_bbox_embed)?;
    sd.mlp("obj_bbox_embed", &branch.obj_bbox_embed)
}

/// torchvision's ResNet under `prefix` (mirrors [`ResNet::load`]; `num_batches_tracked` is
/// not exported).
fn resnet(sd: &mut StateDict, prefix: &str, net: &ResNet) -> Result<()> {
    sd.conv2d(&format!("{prefix}.conv1"), &net.conv1, BiasRule::Absent)?;
    sd.frozen_batch_norm(&format!("{prefix}.bn1"), &net.bn1)?;
    let layers = [&net.layer1, &net.layer2, &net.layer3, &net.layer4];
    for (i, blocks) in layers.into_iter().enumerate() {
        for (b, block) in blocks.iter().enumerate() {
            bottleneck(sd, &format!("{prefix}.layer{}.{b}", i + 1), block)?;
        }
    }
    Ok(())
}

/// One bottleneck block (mirrors [`Bottleneck::load`]).
fn bottleneck(sd: &mut StateDict, prefix: &str, block: &Bottleneck) -> Result<()> {
    sd.conv2d(&format!("{prefix}.conv1"), &block.conv1, BiasRule::Absent)?;
    sd.frozen_batch_norm(&format!("{prefix}.bn1"), &block.bn1)?;
    sd.conv2d(&format!("{prefix}.conv2"), &block.conv2, BiasRule::Absent)?;
    sd.frozen_batch_norm(&format!("{prefix}.bn2"), &block.bn2)?;
    sd.conv2d(&format!("{prefix}.conv3"), &block.conv3, BiasRule::Absent)?;
    sd.frozen_batch_norm(&format!("{prefix}.bn3"), &block.bn3)?;
    if let Some(downsample) = &block.downsample {
        sd.conv2d(
            &format!("{prefix}.downsample.0"),
            &downsample.conv,
            BiasRule::Absent,
        )?;
        sd.frozen_batch_norm(&format!("{prefix}.downsample.1"), &downsample.bn)?;
    }
    Ok(())
}

/// A DETR encoder layer (mirrors [`EncoderLayer::load`]).
fn encoder_layer(sd: &mut StateDict, prefix: &str, layer: &EncoderLayer) -> Result<()> {
    sd.attention(&format!("{prefix}.self_attn"), &layer.self_attn)?;
    sd.linear(
        &format!("{prefix}.linear1"),
        &layer.linear1,
        BiasRule::Required,
    )?;
    sd.linear(
        &format!("{prefix}.linear2"),
        &layer.linear2,
        BiasRule::Required,
    )?;
    sd.layer_norm(&format!("{prefix}.norm1"), &layer.norm1)?;
    sd.layer_norm(&format!("{prefix}.norm2"), &layer.norm2)
}

/// A DETR decoder layer, or a fusion layer's parameters (mirrors [`DecoderLayer::load`]).
fn decoder_layer(sd: &mut StateDict, prefix: &str, layer: &DecoderLayer) -> Result<()> {
    sd.attention(&format!("{prefix}.self_attn"), &layer.self_attn)?;
    sd.attention(&format!("{prefix}.multihead_attn"), &layer.multihead_attn)?;
    sd.linear(
        &format!("{prefix}.linear1"),
        &layer.linear1,
        BiasRule::Required,
    )?;
    sd.linear(
        &format!("{prefix}.linear2"),
        &layer.linear2,
        BiasRule::Required,
    )?;
    sd.layer_norm(&format!("{prefix}.norm1"), &layer.norm1)?;
    sd.layer_norm(&format!("{prefix}.norm2"), &layer.norm2)?;
    sd.layer_norm(&format!("{prefix}.norm3"), &layer.norm3)
}

/// CLIP under [`CLIP_PREFIX`] with OpenAI's names (mirrors [`Clip::load`]).
fn clip(sd: &mut StateDict, clip: &Clip) -> Result<()> {
    vision(sd, &format!("{CLIP_PREFIX}visual"), &clip.visual)?;
    text(sd, CLIP_PREFIX, &clip.text)?;
    sd.scalar(format!("{CLIP_PREFIX}logit_scale"), &clip.logit_scale)
}

/// CLIP's vision transformer under `prefix` (mirrors [`VisionTransformer::load`]).
fn vision(sd: &mut StateDict, prefix: &str, visual: &VisionTransformer) -> Result<()> {
    sd.conv2d(&format!("{prefix}.conv1"), &visual.conv1, BiasRule::Absent)?;
    sd.param(format!("{prefix}.class_embedding"), &visual.class_embedding)?;
    sd.param(
        format!("{prefix}.positional_embedding"),
        &visual.positional_embedding,
    )?;
    sd.layer_norm(&format!("{prefix}.ln_pre"), &visual.ln_pre)?;
    clip_transformer(sd, &format!("{prefix}.transformer"), &visual.transformer)?;
    sd.layer_norm(&format!("{prefix}.ln_post"), &visual.ln_post)?;
    // `[width, output_dim]`, applied as `x @ proj`.
    sd.matrix(format!("{prefix}.proj"), &visual.proj)
}

/// CLIP's text transformer; `prefix` is [`CLIP_PREFIX`] (OpenAI keeps the text tower at the
/// top level of its state dict; mirrors [`TextTransformer::load`]).
fn text(sd: &mut StateDict, prefix: &str, text: &TextTransformer) -> Result<()> {
    sd.param(
        format!("{prefix}token_embedding.weight"),
        &text.token_embedding.weight,
    )?;
    sd.param(
        format!("{prefix}positional_embedding"),
        &text.positional_embedding,
    )?;
    clip_transformer(sd, &format!("{prefix}transformer"), &text.transformer)?;
    sd.layer_norm(&format!("{prefix}ln_final"), &text.ln_final)?;
    // `[width, output_dim]`, applied as `x @ text_projection`.
    sd.matrix(format!("{prefix}text_projection"), &text.text_projection)
}

/// CLIP's block stack: `{prefix}.resblocks.{i}.{ln_1, attn, ln_2, mlp.c_fc, mlp.c_proj}`
/// (mirrors [`ClipTransformer::load`]).
fn clip_transformer(sd: &mut StateDict, prefix: &str, stack: &ClipTransformer) -> Result<()> {
    for (i, block) in stack.blocks.iter().enumerate() {
        let p = format!("{prefix}.resblocks.{i}");
        sd.layer_norm(&format!("{p}.ln_1"), &block.ln_1)?;
        sd.attention(&format!("{p}.attn"), &block.attn)?;
        sd.layer_norm(&format!("{p}.ln_2"), &block.ln_2)?;
        sd.linear(&format!("{p}.mlp.c_fc"), &block.c_fc, BiasRule::Required)?;
        sd.linear(
            &format!("{p}.mlp.c_proj"),
            &block.c_proj,
            BiasRule::Required,
        )?;
    }
    Ok(())
}

/// The interaction decoder under `prefix` (`transformer`; mirrors
/// [`InteractionDecoder::load`]; the fusion layers' unused `norm4` is not exported).
fn interaction(sd: &mut StateDict, prefix: &str, decoder: &InteractionDecoder) -> Result<()> {
    sd.linear(
        &format!("{prefix}.queries2spacial_proj"),
        &decoder.queries2spacial_proj,
        BiasRule::Required,
    )?;
    sd.layer_norm(
        &format!("{prefix}.queries2spacial_proj_norm"),
        &decoder.queries2spacial_proj_norm,
    )?;
    sd.linear(
        &format!("{prefix}.obj_class_fc"),
        &decoder.obj_class_fc,
        BiasRule::Required,
    )?;
    sd.layer_norm(&format!("{prefix}.obj_class_ln"), &decoder.obj_class_ln)?;
    for (i, fusion) in decoder.layers.iter().enumerate() {
        decoder_layer(
            sd,
            &format!("{prefix}.clip_interaction_decoder.layers.{i}"),
            &fusion.layer,
        )?;
    }
    sd.layer_norm(
        &format!("{prefix}.clip_interaction_decoder.norm"),
        &decoder.norm,
    )
}

/// The classifiers and the verb adapter at top level (mirrors [`HoiHeads::load`]).
fn heads(sd: &mut StateDict, heads: &HoiHeads) -> Result<()> {
    sd.linear(
        "visual_projection",
        &heads.visual_projection,
        BiasRule::Optional,
    )?;
    if let Some(eval) = &heads.eval_visual_projection {
        sd.linear("eval_visual_projection", eval, BiasRule::Absent)?;
    }
    sd.mlp("inter2verb", &heads.inter2verb)?;
    sd.linear("verb_projection", &heads.verb_projection, BiasRule::Absent)?;
    // `[verbs, hoi_classes]` 0/1 maps (parameters without gradients in the reference).
    sd.param("verb2hoi_proj".into(), &heads.verb2hoi)?;
    if let Some(eval) = &heads.verb2hoi_eval {
        sd.param("verb2hoi_proj_eval".into(), eval)?;
    }
    sd.scalar("logit_scale".into(), &heads.logit_scale)?;
    sd.linear("obj_class_fc.0", &heads.obj_class_fc, BiasRule::Required)?;
    sd.layer_norm("obj_class_fc.1", &heads.obj_class_ln)?;
    sd.linear(
        "obj_visual_projection",
        &heads.obj_visual_projection,
        BiasRule::Optional,
    )?;
    sd.scalar("obj_logit_scale".into(), &heads.obj_logit_scale)
}
