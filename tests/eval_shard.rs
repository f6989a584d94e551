//! Sharded evaluation on the small fixture model: a run split over two and three peers
//! (whole batches round-robin, each peer its own output file) merges into exactly the
//! single-device predictions (so any report computed from them is the single-device report).
//! Images of different sizes make batches padded: the test also shows that pairing the images
//! differently changes predictions, which is why shards take whole batches. Missing and
//! doubled shards are errors naming the image or files.

mod common;

use common::fixture;
use hoiclip::Hoiclip;
use hoiclip::eval::{DetectionRun, Predictions, RunProgress, Shard, merge_shards};
use hoiclip::model::ResizeConfig;

fn detector() -> Hoiclip {
    let device = hoiclip::BackendChoice::Flex.device().expect("flex");
    let mut detector = Hoiclip::new(common::hoiclip_small_model(&device), &device);
    detector.options_mut().resize = ResizeConfig {
        shorter: 48,
        max_size: Some(80),
    };
    detector
}

/// Seven images of three sizes (copies of fixture images under distinct names).
fn images(dir: &std::path::Path) -> Vec<String> {
    let sources = [
        fixture("preprocess/rgb_45x32.png"),
        fixture("preprocess/rgb_37x23.png"),
        fixture("custom_dataset/images/juggling.png"),
    ];
    (0..7)
        .map(|i| {
            let name = format!("img_{i}.png");
            std::fs::copy(&sources[i % 3], dir.join(&name)).expect("copy");
            name
        })
        .collect()
}

fn same(a: &Predictions, b: &Predictions) {
    assert_eq!(a.images().len(), b.images().len());
    for (x, y) in a.images().iter().zip(b.images()) {
        assert_eq!(x, y, "image {}", x.filename);
    }
}

#[test]
fn sharded_runs_merge_into_the_single_device_predictions() {
    let dir = tempfile::tempdir().expect("temp dir");
    let names = images(dir.path());
    let detector = detector();
    let batch = 2;
    let single = DetectionRun::new(dir.path(), dir.path().join("single.jsonl"))
        .batch_size(batch)
        .run(&detector, &names, |_: &RunProgress<'_>| {})
        .expect("single run")
        .predictions;
    assert!(single.images().iter().any(|i| !i.hoi_prediction.is_empty()));

    for peers in [2, 3] {
        let mut outputs = Vec::new();
        for k in 0..peers {
            let shard = Shard::new(k, peers).expect("shard");
            let out = dir.path().join(format!("{}-of-{peers}.jsonl", k + 1));
            DetectionRun::new(dir.path(), &out)
                .batch_size(batch)
                .run(
                    &detector,
                    &shard.images(&names, batch),
                    |_: &RunProgress<'_>| {},
                )
                .expect("shard run");
            outputs.push(out);
        }
        let merged = merge_shards(&outputs, &names).expect("merge");
        same(&merged, &single);

        // A missing shard is an error naming an image it held.
        let err = merge_shards(&outputs[1..], &names).unwrap_err().to_string();
        assert!(
            err.contains("img_0.png") && err.contains("none of"),
            "{err}"
        );
        // The same shard twice is an error naming both files.
        let twice = [outputs[0].clone(), outputs[0].clone()];
        let err = merge_shards(&twice, &names).unwrap_err().to_string();
        assert!(err.contains("in both"), "{err}");
    }

    // Batch composition matters: pairing other images changes the padded predictions, which
    // is why shards take whole batches.
    let regrouped: Vec<String> = names.iter().rev().cloned().collect();
    let other = DetectionRun::new(dir.path(), dir.path().join("reversed.jsonl"))
        .batch_size(batch)
        .run(&detector, &regrouped, |_: &RunProgress<'_>| {})
        .expect("reversed run")
        .predictions;
    let differs = single.images().iter().any(|a| {
        other
            .images()
            .iter()
            .find(|b| b.filename == a.filename)
            .is_some_and(|b| b != a)
    });
    assert!(
        differs,
        "padding with other images should change some scores"
    );
}
