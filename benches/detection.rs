//! Detection-branch benches at full size (ResNet-50, 256 wide, 6 + 3 layers, 64 pair queries,
//! random weights): backbone and encoder + instance decoder at 800×1066, batch 1 and a padded
//! batch of two (800×1066 + 1066×800 → 1066×1066), on every compiled CPU backend.
//!
//! `cargo bench --bench detection` (add `-- flex` for one backend, `-- wgpu` for the GPU).

use std::hint::black_box;
use std::time::Duration;

mod common;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use hoiclip::detection::DetectionConfig;
use hoiclip::detection::batch::pad_batch;

fn bench_detection(c: &mut Criterion) {
    let config = DetectionConfig::hoiclip_default();
    let mut group = c.benchmark_group("detection");
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(30));
    for (backend, device) in common::backends_to_bench() {
        let branch = config.init(&device);
        let single = pad_batch(&[common::random_image(800, 1066, 1)], &device).expect("batch");
        let pair = pad_batch(
            &[
                common::random_image(800, 1066, 1),
                common::random_image(1066, 800, 2),
            ],
            &device,
        )
        .expect("batch");
        for (size, batch) in [(1usize, &single), (2, &pair)] {
            group.bench_with_input(
                BenchmarkId::new(format!("{backend}/backbone"), size),
                batch,
                |b, batch| {
                    b.iter(|| black_box(branch.backbone.forward(batch.images.clone()).into_data()))
                },
            );
            let features = branch.backbone.forward(batch.images.clone());
            group.bench_with_input(
                BenchmarkId::new(format!("{backend}/encoder_decoder"), size),
                batch,
                |b, batch| {
                    b.iter(|| {
                        let out = branch.forward_from_features(features.clone(), batch);
                        black_box(out.human_boxes.into_data())
                    })
                },
            );
        }
    }
    group.finish();
}

criterion_group!(benches, bench_detection);
criterion_main!(benches);
