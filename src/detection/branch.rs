//! [`DetectionBranch`]: backbone → input_proj → encoder → instance decoder → box heads.

use std::path::Path;

use burn::config::Config;
use burn::module::{Module, Param};
use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::tensor::{Bool, Device, Tensor};

use super::batch::{PaddedBatch, mask_tensor, resize_mask};
use super::box_head::Mlp;
use super::position::sine_position_embedding;
use super::resnet::{ResNet, ResNetConfig};
use super::transformer::{DetrLayerConfig, Encoder, InstanceDecoder};
use crate::clip::config::count_layers;
use crate::error::HoiclipError;
use crate::nn::AttentionMasks;
use crate::weights::{WeightLoader, WeightMap};

type Res<T> = std::result::Result<T, HoiclipError>;

/// Shape of the detection branch.
#[derive(Config, Debug, PartialEq, Eq)]
pub struct DetectionConfig {
    /// Backbone.
    pub backbone: ResNetConfig,
    /// Transformer width (`hidden_dim`, 256).
    #[config(default = 256)]
    pub hidden_dim: usize,
    /// Attention heads (`nheads`, 8).
    #[config(default = 8)]
    pub n_heads: usize,
    /// FFN width (`dim_feedforward`, 2048).
    #[config(default = 2048)]
    pub dim_feedforward: usize,
    /// Encoder layers (`enc_layers`, 6).
    #[config(default = 6)]
    pub enc_layers: usize,
    /// Instance-decoder layers (`dec_layers`, 3).
    #[config(default = 3)]
    pub dec_layers: usize,
    /// Pair queries (`num_queries`, 64).
    #[config(default = 64)]
    pub num_queries: usize,
}

impl DetectionConfig {
    /// HOICLIP's defaults: ResNet-50, 256 wide, 8 heads, FFN 2048, 6 + 3 layers, 64 queries.
    pub fn hoiclip_default() -> Self {
        Self::new(ResNetConfig::resnet50())
    }

    fn layer_config(&self) -> DetrLayerConfig {
        DetrLayerConfig::new(self.hidden_dim, self.n_heads, self.dim_feedforward)
    }

    /// Infer the configuration from the shapes of an authors'-layout state dict (at top
    /// level, as `input_proj.weight`, ...). Heads cannot be read from shapes: `n_heads` is
    /// taken as given.
    pub fn from_weights(map: &WeightMap, n_heads: usize) -> Res<Self> {
        let shape = |name: &str| -> Res<Vec<usize>> {
            map.shape(name)
                .map(<[usize]>::to_vec)
                .ok_or_else(|| HoiclipError::MissingTensor {
                    name: name.into(),
                    expected: Vec::new(),
                    source_name: map.source_name().into(),
                })
        };
        let input_proj = shape("input_proj.weight")?;
        let queries = shape("query_embed_h.weight")?;
        let linear1 = shape("transformer.encoder.layers.0.linear1.weight")?;
        let stem = shape("backbone.0.body.conv1.weight")?;
        let mut blocks = [0usize; 4];
        let mut planes = [0usize; 4];
        for (i, (b, p)) in blocks.iter_mut().zip(planes.iter_mut()).enumerate() {
            let prefix = format!("backbone.0.body.layer{}.", i + 1);
            *b = count_layers(map, &prefix);
            *p = shape(&format!("{prefix}0.conv1.weight"))?[0];
        }
        let backbone = ResNetConfig::new(blocks, planes).with_stem_width(stem[0]);
        if input_proj.len() != 4 || queries.len() != 2 || linear1.len() != 2 {
            return Err(HoiclipError::Config(format!(
                "{}: unexpected ranks for input_proj / query_embed_h / linear1",
                map.source_name()
            )));
        }
        Ok(Self {
            backbone,
            hidden_dim: input_proj[0],
            n_heads,
            dim_feedforward: linear1[0],
            enc_layers: count_layers(map, "transformer.encoder.layers."),
            dec_layers: count_layers(map, "transformer.instance_decoder.layers."),
            num_queries: queries[0],
        })
    }

