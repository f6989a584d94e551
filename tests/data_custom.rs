//! The custom dataset reader ([`hoiclip::data::custom`]) on the small dataset of
//! tests/fixtures/custom_dataset: three PNGs (40×30, 48×32, 30×40, drawn once with Pillow),
//! `vocabulary.json` (a new verb, `juggle`, and new objects, `unicycle` and
//! `juggling_club`, that HICO-DET does not have; an object-less class `(wave, none)`; two
//! classes without a prompt) and `annotations.json` (the named form; an image whose
//! interactions merge into a multi-verb pair, an object-less pair, a box reaching past its
//! image, an image without interactions).
//!
//! What is proven:
//!
//! - the vocabulary becomes the expected [`HoiVocabulary`] (file order, default prompts);
//! - each sample's target (`set.get(i)?.target`) has the expected pairs in file order: boxes
//!   normalised `(cx, cy, w, h)` after clamping to the image, object labels indexing the
//!   vocabulary's objects (`none` for object-less pairs, with an all-zero object box), HOI
//!   classes indexing its classes, the interactions of one `(subject, object)` merged; the
//!   image without interactions is a sample with zero pairs; the summary counts all this;
//! - the numeric form (`category_id` indices) reads exactly as the named form, and a
//!   built-in vocabulary can be used by name;
//! - every mistake the reader checks is an error whose message names the annotation file,
//!   the image (index and file name) and the field at fault (or the vocabulary file and
//!   entry), with the detail a user needs to fix it.

mod common;

use std::path::{Path, PathBuf};

use hoiclip::data::TrainingSet;
use hoiclip::data::custom::{CustomTrainingOptions, CustomTrainingSet, CustomVocabularyFile};
use hoiclip::model::HoiVocabulary;
use serde_json::{Value, json};

fn dir() -> PathBuf {
    common::fixture("custom_dataset")
}

fn fixture_set() -> CustomTrainingSet {
    CustomTrainingSet::open(
        dir().join("vocabulary.json"),
        dir().join("annotations.json"),
        dir().join("images"),
        CustomTrainingOptions::default(),
    )
    .expect("the fixture dataset reads")
}

fn fixture_annotations() -> Value {
    common::json_fixture("custom_dataset/annotations.json")
}

/// `annotations` (JSON text) written to `annotations.json` in a temporary folder, read with
/// the fixture's vocabulary and images.
fn open_text(
    annotations: &str,
    options: CustomTrainingOptions,
) -> hoiclip::Result<CustomTrainingSet> {
    let tmp = tempfile::tempdir().expect("tempdir");
    let path = tmp.path().join("annotations.json");
    std::fs::write(&path, annotations).expect("write");
    CustomTrainingSet::open(
        dir().join("vocabulary.json"),
        &path,
        dir().join("images"),
        options,
    )
}

/// The fixture's annotations changed by `edit`, read.
fn open_edited(edit: impl FnOnce(&mut Value)) -> hoiclip::Result<CustomTrainingSet> {
    let mut v = fixture_annotations();
    edit(&mut v);
    open_text(&v.to_string(), CustomTrainingOptions::default())
}

/// The error of reading the fixture's annotations changed by `edit`; it must name every
/// one of `parts`.
fn assert_error(edit: impl FnOnce(&mut Value), parts: &[&str]) {
    assert_names(&refused(open_edited(edit)), parts);
}

/// The message of the error `result` must be (the set's `Debug` is too long to print).
fn refused<T>(result: hoiclip::Result<T>) -> String {
    match result {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.to_string(),
    }
}

fn assert_names(message: &str, parts: &[&str]) {
    for part in parts {
        assert!(
            message.contains(part),
            "{part:?} is not in the message {message:?}"
        );
    }
}

fn assert_box(found: [f32; 4], expected: [f32; 4], what: &str) {
    for k in 0..4 {
        assert!(
            (found[k] - expected[k]).abs() < 1e-6,
            "{what}: {found:?} != {expected:?}"
        );
    }
}

/// Normalised `(cx, cy, w, h)` of pixel box `b` on a `w × h` image.
fn cxcywh(b: [f32; 4], w: f32, h: f32) -> [f32; 4] {
    [
        (b[0] + b[2]) / 2.0 / w,
        (b[1] + b[3]) / 2.0 / h,
        (b[2] - b[0]) / w,
        (b[3] - b[1]) / h,
    ]
}

