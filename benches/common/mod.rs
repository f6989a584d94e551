//! What the benches share: which backends to run.

use burn::tensor::Device;
use hoiclip::BackendChoice;

/// The backends to bench, from the first non-flag argument (`cargo bench --bench X -- flex`;
/// a criterion filter such as `ndarray/encode_image` selects its backend too): every compiled
/// CPU backend when none is named; wgpu only when named, as it needs a GPU or lavapipe.
pub fn backends_to_bench() -> Vec<(BackendChoice, Device)> {
    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    BackendChoice::compiled()
        .into_iter()
        .filter(|backend| match filter.as_deref() {
            Some(f) => f.contains(backend.name()),
            None => *backend != BackendChoice::Wgpu,
        })
        .map(|backend| (backend, backend.device().expect("compiled backend")))
        .collect()
}
