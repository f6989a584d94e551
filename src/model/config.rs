//! HOICLIP's configuration: named presets, and the configuration read from an authors'
//! checkpoint (its pickled `args` Namespace, cross-checked against the tensor shapes).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::clip::ClipConfig;
use crate::clip::config::count_layers;
use crate::detection::DetectionConfig;
use crate::detection::resnet::ResNetConfig;
use crate::error::HoiclipError;
use crate::interaction::{HeadsConfig, InteractionDecoderConfig};
use crate::labels::hico::{
    HICO_UNSEEN_NON_RARE_FIRST, HICO_UNSEEN_RARE_FIRST, HICO_UNSEEN_UC, HICO_UNSEEN_UNSEEN_OBJECT,
    HICO_UNSEEN_UNSEEN_VERB,
};
use crate::weights::WeightMap;

use crate::weights::ArgValue;

type Res<T> = std::result::Result<T, HoiclipError>;

/// The dataset a checkpoint was trained on (`args.dataset_file`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum HoiDataset {
    /// HICO-DET: 600 HOI classes, 117 verbs, 80 objects.
    HicoDet,
    /// V-COCO: 263 HOI classes (the authors' table), 29 verbs, 80 objects plus "person only"
    /// (the object of object-less actions).
    Vcoco,
}

impl HoiDataset {
    /// Columns of the dataset's object classifier: HICO-DET 81 (80 objects + no-object),
    /// V-COCO 82 (80 objects, "person only" at 80, "nothing" = no-object at 81: the authors'
    /// `num_obj_classes = len(vcoco_obj_text_label) - 1` = 81, plus one).
    pub fn object_classifier_columns(self) -> usize {
        match self {
            Self::HicoDet => 81,
            Self::Vcoco => 82,
        }
    }

    /// The reference's name (`hico`, `vcoco`).
    pub fn name(self) -> &'static str {
        match self {
            Self::HicoDet => "hico",
            Self::Vcoco => "vcoco",
        }
    }

    /// Parse the reference's `dataset_file`.
    ///
    /// # Errors
    ///
    /// [`HoiclipError::Config`] naming the value for anything but `hico` / `vcoco`.
    pub fn from_name(name: &str) -> Res<Self> {
        match name {
            "hico" => Ok(Self::HicoDet),
            "vcoco" => Ok(Self::Vcoco),
            other => Err(HoiclipError::Config(format!(
                "dataset_file `{other}` is not supported; expected `hico` or `vcoco`"
            ))),
        }
    }
}

/// The zero-shot split a HICO-DET checkpoint was trained on (`args.zero_shot_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ZeroShotType {
    /// Fully supervised (`default`).
    Default,
    /// Rare-first unseen combinations (`rare_first`, RF-UC).
    RareFirst,
    /// Non-rare-first unseen combinations (`non_rare_first`, NF-UC).
    NonRareFirst,
    /// Unseen objects (`unseen_object`, UO).
    UnseenObject,
    /// Unseen verbs (`unseen_verb`, UV).
    UnseenVerb,
    /// One of the five `uc0` … `uc4` splits.
    Uc(u8),
    /// A zero-shot checkpoint (it has `eval_visual_projection`) without `args` saying which
    /// split.
    Unknown,
}

impl ZeroShotType {
    /// Parse the reference's name.
    ///
    /// # Errors
    ///
    /// [`HoiclipError::Config`] naming the value if it is not one of the reference's splits.
    pub fn from_name(name: &str) -> Res<Self> {
        Ok(match name {
            "default" => Self::Default,
            "rare_first" => Self::RareFirst,
            "non_rare_first" => Self::NonRareFirst,
            "unseen_object" => Self::UnseenObject,
            "unseen_verb" => Self::UnseenVerb,
            "uc0" => Self::Uc(0),
            "uc1" => Self::Uc(1),
            "uc2" => Self::Uc(2),
            "uc3" => Self::Uc(3),
            "uc4" => Self::Uc(4),
            other => {
                return Err(HoiclipError::Config(format!(
                    "zero_shot_type `{other}` is not one of default, rare_first, \
                     non_rare_first, unseen_object, unseen_verb, uc0..uc4"
                )));
            }
        })
    }

