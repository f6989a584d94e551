//! [`HoiclipModel`]: the detection branch, CLIP, the interaction decoder with knowledge
//! integration and the heads, as one module (`models/models_hoiclip/hoiclip.py`,
//! `HOICLIP.forward`, and `gen.py`, `GEN.forward`).

use std::path::Path;

use burn::module::{Module, Param};
use burn::tensor::{Device, Tensor};

use super::checkpoint::{Checkpoint, is_known_unused};
use super::config::HoiclipConfig;
use super::input::HoiclipInput;
use super::vocabulary::HoiVocabulary;
use crate::clip::{Clip, l2_normalize};
use crate::detection::DetectionBranch;
use crate::error::{HoiclipError, Result};
use crate::interaction::{HoiHeads, InteractionDecoder};
use crate::weights::{WeightLoader, native};

/// The kind tag of HOICLIP models in the native format.
const NATIVE_KIND: &str = "hoiclip";

/// The raw head outputs of [`HoiclipModel::forward`] (the reference's `out` dict, last
/// decoder layer).
#[derive(Clone, Debug)]
pub struct HoiclipOutput {
    /// `pred_hoi_logits`: `[batch, pairs, hoi_classes]`.
    pub hoi_logits: Tensor<3>,
    /// `pred_obj_logits`: `[batch, pairs, objects + 1]`, the last column "no object".
    pub object_logits: Tensor<3>,
    /// `pred_sub_boxes`: normalised `(cx, cy, w, h)` in `[0, 1]`, `[batch, pairs, 4]`.
    pub human_boxes: Tensor<3>,
    /// `pred_obj_boxes`: normalised `(cx, cy, w, h)`, `[batch, pairs, 4]`.
    pub object_boxes: Tensor<3>,
    /// `clip_logits`: cosine of CLIP's normalised image embedding with each HOI class's
    /// normalised text embedding, `[batch, hoi_classes]` (drives the training-free
    /// enhancement).
    pub clip_hoi_scores: Tensor<2>,
}

/// One decoder level's predictions: what the authors' training forward returns for the last
/// level (`out`) and for each earlier one (`out['aux_outputs']`).
#[derive(Clone, Debug)]
pub struct LevelPrediction {
    /// `pred_hoi_logits`: `[batch, pairs, hoi_classes]` (training heads: `visual_projection`
    /// and `verb2hoi_proj`, never the zero-shot evaluation heads).
    pub hoi_logits: Tensor<3>,
    /// `pred_obj_logits`: `[batch, pairs, objects + 1]`.
    pub object_logits: Tensor<3>,
    /// `pred_sub_boxes`: normalised `(cx, cy, w, h)`, `[batch, pairs, 4]`.
    pub human_boxes: Tensor<3>,
    /// `pred_obj_boxes`: normalised `(cx, cy, w, h)`, `[batch, pairs, 4]`.
    pub object_boxes: Tensor<3>,
}

/// The shared part of the forward passes.
struct Trunk {
    detection: crate::detection::branch::DetectionOutput,
    interaction: crate::interaction::decoder::InteractionOutput,
    /// CLIP's projected image embedding, `[batch, embed_dim]`.
    image_embedding: Tensor<2>,
}

impl Trunk {
    /// The last instance-decoder layer's object states, `[batch, pairs, d_model]`.
    fn object_states_last(&self) -> Result<Tensor<3>> {
        self.detection
            .object_states
            .last()
            .cloned()
            .ok_or_else(|| HoiclipError::Config("the instance decoder has no layers".into()))
    }
}

/// HOICLIP.
#[derive(Module, Debug)]
pub struct HoiclipModel {
    /// ResNet, DETR encoder, instance decoder and box heads.
    pub detection: DetectionBranch,
    /// CLIP (`clip_model.`): the token map and image embedding, and the text encoder that
    /// builds the classifiers.
    pub clip: Clip,
    /// The interaction decoder with knowledge integration.
    pub interaction: InteractionDecoder,
    /// Classifiers and verb adapter.
    pub heads: HoiHeads,
    /// The reference's `transformer.hoi_cls`: L2-normalised CLIP text embeddings of the HOI
    /// prompts, `[hoi_classes, embed_dim]`; not in the checkpoint, computed at load.
    pub hoi_text_embeddings: Param<Tensor<2>>,
    /// The configuration the model was built from.
    #[module(skip)]
    pub config: HoiclipConfig,
    /// The names and prompts of the scored HOI classes (row `i` of
    /// `hoi_text_embeddings` is `vocabulary.classes[i].prompt`).
    #[module(skip)]
    pub vocabulary: HoiVocabulary,
}

