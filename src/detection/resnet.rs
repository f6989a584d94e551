//! torchvision's ResNet (v1.5, bottleneck blocks) with DETR's `FrozenBatchNorm2d`, as the
//! detection backbone: the output of `layer4` only (stride 32).
//!
//! - stem: `conv1` 7×7 stride 2 padding 3 (no bias), `bn1`, ReLU, max pool 3×3 stride 2
//!   padding 1 (padding with −∞, as PyTorch).
//! - `layer1..layer4`: bottleneck blocks; the stride (1 for `layer1`, 2 after) sits on the
//!   3×3 `conv2` of a layer's first block (ResNet v1.5); that block gets a `downsample`
//!   (1×1 conv with the stride + frozen BN) whenever the stride is not 1 or the channel count
//!   changes, exactly as torchvision's `_make_layer` decides.
//! - `FrozenBatchNorm2d`: `scale = weight · (running_var + 1e-5)^(−1/2)`,
//!   `shift = bias − running_mean · scale`, `y = x · scale + shift`.
//!
//! Weight names are torchvision's (`conv1.weight`, `bn1.running_mean`,
//! `layer2.0.downsample.0.weight`, ...), under a prefix: `""` for a torchvision state dict,
//! `"backbone.0.body"` for DETR / GEN-VLKT / HOICLIP checkpoints.

use std::path::Path;

use burn::config::Config;
use burn::module::{Module, Param};
use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::tensor::activation::relu;
use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Device, Tensor};

use crate::error::HoiclipError;
use crate::nn::conv::{pack_conv2d, parameter_values, square_max_pool};
use crate::nn::cpu::{BottleneckNet, CpuPlan, PackedBottleneck, PackedConv2d};
use crate::weights::{WeightLoader, WeightMap};

type Res<T> = std::result::Result<T, HoiclipError>;

/// DETR's `FrozenBatchNorm2d` epsilon (added before the reciprocal square root).
pub const FROZEN_BN_EPS: f32 = 1e-5;

/// The tensor every ResNet state dict holds, used to find the backbone's prefix in a file.
const ANCHOR: &str = "layer1.0.conv1.weight";

/// Shape of a bottleneck [`ResNet`].
#[derive(Config, Debug, PartialEq, Eq)]
pub struct ResNetConfig {
    /// Bottleneck blocks in `layer1..layer4` (`[3, 4, 6, 3]` for ResNet-50).
    pub blocks: [usize; 4],
    /// Bottleneck widths (`planes`) of `layer1..layer4` (`[64, 128, 256, 512]`); a block
    /// outputs `planes · expansion` channels.
    pub planes: [usize; 4],
    /// Channels of the stem convolution (64 in torchvision).
    #[config(default = 64)]
    pub stem_width: usize,
    /// Bottleneck expansion (4 in torchvision).
    #[config(default = 4)]
    pub expansion: usize,
}

impl ResNetConfig {
    /// torchvision's `resnet50`: blocks `[3, 4, 6, 3]`.
    pub fn resnet50() -> Self {
        Self::new([3, 4, 6, 3], [64, 128, 256, 512])
    }

    /// torchvision's `resnet101`: blocks `[3, 4, 23, 3]`.
    pub fn resnet101() -> Self {
        Self::new([3, 4, 23, 3], [64, 128, 256, 512])
    }

    /// Channels of the `layer4` output (`planes[3] · expansion`, 2048 for ResNet-50/101).
    pub fn out_channels(&self) -> usize {
        self.planes[3] * self.expansion
    }

    /// The blocks of layer `layer` (0-based), as torchvision's `_make_layer` builds them.
    fn block_specs(&self, layer: usize) -> Vec<BlockSpec> {
        let c_in = match layer {
            0 => self.stem_width,
            _ => self.planes[layer - 1] * self.expansion,
        };
        let planes = self.planes[layer];
        let c_out = planes * self.expansion;
        let stride = if layer == 0 { 1 } else { 2 };
        (0..self.blocks[layer])
            .map(|b| match b {
                0 => BlockSpec {
                    c_in,
                    planes,
                    c_out,
                    stride,
                    downsample: stride != 1 || c_in != c_out,
                },
                _ => BlockSpec {
                    c_in: c_out,
                    planes,
                    c_out,
                    stride: 1,
                    downsample: false,
                },
            })
            .collect()
    }

