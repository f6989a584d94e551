//! [`CpuResNet`]: the [`ResNet`] backbone prepared for the CPU kernels of
//! [`crate::nn::cpu`] (channels-last, frozen batch norms applied in each convolution's
//! epilogue, weights packed once), held in [`ResNet::cpu_plan`].
//!
//! [`ResNet::forward`] uses it whenever its input lives on a CPU backend (flex, ndarray):
//! the whole backbone then runs on host memory, from the NCHW input tensor to the `layer4`
//! tensor, with the same arithmetic as the Burn path (PyTorch's order: dot product, batch
//! norm, residual, ReLU).

use std::sync::Mutex;

use burn::nn::PaddingConfig2d;
use burn::nn::conv::Conv2d;
use burn::tensor::Tensor;

use super::resnet::{FROZEN_BN_EPS, FrozenBatchNorm2d, ResNet};
use crate::error::{HoiclipError, Result};
use crate::nn::cpu::{Epilogue, FeatureMap, PackedConv2d, Padding, Workspace, max_pool2d};

/// One bottleneck block, packed.
#[derive(Debug)]
struct CpuBottleneck {
    conv1: PackedConv2d,
    conv2: PackedConv2d,
    conv3: PackedConv2d,
    downsample: Option<PackedConv2d>,
}

/// A [`ResNet`] packed for the CPU kernels. Built from the module's current weights by
/// [`CpuResNet::from_resnet`]; it holds its own copy of them (about the size of the
/// backbone's parameters, 94 MB for ResNet-50).
///
/// It also keeps the activation buffers of its forward passes ([`Workspace`]s, one per pass
/// running at once) for the next pass: at detection resolutions a fresh buffer costs more
/// in page faults than the layer that fills it. For ResNet-50 at 800×1066 that is about
/// 250 MB per concurrent pass, released with the plan ([`ResNet::reset_cpu_plan`]).
#[derive(Debug)]
pub struct CpuResNet {
    stem: PackedConv2d,
    pool: [usize; 3],
    blocks: Vec<CpuBottleneck>,
    workspaces: Mutex<Vec<Workspace>>,
}

/// The values of a parameter tensor on the host.
fn host_values<const D: usize>(tensor: Tensor<D>, what: &str) -> Result<Vec<f32>> {
    crate::nn::cpu::host_values(tensor).map_err(|e| HoiclipError::Backend {
        backend: "host".into(),
        reason: format!("cannot read {what}: {e}"),
    })
}

/// `conv` followed by `bn`, packed: the norm's `(scale, shift)` in DETR's arithmetic become
/// the epilogue's affine map (a convolution bias, if any, is scaled into the shift).
/// `None` when the convolution is not one the kernels handle (groups, dilation, `Same`
/// padding).
fn pack(conv: &Conv2d, bn: &FrozenBatchNorm2d) -> Result<Option<PackedConv2d>> {
    let padding = match conv.padding {
        PaddingConfig2d::Explicit(top, left, bottom, right) => Padding {
            top,
            left,
            bottom,
            right,
        },
        PaddingConfig2d::Valid => Padding::default(),
        PaddingConfig2d::Same => return Ok(None),
    };
    if conv.groups != 1 || conv.dilation != [1, 1] {
        return Ok(None);
    }
    let weight_dims = conv.weight.dims();
    let weight = host_values(conv.weight.val(), "a ResNet convolution weight")?;
    let gamma = host_values(bn.weight.val(), "a frozen batch norm weight")?;
    let beta = host_values(bn.bias.val(), "a frozen batch norm bias")?;
    let mean = host_values(bn.running_mean.val(), "a frozen batch norm mean")?;
    let var = host_values(bn.running_var.val(), "a frozen batch norm variance")?;
    // DETR's FrozenBatchNorm2d: scale = w · (rv + eps)^(-1/2), shift = b − rm · scale.
    let scale: Vec<f32> = gamma
        .iter()
        .zip(&var)
        .map(|(g, v)| g * (1.0 / (v + FROZEN_BN_EPS).sqrt()))
        .collect();
    let mut shift: Vec<f32> = beta
        .iter()
        .zip(&mean)
        .zip(&scale)
        .map(|((b, m), s)| b - m * s)
        .collect();
    if let Some(bias) = &conv.bias {
        let bias = host_values(bias.val(), "a ResNet convolution bias")?;
        for ((t, b), s) in shift.iter_mut().zip(&bias).zip(&scale) {
            *t += b * s;
        }
    }
    PackedConv2d::from_torch_layout(
        &weight,
        weight_dims,
        conv.stride,
        padding,
        Some(scale),
        Some(shift),
    )
    .map(Some)
}

