//! A trainable [`HoiclipModel`] built the way the authors' training script builds one when it
//! starts from scratch (`main.py` with `--pretrained <two-branch DETR>`, `--clip_model`,
//! `--verb_pth`):
//!
//! 1. `HOICLIP.__init__` creates every module with PyTorch's default initialisation, then
//!    `GEN._reset_parameters` re-draws every matrix of the transformer with
//!    `xavier_uniform_` and `HOICLIP.reset_parameters` draws `pos_guided_embedd` from U(0, 1);
//! 2. `clip.load` supplies CLIP, whose text encoder builds the classifiers
//!    (`init_classifier_with_CLIP`), and `torch.load(args.verb_pth)` the verb representations;
//! 3. `model.load_state_dict(checkpoint['model'], strict=False)` copies every tensor of the
//!    DETR checkpoint whose name the model has (an error on a shape mismatch), and leaves the
//!    rest as initialised.
//!
//! [`init_for_training`] does the same, in that order of precedence: a tensor of the DETR
//! checkpoint that the model has is loaded, whatever rule would otherwise apply (except CLIP,
//! which always comes from the CLIP file: `clip_model.*` tensors of the checkpoint are
//! ignored); everything else follows the rule of the table below. [`InitReport`] lists what
//! was loaded, what was initialised by which rule and what of the checkpoint was ignored.
//!
//! | Parameters (the authors' state-dict names) | Rule | Where the reference does it |
//! |---|---|---|
//! | `backbone.0.body.*` (ResNet) | from the DETR checkpoint, always required | `--pretrained` |
//! | `input_proj.*`, `transformer.encoder.*`, `transformer.instance_decoder.*`, `hum_bbox_embed.*`, `obj_bbox_embed.*` | from the DETR checkpoint; required unless [`InitOptions::require_detection`] is off, then the rules below (`input_proj` and the box heads as `nn.Conv2d`/`nn.Linear`, the transformer as the GEN transformer) | `tools/convert_parameters.py`, `--pretrained` |
//! | `query_embed_h.weight`, `query_embed_o.weight` | N(0, 1) | `nn.Embedding` |
//! | `pos_guided_embedd.weight` | U(0, 1) | `HOICLIP.reset_parameters` |
//! | every matrix of the GEN transformer (`transformer.*` of rank 2): attention `in_proj_weight` `[3c, c]` (one matrix: fan_in c, fan_out 3c), `out_proj.weight`, `linear1/2.weight`, `queries2spacial_proj.weight`, `obj_class_fc.weight` | xavier_uniform: U(±√(6 / (fan_in + fan_out))) | `GEN._reset_parameters` |
//! | attention `in_proj_bias`, `out_proj.bias` | 0 | `nn.MultiheadAttention._reset_parameters` |
//! | the other biases of the GEN transformer (`linear1/2.bias`, `queries2spacial_proj.bias`, `obj_class_fc.bias`) | U(±1/√fan_in) | `nn.Linear.reset_parameters` |
//! | every LayerNorm (`norm1..3`, `*.norm`, `queries2spacial_proj_norm`, `obj_class_ln`, `obj_class_fc.1`) | weight 1, bias 0 | `nn.LayerNorm` |
//! | `inter2verb.layers.*`, `obj_class_fc.0` (and `input_proj`, box heads when initialised) | weight and bias U(±1/√fan_in) | `nn.Linear` / `nn.Conv2d` defaults (kaiming_uniform, a = √5) |
//! | `visual_projection.weight` | the L2-normalised CLIP text embeddings of the training classes' HOI prompts (a zero-shot split's unseen classes removed) | `init_classifier_with_CLIP`, `--del_unseen` |
//! | `eval_visual_projection.weight` (HICO-DET zero-shot splits) | the normalised text embeddings of all 600 HOI prompts | `init_classifier_with_CLIP` |
//! | `obj_visual_projection.weight` | the normalised text embeddings of the object prompts ([`object_prompts`]) | `init_classifier_with_CLIP` |
//! | `visual_projection.bias`, `obj_visual_projection.bias` (absent with `--fix_clip_label`: [`HeadsConfig`](crate::interaction::HeadsConfig) `visual_bias` / `object_bias` off) | U(±1/√clip_embed_dim) | `nn.Linear` |
//! | `verb_projection.weight` | the verb representations (`verb.pth`, [`VerbSource`]) | `--verb_pth` |
//! | `verb2hoi_proj`, `verb2hoi_proj_eval` | the 0/1 verb → HOI map ([`verb_to_hoi`]) | `HOICLIP.__init__` |
//! | `logit_scale`, `obj_logit_scale` | ln(1 / 0.07) | `HOICLIP.__init__` |
//! | `clip_model.*` | the CLIP file | `clip.load` |
//! | `transformer.hoi_cls` ([`HoiclipModel::hoi_text_embeddings`]) | the normalised text embeddings of every HOI prompt | `HOICLIP.__init__` |
//!
//! Random draws are deterministic: each initialised tensor draws from its own ChaCha8
//! stream, seeded by [`InitOptions::seed`] and selected by a hash of the tensor's name, so a
//! tensor's values depend only on the seed, its name and its rule (not on what else was
//! loaded), and are computed on the host, the same on every backend. They are not PyTorch's
//! numbers (its generator is not reproduced), only its distributions.
//!
//! Not in the model, so neither loaded nor initialised: GEN-VLKT's
//! `transformer.interaction_decoder`, `transformer.inter_guided_embedd` (U(0, 1) in the
//! reference), `hoi_class_fc`, the fusion layers' `norm4`; the report lists such checkpoint
//! tensors as ignored. The reference's `--no_clip_cls_init` (random classifiers) is not
//! offered.
//!
//! The model is returned with every parameter trainable; apply
//! [`apply_freeze`](crate::train::apply_freeze) for the authors' frozen set.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};