    /// Check the configuration describes a buildable network.
    fn validate(&self) -> Res<()> {
        if self.stem_width == 0
            || self.expansion == 0
            || self.planes.contains(&0)
            || self.blocks.contains(&0)
        {
            return Err(HoiclipError::Config(format!(
                "ResNet needs non-zero widths and at least one block per layer, got {self:?}"
            )));
        }
        Ok(())
    }

    /// A randomly initialised (lazily) network; frozen batch norms start as the identity.
    pub fn init(&self, device: &Device) -> ResNet {
        let conv = |c_in: usize, c_out: usize, kernel: usize, stride: usize, padding: usize| {
            Conv2dConfig::new([c_in, c_out], [kernel, kernel])
                .with_stride([stride, stride])
                .with_padding(PaddingConfig2d::Explicit(
                    padding, padding, padding, padding,
                ))
                .with_bias(false)
                .init(device)
        };
        let layer = |i: usize| -> Vec<Bottleneck> {
            self.block_specs(i)
                .into_iter()
                .map(|spec| Bottleneck {
                    conv1: conv(spec.c_in, spec.planes, 1, 1, 0),
                    bn1: FrozenBatchNorm2d::identity(spec.planes, device),
                    conv2: conv(spec.planes, spec.planes, 3, spec.stride, 1),
                    bn2: FrozenBatchNorm2d::identity(spec.planes, device),
                    conv3: conv(spec.planes, spec.c_out, 1, 1, 0),
                    bn3: FrozenBatchNorm2d::identity(spec.c_out, device),
                    downsample: spec.downsample.then(|| Downsample {
                        conv: conv(spec.c_in, spec.c_out, 1, spec.stride, 0),
                        bn: FrozenBatchNorm2d::identity(spec.c_out, device),
                    }),
                })
                .collect()
        };
        ResNet {
            conv1: conv(3, self.stem_width, 7, 2, 3),
            bn1: FrozenBatchNorm2d::identity(self.stem_width, device),
            maxpool: stem_pool(),
            layer1: layer(0),
            layer2: layer(1),
            layer3: layer(2),
            layer4: layer(3),
            cpu_plan: CpuPlan::default(),
        }
    }
}

/// One bottleneck block's shape.
struct BlockSpec {
    c_in: usize,
    planes: usize,
    c_out: usize,
    stride: usize,
    downsample: bool,
}

/// `prefix.name`, or `name` when the prefix is empty.
fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}.{name}")
    }
}

/// The stem's 3×3 stride-2 max pool with padding 1 (padded with −∞ as in PyTorch).
fn stem_pool() -> MaxPool2d {
    MaxPool2dConfig::new([3, 3])
        .with_strides([2, 2])
        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
        .init()
}

/// DETR's `FrozenBatchNorm2d`: batch norm with fixed statistics and affine parameters.
#[derive(Module, Debug)]
pub struct FrozenBatchNorm2d {
    /// `weight` (γ), `[channels]`.
    pub weight: Param<Tensor<1>>,
    /// `bias` (β), `[channels]`.
    pub bias: Param<Tensor<1>>,
    /// `running_mean`, `[channels]`.
    pub running_mean: Param<Tensor<1>>,
    /// `running_var`, `[channels]`.
    pub running_var: Param<Tensor<1>>,
}

impl FrozenBatchNorm2d {
    /// The identity norm (`weight` 1, `bias` 0, mean 0, variance 1), as PyTorch initialises it.
    pub fn identity(channels: usize, device: &Device) -> Self {
        let ones = || Param::from_tensor(Tensor::ones([channels], device));
        let zeros = || Param::from_tensor(Tensor::zeros([channels], device));
        Self {
            weight: ones(),
            bias: zeros(),
            running_mean: zeros(),
            running_var: ones(),
        }
    }

    /// Load `{prefix}.weight`, `.bias`, `.running_mean`, `.running_var`, each `[channels]`
    /// (`{prefix}.num_batches_tracked` is ignored; see [`ResNet::is_known_unused`]).
    pub fn load(loader: &mut WeightLoader<'_>, prefix: &str, channels: usize) -> Res<Self> {
        Ok(Self {
            weight: loader.param(&join(prefix, "weight"), [channels])?,
            bias: loader.param(&join(prefix, "bias"), [channels])?,
            running_mean: loader.param(&join(prefix, "running_mean"), [channels])?,
            running_var: loader.param(&join(prefix, "running_var"), [channels])?,
        })
    }