    /// The reference's name (`unknown` for [`ZeroShotType::Unknown`]).
    pub fn name(self) -> String {
        match self {
            Self::Default => "default".into(),
            Self::RareFirst => "rare_first".into(),
            Self::NonRareFirst => "non_rare_first".into(),
            Self::UnseenObject => "unseen_object".into(),
            Self::UnseenVerb => "unseen_verb".into(),
            Self::Uc(i) => format!("uc{i}"),
            Self::Unknown => "unknown".into(),
        }
    }

    /// The unseen HICO-DET HOI ids of the split (`hico_unseen_index`); empty for `Default`
    /// and `Unknown`.
    pub fn unseen_hois(self) -> &'static [u16] {
        match self {
            Self::Default | Self::Unknown => &[],
            Self::RareFirst => &HICO_UNSEEN_RARE_FIRST,
            Self::NonRareFirst => &HICO_UNSEEN_NON_RARE_FIRST,
            Self::UnseenObject => &HICO_UNSEEN_UNSEEN_OBJECT,
            Self::UnseenVerb => &HICO_UNSEEN_UNSEEN_VERB,
            Self::Uc(i) => HICO_UNSEEN_UC
                .get(usize::from(i))
                .map_or(&[][..], |list| &list[..]),
        }
    }
}

/// Everything needed to build a HOICLIP model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HoiclipConfig {
    /// Training dataset (decides the label tables).
    pub dataset: HoiDataset,
    /// Zero-shot split; anything but `Default` on HICO-DET scores all 600 classes with the
    /// evaluation heads (`eval_visual_projection`, `verb2hoi_proj_eval`), as the reference
    /// does at evaluation.
    pub zero_shot_type: ZeroShotType,
    /// The detection branch (ResNet, DETR encoder, instance decoder, box heads).
    pub detection: DetectionConfig,
    /// The CLIP model (`clip_model.*`).
    pub clip: ClipConfig,
    /// The interaction decoder with knowledge integration.
    pub interaction: InteractionDecoderConfig,
    /// The classifiers and the verb adapter.
    pub heads: HeadsConfig,
    /// Weight of the verb adapter's scores (`verb_weight`: 0.5 in the authors' HICO-DET
    /// scripts, 0.1 in their V-COCO script).
    pub verb_weight: f64,
    /// The CLIP variant's name as the checkpoint gives it (`clip_model`, e.g. `ViT-B/32`);
    /// informational, the shapes decide.
    pub clip_model: String,
}

impl HoiclipConfig {
    /// The released HICO-DET model (`scripts/train_hico.sh`): ResNet-50, 256 wide, 8 heads,
    /// FFN 2048, 6 encoder + 3 decoder layers, 64 pair queries, CLIP ViT-B/32 (token width
    /// 768, embedding 512), 3 fusion layers, 600 HOI classes, 117 verbs, 80 objects + none,
    /// verb weight 0.5.
    pub fn hico_default() -> Self {
        let clip = ClipConfig::vit_b_32();
        let embed = clip.vision.output_dim;
        let clip_dim = clip.vision.width;
        Self {
            dataset: HoiDataset::HicoDet,
            zero_shot_type: ZeroShotType::Default,
            detection: DetectionConfig::new(ResNetConfig::resnet50()),
            interaction: InteractionDecoderConfig::new().with_clip_dim(clip_dim),
            heads: HeadsConfig {
                clip_embed_dim: embed,
                hidden_dim: 256,
                hoi_classes: 600,
                verbs: 117,
                object_classes: 81,
                eval_hoi_classes: None,
                visual_bias: true,
                object_bias: true,
            },
            clip,
            verb_weight: 0.5,
            clip_model: "ViT-B/32".into(),
        }
    }

    /// The released V-COCO model (`scripts/train_vcoco.sh`): as [`Self::hico_default`] with
    /// 263 HOI classes, 29 verbs, 82 object-classifier columns (80 objects, "person only",
    /// "nothing") and verb weight 0.1 (the script's `--verb_weight 0.1`).
    pub fn vcoco_default() -> Self {
        let mut config = Self::hico_default();
        config.dataset = HoiDataset::Vcoco;
        config.heads.hoi_classes = 263;
        config.heads.verbs = 29;
        config.heads.object_classes = HoiDataset::Vcoco.object_classifier_columns();
        config.verb_weight = 0.1;
        config
    }