use burn::module::Param;
use burn::tensor::{Device, Tensor, TensorData};
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::clip::{Clip, l2_normalize};
use crate::detection::DetectionBranch;
use crate::detection::box_head::Mlp;
use crate::detection::branch::is_detection_tensor;
use crate::detection::resnet::ResNet;
use crate::detection::transformer::{DetrLayerConfig, Encoder, InstanceDecoder};
use crate::error::{HoiclipError, Result};
use crate::interaction::{HoiHeads, InteractionDecoder};
use crate::model::checkpoint::is_known_unused;
use crate::model::{HoiDataset, HoiVocabulary, HoiclipConfig, HoiclipModel};
use crate::nn::cpu::host_values;
use crate::weights::{WeightFormat, WeightLoader, WeightMap};

/// The prefix of the ResNet in the authors' state dicts.
const BACKBONE: &str = "backbone.0.body";

/// The name the report gives the HOI text embeddings (the reference's `transformer.hoi_cls`,
/// a plain tensor there).
pub const HOI_TEXT_NAME: &str = "transformer.hoi_cls";

/// The initial value of both logit scales: ln(1 / 0.07).
pub fn logit_scale_init() -> f64 {
    (1.0f64 / 0.07).ln()
}

/// How a tensor that the DETR checkpoint does not supply gets its initial values.
#[derive(Clone, Debug, PartialEq)]
pub enum InitRule {
    /// `xavier_uniform_` (gain 1): U(±√(6 / (fan_in + fan_out))), PyTorch's fans of the
    /// stored `[out, in]` matrix.
    XavierUniform {
        /// Columns of the PyTorch matrix (`size(1)`).
        fan_in: usize,
        /// Rows of the PyTorch matrix (`size(0)`).
        fan_out: usize,
    },
    /// PyTorch's default for `nn.Linear` / `nn.Conv2d` weights (kaiming_uniform with
    /// a = √5) and biases: U(±1/√fan_in).
    TorchDefault {
        /// Inputs of the layer (`in_features`, or `in_channels · kernel area`).
        fan_in: usize,
    },
    /// All zeros.
    Zeros,
    /// All ones.
    Ones,
    /// Every element the same value.
    Constant(f64),
    /// N(0, 1) (`nn.Embedding`).
    StandardNormal,
    /// U(0, 1) (`nn.init.uniform_`).
    UniformUnit,
    /// The L2-normalised CLIP text embeddings of HOI prompts (one row per class).
    HoiText,
    /// The L2-normalised CLIP text embeddings of the object prompts.
    ObjectText,
    /// The verb representations ([`VerbSource`]).
    VerbRepresentations,
    /// The 0/1 verb → HOI map ([`verb_to_hoi`]).
    VerbToHoi,
}

impl InitRule {
    /// Whether the rule draws random numbers.
    pub fn is_random(&self) -> bool {
        matches!(
            self,
            Self::XavierUniform { .. }
                | Self::TorchDefault { .. }
                | Self::StandardNormal
                | Self::UniformUnit
        )
    }

    /// The half-width of the uniform rules (`None` for the others).
    pub fn uniform_bound(&self) -> Option<f64> {
        match *self {
            Self::XavierUniform { fan_in, fan_out } => {
                Some((6.0 / (fan_in + fan_out).max(1) as f64).sqrt())
            }
            Self::TorchDefault { fan_in } if fan_in > 0 => Some(1.0 / (fan_in as f64).sqrt()),
            Self::TorchDefault { .. } => Some(0.0),
            _ => None,
        }
    }
}

impl fmt::Display for InitRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::XavierUniform { fan_in, fan_out } => write!(
                f,
                "xavier_uniform (fan_in {fan_in}, fan_out {fan_out}: U(±{:.4}))",
                self.uniform_bound().unwrap_or(0.0)
            ),
            Self::TorchDefault { fan_in } => write!(
                f,
                "torch default (fan_in {fan_in}: U(±{:.4}))",
                self.uniform_bound().unwrap_or(0.0)
            ),
            Self::Zeros => write!(f, "zeros"),
            Self::Ones => write!(f, "ones"),
            Self::Constant(v) => write!(f, "constant {v}"),
            Self::StandardNormal => write!(f, "N(0, 1)"),
            Self::UniformUnit => write!(f, "U(0, 1)"),
            Self::HoiText => write!(f, "normalised CLIP text embeddings of the HOI prompts"),
            Self::ObjectText => write!(f, "normalised CLIP text embeddings of the object prompts"),
            Self::VerbRepresentations => write!(f, "verb representations"),
            Self::VerbToHoi => write!(f, "verb → HOI map"),
        }
    }
}

/// One tensor that [`init_for_training`] initialised instead of loading.
#[derive(Clone, Debug, PartialEq)]
pub struct InitialisedTensor {
    /// The authors' state-dict name (`transformer.queries2spacial_proj.weight`).
    pub name: String,
    /// PyTorch's shape (`[out, in]` for a linear layer's weight).
    pub shape: Vec<usize>,
    /// How its values were made.
    pub rule: InitRule,
}

/// What [`init_for_training`] did with every tensor.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct InitReport {
    /// The DETR checkpoint (file, and the prefix its state dict was found under).
    pub detr_source: String,
    /// The CLIP weights.
    pub clip_source: String,
    /// Where the verb representations came from.
    pub verb_source: String,
    /// The seed of the random draws.
    pub seed: u64,
    /// Tensors loaded from the DETR checkpoint, by the authors' names, sorted.
    pub loaded: Vec<String>,
    /// CLIP tensors loaded from the CLIP weights, as `clip_model.<OpenAI name>`, sorted.
    pub clip_loaded: Vec<String>,
    /// Tensors initialised by rule, in model order.
    pub initialised: Vec<InitialisedTensor>,
    /// Tensors of the DETR checkpoint the model does not use (GEN-VLKT's
    /// `transformer.interaction_decoder.*`, `query_embed.weight`, `obj_class_embed.*`, the
    /// backbone's `num_batches_tracked`, `clip_model.*`, ...), sorted.
    pub ignored: Vec<String>,
}

impl InitReport {
    /// The rule a tensor was initialised by, if it was initialised.
    pub fn rule(&self, name: &str) -> Option<&InitRule> {
        self.initialised
            .iter()
            .find(|t| t.name == name)
            .map(|t| &t.rule)
    }