    /// The per-channel `(scale, shift)`, each `[channels]`, computed in DETR's order.
    pub fn scale_shift(&self) -> (Tensor<1>, Tensor<1>) {
        let scale = self.weight.val()
            * self
                .running_var
                .val()
                .add_scalar(FROZEN_BN_EPS)
                .sqrt()
                .recip();
        let shift = self.bias.val() - self.running_mean.val() * scale.clone();
        (scale, shift)
    }

    /// [`FrozenBatchNorm2d::scale_shift`] on the host, `(scale, shift)` each `[channels]`, in
    /// DETR's arithmetic: `scale = weight · (running_var + eps)^(−1/2)`,
    /// `shift = bias − running_mean · scale`.
    pub fn host_scale_shift(&self) -> crate::Result<(Vec<f32>, Vec<f32>)> {
        let gamma = parameter_values(self.weight.val(), "a frozen batch norm weight")?;
        let beta = parameter_values(self.bias.val(), "a frozen batch norm bias")?;
        let mean = parameter_values(self.running_mean.val(), "a frozen batch norm mean")?;
        let var = parameter_values(self.running_var.val(), "a frozen batch norm variance")?;
        let scale: Vec<f32> = gamma
            .iter()
            .zip(&var)
            .map(|(g, v)| g * (1.0 / (v + FROZEN_BN_EPS).sqrt()))
            .collect();
        let shift: Vec<f32> = beta
            .iter()
            .zip(&mean)
            .zip(&scale)
            .map(|((b, m), s)| b - m * s)
            .collect();
        Ok((scale, shift))
    }

    /// `conv` followed by this norm, packed for the CPU kernels (the norm as the
    /// convolution's epilogue affine map); `None` when the kernels do not handle `conv`.
    pub fn pack_after(&self, conv: &Conv2d) -> crate::Result<Option<PackedConv2d>> {
        pack_conv2d(conv, Some(self.host_scale_shift()?))
    }

    /// `x`: `[batch, channels, height, width]` → `x · scale + shift`, same shape.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let (scale, shift) = self.scale_shift();
        let channels = scale.dims()[0];
        x * scale.reshape([1, channels, 1, 1]) + shift.reshape([1, channels, 1, 1])
    }

    /// `self.forward(conv.forward(x))` as one convolution: the norm's scale folded into the
    /// (bias-free) convolution's weights per output channel and its shift used as the bias,
    /// which saves two passes over the activations. The folding costs a pass over the
    /// weights, which are much smaller than the activations at detection resolutions.
    pub fn forward_after(&self, conv: &Conv2d, x: Tensor<4>) -> Tensor<4> {
        let (scale, shift) = self.scale_shift();
        let channels = scale.dims()[0];
        let shift = match &conv.bias {
            Some(bias) => shift + bias.val() * scale.clone(),
            None => shift,
        };
        let weight = conv.weight.val() * scale.reshape([channels, 1, 1, 1]);
        let ((top, bottom), (left, right)) = match &conv.padding {
            PaddingConfig2d::Explicit(top, left, bottom, right) => {
                ((*top, *bottom), (*left, *right))
            }
            PaddingConfig2d::Valid => ((0, 0), (0, 0)),
            PaddingConfig2d::Same => return self.forward(conv.forward(x)),
        };
        let options = ConvOptions::new_with_padding(
            conv.stride,
            [(top, bottom), (left, right)],
            conv.dilation,
            conv.groups,
        );
        conv2d(x, weight, Some(shift), options)
    }
}

/// A block's shortcut projection: `downsample.0` (1×1 conv with the block's stride) and
/// `downsample.1` (frozen BN).
#[derive(Module, Debug)]
pub struct Downsample {
    /// `downsample.0`: 1×1 convolution, no bias.
    pub conv: Conv2d,
    /// `downsample.1`.
    pub bn: FrozenBatchNorm2d,
}

impl Downsample {
    /// `x`: `[batch, c_in, height, width]` → `[batch, c_out, height / stride, width / stride]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        self.bn.forward_after(&self.conv, x)
    }
}

