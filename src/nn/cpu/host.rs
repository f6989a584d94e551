//! The host side of the kernels: which devices keep their tensors in host memory and run the
//! kernels ([`use_kernels`], with the process-wide switch [`set_kernels_enabled`]), and
//! reading a tensor's values into host memory ([`host_values`]).

use burn::tensor::{Device, Tensor};

use super::switch::ProcessSwitch;
use crate::error::{HoiclipError, Result};

/// The CPU kernels' switch (default from `HOICLIP_CPU_KERNELS`).
static KERNELS: ProcessSwitch = ProcessSwitch::new("HOICLIP_CPU_KERNELS");

/// Whether the CPU kernels are enabled for this process: yes unless
/// [`set_kernels_enabled`]`(false)` was called or the environment variable
/// `HOICLIP_CPU_KERNELS` is `0` (or `false`, `off`) when first asked.
pub fn kernels_enabled() -> bool {
    KERNELS.enabled()
}

/// Turn the CPU kernels on or off for the whole process (off: Burn's operations run on
/// every backend, as on wgpu). Both compute the same function; this is for comparisons and
/// benchmarks.
pub fn set_kernels_enabled(enabled: bool) {
    KERNELS.set(enabled);
}

/// Whether `device` is a CPU backend's (flex or ndarray), whose tensors live in host memory
/// and can use these kernels. wgpu devices (lavapipe included) are not.
pub fn is_host_device(device: &Device) -> bool {
    #[cfg(feature = "flex")]
    if *device == Device::flex() {
        return true;
    }
    #[cfg(feature = "ndarray")]
    #[allow(deprecated)]
    if *device == Device::ndarray() {
        return true;
    }
    let _ = device;
    false
}

/// Whether work on `device` should use the CPU kernels: enabled, a CPU backend, and no
/// autodiff (the kernels record no gradients).
pub fn use_kernels(device: &Device) -> bool {
    kernels_enabled() && !device.is_autodiff() && is_host_device(device)
}

/// A float tensor's values on the host as f32 (a copy unless the tensor is flex's, f32 and
/// unshared).
pub fn host_values<const D: usize>(tensor: Tensor<D>) -> Result<Vec<f32>> {
    tensor
        .into_data()
        .try_into_vec_as::<f32>()
        .map_err(|e| HoiclipError::Backend {
            backend: "host".into(),
            reason: format!("cannot read a float tensor: {e:?}"),
        })
}
