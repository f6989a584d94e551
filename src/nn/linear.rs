//! [`Linear`]: `y = x · W + b`, Burn's `nn::Linear` with the same parameters (and so the
//! same names in saved files), which on a CPU backend runs on the CPU kernels' matrix
//! product ([`PackedConv2d::linear`], weights packed once on first use).

use burn::module::{Module, Param};
use burn::nn::LinearConfig;
use burn::tensor::{Device, Tensor, TensorData};

use crate::error::{HoiclipError, Result};
use crate::nn::cpu::{CpuPlan, Epilogue, MapView, PackedConv2d, Workspace};

/// A linear layer: `weight` `[d_in, d_out]` (Burn's layout, the transpose of PyTorch's),
/// optional `bias` `[d_out]`.
#[derive(Module, Debug)]
pub struct Linear {
    /// `[d_in, d_out]`.
    pub weight: Param<Tensor<2>>,
    /// `[d_out]`.
    pub bias: Option<Param<Tensor<1>>>,
    /// The weights packed for the CPU kernels (built on the first CPU forward pass; emptied
    /// when the parameters are mapped). After assigning `weight` or `bias` by hand, call
    /// [`Linear::reset_cpu_plan`].
    pub cpu_plan: CpuPlan<PackedConv2d>,
}

impl From<burn::nn::Linear> for Linear {
    fn from(linear: burn::nn::Linear) -> Self {
        Self::from_params(linear.weight, linear.bias)
    }
}

impl Linear {
    /// A layer over the given parameters (`weight` `[d_in, d_out]`, `bias` `[d_out]`).
    pub fn from_params(weight: Param<Tensor<2>>, bias: Option<Param<Tensor<1>>>) -> Self {
        Self {
            weight,
            bias,
            cpu_plan: CpuPlan::default(),
        }
    }

    /// A randomly initialised layer (Burn's `LinearConfig` initialisation), `bias` or not.
    pub fn init(d_in: usize, d_out: usize, bias: bool, device: &Device) -> Self {
        LinearConfig::new(d_in, d_out)
            .with_bias(bias)
            .init(device)
            .into()
    }

    /// `[d_in, d_out]`.
    pub fn dims(&self) -> [usize; 2] {
        self.weight.dims()
    }

    /// Drop the packed copy of the weights (needed only after assigning the parameters
    /// directly; loading and `Module::map` already do it).
    pub fn reset_cpu_plan(&mut self) {
        self.cpu_plan = CpuPlan::default();
    }

    /// `x` `[..., d_in]` → `[..., d_out]`. On a CPU device the CPU kernels run, elsewhere
    /// Burn's operations ([`Linear::forward_burn`]); both compute the same function.
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        let device = x.device();
        let plan = match self
            .cpu_plan
            .get_or_build(&device, || self.pack().map(Some))
        {
            Ok(Some(plan)) => plan,
            _ => return self.forward_burn(x),
        };
        let dims = x.dims();
        let [d_in, d_out] = self.dims();
        if D == 0 || dims[D - 1] != d_in {
            return self.forward_burn(x);
        }
        let data = x.into_data();
        let rows = dims[..D - 1].iter().product::<usize>();
        let output = match data.as_slice::<f32>() {
            Ok(values) => MapView::rows(values, rows, d_in).and_then(|view| {
                plan.forward(view, Epilogue::default(), &mut Workspace::default())
            }),
            Err(e) => Err(HoiclipError::Backend {
                backend: "host".into(),
                reason: format!("cannot read a linear layer's input: {e:?}"),
            }),
        };
        match output {
            Ok(output) => {
                let mut out_dims = dims;
                out_dims[D - 1] = d_out;
                Tensor::from_data(TensorData::new(output.data, out_dims), &device)
            }
            // Not a float32 input: Burn's path takes it as it is.
            Err(_) => self.forward_burn(Tensor::from_data(data, &device)),
        }
    }

    /// [`Linear::forward`] with Burn's operations on every device: `x · W (+ b)`.
    pub fn forward_burn<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        let output = x.matmul(self.weight.val().unsqueeze());
        match &self.bias {
            Some(bias) => output + bias.val().unsqueeze(),
            None => output,
        }
    }

    /// The weights packed for the CPU kernels.
    fn pack(&self) -> Result<PackedConv2d> {
        let [d_in, d_out] = self.dims();
        let weight = crate::nn::cpu::host_values(self.weight.val())?;
        let bias = match &self.bias {
            Some(bias) => Some(crate::nn::cpu::host_values(bias.val())?),
            None => None,
        };
        PackedConv2d::linear(&weight, d_in, d_out, bias)
    }
}

#[cfg(all(test, feature = "flex"))]
mod tests {
    use super::*;
    use burn::tensor::Distribution;

    #[test]
    fn cpu_kernels_match_burn_operations() {
        let device = Device::flex();
        for (d_in, d_out, bias) in [(7, 5, true), (64, 40, false), (300, 17, true)] {
            let linear = Linear::init(d_in, d_out, bias, &device);
            let x = Tensor::<3>::random([2, 9, d_in], Distribution::Normal(0.0, 1.0), &device);
            let fast = linear.forward(x.clone());
            let reference = linear.forward_burn(x);
            assert_eq!(fast.dims(), [2, 9, d_out]);
            let diff: f32 = (fast - reference).abs().max().into_scalar();
            assert!(diff < 1e-5, "[{d_in}, {d_out}]: {diff}");
        }
    }
}