    /// Whether a tensor was loaded from the DETR checkpoint.
    pub fn is_loaded(&self, name: &str) -> bool {
        self.loaded
            .binary_search_by(|n| n.as_str().cmp(name))
            .is_ok()
    }

    /// Whether a tensor of the DETR checkpoint was ignored.
    pub fn is_ignored(&self, name: &str) -> bool {
        self.ignored
            .binary_search_by(|n| n.as_str().cmp(name))
            .is_ok()
    }
}

impl fmt::Display for InitReport {
    /// Counts, then every initialised tensor with its rule, then the ignored names.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "loaded {} tensors from {}, {} CLIP tensors from {}; verb representations from \
             {}; initialised {} tensors (seed {}); ignored {} tensors of the checkpoint",
            self.loaded.len(),
            self.detr_source,
            self.clip_loaded.len(),
            self.clip_source,
            self.verb_source,
            self.initialised.len(),
            self.seed,
            self.ignored.len()
        )?;
        for t in &self.initialised {
            writeln!(f, "  init    {} {:?}: {}", t.name, t.shape, t.rule)?;
        }
        for name in &self.ignored {
            writeln!(f, "  ignored {name}")?;
        }
        Ok(())
    }
}

/// Options of [`init_for_training`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InitOptions {
    /// Seed of every random draw (the reference's `--seed`, 42 by default).
    pub seed: u64,
    /// Refuse a DETR checkpoint that lacks a tensor of `input_proj`, the encoder, the
    /// instance decoder or the box heads (on by default: such a checkpoint is almost always
    /// not the output of `tools/convert_parameters.py`). Off, those tensors are initialised
    /// as a fresh model's (see the module table); the backbone is required either way.
    pub require_detection: bool,
}

impl Default for InitOptions {
    fn default() -> Self {
        Self {
            seed: 42,
            require_detection: true,
        }
    }
}

/// The verb representations that initialise `verb_projection.weight`: a
/// `[verbs, clip_embed_dim]` matrix (the authors' `verb.pth`: `tmp/verb.pth` for HICO-DET,
/// `tmp/vcoco_verb.pth` for V-COCO).
#[derive(Clone, Debug)]
// A one-off argument: the size of Burn's tensor handle does not matter here.
#[allow(clippy::large_enum_variant)]
pub enum VerbSource {
    /// A tensor on any device.
    Tensor(Tensor<2>),
    /// Host values, row-major.
    Values {
        /// `[verbs, clip_embed_dim]`.
        shape: [usize; 2],
        /// The values.
        values: Vec<f32>,
    },
    /// A file, read by [`read_verb_file`].
    File(PathBuf),
}

/// The weights [`init_for_training`] starts from.
#[derive(Clone, Debug)]
pub struct InitSources {
    /// The two-branch DETR checkpoint (`tools/convert_parameters.py` output; the state dict
    /// at top level or under any prefix, such as `model.`).
    pub detr: WeightMap,
    /// CLIP weights: OpenAI's layout (what `clip.load` reads) or Hugging Face's, under any
    /// prefix.
    pub clip: WeightMap,
    /// The verb representations.
    pub verbs: VerbSource,
}

impl InitSources {
    /// Open the DETR checkpoint and the CLIP weights (PyTorch or safetensors files).
    ///
    /// # Errors
    ///
    /// The weight-file errors of [`WeightMap::from_file`], naming the file.
    pub fn from_files(
        detr: impl AsRef<Path>,
        clip: impl AsRef<Path>,
        verbs: VerbSource,
    ) -> Result<Self> {
        Ok(Self {
            detr: WeightMap::from_file(detr)?,
            clip: WeightMap::from_file(clip)?,
            verbs,
        })
    }
}

/// The authors' object prompts of a dataset, in object-classifier order
/// (`hico_obj_text_label`, `vcoco_obj_text_label`): HICO-DET "a photo of a/an {object}" for
/// the 80 objects and "a photo of nothing" (81 prompts); V-COCO "a photo of a person and
/// a/an {object}", "a photo of a person only" and "a photo of nothing" (82 prompts).
pub fn object_prompts(dataset: HoiDataset) -> Vec<String> {
    let vocabulary = HoiVocabulary::for_dataset(dataset);
    // The authors write "an" before these five names only ("a umbrella" stays).
    let article = |name: &str| match name {
        "airplane" | "elephant" | "apple" | "orange" | "oven" => "an",
        _ => "a",
    };
    let person_only = vocabulary.no_object_index();
    let mut prompts: Vec<String> = vocabulary
        .objects
        .iter()
        .enumerate()
        .map(|(i, object)| {
            let name = object.replace('_', " ");
            match dataset {
                _ if Some(i) == person_only => "a photo of a person only".to_string(),
                HoiDataset::HicoDet => format!("a photo of {} {name}", article(object)),
                HoiDataset::Vcoco => {
                    format!("a photo of a person and {} {name}", article(object))
                }
            }
        })
        .collect();
    prompts.push("a photo of nothing".into());
    prompts
}

/// The rows of the vocabulary's classes that the training classifier scores: all of them, or
/// all but the zero-shot split's unseen classes when the configuration's training classifier
/// is that much smaller (the authors' `--del_unseen`).
///
/// # Errors
///
/// [`HoiclipError::Config`] when the classifier size fits neither.
pub fn training_classes(config: &HoiclipConfig, vocabulary: &HoiVocabulary) -> Result<Vec<usize>> {
    let all = vocabulary.classes.len();
    let trained = config.heads.hoi_classes;
    if trained == all {
        return Ok((0..all).collect());
    }
    let unseen: BTreeSet<usize> = config
        .zero_shot_type
        .unseen_hois()
        .iter()
        .map(|&i| usize::from(i))
        .collect();
    if !unseen.is_empty() && trained + unseen.len() == all {
        return Ok((0..all).filter(|i| !unseen.contains(i)).collect());
    }
    Err(HoiclipError::Config(format!(
        "the training HOI classifier has {trained} classes; the {} vocabulary has {all} and \
         zero-shot split `{}` leaves out {} (expected {all} or {})",
        config.dataset.name(),
        config.zero_shot_type.name(),
        unseen.len(),
        all.saturating_sub(unseen.len())
    )))
}