// Objects: person 0, bicycle 1, unicycle 2, juggling_club 3, none 4.
// Classes: 0 (ride, bicycle), 1 (ride, unicycle), 2 (juggle, juggling_club),
// 3 (hold, juggling_club), 4 (hold, bicycle), 5 (wave, none).

#[test]
fn the_vocabulary_file_gives_the_classes_and_prompts() {
    let v = CustomVocabularyFile::load(dir().join("vocabulary.json")).expect("vocabulary");
    assert_eq!(v.verbs, ["ride", "juggle", "hold", "wave"]);
    assert_eq!(
        v.objects,
        ["person", "bicycle", "unicycle", "juggling_club", "none"]
    );
    let classes: Vec<(usize, usize)> = v.classes.iter().map(|c| (c.verb, c.object)).collect();
    assert_eq!(classes, [(0, 1), (0, 2), (1, 3), (2, 3), (2, 1), (3, 4)]);
    assert_eq!(v.prompts()[1], "a photo of a person riding a unicycle");
    assert_eq!(v.prompts()[2], "a photo of a person juggle juggling club");
    assert_eq!(v.prompts()[5], "a photo of a person wave");
    assert_eq!(v.no_object_index(), Some(4));
    assert_eq!(fixture_set().vocabulary(), &v);
}

#[test]
fn reads_the_fixture_dataset_into_the_expected_targets() {
    let set = fixture_set();
    assert_eq!(set.len(), 3);

    let s = set.get(0).expect("sample 0");
    assert_eq!(s.name, "unicycle.png");
    assert_eq!((s.image.width(), s.image.height()), (40, 30));
    let t = &s.target;
    assert_eq!(t.object_labels, [2, 4], "unicycle, none");
    assert_eq!(
        t.hoi_labels,
        [vec![1], vec![5]],
        "(ride, unicycle), (wave, none)"
    );
    let person = cxcywh([10.0, 2.0, 24.0, 20.0], 40.0, 30.0);
    assert_box(t.human_boxes[0], person, "image 0 pair 0 human");
    assert_box(
        t.object_boxes[0],
        cxcywh([12.0, 20.0, 22.0, 30.0], 40.0, 30.0),
        "image 0 pair 0 object",
    );
    assert_box(t.human_boxes[1], person, "image 0 pair 1 human");
    assert_eq!(t.object_boxes[1], [0.0; 4], "object-less pair");
    assert!(!t.has_object_box(1));

    let s = set.get(1).expect("sample 1");
    assert_eq!(s.name, "juggling.png");
    assert_eq!((s.image.width(), s.image.height()), (48, 32));
    let t = &s.target;
    // (0, 1) juggle + hold merged at the position of the first; (2, none) wave; (2, 3) hold.
    assert_eq!(t.object_labels, [3, 4, 1]);
    assert_eq!(t.hoi_labels, [vec![2, 3], vec![5], vec![4]]);
    assert_box(
        t.human_boxes[0],
        cxcywh([2.0, 4.0, 16.0, 32.0], 48.0, 32.0),
        "image 1 pair 0 human",
    );
    assert_box(
        t.object_boxes[0],
        cxcywh([4.0, 0.0, 8.0, 6.0], 48.0, 32.0),
        "image 1 pair 0 object",
    );
    // [26, 3, 52, 31] clamped to the 48-pixel-wide image.
    let second = cxcywh([26.0, 3.0, 48.0, 31.0], 48.0, 32.0);
    assert_box(t.human_boxes[1], second, "image 1 pair 1 human");
    assert_eq!(t.object_boxes[1], [0.0; 4]);
    assert_box(t.human_boxes[2], second, "image 1 pair 2 human");
    assert_box(
        t.object_boxes[2],
        cxcywh([20.0, 12.0, 31.0, 31.0], 48.0, 32.0),
        "image 1 pair 2 object",
    );

    let s = set.get(2).expect("sample 2");
    assert_eq!(s.name, "empty.png");
    assert!(
        s.target.is_empty(),
        "an image without interactions has zero pairs"
    );
    assert!(!s.augmented);
}

