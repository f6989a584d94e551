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

/// A normalised-looking random image `[3, height, width]` (values in [-2, 2), a fixed LCG
/// sequence per `seed`), for benches that do not need real pixels.
#[allow(dead_code)] // not every bench uses it
pub fn random_image(
    height: usize,
    width: usize,
    seed: u64,
) -> hoiclip::detection::batch::PreparedImage {
    let mut state = seed;
    let values = (0..3 * height * width)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 40) as f32 / (1u64 << 24) as f32) * 4.0 - 2.0
        })
        .collect();
    hoiclip::detection::batch::PreparedImage {
        values,
        height,
        width,
    }
}