/// The 0/1 verb → HOI map `[verbs, columns.len()]`, row-major, as `HOICLIP.__init__` builds
/// `verb2hoi_proj` (`columns` are the vocabulary classes scored, in order):
///
/// - HICO-DET: `map[verb of class c][j] = 1` for column `j` scoring class `c`
///   (`HOI_IDX_TO_ACT_IDX`, unseen columns removed on a zero-shot split);
/// - V-COCO: `map[verb][object] = 1` for every class `(verb, object)` — the authors' code
///   indexes the column by the class's object, not by the class, and their released model
///   was trained with that map; it is reproduced (`columns` only sets the width).
pub fn verb_to_hoi(dataset: HoiDataset, vocabulary: &HoiVocabulary, columns: &[usize]) -> Vec<f32> {
    let verbs = vocabulary.verbs.len();
    let width = columns.len();
    let mut map = vec![0.0f32; verbs * width];
    match dataset {
        HoiDataset::HicoDet => {
            for (j, &c) in columns.iter().enumerate() {
                if let Some(class) = vocabulary.classes.get(c)
                    && class.verb < verbs
                {
                    map[class.verb * width + j] = 1.0;
                }
            }
        }
        HoiDataset::Vcoco => {
            for class in &vocabulary.classes {
                if class.verb < verbs && class.object < width {
                    map[class.verb * width + class.object] = 1.0;
                }
            }
        }
    }
    map
}

/// Read verb representations from a file: the authors' `verb.pth` (`torch.save` of a bare
/// tensor), or any file [`WeightMap`] reads (PyTorch dictionary, safetensors) holding
/// `verb_projection.weight` under any prefix, or a single tensor. Returns the shape and the
/// row-major values.
///
/// # Errors
///
/// [`HoiclipError::Io`] / [`HoiclipError::WeightFile`] for an unreadable file;
/// [`HoiclipError::Config`] naming the file when it holds several tensors and no
/// `verb_projection.weight`, or a tensor that is not a matrix.
pub fn read_verb_file(path: &Path) -> Result<(Vec<usize>, Vec<f32>)> {
    let (shape, values) = match crate::weights::read_bare_tensor(path)? {
        Some(found) => found,
        None => {
            let map = WeightMap::from_file(path)?;
            let name = match map.find_prefix("verb_projection.weight") {
                Some(prefix) => format!("{prefix}verb_projection.weight"),
                None => {
                    let names: Vec<&str> = map.names().collect();
                    match names.as_slice() {
                        [only] => (*only).to_string(),
                        _ => {
                            return Err(HoiclipError::Config(format!(
                                "{}: expected the verb representations as a single tensor or \
                                 as `verb_projection.weight`; the file holds {} tensors",
                                path.display(),
                                names.len()
                            )));
                        }
                    }
                }
            };
            let shape = map.required_shape(&name)?;
            (shape, map.read_f32(&name)?)
        }
    };
    if shape.len() != 2 {
        return Err(HoiclipError::Config(format!(
            "{}: the verb representations have shape {shape:?}, expected a \
             [verbs, clip_embed_dim] matrix",
            path.display()
        )));
    }
    Ok((shape, values))
}