#[test]
fn annotated_samples_keep_pixel_boxes_and_object_classes() {
    let a = fixture_set().annotated(1).expect("sample 1");
    let boxes: Vec<_> = a.boxes.iter().map(|b| b.expect("kept")).collect();
    assert_eq!(boxes.len(), 4);
    assert_eq!(boxes[2].xyxy, [26.0, 3.0, 48.0, 31.0], "clamped");
    let classes: Vec<usize> = boxes.iter().map(|b| b.object).collect();
    assert_eq!(classes, [0, 3, 0, 1]);
    let interactions: Vec<_> = a
        .interactions
        .iter()
        .map(|i| (i.subject, i.object, i.object_label, i.class))
        .collect();
    assert_eq!(
        interactions,
        [
            (0, Some(1), 3, 2),
            (2, None, 4, 5),
            (0, Some(1), 3, 3),
            (2, Some(3), 1, 4)
        ]
    );
}

#[test]
fn the_summary_counts_images_interactions_and_classes() {
    let set = fixture_set();
    let s = set.summary();
    assert_eq!(s.images, 3);
    assert_eq!(s.images_without_interactions, 1);
    assert_eq!(s.boxes, 7);
    assert_eq!(s.interactions, 6);
    assert_eq!(s.object_less_interactions, 2);
    assert_eq!(s.pairs, 5);
    assert_eq!(s.per_class, [0, 1, 1, 1, 1, 2]);
    assert_eq!(s.classes_without_interactions(), [0]);
    let text = set.describe();
    assert_names(
        &text,
        &[
            "3 images (1 without interactions)",
            "(wave, none): 2 interactions",
        ],
    );
    set.verify_images().expect("every box lies in its image");
}

#[test]
fn the_numeric_form_reads_as_the_named_form() {
    let mut v = fixture_annotations();
    let objects = ["person", "bicycle", "unicycle", "juggling_club", "none"];
    let verbs = ["ride", "juggle", "hold", "wave"];
    for image in v.as_array_mut().expect("array") {
        for b in image["annotations"].as_array_mut().expect("boxes") {
            let name = b["category"].as_str().expect("name").to_string();
            let map = b.as_object_mut().expect("box");
            map.remove("category");
            let id = objects.iter().position(|o| *o == name).expect("object");
            map.insert("category_id".into(), json!(id));
        }
        for h in image["hoi_annotation"].as_array_mut().expect("hois") {
            let name = h["verb"].as_str().expect("verb").to_string();
            let map = h.as_object_mut().expect("hoi");
            map.remove("verb");
            let id = verbs.iter().position(|o| *o == name).expect("verb");
            map.insert("category_id".into(), json!(id));
        }
    }
    let text = v.to_string();
    assert!(!text.contains("\"verb\"") && !text.contains("\"category\""));
    let numeric = open_text(&text, CustomTrainingOptions::default()).expect("numeric form");
    let named = fixture_set();
    assert_eq!(numeric.summary(), named.summary());
    for i in 0..named.len() {
        assert_eq!(
            numeric.get(i).expect("numeric").target,
            named.get(i).expect("named").target,
            "sample {i}"
        );
    }
}

#[test]
fn built_in_vocabularies_can_annotate_images_by_name() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let path = tmp.path().join("hico_names.json");
    let text = json!([{
        "file_name": "juggling.png",
        "annotations": [
            {"bbox": [2, 4, 16, 32], "category": "person"},
            {"bbox": [20, 12, 31, 31], "category": "bicycle"}
        ],
        "hoi_annotation": [{"subject_id": 0, "object_id": 1, "verb": "ride"}]
    }]);
    std::fs::write(&path, text.to_string()).expect("write");
    let hico = HoiVocabulary::hico();
    let set = CustomTrainingSet::with_vocabulary(
        &hico,
        "HICO-DET",
        &path,
        dir().join("images"),
        CustomTrainingOptions::default(),
    )
    .expect("HICO-DET names");
    let t = set.get(0).expect("sample").target;
    let class = t.hoi_labels[0][0];
    assert_eq!(hico.verbs[hico.classes[class].verb], "ride");
    assert_eq!(hico.objects[hico.classes[class].object], "bicycle");
    assert_eq!(t.object_labels, [1]);

    // HICO-DET has no object-less class: an interaction without an object is refused.
    let text = json!([{
        "file_name": "juggling.png",
        "annotations": [{"bbox": [2, 4, 16, 32], "category": "person"}],
        "hoi_annotation": [{"subject_id": 0, "verb": "ride"}]
    }]);
    std::fs::write(&path, text.to_string()).expect("write");
    let err = refused(CustomTrainingSet::with_vocabulary(
        &hico,
        "HICO-DET",
        &path,
        dir().join("images"),
        CustomTrainingOptions::default(),
    ));
    assert_names(
        &err,
        &[
            "hico_names.json",
            "image 0 (juggling.png)",
            "hoi_annotation[0]",
            "(ride, none) (an interaction without an object) is not a class of HICO-DET",
        ],
    );
}

