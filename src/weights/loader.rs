//! [`WeightLoader`]: hands tensors of a [`WeightMap`] to modules, checking shapes.

use crate::nn::{Linear, TorchMultiheadAttention};
use std::collections::BTreeSet;

use burn::module::Param;
use burn::nn::conv::Conv2d;
use burn::nn::{LayerNorm, LayerNormConfig, PaddingConfig2d};
use burn::tensor::{Device, Tensor, TensorData};

use super::WeightMap;
use crate::error::{HoiclipError, Result};

/// Takes tensors out of a [`WeightMap`] as f32 Burn tensors on one device.
///
/// Every name asked for is remembered; [`WeightLoader::finish`] then reports the tensors of
/// the file that no module used and that are not declared as known-unused.
pub struct WeightLoader<'a> {
    map: &'a WeightMap,
    device: Device,
    used: BTreeSet<String>,
}

impl<'a> WeightLoader<'a> {
    /// A loader over `map` that creates tensors on `device`.
    pub fn new(map: &'a WeightMap, device: &Device) -> Self {
        Self {
            map,
            device: device.clone(),
            used: BTreeSet::new(),
        }
    }

    /// The device tensors are created on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The underlying map.
    pub fn map(&self) -> &WeightMap {
        self.map
    }

    /// Whether the map holds `name`.
    pub fn contains(&self, name: &str) -> bool {
        self.map.contains(name)
    }

    /// Read `name` as f32 values after checking its shape is `shape`.
    pub fn values(&mut self, name: &str, shape: &[usize]) -> Result<Vec<f32>> {
        let stored = self
            .map
            .get(name)
            .ok_or_else(|| HoiclipError::MissingTensor {
                name: name.to_string(),
                expected: shape.to_vec(),
                source_name: self.map.source_name().to_string(),
            })?;
        if stored.shape != shape {
            return Err(HoiclipError::ShapeMismatch {
                name: name.to_string(),
                expected: shape.to_vec(),
                found: stored.shape.clone(),
                source_name: self.map.source_name().to_string(),
            });
        }
        self.used.insert(name.to_string());
        stored.read_f32(name, self.map.source_name())
    }

    /// Read `name` as a tensor of shape `shape`.
    pub fn tensor<const D: usize>(&mut self, name: &str, shape: [usize; D]) -> Result<Tensor<D>> {
        let values = self.values(name, &shape)?;
        Ok(Tensor::from_data(
            TensorData::new(values, shape),
            &self.device,
        ))
    }

    /// Read `name` as a parameter of shape `shape`.
    pub fn param<const D: usize>(
        &mut self,
        name: &str,
        shape: [usize; D],
    ) -> Result<Param<Tensor<D>>> {
        Ok(Param::from_tensor(self.tensor(name, shape)?))
    }

    /// A scalar stored as a 0-d (or one-element) tensor, such as a logit scale, as a `[1]`
    /// parameter.
    pub fn scalar(&mut self, name: &str) -> Result<Param<Tensor<1>>> {
        let shape = self.map.shape(name).map(<[usize]>::to_vec).ok_or_else(|| {
            HoiclipError::MissingTensor {
                name: name.to_string(),
                expected: vec![],
                source_name: self.map.source_name().to_string(),
            }
        })?;
        if shape.iter().product::<usize>() != 1 {
            return Err(HoiclipError::ShapeMismatch {
                name: name.to_string(),
                expected: vec![],
                found: shape,
                source_name: self.map.source_name().to_string(),
            });
        }
        let values = self.values(name, &shape)?;
        Ok(Param::from_tensor(Tensor::from_data(
            TensorData::new(values, [1]),
            &self.device,
        )))
    }

    /// A `torch.nn.Linear` stored as `{prefix}.weight` `[d_out, d_in]` and, when `bias`,
    /// `{prefix}.bias` `[d_out]`, as a Burn [`Linear`] (weight transposed to `[d_in, d_out]`).
    pub fn linear(
        &mut self,
        prefix: &str,
        d_in: usize,
        d_out: usize,
        bias: bool,
    ) -> Result<Linear> {
        let weight = self.values(&format!("{prefix}.weight"), &[d_out, d_in])?;
        let weight = transpose_rows(&weight, d_out, d_in);
        let bias = if bias {
            Some(self.param(&format!("{prefix}.bias"), [d_out])?)
        } else {
            None
        };
        Ok(linear_from(weight, d_in, d_out, bias, &self.device))
    }

    /// A `torch.nn.MultiheadAttention` stored as `{prefix}.in_proj_weight` `[3 d, d]`,
    /// `{prefix}.in_proj_bias` `[3 d]` (query rows, then key, then value) and
    /// `{prefix}.out_proj.{weight,bias}`, for width `d_model` and `n_heads` heads.
    ///
    /// # Errors
    ///
    /// [`HoiclipError::Config`] when `n_heads` does not divide `d_model`; the loader's errors
    /// for a missing or misshapen tensor.
    pub fn multihead_attention(
        &mut self,
        prefix: &str,
        d_model: usize,
        n_heads: usize,
    ) -> Result<TorchMultiheadAttention> {
        if n_heads == 0 || !d_model.is_multiple_of(n_heads) {
            return Err(HoiclipError::Config(format!(
                "`{prefix}`: {n_heads} heads do not divide width {d_model}"
            )));
        }
        let d = d_model;
        let weight = self.values(&format!("{prefix}.in_proj_weight"), &[3 * d, d])?;
        let bias = self.values(&format!("{prefix}.in_proj_bias"), &[3 * d])?;
        let part = |i: usize| -> Linear {
            let w = transpose_rows(&weight[i * d * d..(i + 1) * d * d], d, d);
            let b = bias[i * d..(i + 1) * d].to_vec();
            linear_from_values(w, Some(b), d, d, &self.device)
        };
        let (query, key, value) = (part(0), part(1), part(2));
        Ok(TorchMultiheadAttention {
            query,
            key,
            value,
            out_proj: self.linear(&format!("{prefix}.out_proj"), d, d, true)?,
            n_heads,
            dropout: 0.0,
        })
    }

