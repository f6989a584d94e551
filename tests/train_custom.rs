//! Fine-tuning on a custom dataset end to end, on the small fixture model: a vocabulary file
//! with a verb (`juggle`) and objects (`unicycle`, `juggling_club`) HICO-DET does not have and
//! an object-less class (`wave`); verb representations built from the set's own images with
//! the model's CLIP give the new verb a verb-adapter column; the model adopts the vocabulary;
//! the trainer runs the authors' augmentation (small sizes) and steps; the fine-tuned
//! detector reports the custom classes.

#![cfg(feature = "train")]

mod common;

use std::sync::atomic::AtomicBool;

use common::fixture;
use hoiclip::data::{AugmentConfig, CustomTrainingOptions, CustomTrainingSet, TrainingSet};
use hoiclip::interaction::{VerbRepresentationOptions, build_verb_representations};
use hoiclip::model::ResizeConfig;
use hoiclip::train::{NoHooks, StopReason, TrainConfig, Trainer};
use hoiclip::{HoiDetector, Hoiclip};

#[test]
fn a_custom_vocabulary_fine_tunes_with_verb_representations_from_its_images() {
    let device = hoiclip::BackendChoice::Flex.device().expect("flex");
    let mut model = common::hoiclip_small_model(&device);
    let dir = fixture("custom_dataset");
    let (vocabulary, annotations, images) = (
        dir.join("vocabulary.json"),
        dir.join("annotations.json"),
        dir.join("images"),
    );

    // Verb representations over the set's own vocabulary.
    let own = CustomTrainingSet::open(
        &vocabulary,
        &annotations,
        &images,
        CustomTrainingOptions::default(),
    )
    .expect("custom set");
    let reps = build_verb_representations(
        &model.clip,
        &own,
        own.vocabulary(),
        VerbRepresentationOptions::default(),
        |_, _| {},
    )
    .expect("verb representations");
    let juggle = own
        .vocabulary()
        .verbs
        .iter()
        .position(|v| v == "juggle")
        .expect("juggle");
    assert!(reps.rows[juggle].is_some(), "juggle has examples");
    // `wave` is object-less: no object crop, no representation from these images.
    let new_verbs = reps.new_verbs(own.vocabulary());

    let set = CustomTrainingSet::open_for_model(
        &mut model,
        &vocabulary,
        &annotations,
        &images,
        CustomTrainingOptions::default(),
        &new_verbs,
    )
    .expect("set for the model");
    assert_eq!(model.vocabulary.classes.len(), 6);
    let embed = model.config.heads.clip_embed_dim;
    // 117 trained verbs + juggle (ride and hold are HICO-DET verbs).
    assert_eq!(model.heads.verb_projection.weight.dims(), [embed, 118]);
    for i in 0..set.len() {
        let sample = set.get(i).expect("sample");
        sample
            .target
            .validate(
                &sample.name,
                model.config.heads.hoi_classes,
                model.config.heads.object_classes,
            )
            .expect("targets use the model's columns");
    }

    let config = TrainConfig {
        epochs: 4,
        batch_size: 2,
        resize: ResizeConfig {
            shorter: 48,
            max_size: Some(80),
        },
        augmentation: Some(AugmentConfig {
            scales: vec![32, 40, 48],
            max_size: Some(80),
            crop_scales: vec![40, 48],
            crop_min: 24,
            crop_max: 40,
            ..AugmentConfig::authors()
        }),
        dropout: 0.0,
        max_steps: Some(3),
        ..TrainConfig::hico_default()
    };
    let run = tempfile::tempdir().expect("temp dir");
    let mut trainer = Trainer::new(model, config, run.path()).expect("trainer");
    let reason = trainer
        .run(&set, &mut NoHooks, &AtomicBool::new(false))
        .expect("run");
    assert_eq!(reason, StopReason::StepLimit);
    let loss = trainer.state().last_loss.expect("a loss");
    assert!(loss.is_finite(), "{loss}");

    let mut detector = Hoiclip::new(trainer.inference_model(), &device);
    detector.options_mut().resize = ResizeConfig {
        shorter: 48,
        max_size: Some(80),
    };
    let image = hoiclip::imaging::open_image(images.join("juggling.png")).expect("image");
    let found = detector.detect(&image).expect("detect");
    assert!(!found.is_empty());
    for d in &found {
        assert!(d.hoi_id < 6);
        assert_eq!(
            d.verb_name,
            detector.vocabulary().verbs[detector.vocabulary().classes[d.hoi_id].verb]
        );
    }
}
