//! Dataset label tables.
//!
//! [`hico`] holds the HICO-DET object, verb and HOI-class tables exactly as
//! the HOICLIP authors define them (`datasets/static_hico.py` and
//! `datasets/hico_text_label.py`), including the CLIP text prompt of every HOI
//! class and the zero-shot split lists. The tables are generated data; see
//! `tests/fixtures/gen_label_tables.py`.
//!
//! [`vcoco`] holds the V-COCO verb and HOI-class tables (`datasets/vcoco_text_label.py`).

pub mod hico;
pub mod vcoco;

use hico::HICO_HOIS;

/// Returns the HICO-DET HOI class index (0..600) of a (verb, object) pair,
/// or `None` if the pair is not one of the 600 HICO-DET classes.
///
/// `verb` indexes [`hico::HICO_VERBS`], `object` indexes [`hico::HICO_OBJECTS`].
pub fn hoi_index(verb: u16, object: u16) -> Option<usize> {
    HICO_HOIS
        .iter()
        .position(|h| h.verb == verb && h.object == object)
}