/// Build a trainable HOICLIP as the authors' training script does from scratch (see the
/// [module documentation](self) for the rule applied to each parameter): the detection branch
/// from the two-branch DETR checkpoint, CLIP from its weights, `verb_projection` from the
/// verb representations, the classifiers from CLIP text embeddings, the rest drawn at random
/// from `options.seed`. Returns the model (every parameter trainable, on `device`) and what
/// was loaded, initialised and ignored.
///
/// # Errors
///
/// - [`HoiclipError::WrongCheckpoint`] for a DETR checkpoint without a detection branch, or a
///   plain (unconverted) DETR;
/// - [`HoiclipError::ShapeMismatch`] naming the tensor and the file when a tensor of the
///   checkpoint (or of CLIP, or the verb representations) does not fit `config`;
/// - [`HoiclipError::MissingTensor`] / [`HoiclipError::Config`] naming the file and tensors
///   when the backbone, or (with `require_detection`) another part of the detection branch,
///   is missing;
/// - [`HoiclipError::UnexpectedTensors`] when the checkpoint holds tensors inside the
///   model's modules that `config` has no place for (more layers, a bias the configuration
///   has not);
/// - [`HoiclipError::Config`] for an inconsistent configuration; tokenizer errors.
pub fn init_for_training(
    config: &HoiclipConfig,
    sources: &InitSources,
    options: &InitOptions,
    device: &Device,
) -> Result<(HoiclipModel, InitReport)> {
    config.validate()?;
    check_widths(config)?;
    let detr = locate_detr(&sources.detr)?;
    let eval = config.uses_eval_heads();

    // The checkpoint first (cheap checks before the text encoder runs). The backbone comes
    // from it alone.
    if !detr.contains(&format!("{BACKBONE}.conv1.weight")) {
        return Err(HoiclipError::MissingTensor {
            name: format!("{BACKBONE}.conv1.weight"),
            expected: vec![config.detection.backbone.stem_width, 3, 7, 7],
            source_name: format!(
                "{} (HOICLIP's ResNet starts from the DETR checkpoint; the reference's \
                 fallback, torchvision's ImageNet weights, is not available here)",
                detr.source_name()
            ),
        });
    }
    let mut backbone_loader = WeightLoader::new(&detr, device);
    let backbone = ResNet::load(&mut backbone_loader, BACKBONE, &config.detection.backbone)?;
    let not_backbone: BTreeSet<String> = backbone_loader.unused().into_iter().collect();
    let mut loaded: BTreeSet<String> = detr
        .names()
        .filter(|n| !not_backbone.contains(*n))
        .map(str::to_string)
        .collect();

    // Everything else: from the checkpoint where it has the tensor, else by rule.
    let specs = parameter_specs(config);
    let mut missing = Vec::new();
    for spec in &specs {
        match detr.shape(&spec.name) {
            Some(found) if found != spec.shape.as_slice() => {
                return Err(HoiclipError::ShapeMismatch {
                    name: spec.name.clone(),
                    expected: spec.shape.clone(),
                    found: found.to_vec(),
                    source_name: detr.source_name().to_string(),
                });
            }
            Some(_) => {
                loaded.insert(spec.name.clone());
            }
            None if spec.from_detr && options.require_detection => {
                missing.push(spec.name.clone());
            }
            None => {}
        }
    }
    if !missing.is_empty() {
        return Err(HoiclipError::Config(format!(
            "{} lacks {} tensor(s) of the detection branch: {}; a two-branch DETR checkpoint \
             (tools/convert_parameters.py) holds them all (set InitOptions::require_detection \
             to false to initialise them instead)",
            detr.source_name(),
            missing.len(),
            list_names(&missing)
        )));
    }
    // Tensors inside the model's modules that nothing takes: the configuration disagrees.
    let unexpected: Vec<String> = detr
        .names()
        .filter(|n| !loaded.contains(*n) && is_model_tensor(n) && !is_known_unused(n, eval))
        .map(str::to_string)
        .collect();
    if !unexpected.is_empty() {
        return Err(HoiclipError::UnexpectedTensors {
            count: unexpected.len(),
            names: format!(
                "{} (the configuration has no place for them: more layers or blocks, or a \
                 bias, than it describes)",
                list_names(&unexpected)
            ),
            source_name: detr.source_name().to_string(),
        });
    }
    let ignored: Vec<String> = detr
        .names()
        .filter(|n| !loaded.contains(*n))
        .map(str::to_string)
        .collect();

    // CLIP, and the names it took from its file.
    let (clip_map, _layout) = Clip::locate(&sources.clip)?;
    let mut clip_loader = WeightLoader::new(&clip_map, device);
    let clip = Clip::load(&mut clip_loader, &config.clip)?;
    let clip_unused: BTreeSet<String> = clip_loader.unused().into_iter().collect();
    let clip_loaded: Vec<String> = clip_map
        .names()
        .filter(|n| !clip_unused.contains(*n))
        .map(|n| format!("clip_model.{n}"))
        .collect();
    clip_loader
        .finish(|name| matches!(name, "input_resolution" | "context_length" | "vocab_size"))?;

    // The data the non-random rules need.
    let e = config.heads.clip_embed_dim;
    let verbs = config.heads.verbs;
    let (verb_values, verb_source) = verb_values(&sources.verbs, [verbs, e])?;
    let vocabulary = HoiVocabulary::for_dataset(config.dataset);
    let classes = vocabulary.classes.len();
    let train_rows = training_classes(config, &vocabulary)?;
    let objects = object_prompts(config.dataset);
    if objects.len() != config.heads.object_classes {
        return Err(HoiclipError::Config(format!(
            "the object classifier has {} columns; the {} object prompts are {}",
            config.heads.object_classes,
            config.dataset.name(),
            objects.len()
        )));
    }
    if let Some(n) = config.heads.eval_hoi_classes
        && n != classes
    {
        return Err(HoiclipError::Config(format!(
            "the evaluation classifier has {n} classes, the {} vocabulary {classes}",
            config.dataset.name()
        )));
    }
    let hoi_text = host_values(l2_normalize(clip.encode_text(&vocabulary.prompts())?))?;
    let object_refs: Vec<&str> = objects.iter().map(String::as_str).collect();
    let object_text = host_values(l2_normalize(clip.encode_text(&object_refs)?))?;
    let rows = |list: &[usize]| -> Vec<f32> {
        list.iter()
            .flat_map(|&r| hoi_text[r * e..(r + 1) * e].iter().copied())
            .collect()
    };
    let all_rows: Vec<usize> = (0..classes).collect();
    let mut data: HashMap<String, Vec<f32>> = HashMap::new();
    data.insert("verb_projection.weight".into(), verb_values);
    data.insert("visual_projection.weight".into(), rows(&train_rows));
    data.insert(
        "verb2hoi_proj".into(),
        verb_to_hoi(config.dataset, &vocabulary, &train_rows),
    );
    data.insert("obj_visual_projection.weight".into(), object_text);
    if config.heads.eval_hoi_classes.is_some() {
        data.insert("eval_visual_projection.weight".into(), rows(&all_rows));
        data.insert(
            "verb2hoi_proj_eval".into(),
            verb_to_hoi(config.dataset, &vocabulary, &all_rows),
        );
    }

    // The values: the checkpoint's, or the rule's.
    let mut tensors = Vec::with_capacity(specs.len());
    let mut initialised = Vec::new();
    for spec in specs {
        if loaded.contains(&spec.name) {
            let values = detr.read_f32(&spec.name)?;
            tensors.push((spec.name, spec.shape, values));
            continue;
        }
        let values = match data.remove(&spec.name) {
            Some(values) => values,
            None => draw(&spec, options.seed),
        };
        initialised.push(InitialisedTensor {
            name: spec.name.clone(),
            shape: spec.shape.clone(),
            rule: spec.rule,
        });
        tensors.push((spec.name, spec.shape, values));
    }

    let merged = WeightMap::from_f32_tensors(
        &format!("{} with initialised tensors", detr.source_name()),
        WeightFormat::Pytorch,
        tensors,
    )?;
    let mut loader = WeightLoader::new(&merged, device);
    let detection = detection_branch(&mut loader, config, backbone)?;
    let interaction = InteractionDecoder::load(&mut loader, "transformer", &config.interaction)?;
    let heads = HoiHeads::load(&mut loader, &config.heads, config.verb_weight)?;
    loader.finish(|_| false)?;

    let hoi_text_embeddings = Param::from_tensor(Tensor::from_data(
        TensorData::new(hoi_text, [classes, e]),
        device,
    ));
    initialised.push(InitialisedTensor {
        name: HOI_TEXT_NAME.into(),
        shape: vec![classes, e],
        rule: InitRule::HoiText,
    });
    let model = HoiclipModel {
        detection,
        clip,
        interaction,
        heads,
        hoi_text_embeddings,
        config: config.clone(),
        vocabulary,
    };
    let report = InitReport {
        detr_source: detr.source_name().to_string(),
        clip_source: clip_map.source_name().to_string(),
        verb_source,
        seed: options.seed,
        loaded: loaded.into_iter().collect(),
        clip_loaded,
        initialised,
        ignored,
    };
    Ok((model, report))
}

