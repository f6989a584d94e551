//! Checks of the V-COCO label tables against the HOICLIP reference
//! (`datasets/vcoco_text_label.py`, `datasets/datasets_gen/vcoco.py`,
//! `datasets/datasets_gen/vcoco_eval.py`).

use std::collections::HashSet;

use hoiclip::labels::hico::{HICO_OBJECTS, HoiClass};
use hoiclip::labels::vcoco::{VCOCO_COCO_CATEGORY_IDS, VCOCO_HOIS, VCOCO_NO_OBJECT, VCOCO_VERBS};

#[test]
fn counts() {
    assert_eq!(VCOCO_VERBS.len(), 29);
    assert_eq!(VCOCO_HOIS.len(), 263);
    assert_eq!(VCOCO_COCO_CATEGORY_IDS.len(), 80);
    // 29 entries of `vcoco_hoi_text_label` have no object (object index 80).
    let no_obj = VCOCO_HOIS
        .iter()
        .filter(|h| h.object == VCOCO_NO_OBJECT)
        .count();
    assert_eq!(no_obj, 29);
}

#[test]
fn unique_names_and_pairs() {
    assert_eq!(VCOCO_VERBS.iter().collect::<HashSet<_>>().len(), 29);
    let pairs: HashSet<(u16, u16)> = VCOCO_HOIS.iter().map(|h| (h.verb, h.object)).collect();
    assert_eq!(pairs.len(), VCOCO_HOIS.len());
    let prompts: HashSet<&str> = VCOCO_HOIS.iter().map(|h| h.prompt).collect();
    assert_eq!(prompts.len(), VCOCO_HOIS.len());
}

#[test]
fn indices_in_range_and_every_verb_used() {
    for h in &VCOCO_HOIS {
        assert!(usize::from(h.verb) < VCOCO_VERBS.len(), "{h:?}");
        assert!(
            usize::from(h.object) < HICO_OBJECTS.len() || h.object == VCOCO_NO_OBJECT,
            "{h:?}"
        );
    }
    let verbs: HashSet<u16> = VCOCO_HOIS.iter().map(|h| h.verb).collect();
    assert_eq!(verbs.len(), 29);
}

#[test]
fn prompts_start_with_person() {
    for h in &VCOCO_HOIS {
        assert!(h.prompt.starts_with("a photo of a person"), "{h:?}");
    }
}

#[test]
fn coco_category_ids_strictly_increasing() {
    assert_eq!(VCOCO_COCO_CATEGORY_IDS[0], 1);
    assert_eq!(VCOCO_COCO_CATEGORY_IDS[79], 90);
    assert!(VCOCO_COCO_CATEGORY_IDS.windows(2).all(|w| w[0] < w[1]));
}

#[test]
fn spot_checks_against_reference() {
    // First entry: `(0, 41): 'a photo of a person holding a cup'`.
    assert_eq!(
        VCOCO_HOIS[0],
        HoiClass {
            verb: 0,
            object: 41,
            prompt: "a photo of a person holding a cup",
        }
    );
    assert_eq!(VCOCO_VERBS[0], "hold_obj");
    assert_eq!(HICO_OBJECTS[41], "cup");
    // Third entry: `(17, 53): 'a photo of a person cutting a pizza'`.
    assert_eq!(
        VCOCO_HOIS[2],
        HoiClass {
            verb: 17,
            object: 53,
            prompt: "a photo of a person cutting a pizza",
        }
    );
    assert_eq!(VCOCO_VERBS[17], "cut_obj");
    assert_eq!(HICO_OBJECTS[53], "pizza");
    // Second entry has no object: `(16, 80): 'a photo of a person cutting with something'`.
    assert_eq!(VCOCO_HOIS[1].verb, 16);
    assert_eq!(VCOCO_HOIS[1].object, VCOCO_NO_OBJECT);
    assert_eq!(VCOCO_VERBS[16], "cut_instr");
    // Last entry: `(5, 50): 'a photo of a person looking at a broccoli'`.
    let last = VCOCO_HOIS[VCOCO_HOIS.len() - 1];
    assert_eq!((last.verb, last.object), (5, 50));
    assert_eq!(last.prompt, "a photo of a person looking at a broccoli");
    assert_eq!(VCOCO_VERBS[28], "snowboard_instr");
}
