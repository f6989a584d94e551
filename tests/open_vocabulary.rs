//! Open vocabulary on the small fixture model (tests/fixtures/hoiclip_small.pth): classes the
//! model knows keep their trained classifier rows exactly; new classes get their prompt's
//! text embedding; new verbs contribute no verb-adapter score unless given a representation
//! (then they get a `verb_projection` column and verb → HOI entries); new objects get a
//! text-built object classifier column.

mod common;

use burn::tensor::Device;
use common::{Fixture, backends, max_abs_diff, values};
use hoiclip::labels::hico::{HICO_HOIS, HICO_OBJECTS, HICO_VERBS};
use hoiclip::model::{CustomHoiClass, HoiclipInput, HoiclipModel, NewVerb, ResizeConfig};
use hoiclip::{HoiDetector, Hoiclip, HoiclipError};
use image::DynamicImage;

fn model(device: &Device) -> HoiclipModel {
    common::hoiclip_small_model(device)
}

fn images(io: &Fixture) -> Vec<DynamicImage> {
    ["image_0", "image_1"]
        .iter()
        .map(|key| common::fixture_rgb_image(io, key))
        .collect()
}

fn hico_class(i: usize) -> CustomHoiClass {
    let h = &HICO_HOIS[i];
    CustomHoiClass::new(
        HICO_VERBS[usize::from(h.verb)],
        HICO_OBJECTS[usize::from(h.object)],
        h.prompt,
    )
}

const RESIZE: ResizeConfig = ResizeConfig {
    shorter: 48,
    max_size: Some(80),
};

/// Columns `cols` of a `[.., width]` row-major tensor's values.
fn pick(v: &[f32], width: usize, cols: &[usize]) -> Vec<f32> {
    v.chunks(width)
        .flat_map(|row| cols.iter().map(move |&c| row[c]))
        .collect()
}

#[test]
fn known_classes_keep_their_trained_scores() {
    let io = Fixture::open("hoiclip_small_io.safetensors");
    let images = images(&io);
    for (backend, device) in backends() {
        let mut model = model(&device);
        let input =
            HoiclipInput::from_images(&[&images[0], &images[1]], 32, RESIZE, &device).expect("in");
        let before = model.forward(&input).expect("forward");
        let chosen = [5usize, 17, 300, 599];
        let classes: Vec<CustomHoiClass> = chosen.iter().map(|&i| hico_class(i)).collect();
        model.set_vocabulary(&classes).expect("vocabulary");
        let after = model.forward(&input).expect("forward");
        let err = max_abs_diff(
            &values(after.hoi_logits),
            &pick(&values(before.hoi_logits), 600, &chosen),
        );
        println!("{backend}: known-class HOI logits differ by {err:.2e}");
        assert!(err <= 1e-5, "{backend}: {err}");
        let err = max_abs_diff(&values(after.object_logits), &values(before.object_logits));
        assert!(err <= 1e-5, "{backend}: object logits differ by {err}");
        let err = max_abs_diff(
            &values(after.clip_hoi_scores),
            &pick(&values(before.clip_hoi_scores), 600, &chosen),
        );
        assert!(err <= 1e-5, "{backend}: image-level scores differ by {err}");
        assert_eq!(model.vocabulary.classes.len(), 4);
        assert_eq!(model.vocabulary.objects.len(), 80);
    }
}