/// The widths the parts share must agree.
fn check_widths(config: &HoiclipConfig) -> Result<()> {
    let checks = [
        (
            "CLIP's token width and the interaction decoder's clip_dim",
            config.clip.vision.width,
            config.interaction.clip_dim,
        ),
        (
            "CLIP's embedding and the classifiers' clip_embed_dim",
            config.clip.vision.output_dim,
            config.heads.clip_embed_dim,
        ),
        (
            "the detection width and the interaction decoder's d_model",
            config.detection.hidden_dim,
            config.interaction.d_model,
        ),
        (
            "the detection width and the heads' hidden_dim",
            config.detection.hidden_dim,
            config.heads.hidden_dim,
        ),
    ];
    for (what, a, b) in checks {
        if a != b {
            return Err(HoiclipError::Config(format!("{what} differ: {a} vs {b}")));
        }
    }
    Ok(())
}

/// The DETR state dict at top level, refusing files without a detection branch and plain
/// DETR checkpoints that were not converted.
fn locate_detr(map: &WeightMap) -> Result<WeightMap> {
    let anchors = [
        "input_proj.weight",
        "backbone.0.body.conv1.weight",
        "transformer.encoder.layers.0.linear1.weight",
    ];
    let Some(prefix) = anchors.iter().find_map(|a| map.find_prefix(a)) else {
        return Err(HoiclipError::WrongCheckpoint {
            path: PathBuf::from(map.source_name()),
            expected: "two-branch DETR".into(),
            found: format!(
                "no detection branch (none of {} under any prefix; {} tensors)",
                anchors.join(", "),
                map.len()
            ),
        });
    };
    let detr = map.with_prefix(&prefix);
    let has = |start: &str| detr.names().any(|n| n.starts_with(start));
    if has("transformer.decoder.") && !has("transformer.instance_decoder.") {
        return Err(HoiclipError::WrongCheckpoint {
            path: PathBuf::from(map.source_name()),
            expected: "two-branch DETR".into(),
            found: "a plain DETR detector (`transformer.decoder`, `bbox_embed`); convert it with \
                    the authors' tools/convert_parameters.py first"
                .into(),
        });
    }
    Ok(detr)
}

/// Whether a checkpoint name falls inside a module the model has (a tensor there that the
/// model did not take means the configuration does not fit the checkpoint).
fn is_model_tensor(name: &str) -> bool {
    const PREFIXES: [&str; 11] = [
        "transformer.clip_interaction_decoder.",
        "transformer.queries2spacial_proj.",
        "transformer.queries2spacial_proj_norm.",
        "transformer.obj_class_fc.",
        "transformer.obj_class_ln.",
        "inter2verb.",
        "verb_projection.",
        "visual_projection.",
        "eval_visual_projection.",
        "obj_class_fc.",
        "obj_visual_projection.",
    ];
    is_detection_tensor(name)
        || PREFIXES.iter().any(|p| name.starts_with(p))
        || matches!(
            name,
            "logit_scale" | "obj_logit_scale" | "verb2hoi_proj" | "verb2hoi_proj_eval"
        )
}

/// The first names of a list, for an error message.
fn list_names(names: &[String]) -> String {
    let shown: Vec<&str> = names.iter().take(8).map(String::as_str).collect();
    if names.len() > shown.len() {
        format!(
            "{}, ... ({} more)",
            shown.join(", "),
            names.len() - shown.len()
        )
    } else {
        shown.join(", ")
    }
}

/// The verb representations as host values, checked against `[verbs, clip_embed_dim]`, and
/// a description of their source.
fn verb_values(source: &VerbSource, expected: [usize; 2]) -> Result<(Vec<f32>, String)> {
    let (shape, values, name) = match source {
        VerbSource::Tensor(t) => (
            t.dims().to_vec(),
            host_values(t.clone())?,
            "a tensor argument".to_string(),
        ),
        VerbSource::Values { shape, values } => {
            if values.len() != shape[0] * shape[1] {
                return Err(HoiclipError::Config(format!(
                    "the verb representations have {} values for shape {shape:?}",
                    values.len()
                )));
            }
            (shape.to_vec(), values.clone(), "host values".to_string())
        }
        VerbSource::File(path) => {
            let (shape, values) = read_verb_file(path)?;
            (shape, values, path.display().to_string())
        }
    };
    if shape != expected {
        return Err(HoiclipError::ShapeMismatch {
            name: "verb_projection.weight".into(),
            expected: expected.to_vec(),
            found: shape,
            source_name: format!("the verb representations ({name})"),
        });
    }
    Ok((values, name))
}

/// The detection branch: the backbone already loaded, the rest from `loader`.
fn detection_branch(
    loader: &mut WeightLoader<'_>,
    config: &HoiclipConfig,
    backbone: ResNet,
) -> Result<DetectionBranch> {
    let c = &config.detection;
    let d = c.hidden_dim;
    let q = c.num_queries;
    let layer = DetrLayerConfig::new(d, c.n_heads, c.dim_feedforward);
    Ok(DetectionBranch {
        backbone,
        input_proj: loader.conv2d("input_proj", c.backbone.out_channels(), d, 1, 1, 0, true)?,
        encoder: Encoder::load(loader, "transformer.encoder", c.enc_layers, &layer)?,
        instance_decoder: InstanceDecoder::load(
            loader,
            "transformer.instance_decoder",
            c.dec_layers,
            &layer,
        )?,
        query_embed_h: loader.param("query_embed_h.weight", [q, d])?,
        query_embed_o: loader.param("query_embed_o.weight", [q, d])?,
        pos_guided_embedd: loader.param("pos_guided_embedd.weight", [q, d])?,
        hum_bbox_embed: Mlp::load(loader, "hum_bbox_embed", d, d, 4, 3)?,
        obj_bbox_embed: Mlp::load(loader, "obj_bbox_embed", d, d, 4, 3)?,
    })
}

