//! Dropout as the authors train with it (`nn.Dropout(0.1)` in every DETR / HOICLIP
//! transformer layer and on the attention weights of `nn.MultiheadAttention`).
//!
//! Active only on an autodiff device (a model being trained, see
//! `hoiclip::train::training_model`): on a plain device, and so in every inference path, it
//! is the identity. The layers hold their probability as a plain number (0 unless training
//! sets it), so loading, the native format and inference are unchanged.

use burn::tensor::{Distribution, Tensor};

/// `x` with each element zeroed with probability `prob` and the rest scaled by
/// `1 / (1 − prob)` (inverted dropout, torch's `F.dropout`), when `x` is on an autodiff
/// device and `prob > 0`; `x` unchanged otherwise.
pub fn dropout<const D: usize>(x: Tensor<D>, prob: f64) -> Tensor<D> {
    if prob <= 0.0 || !x.device().is_autodiff() {
        return x;
    }
    let keep = 1.0 - prob;
    let mask = x.random_like(Distribution::Bernoulli(keep));
    x * mask * (1.0 / keep)
}

#[cfg(all(test, feature = "train", feature = "flex"))]
mod tests {
    use super::*;

    fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
        t.into_data()
            .convert::<f32>()
            .try_to_vec::<f32>()
            .unwrap_or_default()
    }

    #[test]
    fn dropout_is_the_identity_on_a_plain_device_and_at_zero() {
        let device = burn::tensor::Device::flex();
        let x = Tensor::<2>::ones([64, 64], &device);
        assert_eq!(values(dropout(x.clone(), 0.5)), values(x.clone()));
        let ad = device.autodiff();
        let y = Tensor::<2>::ones([64, 64], &ad);
        assert_eq!(values(dropout(y.clone(), 0.0)), values(y));
    }

    #[test]
    fn dropout_zeroes_the_rate_and_rescales_the_rest() {
        let device = burn::tensor::Device::flex().autodiff();
        device.seed(3);
        let x = Tensor::<2>::ones([200, 200], &device);
        let out = values(dropout(x, 0.1));
        let zeros = out.iter().filter(|&&v| v == 0.0).count() as f64 / out.len() as f64;
        assert!((zeros - 0.1).abs() < 0.01, "zeroed fraction {zeros}");
        let scale = 1.0 / 0.9;
        assert!(
            out.iter()
                .all(|&v| v == 0.0 || (f64::from(v) - scale).abs() < 1e-6)
        );
        // The same seed draws the same mask.
        device.seed(3);
        let again = values(dropout(Tensor::<2>::ones([200, 200], &device), 0.1));
        assert_eq!(out, again);
    }
}