#[test]
fn unknown_names_are_errors_naming_file_image_and_field() {
    assert_error(
        |v| v[1]["hoi_annotation"][0]["verb"] = json!("jugle"),
        &[
            "annotations.json",
            "image 1 (juggling.png)",
            "`hoi_annotation[0].verb`",
            "\"jugle\" is not a verb of",
            "vocabulary.json",
            "verbs: ride, juggle, hold, wave",
        ],
    );
    assert_error(
        |v| v[0]["annotations"][1]["category"] = json!("unicylce"),
        &[
            "annotations.json",
            "image 0 (unicycle.png)",
            "`annotations[1].category`",
            "\"unicylce\" is not an object of",
            "objects: person, bicycle, unicycle, juggling_club, none",
        ],
    );
    assert_error(
        |v| {
            let b = v[0]["annotations"][1].as_object_mut().expect("box");
            b.remove("category");
            b.insert("category_id".into(), json!(5));
        },
        &[
            "image 0 (unicycle.png)",
            "`annotations[1].category_id`",
            "5 is not an object index",
            "0-based index into its 5 objects",
        ],
    );
    assert_error(
        |v| {
            let h = v[0]["hoi_annotation"][0].as_object_mut().expect("hoi");
            h.remove("verb");
            h.insert("category_id".into(), json!(4));
        },
        &[
            "image 0 (unicycle.png)",
            "`hoi_annotation[0].category_id`",
            "4 is not a verb index",
        ],
    );
    assert_error(
        |v| v[0]["annotations"][0]["category_id"] = json!(0),
        &[
            "image 0 (unicycle.png)",
            "`annotations[0]`",
            "either `category` (a name) or `category_id` (an index), not both",
        ],
    );
    assert_error(
        |v| {
            let h = v[0]["hoi_annotation"][1].as_object_mut().expect("hoi");
            h.remove("verb");
        },
        &[
            "image 0 (unicycle.png)",
            "`hoi_annotation[1].verb`",
            "missing",
        ],
    );
    assert_error(
        |v| v[1]["annotations"][3]["category"] = json!("none"),
        &[
            "image 1 (juggling.png)",
            "`annotations[3]`",
            "a box cannot be of class \"none\"",
        ],
    );
}

#[test]
fn pairs_that_are_not_classes_name_the_classes_of_the_verb() {
    assert_error(
        |v| v[1]["hoi_annotation"][3]["verb"] = json!("juggle"),
        &[
            "annotations.json",
            "image 1 (juggling.png)",
            "`hoi_annotation[3]`",
            "(juggle, bicycle) is not a class of",
            "vocabulary.json",
            "the classes of \"juggle\" are (juggle, juggling_club)",
        ],
    );
    assert_error(
        |v| v[1]["hoi_annotation"][1]["verb"] = json!("ride"),
        &[
            "image 1 (juggling.png)",
            "`hoi_annotation[1]`",
            "(ride, none) (an interaction without an object) is not a class",
            "the classes of \"ride\" are (ride, bicycle), (ride, unicycle)",
        ],
    );
}

