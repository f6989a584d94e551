//! The CLIP tokenizer against OpenAI's `clip.tokenize` (goldens written by
//! `tests/fixtures/gen_tokenizer_fixtures.py`), and its overflow policy and padding.

use hoiclip::HoiclipError;
use hoiclip::clip::tokenizer::{
    CONTEXT_LENGTH, ClipTokenizer, END_OF_TEXT, OverflowPolicy, START_OF_TEXT, VOCAB_SIZE,
    clean_text,
};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
struct Golden {
    context_length: usize,
    n_cases: usize,
    cases: Vec<Case>,
}

#[derive(Debug, Deserialize)]
struct Case {
    name: String,
    group: String,
    text: String,
    /// `clip.tokenize(text, truncate=True)[0]`, null where it raises.
    ids: Option<Vec<u32>>,
    /// The exception `clip.tokenize(text, truncate=True)` raises.
    error: Option<String>,
    /// `len(encode(text)) + 2`.
    n_tokens: Option<usize>,
    /// Whether `clip.tokenize(text)` (no truncation) raises.
    strict_raises: bool,
    /// Whether ftfy's mojibake repair (not replicated) changes the text.
    ftfy_mojibake: bool,
    /// The ids with ftfy's mojibake repair turned off.
    ids_without_mojibake_repair: Option<Vec<u32>>,
}

fn golden() -> Golden {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/tokenizer_golden.json.gz"
    );
    let file = std::fs::File::open(path).expect("open tokenizer_golden.json.gz");
    serde_json::from_reader(flate2::read::GzDecoder::new(std::io::BufReader::new(file)))
        .expect("parse tokenizer_golden.json.gz")
}

fn tokenizer() -> ClipTokenizer {
    ClipTokenizer::new().expect("embedded vocabulary")
}

/// The ids of a case that Rust must reproduce exactly.
fn expected_ids(case: &Case) -> Option<&Vec<u32>> {
    if case.ftfy_mojibake {
        case.ids_without_mojibake_repair.as_ref()
    } else {
        case.ids.as_ref()
    }
}