/// torchvision's `Bottleneck`: 1×1 → 3×3 (stride) → 1×1 convolutions with frozen BN, ReLU,
/// and the identity (or [`Downsample`]) shortcut.
#[derive(Module, Debug)]
pub struct Bottleneck {
    /// 1×1, `c_in → planes`.
    pub conv1: Conv2d,
    /// Norm after `conv1`.
    pub bn1: FrozenBatchNorm2d,
    /// 3×3 with the block's stride, padding 1, `planes → planes`.
    pub conv2: Conv2d,
    /// Norm after `conv2`.
    pub bn2: FrozenBatchNorm2d,
    /// 1×1, `planes → planes · expansion`.
    pub conv3: Conv2d,
    /// Norm after `conv3`.
    pub bn3: FrozenBatchNorm2d,
    /// Shortcut projection (first block of a layer when the shape changes).
    pub downsample: Option<Downsample>,
}

impl Bottleneck {
    /// Load `{prefix}.conv{1,2,3}.weight`, `{prefix}.bn{1,2,3}.*` and, when `downsample`,
    /// `{prefix}.downsample.{0,1}.*`.
    pub fn load(
        loader: &mut WeightLoader<'_>,
        prefix: &str,
        c_in: usize,
        planes: usize,
        c_out: usize,
        stride: usize,
        downsample: bool,
    ) -> Res<Self> {
        let conv1 = loader.conv2d(&join(prefix, "conv1"), c_in, planes, 1, 1, 0, false)?;
        let bn1 = FrozenBatchNorm2d::load(loader, &join(prefix, "bn1"), planes)?;
        let conv2 = loader.conv2d(&join(prefix, "conv2"), planes, planes, 3, stride, 1, false)?;
        let bn2 = FrozenBatchNorm2d::load(loader, &join(prefix, "bn2"), planes)?;
        let conv3 = loader.conv2d(&join(prefix, "conv3"), planes, c_out, 1, 1, 0, false)?;
        let bn3 = FrozenBatchNorm2d::load(loader, &join(prefix, "bn3"), c_out)?;
        let downsample = if downsample {
            Some(Downsample {
                conv: loader.conv2d(
                    &join(prefix, "downsample.0"),
                    c_in,
                    c_out,
                    1,
                    stride,
                    0,
                    false,
                )?,
                bn: FrozenBatchNorm2d::load(loader, &join(prefix, "downsample.1"), c_out)?,
            })
        } else {
            None
        };
        Ok(Self {
            conv1,
            bn1,
            conv2,
            bn2,
            conv3,
            bn3,
            downsample,
        })
    }

    /// `x`: `[batch, c_in, height, width]` → `[batch, c_out, ⌊(height − 1) / stride⌋ + 1,
    /// ⌊(width − 1) / stride⌋ + 1]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let identity = match &self.downsample {
            Some(downsample) => downsample.forward(x.clone()),
            None => x.clone(),
        };
        let out = relu(self.bn1.forward_after(&self.conv1, x));
        let out = relu(self.bn2.forward_after(&self.conv2, out));
        let out = self.bn3.forward_after(&self.conv3, out);
        relu(out + identity)
    }
}

/// torchvision's bottleneck ResNet with frozen batch norm, up to `layer4` (no pooling, no
/// `fc`), as DETR's backbone body.
#[derive(Module, Debug)]
pub struct ResNet {
    /// Stem 7×7 stride-2 convolution, `3 → stem_width`.
    pub conv1: Conv2d,
    /// Stem norm.
    pub bn1: FrozenBatchNorm2d,
    /// Stem 3×3 stride-2 max pool, padding 1.
    pub maxpool: MaxPool2d,
    /// Stride-4 blocks.
    pub layer1: Vec<Bottleneck>,
    /// Stride-8 blocks.
    pub layer2: Vec<Bottleneck>,
    /// Stride-16 blocks.
    pub layer3: Vec<Bottleneck>,
    /// Stride-32 blocks (the output).
    pub layer4: Vec<Bottleneck>,
    /// The backbone packed for the CPU kernels (built on the first forward pass on a CPU
    /// device; see [`CpuPlan`]). After replacing a layer or parameter by assigning to a
    /// field, call [`ResNet::reset_cpu_plan`].
    pub cpu_plan: CpuPlan<CpuResNet>,
}

