//! COCO category ids and HICO-DET verb ids of the annotation files, mapped to the crate's
//! contiguous indices.
//!
//! Mirrors `HICODetection._valid_obj_ids` / `_valid_verb_ids` in the HOICLIP reference
//! (`datasets/datasets_gen/hico.py`): an annotation box's `category_id` is a COCO category id
//! (1..=90 with gaps, `1` = person) and its object index is the position of that id in
//! [`HICO_COCO_CATEGORY_IDS`]; an `hoi_annotation` entry's `category_id` is a verb id 1..=117
//! and its verb index is `category_id - 1`. The HOI class of a (verb, object) pair is its
//! position in `hico_text_label` ([`crate::labels::hoi_index`]).

use crate::labels::hico::HICO_HOIS;

/// COCO category id of each of the 80 HICO-DET objects, indexed by object index 0..80
/// (`_valid_obj_ids` of `hico.py`; the same order as [`crate::labels::hico::HICO_OBJECTS`]).
pub const HICO_COCO_CATEGORY_IDS: [u16; 80] = [
    1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 27, 28,
    31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55,
    56, 57, 58, 59, 60, 61, 62, 63, 64, 65, 67, 70, 72, 73, 74, 75, 76, 77, 78, 79, 80, 81, 82, 84,
    85, 86, 87, 88, 89, 90,
];

/// Number of HICO-DET verbs (`_valid_verb_ids = range(1, 118)`).
pub const NUM_VERBS: usize = 117;
/// Number of HICO-DET objects.
pub const NUM_OBJECTS: usize = 80;
/// Number of HICO-DET HOI classes.
pub const NUM_HOIS: usize = 600;

/// Object index (0..80) of a COCO category id (`_valid_obj_ids.index(category_id)`), or
/// `None` for an id that is not one of the 80.
pub fn object_index_of_coco_id(coco_id: i64) -> Option<usize> {
    HICO_COCO_CATEGORY_IDS
        .iter()
        .position(|&c| i64::from(c) == coco_id)
}

/// COCO category id of an object index 0..80, or `None` out of range.
pub fn coco_id_of_object_index(object: usize) -> Option<u16> {
    HICO_COCO_CATEGORY_IDS.get(object).copied()
}

/// Verb index (0..117) of a 1-based annotation verb id (`_valid_verb_ids.index(category_id)`),
/// or `None` outside 1..=117.
pub fn verb_index_of_verb_id(verb_id: i64) -> Option<usize> {
    if (1..=NUM_VERBS as i64).contains(&verb_id) {
        Some((verb_id - 1) as usize)
    } else {
        None
    }
}

/// Lookup table `[verb][object] -> HOI class` built once from [`HICO_HOIS`]; `u16::MAX` marks
/// a pair that is not one of the 600 classes. Equal to [`crate::labels::hoi_index`], without
/// its linear scan.
#[derive(Debug)]
pub(crate) struct HoiTable {
    table: Vec<u16>,
}

impl HoiTable {
    pub(crate) fn new() -> Self {
        let mut table = vec![u16::MAX; NUM_VERBS * NUM_OBJECTS];
        for (i, h) in HICO_HOIS.iter().enumerate() {
            table[h.verb as usize * NUM_OBJECTS + h.object as usize] = i as u16;
        }
        Self { table }
    }

    pub(crate) fn get(&self, verb: usize, object: usize) -> Option<usize> {
        if verb >= NUM_VERBS || object >= NUM_OBJECTS {
            return None;
        }
        match self.table[verb * NUM_OBJECTS + object] {
            u16::MAX => None,
            h => Some(h as usize),
        }
    }
}

/// `"verb object"` display name of an HOI class, e.g. `"ride bicycle"` (empty out of range).
pub fn hoi_name(hoi: usize) -> String {
    use crate::labels::hico::{HICO_OBJECTS, HICO_VERBS};
    match HICO_HOIS.get(hoi) {
        Some(h) => format!(
            "{} {}",
            HICO_VERBS[h.verb as usize], HICO_OBJECTS[h.object as usize]
        ),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coco_ids_match_the_vcoco_table() {
        assert_eq!(
            HICO_COCO_CATEGORY_IDS,
            crate::labels::vcoco::VCOCO_COCO_CATEGORY_IDS
        );
    }

    #[test]
    fn table_agrees_with_hoi_index() {
        let t = HoiTable::new();
        for v in 0..NUM_VERBS {
            for o in 0..NUM_OBJECTS {
                assert_eq!(
                    t.get(v, o),
                    crate::labels::hoi_index(v as u16, o as u16),
                    "verb {v} object {o}"
                );
            }
        }
    }
}
