//! Backend choice at run time.
//!
//! Burn 0.22 tensors carry no backend type: the backend is picked by the [`Device`] a tensor
//! lives on. [`BackendChoice`] names the backends this crate was compiled with (cargo features
//! `flex`, `ndarray`, `wgpu`) and turns a name given by a user (`"flex"`, `"wgpu"`, ...) into a
//! [`Device`].

use std::fmt;
use std::str::FromStr;

use burn::tensor::Device;

use crate::error::{HoiclipError, Result};

/// A compute backend `hoiclip` can run on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BackendChoice {
    /// burn-flex, the pure-Rust CPU backend (default; fastest CPU backend measured).
    Flex,
    /// burn-ndarray, the older pure-Rust CPU backend (deprecated upstream).
    Ndarray,
    /// wgpu: Vulkan, Metal or DX12 GPUs (or Mesa's lavapipe on the CPU).
    Wgpu,
}

impl BackendChoice {
    /// Every backend, in order of preference for a CPU-only default.
    pub const ALL: [BackendChoice; 3] = [Self::Flex, Self::Ndarray, Self::Wgpu];

    /// The lower-case name used on command lines and in `HOICLIP_BACKEND`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Flex => "flex",
            Self::Ndarray => "ndarray",
            Self::Wgpu => "wgpu",
        }
    }

    /// Whether this backend was compiled in (its cargo feature is enabled).
    pub fn is_compiled(self) -> bool {
        match self {
            Self::Flex => cfg!(feature = "flex"),
            Self::Ndarray => cfg!(feature = "ndarray"),
            Self::Wgpu => cfg!(feature = "wgpu"),
        }
    }

    /// The backends compiled into this build.
    pub fn compiled() -> Vec<BackendChoice> {
        Self::ALL.into_iter().filter(|b| b.is_compiled()).collect()
    }

    /// The default device for this backend. wgpu uses its default adapter (a discrete GPU
    /// when there is one; `CUBECL_WGPU_DEFAULT_DEVICE` overrides it).
    ///
    /// Errors with [`HoiclipError::Backend`] when the backend is not compiled in.
    pub fn device(self) -> Result<Device> {
        match self {
            #[cfg(feature = "flex")]
            Self::Flex => Ok(Device::flex()),
            #[cfg(feature = "ndarray")]
            #[allow(deprecated)]
            Self::Ndarray => Ok(Device::ndarray()),
            #[cfg(feature = "wgpu")]
            Self::Wgpu => Ok(Device::wgpu(burn::tensor::DeviceKind::DefaultDevice)),
            #[allow(unreachable_patterns)]
            other => Err(HoiclipError::Backend {
                backend: other.name().to_string(),
                reason: format!(
                    "not compiled in; enable the cargo feature `{}` (compiled: {})",
                    other.name(),
                    Self::compiled()
                        .iter()
                        .map(|b| b.name())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            }),
        }
    }

    /// The backend named by the `HOICLIP_BACKEND` environment variable, or the first compiled
    /// CPU backend (flex, then ndarray, then wgpu).
    pub fn from_env_or_default() -> Result<BackendChoice> {
        match std::env::var("HOICLIP_BACKEND") {
            Ok(name) if !name.is_empty() => name.parse(),
            _ => Self::compiled()
                .first()
                .copied()
                .ok_or_else(|| HoiclipError::Backend {
                    backend: "any".into(),
                    reason: "no backend compiled in; enable `flex`, `ndarray` or `wgpu`".into(),
                }),
        }
    }
}

impl fmt::Display for BackendChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for BackendChoice {
    type Err = HoiclipError;

    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "flex" => Ok(Self::Flex),
            "ndarray" => Ok(Self::Ndarray),
            "wgpu" | "gpu" | "vulkan" => Ok(Self::Wgpu),
            other => Err(HoiclipError::Backend {
                backend: other.to_string(),
                reason: "unknown backend; expected one of flex, ndarray, wgpu".into(),
            }),
        }
    }
}