    /// A randomly initialised (lazily) branch.
    pub fn init(&self, device: &Device) -> DetectionBranch {
        let d = self.hidden_dim;
        let layer = self.layer_config();
        let embedding = || Param::from_tensor(Tensor::zeros([self.num_queries, d], device));
        DetectionBranch {
            backbone: self.backbone.init(device),
            input_proj: Conv2dConfig::new([self.backbone.out_channels(), d], [1, 1])
                .with_padding(PaddingConfig2d::Valid)
                .init(device),
            encoder: Encoder {
                layers: (0..self.enc_layers)
                    .map(|_| layer.init_encoder_layer(device))
                    .collect(),
            },
            instance_decoder: InstanceDecoder {
                layers: (0..self.dec_layers)
                    .map(|_| layer.init_decoder_layer(device))
                    .collect(),
                norm: burn::nn::LayerNormConfig::new(d).init(device),
            },
            query_embed_h: embedding(),
            query_embed_o: embedding(),
            pos_guided_embedd: embedding(),
            hum_bbox_embed: Mlp::init(d, d, 4, 3, device),
            obj_bbox_embed: Mlp::init(d, d, 4, 3, device),
        }
    }
}

/// What [`DetectionBranch::encoder_inputs`] returns.
#[derive(Clone, Debug)]
pub struct EncoderInputs {
    /// `input_proj(features)` flattened, `[batch, h·w, d]`.
    pub src: Tensor<3>,
    /// Sine position embedding, `[batch, h·w, d]`.
    pub pos: Tensor<3>,
    /// Host padding mask at feature resolution, `[batch, h, w]` row-major, true on padding.
    pub feature_padding: Vec<bool>,
    /// The same mask as a key-padding tensor, `[batch, h·w]`.
    pub memory_padding: Tensor<2, Bool>,
}

impl EncoderInputs {
    /// The attention masks the encoder and the instance decoder use (key padding only).
    pub fn masks(&self) -> AttentionMasks {
        AttentionMasks {
            key_padding: Some(self.memory_padding.clone()),
            ..AttentionMasks::default()
        }
    }
}

/// Everything the detection branch computes for a padded batch.
#[derive(Clone, Debug)]
pub struct DetectionOutput {
    /// Backbone output (layer4): `[batch, channels, h, w]`.
    pub features: Tensor<4>,
    /// Feature-level padding mask, host side, `[batch, h, w]` row-major, true on padding.
    pub feature_padding: Vec<bool>,
    /// Feature map height and width `(h, w)`.
    pub feature_size: (usize, usize),
    /// Sine position embedding, `[batch, tokens = h·w, d]`.
    pub pos: Tensor<3>,
    /// Encoder output, `[batch, tokens, d]`.
    pub memory: Tensor<3>,
    /// Padding of the memory tokens, `[batch, tokens]`, true on padding.
    pub memory_padding: Tensor<2, Bool>,
    /// Every instance-decoder layer's normed human states, `layers × [batch, queries, d]`.
    pub human_states: Vec<Tensor<3>>,
    /// Every instance-decoder layer's normed object states, `layers × [batch, queries, d]`.
    pub object_states: Vec<Tensor<3>>,
    /// Human boxes of the last layer, normalised `cxcywh`, `[batch, queries, 4]`.
    pub human_boxes: Tensor<3>,
    /// Object boxes of the last layer, normalised `cxcywh`, `[batch, queries, 4]`.
    pub object_boxes: Tensor<3>,
}

