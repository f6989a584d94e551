//! HOICLIP's classification heads (`models/models_hoiclip/hoiclip.py`, `HOICLIP.forward`,
//! `with_clip_label` and `with_obj_clip_label`):
//!
//! - HOI logits: `exp(logit_scale) · visual_projection(normalize(inter))
//!   + verb_weight · exp(logit_scale) · verb_projection(normalize(inter2verb(inter))) @ verb2hoi`,
//!   where `inter` are the interaction features after `@ visual.proj` and `inter2verb` sees
//!   them unnormalised (the verb adapter). For a checkpoint trained on a zero-shot split the
//!   evaluation uses `eval_visual_projection` (all 600 classes, no bias) and
//!   `verb2hoi_proj_eval` instead.
//! - object logits: `exp(obj_logit_scale) · obj_visual_projection(normalize(obj_class_fc(o)))`,
//!   `obj_class_fc` the model-level Linear + LayerNorm (not the transformer's memory
//!   projection of the same name).

use crate::nn::Linear;
use burn::module::{Module, Param};
use burn::nn::{LayerNorm, LayerNormConfig};
use burn::tensor::{Device, Tensor};

use crate::clip::l2_normalize;
use crate::detection::box_head::Mlp;
use crate::error::HoiclipError;
use crate::weights::WeightLoader;

type Res<T> = std::result::Result<T, HoiclipError>;

/// Shapes of the heads.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct HeadsConfig {
    /// CLIP embedding width (`clip_embed_dim`, 512 for ViT-B).
    pub clip_embed_dim: usize,
    /// Detection transformer width (`hidden_dim`, 256).
    pub hidden_dim: usize,
    /// HOI classes scored in training mode (600 for HICO-DET default).
    pub hoi_classes: usize,
    /// Verbs (117 for HICO-DET, 29 for V-COCO).
    pub verbs: usize,
    /// Object classes plus "no object" (81).
    pub object_classes: usize,
    /// HOI classes scored at evaluation for a zero-shot checkpoint (600), if any.
    pub eval_hoi_classes: Option<usize>,
    /// Whether `visual_projection` has a bias (absent with `fix_clip_label`).
    #[serde(default = "yes")]
    pub visual_bias: bool,
    /// Whether `obj_visual_projection` has a bias (absent with `fix_clip_label`).
    #[serde(default = "yes")]
    pub object_bias: bool,
}

fn yes() -> bool {
    true
}

impl HeadsConfig {
    /// Heads with zero-initialised parameters of the right shapes (to be overwritten by a
    /// native-format load).
    pub fn init(&self, verb_weight: f64, device: &Device) -> HoiHeads {
        let e = self.clip_embed_dim;
        let zeros1 = || Param::from_tensor(Tensor::zeros([1], device));
        HoiHeads {
            visual_projection: Linear::init(e, self.hoi_classes, self.visual_bias, device),
            eval_visual_projection: self
                .eval_hoi_classes
                .map(|n| Linear::init(e, n, false, device)),
            inter2verb: Mlp::init(e, e / 2, e, 3, device),
            verb_projection: Linear::init(e, self.verbs, false, device),
            verb2hoi: Param::from_tensor(Tensor::zeros([self.verbs, self.hoi_classes], device)),
            verb2hoi_eval: self
                .eval_hoi_classes
                .map(|n| Param::from_tensor(Tensor::zeros([self.verbs, n], device))),
            logit_scale: zeros1(),
            obj_class_fc: Linear::init(self.hidden_dim, e, true, device),
            obj_class_ln: LayerNormConfig::new(e).init(device),
            obj_visual_projection: Linear::init(e, self.object_classes, self.object_bias, device),
            obj_logit_scale: zeros1(),
            verb_weight,
        }
    }
}

/// The HOI and object classifiers and the verb adapter.
#[derive(Module, Debug)]
pub struct HoiHeads {
    /// `visual_projection`: HOI classifier initialised from CLIP text embeddings.
    pub visual_projection: Linear,
    /// `eval_visual_projection`: all-class classifier of zero-shot checkpoints.
    pub eval_visual_projection: Option<Linear>,
    /// `inter2verb`: the verb adapter MLP, 3 layers `E → E/2 → E/2 → E` with ReLU between.
    pub inter2verb: Mlp,
    /// `verb_projection`: verb representations, no bias.
    pub verb_projection: Linear,
    /// `verb2hoi_proj`: `[verbs, hoi_classes]` 0/1 map.
    pub verb2hoi: Param<Tensor<2>>,
    /// `verb2hoi_proj_eval`: `[verbs, eval_hoi_classes]` map of zero-shot checkpoints.
    pub verb2hoi_eval: Option<Param<Tensor<2>>>,
    /// `logit_scale` `[1]`.
    pub logit_scale: Param<Tensor<1>>,
    /// `obj_class_fc.0`.
    pub obj_class_fc: Linear,
    /// `obj_class_fc.1`.
    pub obj_class_ln: LayerNorm,
    /// `obj_visual_projection`: object classifier (objects + no-object).
    pub obj_visual_projection: Linear,
    /// `obj_logit_scale` `[1]`.
    pub obj_logit_scale: Param<Tensor<1>>,
    /// Weight of the verb branch (`verb_weight`, 0.5).
    pub verb_weight: f64,
}

