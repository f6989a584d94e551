//! [`FeatureMap`]: an f32 activation map in host memory, channels-last (`[batch, height,
//! width, channels]`, NHWC), the layout the CPU kernels work in; conversions to and from
//! Burn's channels-first (NCHW) tensors.

use burn::tensor::{Device, Tensor, TensorData};
use rayon::prelude::*;

use crate::error::{HoiclipError, Result};

/// An activation map `[batch, height, width, channels]`, row-major (channels fastest).
#[derive(Clone, Debug, PartialEq)]
pub struct FeatureMap {
    /// The values, `batch · height · width · channels` of them.
    pub data: Vec<f32>,
    /// Images in the batch.
    pub batch: usize,
    /// Rows.
    pub height: usize,
    /// Columns.
    pub width: usize,
    /// Channels.
    pub channels: usize,
}

/// A borrowed channels-last map: what the kernels read (a [`FeatureMap`]'s values, or a
/// tensor's host values in place).
#[derive(Clone, Copy, Debug)]
pub struct MapView<'a> {
    /// The values, `batch · height · width · channels` of them.
    pub data: &'a [f32],
    /// Images in the batch.
    pub batch: usize,
    /// Rows.
    pub height: usize,
    /// Columns.
    pub width: usize,
    /// Channels.
    pub channels: usize,
}

impl<'a> MapView<'a> {
    /// `rows` vectors of `channels` values (`[1, 1, rows, channels]`): a matrix as a map,
    /// for matrix products (a linear layer is a 1×1 convolution). Errors with
    /// [`HoiclipError::InputShape`] when `data` is not `rows · channels` long.
    pub fn rows(data: &'a [f32], rows: usize, channels: usize) -> Result<Self> {
        if data.len() != rows * channels {
            return Err(HoiclipError::InputShape {
                name: "matrix".into(),
                expected: format!("{} values for [{rows}, {channels}]", rows * channels),
                found: vec![data.len()],
            });
        }
        Ok(Self {
            data,
            batch: 1,
            height: 1,
            width: rows,
            channels,
        })
    }

    /// `[batch, height, width, channels]`.
    pub fn dims(&self) -> [usize; 4] {
        [self.batch, self.height, self.width, self.channels]
    }

    /// Pixels (`batch · height · width`).
    pub fn pixels(&self) -> usize {
        self.batch * self.height * self.width
    }
}

impl FeatureMap {
    /// A view of the map for the kernels.
    pub fn view(&self) -> MapView<'_> {
        MapView {
            data: &self.data,
            batch: self.batch,
            height: self.height,
            width: self.width,
            channels: self.channels,
        }
    }

    /// A map over `data` (already channels-last). Errors with [`HoiclipError::InputShape`]
    /// when `data` does not hold `batch · height · width · channels` values.
    pub fn new(
        data: Vec<f32>,
        batch: usize,
        height: usize,
        width: usize,
        channels: usize,
    ) -> Result<Self> {
        if data.len() != batch * height * width * channels {
            return Err(HoiclipError::InputShape {
                name: "feature map".into(),
                expected: format!(
                    "{} values for [{batch}, {height}, {width}, {channels}]",
                    batch * height * width * channels
                ),
                found: vec![data.len()],
            });
        }
        Ok(Self {
            data,
            batch,
            height,
            width,
            channels,
        })
    }

    /// Pixels (`batch · height · width`), the rows of the map seen as a matrix.
    pub fn pixels(&self) -> usize {
        self.batch * self.height * self.width
    }

    /// From channels-first values `nchw` of shape `[batch, channels, height, width]`.
    pub fn from_nchw(nchw: &[f32], dims: [usize; 4]) -> Result<Self> {
        let [batch, channels, height, width] = dims;
        if nchw.len() != batch * channels * height * width {
            return Err(HoiclipError::InputShape {
                name: "channels-first map".into(),
                expected: format!("{} values for {dims:?}", batch * channels * height * width),
                found: vec![nchw.len()],
            });
        }
        let plane = height * width;
        let mut data = vec![0.0f32; nchw.len()];
        if plane > 0 && channels > 0 {
            // One output row (all `channels` of `width` pixels) per task.
            data.par_chunks_mut(width * channels)
                .enumerate()
                .for_each(|(row, out)| {
                    let (b, y) = (row / height, row % height);
                    let image = &nchw[b * channels * plane..(b + 1) * channels * plane];
                    for (x, pixel) in out.chunks_exact_mut(channels).enumerate() {
                        for (c, value) in pixel.iter_mut().enumerate() {
                            *value = image[c * plane + y * width + x];
                        }
                    }
                });
        }
        Self::new(data, batch, height, width, channels)
    }

    /// The values channels-first, `[batch, channels, height, width]`.
    pub fn to_nchw(&self) -> Vec<f32> {
        let (h, w, c) = (self.height, self.width, self.channels);
        let plane = h * w;
        let mut out = vec![0.0f32; self.data.len()];
        if plane > 0 && c > 0 {
            // One output channel plane per task.
            out.par_chunks_mut(plane)
                .enumerate()
                .for_each(|(index, plane_out)| {
                    let (b, channel) = (index / c, index % c);
                    let image = &self.data[b * plane * c..(b + 1) * plane * c];
                    for (p, value) in plane_out.iter_mut().enumerate() {
                        *value = image[p * c + channel];
                    }
                });
        }
        out
    }

    /// From a Burn tensor `[batch, channels, height, width]` (read to the host; on the flex
    /// backend without a copy when the tensor is not shared).
    pub fn from_tensor(tensor: Tensor<4>) -> Result<Self> {
        let dims = tensor.dims();
        let data = tensor.into_data();
        let values = data.as_slice::<f32>().map_err(|e| HoiclipError::Backend {
            backend: "host".into(),
            reason: format!("cannot read a [batch, channels, height, width] map: {e:?}"),
        })?;
        Self::from_nchw(values, dims)
    }

    /// As a Burn tensor `[batch, channels, height, width]` on `device`.
    pub fn to_tensor(&self, device: &Device) -> Tensor<4> {
        let dims = [self.batch, self.channels, self.height, self.width];
        Tensor::from_data(TensorData::new(self.to_nchw(), dims), device)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channels_first_round_trip() {
        let dims = [2, 3, 4, 5];
        let nchw: Vec<f32> = (0..120).map(|i| i as f32).collect();
        let map = FeatureMap::from_nchw(&nchw, dims).unwrap();
        assert_eq!(map.pixels(), 40);
        // [b=1, c=2, y=3, x=4] sits at NHWC index ((1·4 + 3)·5 + 4)·3 + 2.
        assert_eq!(
            map.data[((4 + 3) * 5 + 4) * 3 + 2],
            nchw[60 + 2 * 20 + 3 * 5 + 4]
        );
        assert_eq!(map.to_nchw(), nchw);
    }

    #[test]
    fn wrong_lengths_are_errors() {
        assert!(FeatureMap::from_nchw(&[0.0; 5], [1, 1, 2, 3]).is_err());
        assert!(FeatureMap::new(vec![0.0; 5], 1, 2, 3, 1).is_err());
    }
}