/// What the native format's metadata holds besides the tensors.
#[derive(serde::Serialize, serde::Deserialize)]
struct NativeMetadata {
    config: HoiclipConfig,
    vocabulary: HoiVocabulary,
}

impl HoiclipModel {
    /// Load an authors' checkpoint (`.pth` as released, or safetensors of the same state
    /// dict), reading the configuration from its `args` and shapes
    /// ([`HoiclipConfig::from_weights`]). The HOI text embeddings (`hoi_cls`) are computed
    /// with the checkpoint's CLIP text encoder from the dataset's prompts
    /// ([`HoiVocabulary::for_dataset`]).
    ///
    /// # Errors
    ///
    /// [`HoiclipError::WrongCheckpoint`] for another model's checkpoint; the weight-file,
    /// configuration and tensor errors of the loaders, naming the tensor at fault;
    /// [`HoiclipError::UnexpectedTensors`] for tensors neither used nor known to be unused.
    pub fn from_checkpoint(path: impl AsRef<Path>, device: &Device) -> Result<Self> {
        let checkpoint = Checkpoint::open(path.as_ref())?;
        let config = HoiclipConfig::from_weights(&checkpoint.weights, checkpoint.args.as_ref())?;
        Self::load(&checkpoint, config, device)
    }

    /// As [`Self::from_checkpoint`] with a configuration given by the caller (needed when a
    /// CLIP width is not a multiple of 64, so its heads cannot be inferred).
    ///
    /// # Errors
    ///
    /// As [`Self::from_checkpoint`].
    pub fn from_checkpoint_with_config(
        path: impl AsRef<Path>,
        config: HoiclipConfig,
        device: &Device,
    ) -> Result<Self> {
        let checkpoint = Checkpoint::open(path.as_ref())?;
        Self::load(&checkpoint, config, device)
    }

    /// Build from an opened checkpoint.
    ///
    /// # Errors
    ///
    /// As [`Self::from_checkpoint`].
    pub fn load(checkpoint: &Checkpoint, config: HoiclipConfig, device: &Device) -> Result<Self> {
        config.validate()?;
        let map = &checkpoint.weights;
        let clip_map = map.with_prefix("clip_model.");
        let clip = Clip::from_weight_map(&clip_map, Some(&config.clip), device)?;

        let mut loader = WeightLoader::new(map, device);
        let detection = DetectionBranch::load(&mut loader, &config.detection)?;
        let interaction =
            InteractionDecoder::load(&mut loader, "transformer", &config.interaction)?;
        let heads = HoiHeads::load(&mut loader, &config.heads, config.verb_weight)?;
        let eval = config.uses_eval_heads();
        loader.finish(|name| name.starts_with("clip_model.") || is_known_unused(name, eval))?;

        let mut model = Self {
            detection,
            clip,
            interaction,
            heads,
            hoi_text_embeddings: Param::from_tensor(Tensor::zeros([1, 1], device)),
            vocabulary: HoiVocabulary::for_dataset(config.dataset),
            config,
        };
        model.refresh_text_embeddings()?;
        Ok(model)
    }

    /// Recompute `hoi_text_embeddings` from the vocabulary's prompts with the text encoder.
    ///
    /// # Errors
    ///
    /// [`HoiclipError::Config`] when the vocabulary's class count differs from what the
    /// heads score; tokenizer errors.
    pub fn refresh_text_embeddings(&mut self) -> Result<()> {
        let classes = self.config.scored_hoi_classes();
        if self.vocabulary.classes.len() != classes {
            return Err(HoiclipError::Config(format!(
                "the vocabulary has {} HOI classes, the model scores {classes}",
                self.vocabulary.classes.len()
            )));
        }
        let prompts = self.vocabulary.prompts();
        let embeddings = self.encode_text(&prompts)?;
        self.hoi_text_embeddings = Param::from_tensor(embeddings);
        Ok(())
    }

    /// CLIP text embeddings of arbitrary prompts, L2-normalised: `[prompts, embed_dim]`.
    ///
    /// # Errors
    ///
    /// Tokenizer errors.
    pub fn encode_text(&self, prompts: &[&str]) -> Result<Tensor<2>> {
        Ok(l2_normalize(self.clip.encode_text(prompts)?))
    }

