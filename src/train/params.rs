//! The parameters of a module by path: their Burn path, id, shape and whether they train.
//! Used for the optimiser's groups, gradient clipping, non-finite checks and the tests that
//! compare the trainable set with the reference's.

use burn::module::{Module, ModuleVisitor, Param, ParamId};
use burn::tensor::Tensor;

/// One float parameter.
#[derive(Clone, Debug, PartialEq)]
pub struct ParamInfo {
    /// The Burn module path, `.`-joined (e.g. `detection.backbone.layer2.0.conv1.weight`).
    pub path: String,
    /// The parameter's id (stable across optimiser steps).
    pub id: ParamId,
    /// The shape.
    pub shape: Vec<usize>,
    /// Whether it requires gradients (trains).
    pub trainable: bool,
}

#[derive(Default)]
struct Collector {
    stack: Vec<String>,
    params: Vec<ParamInfo>,
}

impl ModuleVisitor for Collector {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.stack.push(name.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.stack.pop();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let tensor = param.val();
        self.params.push(ParamInfo {
            path: self.stack.join("."),
            id: param.id,
            shape: tensor.dims().to_vec(),
            trainable: tensor.is_require_grad(),
        });
    }
}

/// Every float parameter of `module`, in visiting order.
pub fn parameters<M: Module>(module: &M) -> Vec<ParamInfo> {
    let mut collector = Collector::default();
    module.visit(&mut collector);
    collector.params
}

/// The number of trainable scalars of `module`.
pub fn trainable_count<M: Module>(module: &M) -> usize {
    parameters(module)
        .iter()
        .filter(|p| p.trainable)
        .map(|p| p.shape.iter().product::<usize>())
        .sum()
}
