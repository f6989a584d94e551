//! Activations not provided by Burn.

use burn::tensor::Tensor;
use burn::tensor::activation::sigmoid;

/// CLIP's QuickGELU: `x * sigmoid(1.702 x)`.
pub fn quick_gelu<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    x.clone() * sigmoid(x * 1.702)
}