    /// Build now what the first forward pass would otherwise build: run one forward pass on a
    /// small synthetic image (`side × side`, with CLIP's crop) and drop its result. On the CPU
    /// this packs every layer's weights for the crate's kernels (convolutions, Winograd
    /// transforms, linear layers), reads the tensors a lazily mapped native file has not read
    /// yet and sizes the workspaces; on a GPU it compiles the kernels. Later forward passes
    /// then run at their warm speed. Results are unchanged.
    ///
    /// # Errors
    ///
    /// As [`Self::forward`].
    pub fn warm_up(&self, side: u32) -> Result<()> {
        let device = self.hoi_text_embeddings.val().device();
        let side = side.max(32);
        let image = image::DynamicImage::ImageRgb8(image::RgbImage::from_fn(side, side, |x, y| {
            image::Rgb([(x * 255 / side) as u8, (y * 255 / side) as u8, 128])
        }));
        let input = HoiclipInput::from_images_sized(
            &[&image],
            &[None],
            self.config.clip.vision.image_resolution,
            &device,
        )?;
        let out = self.forward(&input)?;
        // Wait for the device: reading one value finishes the pass on any backend.
        let _ = out.hoi_logits.slice([0..1, 0..1, 0..1]).into_data();
        Ok(())
    }

    /// The forward pass on a preprocessed batch.
    ///
    /// # Errors
    ///
    /// [`HoiclipError::InputShape`] when the CLIP crops do not match the model's CLIP
    /// resolution or the batch sizes differ.
    pub fn forward(&self, input: &HoiclipInput) -> Result<HoiclipOutput> {
        let trunk = self.trunk(input)?;
        let Some(last) = trunk.interaction.layer_outputs.last() else {
            return Err(HoiclipError::Config(
                "the interaction decoder has no layers".into(),
            ));
        };
        // `inter_hs @ clip_proj`: [batch, pairs, embed_dim]
        let inter = self.clip.visual.proj.forward(last.clone());
        let hoi_logits = self
            .heads
            .hoi_logits(inter, self.config.uses_eval_heads())?;
        let object = trunk.object_states_last()?;
        let object_logits = self.heads.object_logits(object);
        let image = l2_normalize(trunk.image_embedding);
        let clip_hoi_scores = image.matmul(self.hoi_text_embeddings.val().transpose());
        Ok(HoiclipOutput {
            hoi_logits,
            object_logits,
            human_boxes: trunk.detection.human_boxes,
            object_boxes: trunk.detection.object_boxes,
            clip_hoi_scores,
        })
    }

    /// What [`Self::forward`] and [`Self::forward_levels`] share: the detection branch, CLIP's
    /// image encoder and the interaction decoder over the last instance-decoder layer.
    fn trunk(&self, input: &HoiclipInput) -> Result<Trunk> {
        let batch = input.batch.len();
        let [clip_b, _, _, _] = input.clip_images.dims();
        if clip_b != batch {
            return Err(HoiclipError::InputShape {
                name: "clip_images".into(),
                expected: format!("[{batch}, 3, n_px, n_px] (one crop per image)"),
                found: input.clip_images.dims().to_vec(),
            });
        }
        let detection = self.detection.forward(&input.batch);
        let (Some(human), Some(object)) = (
            detection.human_states.last(),
            detection.object_states.last(),
        ) else {
            return Err(HoiclipError::Config(
                "the instance decoder has no layers".into(),
            ));
        };
        // [batch, embed_dim], [batch, 1 + grid², clip_dim]
        let vision = self.clip.encode_image(input.clip_images.clone())?;
        let interaction = self.interaction.forward(
            human.clone(),
            object.clone(),
            detection.memory.clone(),
            vision.token_map,
        );
        Ok(Trunk {
            detection,
            interaction,
            image_embedding: vision.embedding,
        })
    }