impl HoiHeads {
    /// Load from the authors' top-level names. Classifier biases are optional (absent when
    /// the checkpoint was trained with `fix_clip_label`).
    pub fn load(
        loader: &mut WeightLoader<'_>,
        config: &HeadsConfig,
        verb_weight: f64,
    ) -> Res<Self> {
        let e = config.clip_embed_dim;
        let has = |loader: &WeightLoader<'_>, n: &str| loader.contains(n);
        let visual_bias = has(loader, "visual_projection.bias");
        let obj_bias = has(loader, "obj_visual_projection.bias");
        let eval_visual_projection = match config.eval_hoi_classes {
            Some(n) => Some(loader.linear("eval_visual_projection", e, n, false)?),
            None => None,
        };
        let verb2hoi_eval = match config.eval_hoi_classes {
            Some(n) => Some(loader.param("verb2hoi_proj_eval", [config.verbs, n])?),
            None => None,
        };
        Ok(Self {
            visual_projection: loader.linear(
                "visual_projection",
                e,
                config.hoi_classes,
                visual_bias,
            )?,
            eval_visual_projection,
            inter2verb: Mlp::load(loader, "inter2verb", e, e / 2, e, 3)?,
            verb_projection: loader.linear("verb_projection", e, config.verbs, false)?,
            verb2hoi: loader.param("verb2hoi_proj", [config.verbs, config.hoi_classes])?,
            verb2hoi_eval,
            logit_scale: loader.scalar("logit_scale")?,
            obj_class_fc: loader.linear("obj_class_fc.0", config.hidden_dim, e, true)?,
            obj_class_ln: loader.layer_norm("obj_class_fc.1", e, 1e-5)?,
            obj_visual_projection: loader.linear(
                "obj_visual_projection",
                e,
                config.object_classes,
                obj_bias,
            )?,
            obj_logit_scale: loader.scalar("obj_logit_scale")?,
            verb_weight,
        })
    }

    /// HOI logits from interaction features after `@ visual.proj`.
    ///
    /// - `inter`: `[..., pairs, clip_embed_dim]` (`D` = 3 for one layer, 4 for all layers)
    /// - `zero_shot_eval`: use `eval_visual_projection` / `verb2hoi_proj_eval` (errors if the
    ///   checkpoint has none)
    /// - returns `[..., pairs, hoi_classes]`
    pub fn hoi_logits<const D: usize>(
        &self,
        inter: Tensor<D>,
        zero_shot_eval: bool,
    ) -> Res<Tensor<D>> {
        let scale = self.logit_scale.val().exp();
        let verb = l2_normalize(self.inter2verb.forward(inter.clone()));
        let inter = l2_normalize(inter);
        let (classifier, verb2hoi) = if zero_shot_eval {
            match (&self.eval_visual_projection, &self.verb2hoi_eval) {
                (Some(c), Some(v)) => (c, v.val()),
                _ => {
                    return Err(HoiclipError::Config(
                        "zero-shot evaluation heads requested, but the checkpoint has no \
                         eval_visual_projection / verb2hoi_proj_eval"
                            .into(),
                    ));
                }
            }
        } else {
            (&self.visual_projection, self.verb2hoi.val())
        };
        let scale_d = scale.clone().reshape([1; D]);
        let hoi = classifier.forward(inter) * scale_d.clone();
        let verb = self.verb_projection.forward(verb) * scale_d;
        let verb_hoi = verb.matmul(verb2hoi.unsqueeze::<D>());
        Ok(hoi + verb_hoi * self.verb_weight)
    }

    /// Object logits from the instance decoder's object states `[..., pairs, hidden_dim]`:
    /// `[..., pairs, object_classes]`.
    pub fn object_logits<const D: usize>(&self, object_states: Tensor<D>) -> Tensor<D> {
        let x = self
            .obj_class_ln
            .forward(self.obj_class_fc.forward(object_states));
        let scale = self.obj_logit_scale.val().exp().reshape([1; D]);
        self.obj_visual_projection.forward(l2_normalize(x)) * scale
    }
}