/// One tensor of the model besides the backbone and CLIP: its name, PyTorch shape and rule.
struct Spec {
    name: String,
    shape: Vec<usize>,
    rule: InitRule,
    /// Expected from a two-branch DETR checkpoint.
    from_detr: bool,
}

/// The list of [`Spec`]s, in model order.
#[derive(Default)]
struct Specs {
    list: Vec<Spec>,
    /// Whether the tensors pushed now are expected from the DETR checkpoint.
    from_detr: bool,
}

impl Specs {
    fn push(&mut self, name: String, shape: Vec<usize>, rule: InitRule) {
        self.list.push(Spec {
            name,
            shape,
            rule,
            from_detr: self.from_detr,
        });
    }

    /// `nn.Linear` with PyTorch's default initialisation.
    fn torch_linear(&mut self, prefix: &str, d_in: usize, d_out: usize, bias: bool) {
        let rule = InitRule::TorchDefault { fan_in: d_in };
        self.push(format!("{prefix}.weight"), vec![d_out, d_in], rule.clone());
        if bias {
            self.push(format!("{prefix}.bias"), vec![d_out], rule);
        }
    }

    /// `nn.Linear` inside the GEN transformer: xavier weight, default bias.
    fn gen_linear(&mut self, prefix: &str, d_in: usize, d_out: usize) {
        self.push(
            format!("{prefix}.weight"),
            vec![d_out, d_in],
            InitRule::XavierUniform {
                fan_in: d_in,
                fan_out: d_out,
            },
        );
        self.push(
            format!("{prefix}.bias"),
            vec![d_out],
            InitRule::TorchDefault { fan_in: d_in },
        );
    }

    fn layer_norm(&mut self, prefix: &str, d: usize) {
        self.push(format!("{prefix}.weight"), vec![d], InitRule::Ones);
        self.push(format!("{prefix}.bias"), vec![d], InitRule::Zeros);
    }

    /// `nn.MultiheadAttention` inside the GEN transformer.
    fn attention(&mut self, prefix: &str, d: usize) {
        self.push(
            format!("{prefix}.in_proj_weight"),
            vec![3 * d, d],
            InitRule::XavierUniform {
                fan_in: d,
                fan_out: 3 * d,
            },
        );
        self.push(
            format!("{prefix}.in_proj_bias"),
            vec![3 * d],
            InitRule::Zeros,
        );
        self.push(
            format!("{prefix}.out_proj.weight"),
            vec![d, d],
            InitRule::XavierUniform {
                fan_in: d,
                fan_out: d,
            },
        );
        self.push(format!("{prefix}.out_proj.bias"), vec![d], InitRule::Zeros);
    }

    fn encoder_layer(&mut self, prefix: &str, d: usize, ffn: usize) {
        self.attention(&format!("{prefix}.self_attn"), d);
        self.gen_linear(&format!("{prefix}.linear1"), d, ffn);
        self.gen_linear(&format!("{prefix}.linear2"), ffn, d);
        self.layer_norm(&format!("{prefix}.norm1"), d);
        self.layer_norm(&format!("{prefix}.norm2"), d);
    }

    fn decoder_layer(&mut self, prefix: &str, d: usize, ffn: usize) {
        self.attention(&format!("{prefix}.self_attn"), d);
        self.attention(&format!("{prefix}.multihead_attn"), d);
        self.gen_linear(&format!("{prefix}.linear1"), d, ffn);
        self.gen_linear(&format!("{prefix}.linear2"), ffn, d);
        self.layer_norm(&format!("{prefix}.norm1"), d);
        self.layer_norm(&format!("{prefix}.norm2"), d);
        self.layer_norm(&format!("{prefix}.norm3"), d);
    }

    /// DETR's `MLP` (`input → hidden × (n − 1) → output`), default initialisation.
    fn mlp(&mut self, prefix: &str, input: usize, hidden: usize, output: usize, n: usize) {
        for i in 0..n {
            let d_in = if i == 0 { input } else { hidden };
            let d_out = if i + 1 == n { output } else { hidden };
            self.torch_linear(&format!("{prefix}.layers.{i}"), d_in, d_out, true);
        }
    }
}

/// Every tensor of the model besides the backbone and CLIP, with its rule.
fn parameter_specs(config: &HoiclipConfig) -> Vec<Spec> {
    let det = &config.detection;
    let (d, ffn, q) = (det.hidden_dim, det.dim_feedforward, det.num_queries);
    let inter = &config.interaction;
    let c = inter.clip_dim;
    let heads = &config.heads;
    let e = heads.clip_embed_dim;
    let mut s = Specs {
        from_detr: true,
        ..Specs::default()
    };

    // What a two-branch DETR checkpoint holds.
    let c_in = det.backbone.out_channels();
    let conv_rule = InitRule::TorchDefault { fan_in: c_in };
    s.push(
        "input_proj.weight".into(),
        vec![d, c_in, 1, 1],
        conv_rule.clone(),
    );
    s.push("input_proj.bias".into(), vec![d], conv_rule);
    for i in 0..det.enc_layers {
        s.encoder_layer(&format!("transformer.encoder.layers.{i}"), d, ffn);
    }
    for i in 0..det.dec_layers {
        s.decoder_layer(&format!("transformer.instance_decoder.layers.{i}"), d, ffn);
    }
    s.layer_norm("transformer.instance_decoder.norm", d);
    s.mlp("hum_bbox_embed", d, d, 4, 3);
    s.mlp("obj_bbox_embed", d, d, 4, 3);

    // HOICLIP's own.
    s.from_detr = false;
    s.push(
        "query_embed_h.weight".into(),
        vec![q, d],
        InitRule::StandardNormal,
    );
    s.push(
        "query_embed_o.weight".into(),
        vec![q, d],
        InitRule::StandardNormal,
    );
    s.push(
        "pos_guided_embedd.weight".into(),
        vec![q, d],
        InitRule::UniformUnit,
    );
    s.gen_linear("transformer.queries2spacial_proj", inter.d_model, c);
    s.layer_norm("transformer.queries2spacial_proj_norm", c);
    s.gen_linear("transformer.obj_class_fc", inter.d_model, c);
    s.layer_norm("transformer.obj_class_ln", c);
    for i in 0..inter.layers {
        s.decoder_layer(
            &format!("transformer.clip_interaction_decoder.layers.{i}"),
            c,
            inter.dim_feedforward,
        );
    }
    s.layer_norm("transformer.clip_interaction_decoder.norm", c);

    s.push(
        "visual_projection.weight".into(),
        vec![heads.hoi_classes, e],
        InitRule::HoiText,
    );
    if heads.visual_bias {
        s.push(
            "visual_projection.bias".into(),
            vec![heads.hoi_classes],
            InitRule::TorchDefault { fan_in: e },
        );
    }
    if let Some(n) = heads.eval_hoi_classes {
        s.push(
            "eval_visual_projection.weight".into(),
            vec![n, e],
            InitRule::HoiText,
        );
        s.push(
            "verb2hoi_proj_eval".into(),
            vec![heads.verbs, n],
            InitRule::VerbToHoi,
        );
    }
    s.mlp("inter2verb", e, e / 2, e, 3);
    s.push(
        "verb_projection.weight".into(),
        vec![heads.verbs, e],
        InitRule::VerbRepresentations,
    );
    s.push(
        "verb2hoi_proj".into(),
        vec![heads.verbs, heads.hoi_classes],
        InitRule::VerbToHoi,
    );
    let scale = InitRule::Constant(logit_scale_init());
    s.push("logit_scale".into(), vec![], scale.clone());
    s.torch_linear("obj_class_fc.0", heads.hidden_dim, e, true);
    s.layer_norm("obj_class_fc.1", e);
    s.push(
        "obj_visual_projection.weight".into(),
        vec![heads.object_classes, e],
        InitRule::ObjectText,
    );
    if heads.object_bias {
        s.push(
            "obj_visual_projection.bias".into(),
            vec![heads.object_classes],
            InitRule::TorchDefault { fan_in: e },
        );
    }
    s.push("obj_logit_scale".into(), vec![], scale);
    s.list
}

