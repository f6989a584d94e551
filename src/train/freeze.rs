//! What trains: the authors' freezing (`main.py` with `--fix_clip`, DETR's `BackboneBase`),
//! applied to a [`HoiclipModel`] by turning gradients off where the reference sets
//! `requires_grad = False`.
//!
//! - Always frozen: every frozen batch norm's affine parameters and statistics (buffers in
//!   the reference), `verb2hoi_proj` / `verb2hoi_proj_eval` (`requires_grad=False`
//!   parameters), `eval_visual_projection`, and the HOI text embeddings (`hoi_cls`, a plain
//!   tensor in the reference).
//! - With `fix_clip` (every HOICLIP script): all of CLIP (`clip_model.*`) and every
//!   parameter whose name contains `visual_projection`: the HOI classifier
//!   `visual_projection` and the object classifier `obj_visual_projection`, weights and
//!   biases, so the classifiers built from CLIP text keep their initial values.
//! - The ResNet stem and `layer1` never train; `layer2`–`layer4` train unless
//!   `train_backbone` is off (the reference's `lr_backbone <= 0`).
//!
//! Everything else trains: the rest of the detection branch, the interaction decoder, the
//! verb adapter (`inter2verb`, `verb_projection`), `obj_class_fc`, both logit scales.

use burn::module::Module;

use crate::detection::resnet::{Bottleneck, FrozenBatchNorm2d, ResNet};
use crate::model::HoiclipModel;

/// Which parts are frozen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FreezePolicy {
    /// `--fix_clip`: freeze CLIP and the CLIP-built classifiers (on in every script).
    pub fix_clip: bool,
    /// Train ResNet `layer2`–`layer4` (the reference: `lr_backbone > 0`).
    pub train_backbone: bool,
}

impl Default for FreezePolicy {
    fn default() -> Self {
        Self {
            fix_clip: true,
            train_backbone: true,
        }
    }
}

fn freeze_norm(bn: FrozenBatchNorm2d) -> FrozenBatchNorm2d {
    bn.no_grad()
}

fn freeze_norms(mut block: Bottleneck) -> Bottleneck {
    block.bn1 = freeze_norm(block.bn1);
    block.bn2 = freeze_norm(block.bn2);
    block.bn3 = freeze_norm(block.bn3);
    if let Some(mut ds) = block.downsample.take() {
        ds.bn = freeze_norm(ds.bn);
        block.downsample = Some(ds);
    }
    block
}

fn freeze_backbone(mut resnet: ResNet, train_layers: bool) -> ResNet {
    resnet.conv1 = resnet.conv1.no_grad();
    resnet.bn1 = freeze_norm(resnet.bn1);
    resnet.layer1 = resnet.layer1.into_iter().map(|b| b.no_grad()).collect();
    let layer = |blocks: Vec<Bottleneck>| -> Vec<Bottleneck> {
        blocks
            .into_iter()
            .map(|b| {
                if train_layers {
                    freeze_norms(b)
                } else {
                    b.no_grad()
                }
            })
            .collect()
    };
    resnet.layer2 = layer(resnet.layer2);
    resnet.layer3 = layer(resnet.layer3);
    resnet.layer4 = layer(resnet.layer4);
    resnet
}

/// Turn gradients off on what `policy` freezes (see the module documentation). Call it on
/// a model whose parameters are on an autodiff device (after [`Module::train`] or
/// [`Module::fork`]).
pub fn apply_freeze(mut model: HoiclipModel, policy: FreezePolicy) -> HoiclipModel {
    model.detection.backbone = freeze_backbone(model.detection.backbone, policy.train_backbone);
    model.hoi_text_embeddings = model.hoi_text_embeddings.set_require_grad(false);
    let heads = &mut model.heads;
    heads.verb2hoi = heads.verb2hoi.clone().set_require_grad(false);
    heads.verb2hoi_eval = heads
        .verb2hoi_eval
        .take()
        .map(|p| p.set_require_grad(false));
    heads.eval_visual_projection = heads.eval_visual_projection.take().map(|l| l.no_grad());
    if policy.fix_clip {
        model.clip = model.clip.no_grad();
        model.heads.visual_projection = model.heads.visual_projection.no_grad();
        model.heads.obj_visual_projection = model.heads.obj_visual_projection.no_grad();
    }
    model
}

/// `model` made ready to train: its parameters forked onto the autodiff counterpart of their
/// device (a model already there keeps it), training mode on, [`apply_freeze`] applied and the
/// backbone's inference-only CPU plan dropped (training runs on Burn's differentiable
/// operations; see docs/training.md).
pub fn training_model(model: HoiclipModel, policy: FreezePolicy) -> HoiclipModel {
    let device = model.hoi_text_embeddings.val().device();
    let autodiff = if device.is_autodiff() {
        device
    } else {
        device.autodiff()
    };
    let mut model = apply_freeze(model.fork(&autodiff).train(), policy);
    model.detection.backbone.reset_cpu_plan();
    model
}