    /// Whether the forward pass scores with the zero-shot evaluation heads.
    pub fn uses_eval_heads(&self) -> bool {
        self.dataset == HoiDataset::HicoDet
            && self.zero_shot_type != ZeroShotType::Default
            && self.heads.eval_hoi_classes.is_some()
    }

    /// The number of HOI classes the model scores (600 for any HICO-DET checkpoint).
    pub fn scored_hoi_classes(&self) -> usize {
        if self.uses_eval_heads() {
            self.heads
                .eval_hoi_classes
                .unwrap_or(self.heads.hoi_classes)
        } else {
            self.heads.hoi_classes
        }
    }

    /// Infer the configuration from an authors'-layout state dict at top level (`model`'s
    /// entries: `input_proj.weight`, `clip_model.visual.conv1.weight`, ...) and the
    /// checkpoint's `args`, when present. Shapes decide every size; `args` supply what shapes
    /// cannot (attention heads, dataset, zero-shot split, verb weight) and are cross-checked
    /// against the shapes where both say something.
    ///
    /// # Errors
    ///
    /// [`HoiclipError::MissingTensor`] for a tensor whose shape is needed;
    /// [`HoiclipError::Config`] naming the `args` key when it disagrees with the weights or
    /// has a value of the wrong kind, and when CLIP's heads cannot be inferred (a width not a
    /// multiple of 64: build the configuration yourself).
    pub fn from_weights(map: &WeightMap, args: Option<&HashMap<String, ArgValue>>) -> Res<Self> {
        Self::from_weights_with_clip(map, args, None)
    }