    /// A projection stored as a plain matrix `name` `[d_in, d_out]` (as CLIP's `visual.proj`
    /// and `text_projection`, applied as `x @ proj`), as a bias-free [`Linear`].
    pub fn matrix_as_linear(&mut self, name: &str, d_in: usize, d_out: usize) -> Result<Linear> {
        let weight = self.values(name, &[d_in, d_out])?;
        Ok(linear_from(weight, d_in, d_out, None, &self.device))
    }

    /// A `torch.nn.LayerNorm` stored as `{prefix}.weight` and `{prefix}.bias`, `[d]`.
    pub fn layer_norm(&mut self, prefix: &str, d: usize, epsilon: f64) -> Result<LayerNorm> {
        let mut norm = LayerNormConfig::new(d)
            .with_epsilon(epsilon)
            .init(&self.device);
        norm.gamma = self.param(&format!("{prefix}.weight"), [d])?;
        norm.beta = Some(self.param(&format!("{prefix}.bias"), [d])?);
        Ok(norm)
    }

    /// A `torch.nn.Conv2d` stored as `{prefix}.weight` `[c_out, c_in, k, k]` and, when
    /// `bias`, `{prefix}.bias`, with symmetric `padding`.
    #[allow(clippy::too_many_arguments)]
    pub fn conv2d(
        &mut self,
        prefix: &str,
        c_in: usize,
        c_out: usize,
        kernel: usize,
        stride: usize,
        padding: usize,
        bias: bool,
    ) -> Result<Conv2d> {
        let weight = self.param(&format!("{prefix}.weight"), [c_out, c_in, kernel, kernel])?;
        let bias = if bias {
            Some(self.param(&format!("{prefix}.bias"), [c_out])?)
        } else {
            None
        };
        Ok(Conv2d {
            weight,
            bias,
            stride: [stride, stride],
            kernel_size: [kernel, kernel],
            dilation: [1, 1],
            groups: 1,
            padding: PaddingConfig2d::Explicit(padding, padding, padding, padding),
        })
    }

    /// Mark `name` as used without reading it (a tensor the forward pass never needs but
    /// that a checkpoint is expected to carry).
    pub fn mark_used(&mut self, name: &str) {
        if self.map.contains(name) {
            self.used.insert(name.to_string());
        }
    }

    /// Names of the map's tensors not read so far.
    pub fn unused(&self) -> Vec<String> {
        self.map
            .names()
            .filter(|name| !self.used.contains(*name))
            .map(str::to_string)
            .collect()
    }

    /// Fail with [`HoiclipError::UnexpectedTensors`] if any tensor was not used and is not
    /// accepted by `known_unused` (which returns true for names a checkpoint may carry
    /// without the forward pass needing them).
    pub fn finish(self, known_unused: impl Fn(&str) -> bool) -> Result<()> {
        let unexpected: Vec<String> = self
            .unused()
            .into_iter()
            .filter(|name| !known_unused(name))
            .collect();
        if unexpected.is_empty() {
            return Ok(());
        }
        let shown: Vec<&str> = unexpected.iter().take(8).map(String::as_str).collect();
        let more = if unexpected.len() > shown.len() {
            format!(", ... ({} more)", unexpected.len() - shown.len())
        } else {
            String::new()
        };
        Err(HoiclipError::UnexpectedTensors {
            count: unexpected.len(),
            names: format!("{}{more}", shown.join(", ")),
            source_name: self.map.source_name().to_string(),
        })
    }
}

/// Row-major `[rows, cols]` → `[cols, rows]`.
pub(crate) fn transpose_rows(values: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut out = vec![0.0; values.len()];
    for r in 0..rows {
        for c in 0..cols {
            out[c * rows + r] = values[r * cols + c];
        }
    }
    out
}

fn linear_from(
    weight_in_out: Vec<f32>,
    d_in: usize,
    d_out: usize,
    bias: Option<Param<Tensor<1>>>,
    device: &Device,
) -> Linear {
    Linear::from_params(
        Param::from_tensor(Tensor::from_data(
            TensorData::new(weight_in_out, [d_in, d_out]),
            device,
        )),
        bias,
    )
}

/// A [`Linear`] from a `[d_in, d_out]` row-major weight and an optional bias.
pub(crate) fn linear_from_values(
    weight_in_out: Vec<f32>,
    bias: Option<Vec<f32>>,
    d_in: usize,
    d_out: usize,
    device: &Device,
) -> Linear {
    let bias =
        bias.map(|b| Param::from_tensor(Tensor::from_data(TensorData::new(b, [d_out]), device)));
    linear_from(weight_in_out, d_in, d_out, bias, device)
}