#[test]
fn every_golden_case_matches_clip_tokenize() {
    let golden = golden();
    assert_eq!(golden.context_length, CONTEXT_LENGTH);
    assert_eq!(golden.cases.len(), golden.n_cases);
    let truncate = tokenizer();
    let strict = tokenizer().with_overflow_policy(OverflowPolicy::Error);
    let mut failures = Vec::new();
    let mut compared = 0;
    for case in &golden.cases {
        let got = truncate.tokenize(&case.text);
        match (expected_ids(case), &got) {
            (Some(want), Ok(got)) if want == got => compared += 1,
            (None, Err(HoiclipError::Tokenize { .. })) if case.error.is_some() => compared += 1,
            (want, got) => failures.push(format!(
                "{} ({}): {:?}\n  want {want:?}\n  got  {got:?}",
                case.name, case.group, case.text
            )),
        }
        let strict_got = strict.tokenize(&case.text);
        if strict_got.is_err() != case.strict_raises {
            failures.push(format!(
                "{}: strict policy gave {strict_got:?}, Python raises: {}",
                case.name, case.strict_raises
            ));
        }
        if let (Some(n_tokens), Ok(ids)) = (case.n_tokens, truncate.encode(&case.text))
            && ids.len() + 2 != n_tokens
            && !case.ftfy_mojibake
        {
            failures.push(format!(
                "{}: {} tokens, want {n_tokens}",
                case.name,
                ids.len() + 2
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ:\n{}",
        failures.len(),
        golden.cases.len(),
        failures.join("\n")
    );
    assert_eq!(compared, golden.cases.len());
}

#[test]
fn goldens_cover_the_hoiclip_prompts_and_awkward_inputs() {
    let golden = golden();
    let count = |group: &str| golden.cases.iter().filter(|c| c.group == group).count();
    assert_eq!(count("hico_hoi"), 600);
    assert!(count("hico_object") >= 80);
    assert!(count("vcoco_hoi") > 0);
    assert!(count("vcoco_object") >= 80);
    for group in [
        "punctuation",
        "digits",
        "accents",
        "emoji",
        "scripts",
        "whitespace",
        "html",
        "case",
        "contractions",
        "length",
    ] {
        assert!(count(group) > 0, "no {group} case");
    }
    assert!(golden.cases.iter().any(|c| c.text.is_empty()));
    assert!(
        golden
            .cases
            .iter()
            .any(|c| c.n_tokens.is_some_and(|n| n > CONTEXT_LENGTH))
    );
    // Only the deliberate mojibake examples depend on the ftfy step that is not replicated.
    for case in golden.cases.iter().filter(|c| c.ftfy_mojibake) {
        assert_eq!(
            case.group, "mojibake",
            "{} depends on ftfy's mojibake repair",
            case.name
        );
        assert!(case.ids_without_mojibake_repair.is_some());
    }
}

#[test]
fn hoiclip_prompts_never_overflow() {
    let golden = golden();
    let strict = tokenizer().with_overflow_policy(OverflowPolicy::Error);
    for case in golden
        .cases
        .iter()
        .filter(|c| c.group.starts_with("hico") || c.group.starts_with("vcoco"))
    {
        let ids = strict.tokenize(&case.text).expect(&case.name);
        assert_eq!(ids.len(), CONTEXT_LENGTH);
    }
}

#[test]
fn padding_follows_the_end_marker() {
    let tok = tokenizer();
    let text = "a photo of a person riding a bicycle";
    let bpe = tok.encode(text).unwrap();
    assert_eq!(bpe, [320, 1125, 539, 320, 2533, 6765, 320, 11652]);
    let ids = tok.tokenize(text).unwrap();
    assert_eq!(ids.len(), CONTEXT_LENGTH);
    assert_eq!(ids[0], START_OF_TEXT);
    assert_eq!(&ids[1..=bpe.len()], bpe.as_slice());
    assert_eq!(ids[bpe.len() + 1], END_OF_TEXT);
    assert!(ids[bpe.len() + 2..].iter().all(|&id| id == 0));

    let empty = tok.tokenize("").unwrap();
    assert_eq!(&empty[..2], &[START_OF_TEXT, END_OF_TEXT]);
    assert!(empty[2..].iter().all(|&id| id == 0));
    assert_eq!(tok.tokenize(" \t\n").unwrap(), empty);
    assert!(tok.encode("").unwrap().is_empty());
}

#[test]
fn overflow_policy_truncate_keeps_76_tokens_then_the_end_marker() {
    let tok = tokenizer();
    assert_eq!(tok.overflow_policy(), OverflowPolicy::Truncate);
    let fits = vec!["a"; 75].join(" ");
    let too_long = vec!["a"; 76].join(" ");
    let a = tok.encode("a").unwrap()[0];

    let ids = tok.tokenize(&fits).unwrap();
    assert_eq!(ids[0], START_OF_TEXT);
    assert!(ids[1..76].iter().all(|&id| id == a));
    assert_eq!(ids[76], END_OF_TEXT);

    // 76 BPE ids: the 76th is dropped, the end marker takes the last slot.
    assert_eq!(tok.encode(&too_long).unwrap().len(), 76);
    assert_eq!(tok.tokenize(&too_long).unwrap(), ids);

    let very_long = vec!["a photo of a person riding a bicycle"; 40].join(", ");
    let ids = tok.tokenize(&very_long).unwrap();
    assert_eq!(ids.len(), CONTEXT_LENGTH);
    assert_eq!(ids[76], END_OF_TEXT);
    assert_eq!(&ids[1..76], &tok.encode(&very_long).unwrap()[..75]);
}

#[test]
fn overflow_policy_error_names_the_prompt_and_its_token_count() {
    let strict = tokenizer().with_overflow_policy(OverflowPolicy::Error);
    assert_eq!(strict.overflow_policy(), OverflowPolicy::Error);
    let fits = vec!["a"; 75].join(" ");
    assert_eq!(
        strict.tokenize(&fits).unwrap(),
        tokenizer().tokenize(&fits).unwrap()
    );

    let too_long = vec!["a"; 76].join(" ");
    match strict.tokenize(&too_long) {
        Err(HoiclipError::Tokenize { prompt, reason }) => {
            assert!(
                too_long.starts_with(prompt.trim_end_matches('…')),
                "{prompt:?}"
            );
            assert!(reason.contains("78"), "{reason}");
            assert!(reason.contains("77"), "{reason}");
        }
        other => panic!("expected a Tokenize error, got {other:?}"),
    }
    // The error message shortens a long prompt.
    let huge = "word ".repeat(500);
    let message = strict.tokenize(&huge).unwrap_err().to_string();
    assert!(message.len() < 400, "{message}");
    assert!(message.contains("502"), "{message}");
    // A batch fails on its first overflowing prompt.
    assert!(strict.tokenize_batch(&["a photo", &too_long]).is_err());
}

#[test]
fn tokenize_batch_is_tokenize_per_text() {
    let tok = tokenizer();
    let texts = [
        "a photo of a person",
        "",
        "fish &amp; chips",
        "ＬＯＵＤ　ＮＯＩＳＥＳ",
    ];
    let batch = tok.tokenize_batch(&texts).unwrap();
    assert_eq!(batch.len(), texts.len());
    for (row, text) in batch.iter().zip(texts) {
        assert_eq!(row, &tok.tokenize(text).unwrap());
    }
    assert!(tok.tokenize_batch(&[]).unwrap().is_empty());
}

#[test]
fn decode_inverts_encode_up_to_cleaning() {
    let tok = tokenizer();
    for text in [
        "a photo of a person riding a bicycle",
        "Café, naïve! 😀 日本語 it's 2024",
    ] {
        let ids = tok.encode(text).unwrap();
        let cleaned = clean_text(text).unwrap();
        let decoded = tok.decode(&ids).unwrap();
        // Every word is followed by a space; punctuation pieces too.
        assert_eq!(decoded.replace(' ', ""), cleaned.replace(' ', ""), "{text}");
    }
    assert_eq!(
        tok.decode(&[START_OF_TEXT, 320, 1125, END_OF_TEXT])
            .unwrap(),
        "<|startoftext|>a photo <|endoftext|>"
    );
    assert!(matches!(
        tok.decode(&[VOCAB_SIZE as u32]),
        Err(HoiclipError::Tokenize { .. })
    ));
}

#[test]
fn cleaning_matches_openai() {
    assert_eq!(
        clean_text("  Fish &amp;amp; Chips\t\n").unwrap(),
        "fish & chips"
    );
    assert_eq!(clean_text("ＬＯＵＤ　ＮＯＩＳＥＳ").unwrap(), "loud noises");
    assert_eq!(clean_text("cafe\u{301}").unwrap(), "café");
    assert_eq!(
        clean_text("\u{201c}it\u{2019}s\u{201d}").unwrap(),
        "\"it's\""
    );
}

#[test]
fn tokenizer_is_cheap_to_share() {
    fn assert_send_sync_clone<T: Send + Sync + Clone + 'static>() {}
    assert_send_sync_clone::<ClipTokenizer>();
    let tok = tokenizer();
    let handles: Vec<_> = (0..4)
        .map(|i| {
            let tok = tok.clone();
            std::thread::spawn(move || tok.tokenize(&format!("a photo of {i} people")).unwrap())
        })
        .collect();
    for (i, handle) in handles.into_iter().enumerate() {
        assert_eq!(
            handle.join().unwrap(),
            tok.tokenize(&format!("a photo of {i} people")).unwrap()
        );
    }
}