/// The backbone packed for the CPU kernels ([`ResNet::pack_for_cpu`]): a [`BottleneckNet`]
/// with the frozen batch norms folded into the convolutions' epilogues.
pub type CpuResNet = BottleneckNet;

impl ResNet {
    /// Load torchvision names under `prefix`: `""` for a plain torchvision state dict,
    /// `"backbone.0.body"` for DETR/HOICLIP checkpoints (names: `conv1.weight`,
    /// `bn1.{weight,bias,running_mean,running_var}`, `layer{1..4}.{i}.conv{1,2,3}.weight`,
    /// `bn{1,2,3}.*`, `downsample.0.weight`, `downsample.1.*`).
    ///
    /// Errors with [`HoiclipError::MissingTensor`] / [`HoiclipError::ShapeMismatch`] naming
    /// the tensor at fault, or [`HoiclipError::Config`] for an unbuildable configuration.
    pub fn load(loader: &mut WeightLoader<'_>, prefix: &str, config: &ResNetConfig) -> Res<Self> {
        config.validate()?;
        let conv1 = loader.conv2d(&join(prefix, "conv1"), 3, config.stem_width, 7, 2, 3, false)?;
        let bn1 = FrozenBatchNorm2d::load(loader, &join(prefix, "bn1"), config.stem_width)?;
        let mut layer = |i: usize| -> Res<Vec<Bottleneck>> {
            config
                .block_specs(i)
                .into_iter()
                .enumerate()
                .map(|(b, spec)| {
                    Bottleneck::load(
                        loader,
                        &join(prefix, &format!("layer{}.{b}", i + 1)),
                        spec.c_in,
                        spec.planes,
                        spec.c_out,
                        spec.stride,
                        spec.downsample,
                    )
                })
                .collect()
        };
        let layer1 = layer(0)?;
        let layer2 = layer(1)?;
        let layer3 = layer(2)?;
        let layer4 = layer(3)?;
        Ok(Self {
            conv1,
            bn1,
            maxpool: stem_pool(),
            layer1,
            layer2,
            layer3,
            layer4,
            cpu_plan: CpuPlan::default(),
        })
    }

    /// Load a ResNet from a weight file (`.pth` or safetensors): a plain torchvision state
    /// dict (`conv1.weight`, ..., `fc.*`, `*.num_batches_tracked`), or any file holding one
    /// under a prefix (such as a DETR/HOICLIP checkpoint's `model.backbone.0.body.`), found
    /// from `layer1.0.conv1.weight`. Tensors under that prefix that the forward pass does
    /// not use, other than [`ResNet::is_known_unused`] ones, are an error.
    pub fn from_file(
        path: impl AsRef<Path>,
        config: &ResNetConfig,
        device: &Device,
    ) -> crate::Result<ResNet> {
        let map = WeightMap::from_file(path)?;
        Self::from_weight_map(&map, config, device)
    }

    /// As [`ResNet::from_file`], from a weight map already open.
    pub fn from_weight_map(
        map: &WeightMap,
        config: &ResNetConfig,
        device: &Device,
    ) -> crate::Result<ResNet> {
        let prefix = map.find_prefix(ANCHOR).ok_or_else(|| {
            HoiclipError::Config(format!(
                "{} holds no ResNet (no `{ANCHOR}` under any prefix)",
                map.source_name()
            ))
        })?;
        let map = map.with_prefix(&prefix);
        let mut loader = WeightLoader::new(&map, device);
        let model = Self::load(&mut loader, "", config)?;
        loader.finish(Self::is_known_unused)?;
        Ok(model)
    }

    /// Tensor names a torchvision/DETR state dict carries that the forward pass does not use:
    /// `fc.weight`, `fc.bias`, `*.num_batches_tracked`.
    pub fn is_known_unused(name: &str) -> bool {
        name == "fc.weight"
            || name == "fc.bias"
            || name == "num_batches_tracked"
            || name.ends_with(".num_batches_tracked")
    }

    /// Channels of the output (`planes[3] · expansion` of the configuration).
    pub fn out_channels(&self) -> usize {
        match self.layer4.last() {
            Some(block) => block.conv3.weight.dims()[0],
            None => 0,
        }
    }