#[test]
fn box_ids_must_name_boxes_of_the_image() {
    assert_error(
        |v| v[0]["hoi_annotation"][0]["object_id"] = json!(2),
        &[
            "annotations.json",
            "image 0 (unicycle.png)",
            "`hoi_annotation[0].object_id`",
            "box 2 does not exist (the image has 2 boxes",
        ],
    );
    assert_error(
        |v| v[0]["hoi_annotation"][0]["subject_id"] = json!(7),
        &[
            "image 0 (unicycle.png)",
            "`hoi_annotation[0].subject_id`",
            "box 7 does not exist",
        ],
    );
    assert_error(
        |v| v[0]["hoi_annotation"][0]["subject_id"] = json!(-1),
        &[
            "image 0 (unicycle.png)",
            "`hoi_annotation[0].subject_id`",
            "negative index -1",
        ],
    );
    assert_error(
        |v| v[0]["hoi_annotation"][0]["object_id"] = json!(-2),
        &[
            "image 0 (unicycle.png)",
            "`hoi_annotation[0].object_id`",
            "negative box index -2",
        ],
    );
    assert_error(
        |v| v[0]["hoi_annotation"][0]["object_id"] = json!(0),
        &[
            "image 0 (unicycle.png)",
            "`hoi_annotation[0].object_id`",
            "box 0 is the interaction's subject too",
        ],
    );
    // Only the first `num_queries` boxes are read.
    let text = fixture_annotations().to_string();
    // Box 1 is past `num_queries` = 1.
    let err = refused(open_text(&text, CustomTrainingOptions { num_queries: 1 }));
    assert_names(
        &err,
        &[
            "image 0 (unicycle.png)",
            "`hoi_annotation[0].object_id`",
            "box 1 is past the first 1 boxes (num_queries)",
        ],
    );
}

#[test]
fn subjects_must_be_persons() {
    assert_error(
        |v| {
            v[1]["hoi_annotation"][3]["subject_id"] = json!(3);
            v[1]["hoi_annotation"][3]["object_id"] = json!(1);
        },
        &[
            "annotations.json",
            "image 1 (juggling.png)",
            "`hoi_annotation[3].subject_id`",
            "box 3 is a \"bicycle\"",
            "must be a \"person\"",
        ],
    );
}

#[test]
fn malformed_boxes_are_errors() {
    assert_error(
        |v| v[0]["annotations"][1]["bbox"] = json!([12, 20, 22]),
        &[
            "annotations.json",
            "image 0 (unicycle.png)",
            "`annotations[1].bbox`",
            "expected 4 numbers",
        ],
    );
    assert_error(
        |v| v[0]["annotations"][1]["bbox"] = json!([12, 20, "22", 30]),
        &[
            "image 0 (unicycle.png)",
            "`annotations[1].bbox[2]`",
            "expected a finite number",
        ],
    );
    assert_error(
        |v| v[1]["annotations"][0]["bbox"] = json!([16, 4, 2, 32]),
        &[
            "image 1 (juggling.png)",
            "`annotations[0].bbox`",
            "x2 (2) is not greater than x1 (16)",
        ],
    );
    assert_error(
        |v| v[1]["annotations"][0]["bbox"] = json!([2, 32, 16, 4]),
        &[
            "image 1 (juggling.png)",
            "`annotations[0].bbox`",
            "y2 (4) is not greater than y1 (32)",
        ],
    );
}

#[test]
fn image_files_are_checked_at_open() {
    assert_error(
        |v| v[2]["file_name"] = json!("juggling.png"),
        &[
            "annotations.json",
            "image 2 (juggling.png)",
            "`file_name`",
            "\"juggling.png\" is listed twice (also image 1)",
        ],
    );
    assert_error(
        |v| v[2]["file_name"] = json!("missing.png"),
        &[
            "annotations.json",
            "image 2 (missing.png)",
            "`file_name`",
            "no image file",
            "missing.png",
        ],
    );
}

#[test]
fn unknown_and_missing_keys_are_errors() {
    assert_error(
        |v| {
            let h = v[0]["hoi_annotation"][0].as_object_mut().expect("hoi");
            let id = h.remove("object_id").expect("object_id");
            h.insert("objet_id".into(), id);
        },
        &[
            "annotations.json",
            "image 0 (unicycle.png)",
            "`hoi_annotation[0].objet_id`",
            "unknown key",
        ],
    );
    assert_error(
        |v| {
            v[1].as_object_mut()
                .expect("image")
                .remove("hoi_annotation");
        },
        &["image 1 (juggling.png)", "`hoi_annotation`", "missing"],
    );
    let err = refused(open_text("[]", CustomTrainingOptions::default()));
    assert_names(&err, &["annotations.json", "no image"]);
    let err = refused(open_text(
        "{\"images\": []}",
        CustomTrainingOptions::default(),
    ));
    assert_names(&err, &["annotations.json", "expected a JSON array"]);
}