    /// As [`Self::from_weights`], with CLIP's configuration given instead of inferred (for
    /// CLIP widths that are not multiples of 64).
    ///
    /// # Errors
    ///
    /// As [`Self::from_weights`].
    pub fn from_weights_with_clip(
        map: &WeightMap,
        args: Option<&HashMap<String, ArgValue>>,
        clip: Option<ClipConfig>,
    ) -> Res<Self> {
        let source = map.source_name().to_string();
        let empty = HashMap::new();
        let args = args.unwrap_or(&empty);
        let arg_usize = |key: &str| -> Res<Option<usize>> {
            match args.get(key) {
                None | Some(ArgValue::None) => Ok(None),
                Some(ArgValue::Int(v)) => usize::try_from(*v).map(Some).map_err(|_| {
                    HoiclipError::Config(format!("{source}: args.{key} = {v} is negative"))
                }),
                Some(other) => Err(HoiclipError::Config(format!(
                    "{source}: args.{key} is {other:?}, expected an integer"
                ))),
            }
        };
        let arg_str = |key: &str| -> Res<Option<String>> {
            match args.get(key) {
                None | Some(ArgValue::None) => Ok(None),
                Some(ArgValue::Str(s)) => Ok(Some(s.clone())),
                Some(other) => Err(HoiclipError::Config(format!(
                    "{source}: args.{key} is {other:?}, expected a string"
                ))),
            }
        };
        let arg_f64 = |key: &str| -> Res<Option<f64>> {
            match args.get(key) {
                None | Some(ArgValue::None) => Ok(None),
                Some(ArgValue::Float(v)) => Ok(Some(*v)),
                Some(ArgValue::Int(v)) => Ok(Some(*v as f64)),
                Some(other) => Err(HoiclipError::Config(format!(
                    "{source}: args.{key} is {other:?}, expected a number"
                ))),
            }
        };
        let check = |key: &str, from_args: Option<usize>, from_shapes: usize| -> Res<()> {
            match from_args {
                Some(v) if v != from_shapes => Err(HoiclipError::Config(format!(
                    "{source}: args.{key} = {v} but the weights have {from_shapes}"
                ))),
                _ => Ok(()),
            }
        };
        let shape = |name: &str| map.required_shape(name);

        if let Some(pre_norm) = args.get("pre_norm")
            && *pre_norm == ArgValue::Bool(true)
        {
            return Err(HoiclipError::Config(format!(
                "{source}: args.pre_norm = True (pre-norm transformer) is not supported; \
                 HOICLIP's released models are post-norm"
            )));
        }
        let n_heads = arg_usize("nheads")?.unwrap_or(8);
        let detection = DetectionConfig::from_weights(map, n_heads)?;
        check("hidden_dim", arg_usize("hidden_dim")?, detection.hidden_dim)?;
        check(
            "num_queries",
            arg_usize("num_queries")?,
            detection.num_queries,
        )?;
        check("enc_layers", arg_usize("enc_layers")?, detection.enc_layers)?;
        check("dec_layers", arg_usize("dec_layers")?, detection.dec_layers)?;
        check(
            "dim_feedforward",
            arg_usize("dim_feedforward")?,
            detection.dim_feedforward,
        )?;

        let clip_map = map.with_prefix("clip_model.");
        let clip = match clip {
            Some(clip) => clip,
            None => ClipConfig::from_weights(&clip_map)?,
        };

        let fusion = "transformer.clip_interaction_decoder.layers.";
        let queries_proj = shape("transformer.queries2spacial_proj.weight")?;
        let fusion_ffn = shape(&format!("{fusion}0.linear1.weight"))?;
        let interaction = InteractionDecoderConfig::new()
            .with_d_model(detection.hidden_dim)
            .with_clip_dim(queries_proj[0])
            .with_n_heads(n_heads)
            .with_dim_feedforward(fusion_ffn[0])
            .with_layers(count_layers(map, fusion));
        check(
            "inter_dec_layers",
            arg_usize("inter_dec_layers")?,
            interaction.layers,
        )?;
        if interaction.clip_dim != clip.vision.width {
            return Err(HoiclipError::Config(format!(
                "{source}: the interaction decoder is {} wide but CLIP's token map is {} wide",
                interaction.clip_dim, clip.vision.width
            )));
        }

        let visual_projection = shape("visual_projection.weight")?;
        let verb_projection = shape("verb_projection.weight")?;
        let obj_projection = shape("obj_visual_projection.weight")?;
        let eval_hoi_classes = map
            .shape("eval_visual_projection.weight")
            .map(|s| s.first().copied().unwrap_or(0));
        let heads = HeadsConfig {
            clip_embed_dim: visual_projection.get(1).copied().unwrap_or(0),
            hidden_dim: detection.hidden_dim,
            hoi_classes: visual_projection.first().copied().unwrap_or(0),
            verbs: verb_projection.first().copied().unwrap_or(0),
            object_classes: obj_projection.first().copied().unwrap_or(0),
            eval_hoi_classes,
            visual_bias: map.contains("visual_projection.bias"),
            object_bias: map.contains("obj_visual_projection.bias"),
        };
        check(
            "clip_embed_dim",
            arg_usize("clip_embed_dim")?,
            heads.clip_embed_dim,
        )?;
        if heads.clip_embed_dim != clip.vision.output_dim {
            return Err(HoiclipError::Config(format!(
                "{source}: the classifiers are {} wide but CLIP embeds to {}",
                heads.clip_embed_dim, clip.vision.output_dim
            )));
        }

        let dataset = match arg_str("dataset_file")? {
            Some(name) => HoiDataset::from_name(&name)?,
            None => match heads.verbs {
                117 => HoiDataset::HicoDet,
                29 => HoiDataset::Vcoco,
                n => {
                    return Err(HoiclipError::Config(format!(
                        "{source}: {n} verbs and no args.dataset_file; expected 117 \
                         (HICO-DET) or 29 (V-COCO)"
                    )));
                }
            },
        };
        let zero_shot_type = match arg_str("zero_shot_type")? {
            Some(name) => ZeroShotType::from_name(&name)?,
            None if eval_hoi_classes.is_some() => ZeroShotType::Unknown,
            None => ZeroShotType::Default,
        };
        let config = Self {
            dataset,
            zero_shot_type,
            detection,
            clip,
            interaction,
            heads,
            // Without `args`, the authors' training script's value for the dataset.
            verb_weight: arg_f64("verb_weight")?.unwrap_or(match dataset {
                HoiDataset::HicoDet => 0.5,
                HoiDataset::Vcoco => 0.1,
            }),
            clip_model: arg_str("clip_model")?.unwrap_or_else(|| "unknown".into()),
        };
        config.validate().map_err(|e| match e {
            HoiclipError::Config(m) => HoiclipError::Config(format!("{source}: {m}")),
            other => other,
        })?;
        Ok(config)
    }