    /// `images`: `[batch, 3, height, width]` → `layer4` features
    /// `[batch, out_channels, h32, w32]`, with torchvision's arithmetic for every size: the
    /// stem conv gives `⌊(n − 1) / 2⌋ + 1`, the max pool and each stride-2 layer again
    /// `⌊(n − 1) / 2⌋ + 1` (so 800 → 25, 1066 → 34, 1201 → 38).
    ///
    /// On a CPU device (flex, ndarray) the CPU kernels run ([`CpuResNet`]), elsewhere Burn's
    /// operations ([`ResNet::forward_burn`]); both compute the same function.
    ///
    /// The input is not checked (see [`ResNet::try_forward`]).
    pub fn forward(&self, images: Tensor<4>) -> Tensor<4> {
        let plan = self
            .cpu_plan
            .get_or_build(&images.device(), || self.pack_for_cpu());
        match plan {
            Ok(Some(plan)) => match plan.forward(images.clone()) {
                Ok(features) => features,
                // Only an input the convolutions reject (too small for a kernel) gets here:
                // the Burn path gives such inputs its own treatment.
                Err(_) => self.forward_burn(images),
            },
            _ => self.forward_burn(images),
        }
    }

    /// [`ResNet::forward`] with Burn's operations on every device (the path wgpu takes).
    pub fn forward_burn(&self, images: Tensor<4>) -> Tensor<4> {
        let x = relu(self.bn1.forward_after(&self.conv1, images));
        let x = self.maxpool.forward(x);
        [&self.layer1, &self.layer2, &self.layer3, &self.layer4]
            .into_iter()
            .flatten()
            .fold(x, |x, block| block.forward(x))
    }

    /// The backbone packed for the CPU kernels from its current weights (a copy of them;
    /// what [`ResNet::forward`] runs on a CPU device). `None` when some layer is not one the
    /// kernels handle (then the Burn path runs).
    pub fn pack_for_cpu(&self) -> crate::Result<Option<CpuResNet>> {
        let Some(stem) = self.bn1.pack_after(&self.conv1)? else {
            return Ok(None);
        };
        let Some(pool) = square_max_pool(&self.maxpool) else {
            return Ok(None);
        };
        let mut blocks = Vec::new();
        for block in [&self.layer1, &self.layer2, &self.layer3, &self.layer4]
            .into_iter()
            .flatten()
        {
            let downsample = match &block.downsample {
                Some(d) => match d.bn.pack_after(&d.conv)? {
                    Some(conv) => Some(conv),
                    None => return Ok(None),
                },
                None => None,
            };
            let (Some(conv1), Some(conv2), Some(conv3)) = (
                block.bn1.pack_after(&block.conv1)?,
                block.bn2.pack_after(&block.conv2)?,
                block.bn3.pack_after(&block.conv3)?,
            ) else {
                return Ok(None);
            };
            blocks.push(PackedBottleneck {
                conv1,
                conv2,
                conv3,
                downsample,
            });
        }
        Ok(Some(BottleneckNet::new(stem, pool, blocks)))
    }

    /// Drop the packed CPU copy of the weights, so that the next CPU forward pass packs the
    /// current ones. Needed only after assigning to the module's fields directly: loading
    /// weights and `Module::map` already do it.
    pub fn reset_cpu_plan(&mut self) {
        self.cpu_plan = CpuPlan::default();
    }

    /// [`ResNet::forward`] after checking the input: errors with
    /// [`HoiclipError::InputShape`] unless `images` is `[batch ≥ 1, 3, height ≥ 1, width ≥ 1]`.
    pub fn try_forward(&self, images: Tensor<4>) -> Res<Tensor<4>> {
        let [batch, channels, height, width] = images.dims();
        if batch == 0 || channels != 3 || height == 0 || width == 0 {
            return Err(HoiclipError::InputShape {
                name: "images".into(),
                expected: "[batch >= 1, 3, height >= 1, width >= 1]".into(),
                found: vec![batch, channels, height, width],
            });
        }
        Ok(self.forward(images))
    }
}

/// The spatial size torchvision's ResNet gives `layer4` for an input side `n` (≥ 1): five
/// halvings `n ↦ ⌊(n − 1) / 2⌋ + 1` (stem conv, max pool, layers 2–4).
pub fn output_size(n: usize) -> usize {
    if n == 0 {
        return 0;
    }
    (0..5).fold(n, |n, _| (n - 1) / 2 + 1)
}