#[test]
fn new_classes_are_built_from_text() {
    let io = Fixture::open("hoiclip_small_io.safetensors");
    let images = images(&io);
    let (_, device) = backends().remove(0);
    let mut model = model(&device);
    let classes = vec![
        hico_class(5),
        CustomHoiClass::new(
            "juggle",
            "kettlebell",
            "a photo of a person juggling a kettlebell",
        ),
        CustomHoiClass::new("ride", "unicorn", "a photo of a person riding a unicorn"),
        CustomHoiClass::new("stand", "none", "a photo of a person standing"),
    ];
    model.set_vocabulary(&classes).expect("vocabulary");
    let embed = model.config.heads.clip_embed_dim;
    // HOI classifier: new classes are their normalised text embeddings, bias 0.
    let text = values(
        model
            .encode_text(&[classes[1].prompt.as_str(), classes[2].prompt.as_str()])
            .expect("text"),
    );
    let weight = values(model.heads.visual_projection.weight.val());
    for (k, class) in [1usize, 2].iter().enumerate() {
        let col: Vec<f32> = (0..embed).map(|r| weight[r * 4 + class]).collect();
        let err = max_abs_diff(&col, &text[k * embed..(k + 1) * embed]);
        assert!(
            err <= 1e-6,
            "class {class}: row differs from its text embedding by {err}"
        );
    }
    let bias = values(
        model
            .heads
            .visual_projection
            .bias
            .as_ref()
            .expect("bias")
            .val(),
    );
    assert_eq!(&bias[1..], &[0.0, 0.0, 0.0]);
    // Verb adapter: "juggle" is not a trained verb, "ride" is.
    let verb2hoi = values(model.heads.verb2hoi.val());
    let column = |c: usize| -> Vec<f32> { (0..117).map(|v| verb2hoi[v * 4 + c]).collect() };
    assert!(column(1).iter().all(|&v| v == 0.0));
    let ride = HICO_VERBS.iter().position(|v| *v == "ride").expect("ride");
    assert_eq!(column(2)[ride], 1.0);
    assert_eq!(column(2).iter().sum::<f32>(), 1.0);
    // Objects: 80 trained + kettlebell + unicorn + none (object-less, a column of its own:
    // the text embedding of "a photo of a person only"), then the background column.
    let objects = &model.vocabulary.objects;
    assert_eq!(objects.len(), 83);
    assert_eq!(objects[80], "kettlebell");
    assert_eq!(objects[81], "unicorn");
    assert_eq!(objects[82], "none");
    assert_eq!(model.heads.obj_visual_projection.weight.dims(), [embed, 84]);
    assert_eq!(model.vocabulary.classes[3].object, 82);
    let object_text = values(
        model
            .encode_text(&[
                "a photo of a kettlebell",
                "a photo of a unicorn",
                "a photo of a person only",
            ])
            .expect("text"),
    );
    let obj_weight = values(model.heads.obj_visual_projection.weight.val());
    for (k, col) in [80usize, 81, 82].iter().enumerate() {
        let got: Vec<f32> = (0..embed).map(|r| obj_weight[r * 84 + col]).collect();
        let err = max_abs_diff(&got, &object_text[k * embed..(k + 1) * embed]);
        assert!(
            err <= 1e-6,
            "object column {col} differs from its prompt by {err}"
        );
    }
    let verbs = &model.vocabulary.verbs;
    assert!(verbs.iter().any(|v| v == "juggle") && verbs.iter().any(|v| v == "stand"));
    let unique: std::collections::HashSet<&String> = verbs.iter().collect();
    assert_eq!(unique.len(), verbs.len(), "verbs listed once each");

    // The detector reports the new names and survives a native round trip.
    let mut detector = Hoiclip::new(model, &device);
    detector.options_mut().resize = RESIZE;
    let found = detector.detect(&images[0]).expect("detect");
    assert!(!found.is_empty());
    for d in &found {
        assert!(d.hoi_id < 4);
        assert_eq!(d.hoi_prompt, classes[d.hoi_id].prompt);
        assert_eq!(d.verb_name, classes[d.hoi_id].verb);
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("custom.bpk");
    detector.save_native(&path).expect("save");
    let mut reloaded = Hoiclip::from_native(&path, &device).expect("reload");
    reloaded.options_mut().resize = RESIZE;
    assert_eq!(reloaded.vocabulary(), detector.vocabulary());
    assert_eq!(reloaded.detect(&images[0]).expect("detect"), found);
}

#[test]
fn new_verbs_with_representations_feed_the_verb_adapter() {
    let io = Fixture::open("hoiclip_small_io.safetensors");
    let images = images(&io);
    let (_, device) = backends().remove(0);
    let input =
        HoiclipInput::from_images(&[&images[0], &images[1]], 32, RESIZE, &device).expect("in");
    let classes = vec![
        hico_class(5),
        CustomHoiClass::new(
            "juggle",
            "kettlebell",
            "a photo of a person juggling a kettlebell",
        ),
    ];
    let mut plain = model(&device);
    plain.set_vocabulary(&classes).expect("vocabulary");
    let embed = plain.config.heads.clip_embed_dim;
    let representation: Vec<f32> = (0..embed).map(|i| ((i as f32) * 0.37).sin()).collect();
    let norm = representation.iter().map(|v| v * v).sum::<f32>().sqrt();
    let representation: Vec<f32> = representation.iter().map(|v| v / norm).collect();
    let juggle = NewVerb {
        name: "Juggle".into(),
        representation: representation.clone(),
    };
    let mut with_verb = model(&device);
    with_verb
        .set_vocabulary_with_verbs(&classes, std::slice::from_ref(&juggle))
        .expect("vocabulary with verbs");
    assert_eq!(with_verb.heads.verb_projection.weight.dims(), [embed, 118]);
    assert_eq!(with_verb.config.heads.verbs, 118);
    let projection = values(with_verb.heads.verb_projection.weight.val());
    let column: Vec<f32> = (0..embed).map(|r| projection[r * 118 + 117]).collect();
    assert_eq!(column, representation);
    let verb2hoi = values(with_verb.heads.verb2hoi.val());
    assert_eq!(verb2hoi.len(), 118 * 2);
    assert_eq!(verb2hoi[117 * 2 + 1], 1.0, "juggle -> its class");
    assert_eq!(verb2hoi[117 * 2], 0.0);

    let a = values(plain.forward(&input).expect("forward").hoi_logits);
    let b = values(with_verb.forward(&input).expect("forward").hoi_logits);
    let known = max_abs_diff(&pick(&b, 2, &[0]), &pick(&a, 2, &[0]));
    assert!(known <= 1e-5, "the trained class changed by {known}");
    let new = max_abs_diff(&pick(&b, 2, &[1]), &pick(&a, 2, &[1]));
    assert!(new > 1e-4, "the new verb's adapter adds nothing ({new})");

    // The model runs and saves with the extra verb.
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("verbs.bpk");
    let detector = Hoiclip::new(with_verb.clone(), &device);
    detector.save_native(&path).expect("save");
    let reloaded = Hoiclip::from_native(&path, &device).expect("reload");
    assert_eq!(reloaded.vocabulary(), detector.vocabulary());
    // A later call whose classes do not use the extra verb drops it.
    with_verb.set_vocabulary(&classes[..1]).expect("vocabulary");
    assert_eq!(with_verb.heads.verb_projection.weight.dims(), [embed, 117]);
    let c = values(with_verb.forward(&input).expect("forward").hoi_logits);
    assert!(max_abs_diff(&c, &pick(&a, 2, &[0])) <= 1e-5);

    // Adopting the same vocabulary again (e.g. after reloading a fine-tuned model) keeps the
    // extra verb's column and its verb -> HOI entry; without `new_verbs` it keeps the current
    // (possibly fine-tuned) column.
    let mut again = model(&device);
    again
        .set_vocabulary_with_verbs(&classes, std::slice::from_ref(&juggle))
        .expect("first");
    let first_map = values(again.heads.verb2hoi.val());
    let first_projection = values(again.heads.verb_projection.weight.val());
    again
        .set_vocabulary_with_verbs(&classes, std::slice::from_ref(&juggle))
        .expect("second");
    assert_eq!(values(again.heads.verb2hoi.val()), first_map);
    assert_eq!(
        values(again.heads.verb_projection.weight.val()),
        first_projection
    );
    again
        .set_vocabulary_with_verbs(&classes, &[])
        .expect("third, no verbs given");
    assert_eq!(values(again.heads.verb2hoi.val()), first_map);
    assert_eq!(
        values(again.heads.verb_projection.weight.val()),
        first_projection
    );
    let d = values(again.forward(&input).expect("forward").hoi_logits);
    assert!(max_abs_diff(&d, &b) <= 1e-5);
    // The reloaded native model computes what it saved.
    let reloaded_model = HoiclipModel::load_native(&path, &device).expect("reload model");
    let e = values(reloaded_model.forward(&input).expect("forward").hoi_logits);
    assert!(max_abs_diff(&e, &b) <= 1e-5, "reloaded model differs");

    let wrong = NewVerb {
        name: "juggle".into(),
        representation: vec![0.0; embed + 1],
    };
    let err = model(&device)
        .set_vocabulary_with_verbs(&classes, &[wrong])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("juggle") && err.contains(&embed.to_string()),
        "{err}"
    );
}

#[test]
fn bad_class_lists_are_errors() {
    let (_, device) = backends().remove(0);
    let mut model = model(&device);
    assert!(matches!(
        model.set_vocabulary(&[]),
        Err(HoiclipError::Config(_))
    ));
    assert!(matches!(
        model.set_vocabulary(&[CustomHoiClass::new("ride", "horse", "  ")]),
        Err(HoiclipError::Config(_))
    ));
    // The model is unchanged after a refused list.
    assert_eq!(model.vocabulary.classes.len(), 600);
}