/// The detection branch of HOICLIP (GEN-VLKT / DETR layout).
#[derive(Module, Debug)]
pub struct DetectionBranch {
    /// ResNet backbone (`backbone.0.body`).
    pub backbone: ResNet,
    /// 1×1 convolution to the transformer width (`input_proj`).
    pub input_proj: Conv2d,
    /// DETR encoder (`transformer.encoder`).
    pub encoder: Encoder,
    /// Instance decoder (`transformer.instance_decoder`).
    pub instance_decoder: InstanceDecoder,
    /// Human query embeddings, `[queries, d]`.
    pub query_embed_h: Param<Tensor<2>>,
    /// Object query embeddings, `[queries, d]`.
    pub query_embed_o: Param<Tensor<2>>,
    /// Position-guided embedding shared by query `i` of both sets, `[queries, d]`.
    pub pos_guided_embedd: Param<Tensor<2>>,
    /// Human box head.
    pub hum_bbox_embed: Mlp,
    /// Object box head.
    pub obj_bbox_embed: Mlp,
}

/// Whether `name` (authors' layout, no `model.` prefix) belongs to the detection branch.
pub fn is_detection_tensor(name: &str) -> bool {
    [
        "backbone.0.body.",
        "input_proj.",
        "transformer.encoder.",
        "transformer.instance_decoder.",
        "query_embed_h.",
        "query_embed_o.",
        "pos_guided_embedd.",
        "hum_bbox_embed.",
        "obj_bbox_embed.",
    ]
    .iter()
    .any(|prefix| name.starts_with(prefix))
}

impl DetectionBranch {
    /// Load from the authors' names at the top level of the loader's map.
    pub fn load(loader: &mut WeightLoader<'_>, config: &DetectionConfig) -> Res<Self> {
        let d = config.hidden_dim;
        let layer = config.layer_config();
        let q = config.num_queries;
        Ok(Self {
            backbone: ResNet::load(loader, "backbone.0.body", &config.backbone)?,
            input_proj: loader.conv2d(
                "input_proj",
                config.backbone.out_channels(),
                d,
                1,
                1,
                0,
                true,
            )?,
            encoder: Encoder::load(loader, "transformer.encoder", config.enc_layers, &layer)?,
            instance_decoder: InstanceDecoder::load(
                loader,
                "transformer.instance_decoder",
                config.dec_layers,
                &layer,
            )?,
            query_embed_h: loader.param("query_embed_h.weight", [q, d])?,
            query_embed_o: loader.param("query_embed_o.weight", [q, d])?,
            pos_guided_embedd: loader.param("pos_guided_embedd.weight", [q, d])?,
            hum_bbox_embed: Mlp::load(loader, "hum_bbox_embed", d, d, 4, 3)?,
            obj_bbox_embed: Mlp::load(loader, "obj_bbox_embed", d, d, 4, 3)?,
        })
    }

    /// Load the detection branch alone from an authors' checkpoint (`.pth` with the state
    /// dict under `model`, or a safetensors file), inferring the configuration from shapes
    /// (`n_heads` cannot be inferred: HOICLIP uses 8). Tensors of the rest of HOICLIP are
    /// left alone; unknown tensors inside the branch's namespaces are an error.
    pub fn from_file(path: impl AsRef<Path>, n_heads: usize, device: &Device) -> Res<Self> {
        let map = WeightMap::from_file(path)?;
        let prefix = map.find_prefix("input_proj.weight").ok_or_else(|| {
            HoiclipError::Config(format!(
                "{} holds no detection branch (no `input_proj.weight` under any prefix)",
                map.source_name()
            ))
        })?;
        let map = map.with_prefix(&prefix);
        let config = DetectionConfig::from_weights(&map, n_heads)?;
        let mut loader = WeightLoader::new(&map, device);
        let branch = Self::load(&mut loader, &config)?;
        loader.finish(|name| !is_detection_tensor(name) || ResNet::is_known_unused(name))?;
        Ok(branch)
    }

    /// Run the branch on a padded batch.
    pub fn forward(&self, batch: &PaddedBatch) -> DetectionOutput {
        // [batch, channels, h, w]
        let features = self.backbone.forward(batch.images.clone());
        self.forward_from_features(features, batch)
    }