impl CpuResNet {
    /// Pack `resnet`'s weights. `None` when some layer is not one the kernels handle (then
    /// the Burn path runs).
    pub fn from_resnet(resnet: &ResNet) -> Result<Option<Self>> {
        let Some(stem) = pack(&resnet.conv1, &resnet.bn1)? else {
            return Ok(None);
        };
        let pool = &resnet.maxpool;
        let square = pool.kernel_size[0] == pool.kernel_size[1] && pool.stride[0] == pool.stride[1];
        let pool_padding = match pool.padding {
            PaddingConfig2d::Explicit(top, left, bottom, right)
                if top == left && left == bottom && bottom == right =>
            {
                top
            }
            PaddingConfig2d::Valid => 0,
            _ => return Ok(None),
        };
        if !square || pool.dilation != [1, 1] || pool.ceil_mode {
            return Ok(None);
        }
        let mut blocks = Vec::new();
        for block in [
            &resnet.layer1,
            &resnet.layer2,
            &resnet.layer3,
            &resnet.layer4,
        ]
        .into_iter()
        .flatten()
        {
            let downsample = match &block.downsample {
                Some(d) => match pack(&d.conv, &d.bn)? {
                    Some(conv) => Some(conv),
                    None => return Ok(None),
                },
                None => None,
            };
            let (Some(conv1), Some(conv2), Some(conv3)) = (
                pack(&block.conv1, &block.bn1)?,
                pack(&block.conv2, &block.bn2)?,
                pack(&block.conv3, &block.bn3)?,
            ) else {
                return Ok(None);
            };
            blocks.push(CpuBottleneck {
                conv1,
                conv2,
                conv3,
                downsample,
            });
        }
        Ok(Some(Self {
            stem,
            pool: [pool.kernel_size[0], pool.stride[0], pool_padding],
            blocks,
            workspaces: Mutex::default(),
        }))
    }

    /// `images` `[batch, height, width, 3]` (channels-last) → `layer4` features
    /// `[batch, h32, w32, out_channels]`, channels-last.
    pub fn forward_map(&self, images: &FeatureMap) -> Result<FeatureMap> {
        // A poisoned lock only means another pass panicked; the buffers are still buffers.
        let pooled = self
            .workspaces
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .pop();
        let mut ws = pooled.unwrap_or_default();
        let result = self.run_layers(images, &mut ws);
        self.workspaces
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(ws);
        result
    }

    /// The layers of [`CpuResNet::forward_map`], buffers from `ws`.
    fn run_layers(&self, images: &FeatureMap, ws: &mut Workspace) -> Result<FeatureMap> {
        let relu = Epilogue {
            residual: None,
            relu: true,
        };
        let stem = self.stem.forward(images.view(), relu, ws)?;
        let [kernel, stride, padding] = self.pool;
        let mut x = max_pool2d(&stem, kernel, stride, padding, ws)?;
        ws.recycle(stem);
        for block in &self.blocks {
            let shortcut = match &block.downsample {
                Some(conv) => Some(conv.forward(x.view(), Epilogue::default(), ws)?),
                None => None,
            };
            let t1 = block.conv1.forward(x.view(), relu, ws)?;
            let t2 = block.conv2.forward(t1.view(), relu, ws)?;
            ws.recycle(t1);
            let identity = shortcut.as_ref().unwrap_or(&x);
            let out = block.conv3.forward(
                t2.view(),
                Epilogue {
                    residual: Some(identity.view()),
                    relu: true,
                },
                ws,
            )?;
            ws.recycle(t2);
            if let Some(shortcut) = shortcut {
                ws.recycle(shortcut);
            }
            ws.recycle(std::mem::replace(&mut x, out));
        }
        Ok(x)
    }

    /// `images` `[batch, 3, height, width]` on a CPU device → `layer4` features
    /// `[batch, out_channels, h32, w32]` on the same device.
    pub fn forward(&self, images: Tensor<4>) -> Result<Tensor<4>> {
        let device = images.device();
        let input = FeatureMap::from_tensor(images)?;
        Ok(self.forward_map(&input)?.to_tensor(&device))
    }
}
