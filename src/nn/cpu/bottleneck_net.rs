//! [`BottleneckNet`]: a ResNet-style bottleneck network (stem convolution + ReLU, a square
//! max pool, then bottleneck blocks `1×1 → 3×3 → 1×1` with a residual) run end to end on
//! the kernels of this layer, channels-last, weights packed once.
//!
//! It is built from operators already packed ([`PackedConv2d`]s with their affine maps,
//! such as a frozen batch norm folded in, and a [`SquarePool`]), so it knows nothing of the
//! module it came from: the detection backbone (`crate::detection::resnet`) packs its layers
//! and hands them over. The arithmetic is PyTorch's order in every convolution: dot
//! product, affine map, residual, ReLU.

use std::sync::Mutex;

use burn::tensor::Tensor;

use super::conv::PackedConv2d;
use super::epilogue::Epilogue;
use super::feature_map::FeatureMap;
use super::max_pool::{SquarePool, max_pool2d};
use super::workspace::Workspace;
use crate::error::Result;

/// One bottleneck block, packed: `relu(conv3(relu(conv2(relu(conv1(x))))) + shortcut)`,
/// the shortcut `downsample(x)` or `x`. Each convolution carries its own affine map
/// (a frozen batch norm's); `conv1`, `conv2` and `conv3` end in a ReLU (`conv3` after the
/// residual sum), `downsample` does not.
#[derive(Debug)]
pub struct PackedBottleneck {
    /// 1×1, `c_in → planes`.
    pub conv1: PackedConv2d,
    /// 3×3 with the block's stride, `planes → planes`.
    pub conv2: PackedConv2d,
    /// 1×1, `planes → c_out`.
    pub conv3: PackedConv2d,
    /// The shortcut projection, if the block has one.
    pub downsample: Option<PackedConv2d>,
}

/// A bottleneck network packed for the CPU kernels; it holds its own copy of the weights
/// (about the size of the network's parameters, 94 MB for ResNet-50).
///
/// It also keeps the activation buffers of its forward passes ([`Workspace`]s, one per pass
/// running at once) for the next pass: at detection resolutions a fresh buffer costs more
/// in page faults than the layer that fills it. For ResNet-50 at 800×1066 that is about
/// 250 MB per concurrent pass, released with the network.
#[derive(Debug)]
pub struct BottleneckNet {
    stem: PackedConv2d,
    pool: SquarePool,
    blocks: Vec<PackedBottleneck>,
    workspaces: Mutex<Vec<Workspace>>,
}

impl BottleneckNet {
    /// The network `stem` (followed by ReLU) → `pool` → `blocks`, in order.
    pub fn new(stem: PackedConv2d, pool: SquarePool, blocks: Vec<PackedBottleneck>) -> Self {
        Self {
            stem,
            pool,
            blocks,
            workspaces: Mutex::default(),
        }
    }

    /// `images` `[batch, height, width, c_in]` (channels-last) → the last block's output
    /// `[batch, h, w, c_out]`, channels-last.
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

    /// The layers of [`BottleneckNet::forward_map`], buffers from `ws`.
    fn run_layers(&self, images: &FeatureMap, ws: &mut Workspace) -> Result<FeatureMap> {
        let relu = Epilogue {
            residual: None,
            relu: true,
        };
        let stem = self.stem.forward(images.view(), relu, ws)?;
        let SquarePool {
            kernel,
            stride,
            padding,
        } = self.pool;
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

    /// `images` `[batch, c_in, height, width]` on a CPU device → the last block's output
    /// `[batch, c_out, h, w]` on the same device.
    pub fn forward(&self, images: Tensor<4>) -> Result<Tensor<4>> {
        let device = images.device();
        let input = FeatureMap::from_tensor(images)?;
        Ok(self.forward_map(&input)?.to_tensor(&device))
    }
}