    /// The encoder's inputs for backbone `features` `[batch, channels, h, w]` of `batch`:
    /// the padding mask resized to the features, the sine position embedding and the
    /// `input_proj` tokens, both `[batch, h·w, d]`.
    pub fn encoder_inputs(&self, features: Tensor<4>, batch: &PaddedBatch) -> EncoderInputs {
        let device = features.device();
        let [b, _, h, w] = features.dims();
        let feature_padding = resize_mask(&batch.padding, b, batch.height, batch.width, h, w);
        let d = self.query_embed_h.dims()[1];
        // [batch, d, h, w] → [batch, h·w, d]
        let pos = sine_position_embedding(&feature_padding, b, h, w, d / 2, &device)
            .reshape([b, d, h * w])
            .swap_dims(1, 2);
        let src = self
            .input_proj
            .forward(features)
            .reshape([b, d, h * w])
            .swap_dims(1, 2);
        let memory_padding = mask_tensor(&feature_padding, [b, h, w], &device).reshape([b, h * w]);
        EncoderInputs {
            src,
            pos,
            feature_padding,
            memory_padding,
        }
    }

    /// The instance decoder's query positions for `batch` images: human then object
    /// queries, each plus `pos_guided_embedd`, `[batch, 2 · queries, d]`.
    pub fn query_pos(&self, batch: usize) -> Tensor<3> {
        let [q, d] = self.query_embed_h.dims();
        let guided = self.pos_guided_embedd.val();
        Tensor::cat(
            vec![
                self.query_embed_h.val() + guided.clone(),
                self.query_embed_o.val() + guided,
            ],
            0,
        )
        .unsqueeze::<3>()
        .expand([batch, 2 * q, d])
    }

    /// Everything after the backbone: `features` `[batch, channels, h, w]` are the backbone's
    /// output for `batch` (whose padding mask is resized to them).
    pub fn forward_from_features(
        &self,
        features: Tensor<4>,
        batch: &PaddedBatch,
    ) -> DetectionOutput {
        let [b, _, h, w] = features.dims();
        let inputs = self.encoder_inputs(features.clone(), batch);
        let masks = inputs.masks();
        let EncoderInputs {
            src,
            pos,
            feature_padding,
            memory_padding,
        } = inputs;
        let memory = self.encoder.forward(src, pos.clone(), &masks);
        let q = self.query_embed_h.dims()[0];
        let query_pos = self.query_pos(b);
        let device = memory.device();
        let states = self
            .instance_decoder
            .forward(query_pos, memory.clone(), pos.clone(), &masks);
        let human_states: Vec<Tensor<3>> =
            states.iter().map(|s| s.clone().narrow(1, 0, q)).collect();
        let object_states: Vec<Tensor<3>> =
            states.iter().map(|s| s.clone().narrow(1, q, q)).collect();
        let (human_boxes, object_boxes) = match (human_states.last(), object_states.last()) {
            (Some(h_last), Some(o_last)) => (
                self.hum_bbox_embed.boxes(h_last.clone()),
                self.obj_bbox_embed.boxes(o_last.clone()),
            ),
            _ => (
                Tensor::zeros([b, q, 4], &device),
                Tensor::zeros([b, q, 4], &device),
            ),
        };
        DetectionOutput {
            features,
            feature_padding,
            feature_size: (h, w),
            pos,
            memory,
            memory_padding,
            human_states,
            object_states,
            human_boxes,
            object_boxes,
        }
    }

    /// Boxes of every decoder layer (the auxiliary outputs): `layers × ([batch, queries, 4],
    /// [batch, queries, 4])`, human then object, normalised `cxcywh`.
    pub fn boxes_per_layer(&self, output: &DetectionOutput) -> Vec<(Tensor<3>, Tensor<3>)> {
        output
            .human_states
            .iter()
            .zip(&output.object_states)
            .map(|(h, o)| {
                (
                    self.hum_bbox_embed.boxes(h.clone()),
                    self.obj_bbox_embed.boxes(o.clone()),
                )
            })
            .collect()
    }
}