    /// Check the label-table sizes against the dataset.
    ///
    /// # Errors
    ///
    /// [`HoiclipError::Config`] saying which count disagrees with the dataset.
    pub fn validate(&self) -> Res<()> {
        let (verbs, hois) = match self.dataset {
            HoiDataset::HicoDet => (117, 600),
            HoiDataset::Vcoco => (29, 263),
        };
        let name = self.dataset.name();
        if self.heads.verbs != verbs {
            return Err(HoiclipError::Config(format!(
                "{name} has {verbs} verbs, the weights {}",
                self.heads.verbs
            )));
        }
        let columns = self.dataset.object_classifier_columns();
        if self.heads.object_classes != columns {
            let meaning = match self.dataset {
                HoiDataset::HicoDet => "80 objects + no-object",
                HoiDataset::Vcoco => "80 objects + person only + nothing",
            };
            return Err(HoiclipError::Config(format!(
                "{name}: the object classifier has {} columns, expected {columns} ({meaning})",
                self.heads.object_classes
            )));
        }
        if self.scored_hoi_classes() != hois {
            return Err(HoiclipError::Config(format!(
                "{name} has {hois} HOI classes, the model scores {} (zero-shot split {})",
                self.scored_hoi_classes(),
                self.zero_shot_type.name()
            )));
        }
        let unseen = self.zero_shot_type.unseen_hois().len();
        if unseen > 0 && self.heads.hoi_classes != hois && self.heads.hoi_classes + unseen != hois {
            return Err(HoiclipError::Config(format!(
                "zero-shot split {} leaves out {unseen} classes but the training classifier has \
                 {} of {hois}",
                self.zero_shot_type.name(),
                self.heads.hoi_classes
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_validate() {
        HoiclipConfig::hico_default().validate().expect("HICO-DET");
        HoiclipConfig::vcoco_default().validate().expect("V-COCO");
        assert_eq!(HoiclipConfig::vcoco_default().heads.object_classes, 82);
        assert_eq!(HoiclipConfig::vcoco_default().verb_weight, 0.1);
        let mut wrong = HoiclipConfig::vcoco_default();
        wrong.heads.object_classes = 81;
        let err = wrong.validate().expect_err("V-COCO has 82 object columns");
        assert!(err.to_string().contains("expected 82"), "{err}");
        assert_eq!(HoiclipConfig::hico_default().interaction.clip_dim, 768);
        assert_eq!(HoiclipConfig::hico_default().heads.clip_embed_dim, 512);
    }

    #[test]
    fn zero_shot_names_round_trip() {
        for name in [
            "default",
            "rare_first",
            "non_rare_first",
            "unseen_object",
            "unseen_verb",
            "uc0",
            "uc4",
        ] {
            assert_eq!(ZeroShotType::from_name(name).expect(name).name(), name);
        }
        assert!(ZeroShotType::from_name("uc5").is_err());
        assert_eq!(ZeroShotType::RareFirst.unseen_hois().len(), 120);
        assert_eq!(ZeroShotType::UnseenVerb.unseen_hois().len(), 84);
        assert_eq!(ZeroShotType::Uc(2).unseen_hois().len(), 120);
    }

    #[test]
    fn a_zero_shot_split_must_match_the_classifier() {
        let mut config = HoiclipConfig::hico_default();
        config.zero_shot_type = ZeroShotType::RareFirst;
        config.heads.eval_hoi_classes = Some(600);
        config.heads.hoi_classes = 480;
        config.validate().expect("480 seen + 120 unseen");
        config.heads.hoi_classes = 470;
        assert!(config.validate().is_err());
    }
}