/// FNV-1a of a name: the ChaCha stream a tensor draws from.
fn stream_of(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// A uniform in `[0, 1)` with 24 random bits (exact in f32, never 1).
fn unit24(rng: &mut ChaCha8Rng) -> f64 {
    f64::from(rng.next_u32() >> 8) * (1.0 / 16_777_216.0)
}

/// A uniform in `(0, 1]` with 53 random bits.
fn unit53_open(rng: &mut ChaCha8Rng) -> f64 {
    ((rng.next_u64() >> 11) + 1) as f64 * (1.0 / 9_007_199_254_740_992.0)
}

/// The values of a rule that needs no data: random draws from the tensor's own stream, or
/// constants. (Data rules never reach here: their values are prepared.)
fn draw(spec: &Spec, seed: u64) -> Vec<f32> {
    let n: usize = spec.shape.iter().product();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stream_of(&spec.name));
    let uniform = |rng: &mut ChaCha8Rng, low: f64, high: f64| -> Vec<f32> {
        (0..n)
            .map(|_| (low + (high - low) * unit24(rng)) as f32)
            .collect()
    };
    match &spec.rule {
        InitRule::XavierUniform { .. } | InitRule::TorchDefault { .. } => {
            let b = spec.rule.uniform_bound().unwrap_or(0.0);
            uniform(&mut rng, -b, b)
        }
        InitRule::UniformUnit => uniform(&mut rng, 0.0, 1.0),
        InitRule::StandardNormal => {
            // Box–Muller, both outputs used.
            let mut out = Vec::with_capacity(n + 1);
            while out.len() < n {
                let r = (-2.0 * unit53_open(&mut rng).ln()).sqrt();
                let theta = std::f64::consts::TAU * unit53_open(&mut rng);
                out.push((r * theta.cos()) as f32);
                out.push((r * theta.sin()) as f32);
            }
            out.truncate(n);
            out
        }
        InitRule::Ones => vec![1.0; n],
        InitRule::Constant(v) => vec![*v as f32; n],
        InitRule::Zeros
        | InitRule::HoiText
        | InitRule::ObjectText
        | InitRule::VerbRepresentations
        | InitRule::VerbToHoi => vec![0.0; n],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_prompts_are_the_authors() {
        let hico = object_prompts(HoiDataset::HicoDet);
        assert_eq!(hico.len(), 81);
        assert_eq!(hico[0], "a photo of a person");
        assert_eq!(hico[4], "a photo of an airplane");
        assert_eq!(hico[9], "a photo of a traffic light");
        assert_eq!(hico[25], "a photo of a umbrella");
        assert_eq!(hico[80], "a photo of nothing");
        let vcoco = object_prompts(HoiDataset::Vcoco);
        assert_eq!(vcoco.len(), 82);
        assert_eq!(vcoco[47], "a photo of a person and an apple");
        assert_eq!(vcoco[80], "a photo of a person only");
        assert_eq!(vcoco[81], "a photo of nothing");
    }

    #[test]
    fn draws_are_per_name_and_within_bounds() {
        let spec = |name: &str, rule: InitRule| Spec {
            name: name.into(),
            shape: vec![64, 32],
            rule,
            from_detr: false,
        };
        let xavier = InitRule::XavierUniform {
            fan_in: 32,
            fan_out: 64,
        };
        let a = draw(&spec("a.weight", xavier.clone()), 7);
        assert_eq!(a, draw(&spec("a.weight", xavier.clone()), 7));
        assert_ne!(a, draw(&spec("b.weight", xavier.clone()), 7));
        assert_ne!(a, draw(&spec("a.weight", xavier), 8));
        let bound = (6.0f32 / 96.0).sqrt();
        assert!(a.iter().all(|v| v.abs() <= bound));
        let n = draw(&spec("n", InitRule::StandardNormal), 1);
        let mean = n.iter().sum::<f32>() / n.len() as f32;
        let var = n.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / n.len() as f32;
        assert!(mean.abs() < 0.1 && (var - 1.0).abs() < 0.1, "{mean} {var}");
        let u = draw(&spec("u", InitRule::UniformUnit), 1);
        assert!(u.iter().all(|v| (0.0..1.0).contains(v)));
    }
}
