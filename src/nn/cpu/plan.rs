//! [`CpuPlan`]: where a module keeps what it prepared for the CPU kernels (weights packed
//! from its parameters), built on first use and dropped whenever the parameters change.

use std::fmt;
use std::sync::{Arc, OnceLock};

use burn::module::{
    Content, Devices, Module, ModuleDisplay, ModuleDisplayDefault, ModuleMapper, ModuleVisitor,
};
use burn::tensor::Device;

use super::host::use_kernels;
use crate::error::Result;

/// A slot for a plan `T` derived from the parameters of the module that holds it: built on
/// the first forward pass on a CPU device ([`CpuPlan::get_or_build`]), shared by clones of
/// the module, and emptied whenever the module's parameters are mapped (loading weights,
/// `Module::map`, `to_device`, `fork`), so that it never outlives the weights it was built
/// from. It holds no parameters of its own (nothing of it is saved).
pub struct CpuPlan<T> {
    plan: Arc<OnceLock<Option<Arc<T>>>>,
}

impl<T> Clone for CpuPlan<T> {
    fn clone(&self) -> Self {
        Self {
            plan: self.plan.clone(),
        }
    }
}

impl<T> Default for CpuPlan<T> {
    fn default() -> Self {
        Self {
            plan: Arc::default(),
        }
    }
}

impl<T> fmt::Debug for CpuPlan<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.plan.get() {
            None => "not built",
            Some(None) => "not applicable",
            Some(Some(_)) => "built",
        };
        f.debug_struct("CpuPlan").field("plan", &state).finish()
    }
}

impl<T> CpuPlan<T> {
    /// The plan, if work on `device` uses the CPU kernels ([`use_kernels`]): built by
    /// `build` on first use (`None` from `build`: the kernels do not apply, remembered).
    pub fn get_or_build(
        &self,
        device: &Device,
        build: impl FnOnce() -> Result<Option<T>>,
    ) -> Result<Option<Arc<T>>> {
        if !use_kernels(device) {
            return Ok(None);
        }
        if let Some(plan) = self.plan.get() {
            return Ok(plan.clone());
        }
        let built = build()?.map(Arc::new);
        // Another thread may have built it meanwhile; either copy is the same.
        Ok(self.plan.get_or_init(|| built).clone())
    }
}

impl<T: Send + Sync + fmt::Debug> Module for CpuPlan<T> {
    fn collect_devices(&self, devices: Devices) -> Devices {
        devices
    }

    fn fork(self, _device: &Device) -> Self {
        Self::default()
    }

    fn to_device(self, _device: &Device) -> Self {
        Self::default()
    }

    fn train(self) -> Self {
        self
    }

    fn valid(&self) -> Self {
        self.clone()
    }

    fn materialize(self) -> Self {
        self
    }

    fn visit<V: ModuleVisitor>(&self, _visitor: &mut V) {}

    fn map<M: ModuleMapper>(self, _mapper: &mut M) -> Self {
        Self::default()
    }
}

impl<T: Send + Sync + fmt::Debug> ModuleDisplayDefault for CpuPlan<T> {
    fn content(&self, content: Content) -> Option<Content> {
        content.add_formatted(&format!("{self:?}")).optional()
    }
}

impl<T: Send + Sync + fmt::Debug> ModuleDisplay for CpuPlan<T> {}