    /// The training forward pass: the predictions of every decoder level the authors'
    /// criterion scores, auxiliary levels first and the last level (the main output) last
    /// (`HOICLIP.forward` with `aux_loss`, `_set_aux_loss_triplet`).
    ///
    /// Level `i` of `L = instance-decoder layers` pairs instance-decoder layer `i` (object
    /// logits and boxes) with interaction-decoder layer `I - L + i` of its `I` layers
    /// (`outputs[-dec_layers:]`), or with the single interaction layer repeated when `I` is 1,
    /// exactly as the reference slices them.
    ///
    /// # Errors
    ///
    /// As [`Self::forward`]; [`HoiclipError::Config`] when the interaction decoder has more
    /// than one but fewer layers than the instance decoder (the reference fails there too).
    pub fn forward_levels(&self, input: &HoiclipInput) -> Result<Vec<LevelPrediction>> {
        let Trunk {
            detection,
            interaction,
            ..
        } = self.trunk(input)?;
        let levels = detection.human_states.len();
        let inter_layers = interaction.layer_outputs.len();
        if inter_layers == 0 || (inter_layers > 1 && inter_layers < levels) {
            return Err(HoiclipError::Config(format!(
                "the interaction decoder has {inter_layers} layers; training pairs them with the \
                 {levels} instance-decoder layers and needs 1 or at least {levels}"
            )));
        }
        let boxes = self.detection.boxes_per_layer(&detection);
        let mut out = Vec::with_capacity(levels);
        for (level, (human_boxes, object_boxes)) in boxes.into_iter().enumerate() {
            let inter_index = if inter_layers == 1 {
                0
            } else {
                inter_layers - levels + level
            };
            // `inter_hs @ clip_proj`: [batch, pairs, embed_dim]
            let inter = self
                .clip
                .visual
                .proj
                .forward(interaction.layer_outputs[inter_index].clone());
            out.push(LevelPrediction {
                hoi_logits: self.heads.hoi_logits(inter, false)?,
                object_logits: self
                    .heads
                    .object_logits(detection.object_states[level].clone()),
                human_boxes,
                object_boxes,
            });
        }
        Ok(out)
    }

    /// Save to the native format (burnpack with the configuration in its metadata); loads
    /// with [`Self::load_native`] without re-encoding prompts.
    ///
    /// # Errors
    ///
    /// [`HoiclipError::Write`] if the file cannot be written.
    pub fn save_native(&self, path: impl AsRef<Path>) -> Result<()> {
        let metadata = NativeMetadata {
            config: self.config.clone(),
            vocabulary: self.vocabulary.clone(),
        };
        let config = serde_json::to_string(&metadata)
            .map_err(|err| HoiclipError::Config(err.to_string()))?;
        native::save(self, path.as_ref(), NATIVE_KIND, &config)
    }

    /// Load a file written by [`Self::save_native`].
    ///
    /// # Errors
    ///
    /// [`HoiclipError::WeightFile`] for a file that is not a hoiclip native HOICLIP file;
    /// missing tensors.
    pub fn load_native(path: impl AsRef<Path>, device: &Device) -> Result<Self> {
        let path = path.as_ref();
        let json = native::read_config(path, NATIVE_KIND)?;
        let metadata: NativeMetadata =
            serde_json::from_str(&json).map_err(|err| HoiclipError::WeightFile {
                path: path.to_path_buf(),
                reason: format!("invalid configuration metadata: {err}"),
            })?;
        // The metadata is file content: check it before anything indexes with it.
        let bad = |reason: String| HoiclipError::WeightFile {
            path: path.to_path_buf(),
            reason,
        };
        metadata
            .vocabulary
            .validate()
            .map_err(|e| bad(format!("invalid vocabulary metadata: {e}")))?;
        let classes = metadata.config.scored_hoi_classes();
        if metadata.vocabulary.classes.len() != classes {
            return Err(bad(format!(
                "the vocabulary has {} HOI classes, the configuration scores {classes}",
                metadata.vocabulary.classes.len()
            )));
        }
        if metadata.vocabulary.objects.len() + 1 != metadata.config.heads.object_classes {
            return Err(bad(format!(
                "the vocabulary has {} objects, the object classifier {} columns (expected one \
                 per object plus the no-object column)",
                metadata.vocabulary.objects.len(),
                metadata.config.heads.object_classes
            )));
        }
        let mut model = Self::init(&metadata.config, metadata.vocabulary, device);
        native::load_into(&mut model, path)?;
        Ok(model)
    }

    /// A model with placeholder parameters of the right shapes (for loading into).
    pub fn init(config: &HoiclipConfig, vocabulary: HoiVocabulary, device: &Device) -> Self {
        Self {
            detection: config.detection.init(device),
            clip: config.clip.init(device),
            interaction: config.interaction.init(device),
            heads: config.heads.init(config.verb_weight, device),
            hoi_text_embeddings: Param::from_tensor(Tensor::zeros(
                [vocabulary.classes.len(), config.heads.clip_embed_dim],
                device,
            )),
            vocabulary,
            config: config.clone(),
        }
    }
}