#[test]
fn boxes_outside_their_image_fail_when_read_and_in_verify_images() {
    // [50, 0, 60, 10] lies right of the 40-pixel-wide image: the file alone cannot tell.
    let set = open_edited(|v| v[0]["annotations"][1]["bbox"] = json!([50, 0, 60, 10]))
        .expect("opens: image sizes are not read at open");
    let parts = [
        "annotations.json",
        "image 0 (unicycle.png)",
        "`hoi_annotation[0].object_id`",
        "lies outside the 40x30 image",
    ];
    assert_names(&refused(set.get(0)), &parts);
    let err = set.verify_images().expect_err("box 1 is outside the image");
    assert_names(&err.to_string(), &parts);
    set.get(1).expect("the other samples read");
}

#[test]
fn vocabulary_errors_name_the_vocabulary_file() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let vocabulary = tmp.path().join("my_vocabulary.json");
    let open = |text: &str| {
        std::fs::write(&vocabulary, text).expect("write");
        refused(CustomTrainingSet::open(
            &vocabulary,
            dir().join("annotations.json"),
            dir().join("images"),
            CustomTrainingOptions::default(),
        ))
    };
    let no_person = r#"{"verbs": ["ride"], "objects": ["bicycle"],
        "classes": [{"verb": "ride", "object": "bicycle"}]}"#;
    assert_names(
        &open(no_person),
        &[
            "my_vocabulary.json",
            "objects",
            "no \"person\"",
            "subject class",
        ],
    );
    let unknown = r#"{"verbs": ["ride"], "objects": ["person", "bicycle"],
        "classes": [{"verb": "ride", "object": "bicycle"}, {"verb": "rides", "object": "bicycle"}]}"#;
    assert_names(
        &open(unknown),
        &["my_vocabulary.json", "classes[1].verb", "\"rides\""],
    );
    assert_names(
        &open("[1, 2]"),
        &["my_vocabulary.json", "not a vocabulary file"],
    );
}

/// The ```json blocks of the module documentation (the format's user-facing description).
fn documented_examples() -> Vec<String> {
    let source =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/data/custom.rs"))
            .expect("source");
    let mut blocks = Vec::new();
    let mut current: Option<Vec<&str>> = None;
    for line in source.lines().take_while(|l| l.starts_with("//!")) {
        let text = line.trim_start_matches("//!");
        match (&mut current, text.trim()) {
            (None, "```json") => current = Some(Vec::new()),
            (Some(lines), "```") => {
                blocks.push(lines.join("\n"));
                current = None;
            }
            (Some(lines), _) => lines.push(text),
            (None, _) => {}
        }
    }
    blocks
}

/// The examples of the documentation are valid: the vocabulary is the fixture's, and the
/// annotation example (named and numeric forms mixed, an object-less interaction without
/// `object_id`, an image without interactions) reads with the fixture's images.
#[test]
fn the_documented_examples_are_valid() {
    let examples = documented_examples();
    assert_eq!(examples.len(), 2, "a vocabulary and an annotation example");
    let documented = CustomVocabularyFile::from_json_str(&examples[0], Path::new("doc"))
        .expect("the documented vocabulary parses");
    let fixture = CustomVocabularyFile::read(dir().join("vocabulary.json")).expect("fixture");
    assert_eq!(documented, fixture);

    let set = open_text(&examples[1], CustomTrainingOptions::default())
        .expect("the documented annotations read");
    assert_eq!(set.len(), 3);
    assert_eq!(
        set.get(0).expect("sample 0").target,
        fixture_set().get(0).expect("fixture sample 0").target
    );
    let t = set.get(1).expect("sample 1").target;
    assert_eq!(
        t.hoi_labels,
        [vec![2, 3]],
        "juggle (category_id 1) + hold, merged"
    );
    assert_eq!(t.object_labels, [3]);
    assert!(set.get(2).expect("sample 2").target.is_empty());
}
