//! Checks of the HICO-DET label tables against the HOICLIP reference
//! (`datasets/hico_text_label.py`, `datasets/static_hico.py`).

use std::collections::HashSet;

use hoiclip::labels::hico::{
    HICO_HOIS, HICO_OBJECTS, HICO_RARE_HOIS, HICO_UNSEEN_NON_RARE_FIRST, HICO_UNSEEN_RARE_FIRST,
    HICO_UNSEEN_UC, HICO_UNSEEN_UNSEEN_OBJECT, HICO_UNSEEN_UNSEEN_VERB, HICO_VERBS, HoiClass,
};
use hoiclip::labels::hoi_index;

#[test]
fn counts() {
    assert_eq!(HICO_OBJECTS.len(), 80);
    assert_eq!(HICO_VERBS.len(), 117);
    assert_eq!(HICO_HOIS.len(), 600);
    assert_eq!(HICO_RARE_HOIS.len(), 138);
    assert_eq!(HICO_UNSEEN_RARE_FIRST.len(), 120);
    assert_eq!(HICO_UNSEEN_NON_RARE_FIRST.len(), 120);
    assert_eq!(HICO_UNSEEN_UNSEEN_OBJECT.len(), 100);
    assert_eq!(HICO_UNSEEN_UNSEEN_VERB.len(), 84);
    assert_eq!(HICO_UNSEEN_UC.len(), 5);
}

#[test]
fn names_unique() {
    assert_eq!(HICO_OBJECTS.iter().collect::<HashSet<_>>().len(), 80);
    assert_eq!(HICO_VERBS.iter().collect::<HashSet<_>>().len(), 117);
    assert_eq!(HICO_OBJECTS[0], "person");
    assert_eq!(HICO_OBJECTS[79], "toothbrush");
    assert_eq!(HICO_VERBS[0], "adjust");
    assert_eq!(HICO_VERBS[57], "no_interaction");
    assert_eq!(HICO_VERBS[116], "zip");
}

#[test]
fn hoi_pairs_unique_and_in_range() {
    let pairs: HashSet<(u16, u16)> = HICO_HOIS.iter().map(|h| (h.verb, h.object)).collect();
    assert_eq!(pairs.len(), 600);
    for h in &HICO_HOIS {
        assert!((h.verb as usize) < HICO_VERBS.len());
        assert!((h.object as usize) < HICO_OBJECTS.len());
    }
    // Every object appears with the `no_interaction` verb exactly once.
    let no_interaction = HICO_HOIS.iter().filter(|h| h.verb == 57).count();
    assert_eq!(no_interaction, 80);
}

#[test]
fn prompts() {
    let prompts: HashSet<&str> = HICO_HOIS.iter().map(|h| h.prompt).collect();
    assert_eq!(prompts.len(), 600);
    for h in &HICO_HOIS {
        assert!(h.prompt.starts_with("a photo of a person"), "{h:?}");
    }
}

#[test]
fn spot_checks() {
    let first = HoiClass {
        verb: 4,
        object: 4,
        prompt: "a photo of a person boarding an airplane",
    };
    let middle = HoiClass {
        verb: 85,
        object: 41,
        prompt: "a photo of a person sipping a cup",
    };
    let last = HoiClass {
        verb: 57,
        object: 22,
        prompt: "a photo of a person and a zebra",
    };
    assert_eq!(HICO_HOIS[0], first);
    assert_eq!(HICO_HOIS[300], middle);
    assert_eq!(HICO_HOIS[599], last);
    assert_eq!(HICO_VERBS[4], "board");
    assert_eq!(HICO_OBJECTS[4], "airplane");
    assert_eq!(HICO_VERBS[85], "sip");
    assert_eq!(HICO_OBJECTS[41], "cup");
    assert_eq!(HICO_OBJECTS[22], "zebra");
}

#[test]
fn hoi_index_roundtrip() {
    for (i, h) in HICO_HOIS.iter().enumerate() {
        assert_eq!(hoi_index(h.verb, h.object), Some(i));
    }
    assert_eq!(hoi_index(85, 41), Some(300));
    // "board" x "person" is not a HICO-DET class.
    assert_eq!(hoi_index(4, 0), None);
    assert_eq!(hoi_index(117, 0), None);
}

#[test]
fn split_lists_valid() {
    let lists: [&[u16]; 5] = [
        &HICO_RARE_HOIS,
        &HICO_UNSEEN_RARE_FIRST,
        &HICO_UNSEEN_NON_RARE_FIRST,
        &HICO_UNSEEN_UNSEEN_OBJECT,
        &HICO_UNSEEN_UNSEEN_VERB,
    ];
    for list in lists
        .into_iter()
        .chain(HICO_UNSEEN_UC.iter().map(|l| &l[..]))
    {
        assert!(list.iter().all(|&i| i < 600));
        assert_eq!(list.iter().collect::<HashSet<_>>().len(), list.len());
    }
    // The rare-first unseen split is made of rare classes only.
    let rare: HashSet<u16> = HICO_RARE_HOIS.iter().copied().collect();
    assert!(HICO_UNSEEN_RARE_FIRST.iter().all(|i| rare.contains(i)));
    assert!(HICO_UNSEEN_NON_RARE_FIRST.iter().all(|i| !rare.contains(i)));
    // Unseen-verb split: all classes of its verbs are unseen.
    let uv: HashSet<u16> = HICO_UNSEEN_UNSEEN_VERB.iter().copied().collect();
    let verbs: HashSet<u16> = uv.iter().map(|&i| HICO_HOIS[i as usize].verb).collect();
    assert_eq!(verbs.len(), 20);
}
