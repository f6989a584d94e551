//! CLIP's byte-level BPE tokenizer, id for id equal to OpenAI's `clip.tokenize`.
//!
//! OpenAI's tokenizer (`clip/simple_tokenizer.py`) cleans the text, splits it with one regular
//! expression, maps every piece's UTF-8 bytes to printable characters and runs byte-pair
//! encoding with the merges of `bpe_simple_vocab_16e6.txt.gz`. This module does the same:
//!
//! 1. **Cleaning** (plain Rust, because `tokenizers` has no step for it): the parts of
//!    `ftfy.fix_text` that apply to text without mojibake (HTML entities, C1 controls, Latin
//!    ligatures, full/half-width forms, curly quotes, line breaks, terminal escapes, control
//!    characters, NFC), then Python's `html.unescape` twice, whitespace collapsing and
//!    Python's `str.lower`.
//! 2. **Splitting**: a `tokenizers` `Split` pre-tokenizer with OpenAI's pattern (rewritten for
//!    lowercase input so that it matches exactly what Python's `regex` module matches), then the
//!    `ByteLevel` pre-tokenizer without prefix space.
//! 3. **BPE**: a `tokenizers` [`BPE`] model with the `</w>` end-of-word suffix. The pieces
//!    `<|startoftext|>` and `<|endoftext|>` become [`START_OF_TEXT`] and [`END_OF_TEXT`], as in
//!    OpenAI's code.
//!
//! The vocabulary is embedded in the binary and built once per process, on first use.
//! `docs/tokenizer.md` describes the steps, the truncation policy and the known differences
//! from OpenAI (mojibake repair is not replicated; characters assigned after Unicode 14 may be
//! classified differently).

use std::borrow::Cow;
use std::collections::HashMap;
use std::io::Read;
use std::sync::OnceLock;

use tokenizers::models::bpe::{BPE, Merges, Vocab};
use tokenizers::pre_tokenizers::PreTokenizerWrapper;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::utils::SysRegex;
use tokenizers::{
    Model, OffsetReferential, OffsetType, PreTokenizedString, PreTokenizer, SplitDelimiterBehavior,
};
use unicode_normalization::UnicodeNormalization;

use crate::error::{HoiclipError, Result};

/// Number of token ids CLIP's text encoder reads (start marker, text, end marker, padding).
pub const CONTEXT_LENGTH: usize = 77;
/// Id of `<|startoftext|>`, the first id of every tokenized prompt.
pub const START_OF_TEXT: u32 = 49406;
/// Id of `<|endoftext|>`, which ends every tokenized prompt; CLIP pools the text feature there.
pub const END_OF_TEXT: u32 = 49407;
/// Number of ids in CLIP's vocabulary (512 byte symbols, 48 894 merges, 2 markers).
pub const VOCAB_SIZE: usize = 49408;

/// OpenAI's merges file, as shipped in the `openai-clip` package.
const BPE_GZ: &[u8] = include_bytes!("bpe_simple_vocab_16e6.txt.gz");
/// Number of merges OpenAI reads: lines `1..=48894` of the file (`merges[1:49152-256-2+1]`).
const NUM_MERGES: usize = VOCAB_SIZE - 512 - 2;
/// Most BPE ids that fit between the start and end markers.
const MAX_TEXT_TOKENS: usize = CONTEXT_LENGTH - 2;
const START_TEXT: &str = "<|startoftext|>";
const END_TEXT: &str = "<|endoftext|>";

/// OpenAI's split pattern, for text that is already lowercase and whose whitespace is already
/// collapsed to single spaces (both done by cleaning):
///
/// `<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+`
/// with `re.IGNORECASE`.
///
/// On such text Python's case-insensitive matching differs from a plain match in two places only,
/// both written out here: `s` also matches `ſ` (U+017F, whose case fold is `s`), and U+0345
/// (combining ypogegrammeni, whose case fold is a letter) matches no alternative at all, so it
/// is dropped like a space. The only whitespace left after cleaning is U+0020.
const SPLIT_PATTERN: &str = concat!(
    r"<\|[sſ]tartoftext\|>|<\|endoftext\|>|'[sſ]|'t|'re|'ve|'m|'ll|'d",
    r"|\p{L}+|\p{N}|[^ \p{L}\p{N}\x{345}]+"
);

/// ftfy's `ANSI_RE` (`\033\[((?:\d|;)*)([a-zA-Z])`, where Python's `\d` is any `Nd` digit).
const ANSI_PATTERN: &str = r"\x1b\[(?:\p{Nd}|;)*[a-zA-Z]";

/// What to do with a prompt whose tokens do not fit in [`CONTEXT_LENGTH`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum OverflowPolicy {
    /// Keep the start marker and the first 75 BPE ids, then [`END_OF_TEXT`]: the same as
    /// `clip.tokenize(text, truncate=True)`, which HOICLIP uses.
    #[default]
    Truncate,
    /// Fail with [`HoiclipError::Tokenize`] naming the prompt and its token count, like
    /// `clip.tokenize(text)` (which raises `RuntimeError`).
    Error,
}

/// CLIP's BPE tokenizer (OpenAI's `clip.tokenize`).
///
/// Cheap to clone (the vocabulary is built once per process and shared), `Send` and `Sync`.
///
/// ```
/// use hoiclip::clip::tokenizer::{ClipTokenizer, CONTEXT_LENGTH, END_OF_TEXT, START_OF_TEXT};
///
/// let tokenizer = ClipTokenizer::new()?;
/// let ids = tokenizer.tokenize("a photo of a person riding a bicycle")?;
/// assert_eq!(ids.len(), CONTEXT_LENGTH);
/// assert_eq!(ids[0], START_OF_TEXT);
/// assert_eq!(ids[9], END_OF_TEXT);
/// assert!(ids[10..].iter().all(|&id| id == 0));
/// # Ok::<(), hoiclip::HoiclipError>(())
/// ```
#[derive(Clone, Debug)]
pub struct ClipTokenizer {
    engine: &'static Engine,
    policy: OverflowPolicy,
}

impl ClipTokenizer {
    /// The tokenizer with the embedded vocabulary and the [`OverflowPolicy::Truncate`] policy.
    ///
    /// The first call in a process builds the vocabulary (about 0.1 s); later calls
    /// share it.
    ///
    /// # Errors
    /// [`HoiclipError::Config`] if the embedded vocabulary cannot be read (a corrupt build).
    pub fn new() -> Result<Self> {
        static ENGINE: OnceLock<std::result::Result<Engine, String>> = OnceLock::new();
        match ENGINE.get_or_init(Engine::build) {
            Ok(engine) => Ok(Self {
                engine,
                policy: OverflowPolicy::default(),
            }),
            Err(reason) => Err(HoiclipError::Config(format!(
                "cannot build the CLIP tokenizer: {reason}"
            ))),
        }
    }

    /// The same tokenizer with another policy for prompts longer than [`CONTEXT_LENGTH`].
    #[must_use]
    pub fn with_overflow_policy(self, policy: OverflowPolicy) -> Self {
        Self { policy, ..self }
    }

    /// The policy for prompts longer than [`CONTEXT_LENGTH`].
    #[must_use]
    pub fn overflow_policy(&self) -> OverflowPolicy {
        self.policy
    }

    /// BPE ids of `text`, without start or end marker, padding or truncation: OpenAI's
    /// `SimpleTokenizer.encode`.
    ///
    /// # Errors
    /// [`HoiclipError::Tokenize`] where Python fails too: a decimal character reference with
    /// more than 4300 digits (Python's integer conversion limit) inside the text.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let cleaned = clean(text, self.engine).map_err(|reason| tokenize_error(text, reason))?;
        self.engine
            .bpe_ids(&cleaned)
            .map_err(|reason| tokenize_error(text, reason))
    }

    /// Exactly [`CONTEXT_LENGTH`] ids: [`START_OF_TEXT`], the BPE ids, [`END_OF_TEXT`], then
    /// zeros; `clip.tokenize(text, truncate=True)[0]` under [`OverflowPolicy::Truncate`].
    ///
    /// # Errors
    /// [`HoiclipError::Tokenize`] if [`encode`](Self::encode) fails, or if the prompt needs more
    /// than [`CONTEXT_LENGTH`] ids under [`OverflowPolicy::Error`].
    pub fn tokenize(&self, text: &str) -> Result<Vec<u32>> {
        let mut ids = self.encode(text)?;
        if ids.len() > MAX_TEXT_TOKENS {
            match self.policy {
                OverflowPolicy::Truncate => ids.truncate(MAX_TEXT_TOKENS),
                OverflowPolicy::Error => {
                    return Err(tokenize_error(
                        text,
                        format!(
                            "it needs {} tokens with the start and end markers, more than the \
                             context length {CONTEXT_LENGTH}",
                            ids.len() + 2
                        ),
                    ));
                }
            }
        }
        let mut out = Vec::with_capacity(CONTEXT_LENGTH);
        out.push(START_OF_TEXT);
        out.extend_from_slice(&ids);
        out.push(END_OF_TEXT);
        out.resize(CONTEXT_LENGTH, 0);
        Ok(out)
    }

    /// [`tokenize`](Self::tokenize) for each text, in order: the rows of `clip.tokenize(texts)`.
    ///
    /// # Errors
    /// The first error of [`tokenize`](Self::tokenize).
    pub fn tokenize_batch(&self, texts: &[&str]) -> Result<Vec<Vec<u32>>> {
        texts.iter().map(|text| self.tokenize(text)).collect()
    }

    /// Text of BPE ids, as OpenAI's `SimpleTokenizer.decode`: every `</w>` becomes a space
    /// (so words are followed by a space) and invalid UTF-8 becomes U+FFFD. Markers decode to
    /// `<|startoftext|>` and `<|endoftext|>`; padding zeros decode to `!`, so strip them first.
    ///
    /// # Errors
    /// [`HoiclipError::Tokenize`] if an id is not below [`VOCAB_SIZE`].
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        let mut bytes = Vec::with_capacity(ids.len() * 4);
        for &id in ids {
            let token = self.engine.bpe.id_to_token(id).ok_or_else(|| {
                tokenize_error(
                    &format!("{ids:?}"),
                    format!("id {id} is not in the vocabulary of {VOCAB_SIZE} ids"),
                )
            })?;
            for ch in token.chars() {
                let byte = self.engine.byte_decoder.get(&ch).ok_or_else(|| {
                    tokenize_error(
                        &format!("{ids:?}"),
                        format!("token {token:?} has no byte for {ch:?}"),
                    )
                })?;
                bytes.push(*byte);
            }
        }
        Ok(String::from_utf8_lossy(&bytes).replace("</w>", " "))
    }
}

/// OpenAI's text cleaning before BPE: `whitespace_clean(basic_clean(text)).lower()`, that is
/// ftfy's fixes (without mojibake repair), `html.unescape` twice, whitespace collapsed to
/// single spaces and trimmed, and lowercase.
///
/// # Errors
/// [`HoiclipError::Tokenize`] as for [`ClipTokenizer::encode`].
pub fn clean_text(text: &str) -> Result<String> {
    let tokenizer = ClipTokenizer::new()?;
    clean(text, tokenizer.engine).map_err(|reason| tokenize_error(text, reason))
}

/// The built vocabulary and tables, shared by every [`ClipTokenizer`] of the process.
struct Engine {
    /// OpenAI's split pattern, then byte-level mapping.
    pre_tokenizer: Sequence,
    /// The BPE model with OpenAI's vocabulary and merges.
    bpe: BPE,
    /// Byte-level character → byte, for decoding.
    byte_decoder: HashMap<char, u8>,
    /// ftfy's `HTML_ENTITIES`: `&name;` (and some all-caps forms) → text.
    ftfy_entities: HashMap<String, String>,
    /// ftfy's terminal escape pattern.
    ansi: SysRegex,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("vocab_size", &self.bpe.get_vocab_size())
            .finish_non_exhaustive()
    }
}

impl Engine {
    fn build() -> std::result::Result<Self, String> {
        let mut text = String::new();
        flate2::read::GzDecoder::new(BPE_GZ)
            .read_to_string(&mut text)
            .map_err(|e| format!("embedded merges file: {e}"))?;
        let lines: Vec<&str> = text.split('\n').collect();
        if lines.len() <= NUM_MERGES {
            return Err(format!(
                "embedded merges file has {} lines, expected more than {NUM_MERGES}",
                lines.len()
            ));
        }
        let mut merges: Merges = Vec::with_capacity(NUM_MERGES);
        for (number, line) in lines[1..=NUM_MERGES].iter().enumerate() {
            let mut parts = line.split_whitespace();
            match (parts.next(), parts.next(), parts.next()) {
                (Some(a), Some(b), None) => merges.push((a.to_owned(), b.to_owned())),
                _ => {
                    return Err(format!(
                        "line {} of the merges file is not a pair: {line:?}",
                        number + 2
                    ));
                }
            }
        }

        let symbols = bytes_to_unicode();
        let mut ordered: Vec<String> = Vec::with_capacity(VOCAB_SIZE);
        ordered.extend(symbols.iter().map(|(_, ch)| ch.to_string()));
        ordered.extend(symbols.iter().map(|(_, ch)| format!("{ch}</w>")));
        ordered.extend(merges.iter().map(|(a, b)| format!("{a}{b}")));
        ordered.push(START_TEXT.to_owned());
        ordered.push(END_TEXT.to_owned());
        let vocab: Vocab = ordered
            .into_iter()
            .enumerate()
            .map(|(id, token)| (token, id as u32))
            .collect();
        if vocab.len() != VOCAB_SIZE {
            return Err(format!(
                "vocabulary has {} distinct tokens, expected {VOCAB_SIZE}",
                vocab.len()
            ));
        }
        if vocab.get(START_TEXT) != Some(&START_OF_TEXT)
            || vocab.get(END_TEXT) != Some(&END_OF_TEXT)
        {
            return Err("the start and end markers do not have ids 49406 and 49407".to_owned());
        }
        let bpe = BPE::builder()
            .vocab_and_merges(vocab, merges)
            .end_of_word_suffix("</w>".to_owned())
            .build()
            .map_err(|e| format!("BPE model: {e}"))?;

        let split = Split::new(
            SplitPattern::Regex(SPLIT_PATTERN.to_owned()),
            SplitDelimiterBehavior::Removed,
            true,
        )
        .map_err(|e| format!("split pattern: {e}"))?;
        let pre_tokenizer = Sequence::new(vec![
            PreTokenizerWrapper::Split(split),
            PreTokenizerWrapper::ByteLevel(ByteLevel::new(false, false, false)),
        ]);
        let ansi = SysRegex::new(ANSI_PATTERN).map_err(|e| format!("escape pattern: {e}"))?;

        Ok(Self {
            pre_tokenizer,
            bpe,
            byte_decoder: symbols.iter().map(|&(byte, ch)| (ch, byte)).collect(),
            ftfy_entities: ftfy_entities(),
            ansi,
        })
    }

    /// BPE ids of cleaned text.
    fn bpe_ids(&self, cleaned: &str) -> std::result::Result<Vec<u32>, String> {
        let mut pieces = PreTokenizedString::from(cleaned);
        self.pre_tokenizer
            .pre_tokenize(&mut pieces)
            .map_err(|e| format!("pre-tokenizer: {e}"))?;
        let mut ids = Vec::new();
        for (piece, _, _) in pieces.get_splits(OffsetReferential::Original, OffsetType::None) {
            // Byte-level mapping leaves these ASCII pieces as they are.
            match piece {
                START_TEXT => ids.push(START_OF_TEXT),
                END_TEXT => ids.push(END_OF_TEXT),
                _ => ids.extend(
                    self.bpe
                        .tokenize(piece)
                        .map_err(|e| format!("BPE on {piece:?}: {e}"))?
                        .iter()
                        .map(|token| token.id),
                ),
            }
        }
        Ok(ids)
    }
}

/// OpenAI's `bytes_to_unicode`, in its order: (byte, printable character standing for it).
fn bytes_to_unicode() -> Vec<(u8, char)> {
    let printable = |b: u8| matches!(b, b'!'..=b'~' | 0xA1..=0xAC | 0xAE..=0xFF);
    let mut table: Vec<(u8, char)> = (0..=255u8)
        .filter(|&b| printable(b))
        .map(|b| (b, char::from(b)))
        .collect();
    // The others get 256, 257, … (all valid scalar values) in byte order.
    for (code, b) in (256u32..).zip((0..=255u8).filter(|&b| !printable(b))) {
        table.push((
            b,
            char::from_u32(code).unwrap_or(char::REPLACEMENT_CHARACTER),
        ));
    }
    table
}

/// A `Tokenize` error naming a prompt, shortened to 100 characters.
fn tokenize_error(prompt: &str, reason: String) -> HoiclipError {
    const MAX_CHARS: usize = 100;
    let prompt = match prompt.char_indices().nth(MAX_CHARS) {
        Some((cut, _)) => format!("{}…", &prompt[..cut]),
        None => prompt.to_owned(),
    };
    HoiclipError::Tokenize { prompt, reason }
}

// ---------------------------------------------------------------------------------------------
// Cleaning: ftfy.fix_text, html.unescape twice, whitespace_clean, lower.
// ---------------------------------------------------------------------------------------------

/// `whitespace_clean(basic_clean(text)).lower()` of OpenAI's tokenizer.
fn clean(text: &str, engine: &Engine) -> std::result::Result<String, String> {
    let fixed = fix_text(text, engine);
    let once = html_unescape(&fixed)?;
    let twice = html_unescape(&once)?;
    // `strip`, `re.sub(r'\s+', ' ')`, `strip`: Python's `\s` (and, on what is left after ftfy,
    // `str.strip`) is Unicode White_Space, which is what `split_whitespace` splits on.
    let collapsed = twice.split_whitespace().collect::<Vec<_>>().join(" ");
    Ok(collapsed.to_lowercase())
}

/// ftfy's default `max_decode_length`: segments are at most this many characters.
const MAX_DECODE_LENGTH: usize = 1_000_000;

/// `ftfy.fix_text` with the default configuration, less `fix_encoding` (mojibake repair).
///
/// Like ftfy, the text is fixed line by line, and HTML entities are decoded only until the
/// first line that contains `<`.
fn fix_text(text: &str, engine: &Engine) -> String {
    let mut out = String::with_capacity(text.len());
    let mut unescape = true;
    let mut rest = text;
    while !rest.is_empty() {
        let mut end = rest.len();
        for (count, (index, ch)) in rest.char_indices().enumerate() {
            if ch == '\n' || count + 1 == MAX_DECODE_LENGTH {
                end = index + ch.len_utf8();
                break;
            }
        }
        let (segment, tail) = rest.split_at(end);
        rest = tail;
        if unescape && segment.contains('<') {
            unescape = false;
        }
        out.push_str(&fix_segment(segment, unescape, engine));
    }
    out
}

/// ftfy's `fix_and_explain`: apply the fixers until the text stops changing.
fn fix_segment(segment: &str, unescape: bool, engine: &Engine) -> String {
    let mut text = segment.to_owned();
    // Every pass after the first that changes the text decodes an HTML entity and so shortens
    // it; the bound is never reached, it only rules out a loop without end.
    let max_passes = segment.chars().count() + 8;
    for _ in 0..max_passes {
        let mut next = if unescape {
            ftfy_unescape_html(&text, &engine.ftfy_entities)
        } else {
            text.clone()
        };
        // `fix_encoding` would run here; it only changes text that looks like mojibake.
        next = map_chars(&next, fix_c1_control);
        next = map_chars(&next, fix_latin_ligature);
        next = map_chars(&next, fix_character_width);
        next = map_chars(&next, uncurl_quote);
        next = fix_line_breaks(&next);
        // `fix_surrogates` has nothing to do: a Rust string holds no surrogates.
        next = remove_terminal_escapes(&next, &engine.ansi);
        next.retain(|ch| !is_removed_control(ch));
        next = next.nfc().collect();
        if next == text {
            break;
        }
        text = next;
    }
    text
}

/// Applies a per-character replacement (ftfy's `str.translate` tables).
fn map_chars(text: &str, map: impl Fn(char) -> Option<Cow<'static, str>>) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match map(ch) {
            Some(replacement) => out.push_str(&replacement),
            None => out.push(ch),
        }
    }
    out
}

/// Windows-1252 reading of the bytes 0x80..=0x9F; the five bytes it leaves undefined stay as
/// they are (ftfy's `sloppy-windows-1252`, and Python's `html._invalid_charrefs`).
const CP1252_C1: [char; 32] = [
    '\u{20ac}', '\u{81}', '\u{201a}', '\u{192}', '\u{201e}', '\u{2026}', '\u{2020}', '\u{2021}',
    '\u{2c6}', '\u{2030}', '\u{160}', '\u{2039}', '\u{152}', '\u{8d}', '\u{17d}', '\u{8f}',
    '\u{90}', '\u{2018}', '\u{2019}', '\u{201c}', '\u{201d}', '\u{2022}', '\u{2013}', '\u{2014}',
    '\u{2dc}', '\u{2122}', '\u{161}', '\u{203a}', '\u{153}', '\u{9d}', '\u{17e}', '\u{178}',
];

/// The Windows-1252 character for a C1 code point U+0080..=U+009F.
fn cp1252_c1(code: u32) -> Option<char> {
    let index = code.checked_sub(0x80)?;
    CP1252_C1.get(index as usize).copied()
}

/// ftfy's `fix_c1_controls`.
fn fix_c1_control(ch: char) -> Option<Cow<'static, str>> {
    cp1252_c1(ch as u32)
        .filter(|&c| c != ch)
        .map(|c| Cow::Owned(c.to_string()))
}

/// ftfy's `fix_latin_ligatures` (its `LIGATURES` table).
fn fix_latin_ligature(ch: char) -> Option<Cow<'static, str>> {
    let s = match ch {
        'Ĳ' => "IJ",
        'ĳ' => "ij",
        'ŉ' => "\u{2bc}n",
        'Ǳ' => "DZ",
        'ǲ' => "Dz",
        'ǳ' => "dz",
        'Ǆ' => "DŽ",
        'ǅ' => "Dž",
        'ǆ' => "dž",
        'Ǉ' => "LJ",
        'ǈ' => "Lj",
        'ǉ' => "lj",
        'Ǌ' => "NJ",
        'ǋ' => "Nj",
        'ǌ' => "nj",
        'ﬀ' => "ff",
        'ﬁ' => "fi",
        'ﬂ' => "fl",
        'ﬃ' => "ffi",
        'ﬄ' => "ffl",
        'ﬅ' => "ſt",
        'ﬆ' => "st",
        _ => return None,
    };
    Some(Cow::Borrowed(s))
}

/// ftfy's `fix_character_width`: U+3000 becomes a space, and U+FF01..=U+FFEF become their
/// NFKC form where it differs.
fn fix_character_width(ch: char) -> Option<Cow<'static, str>> {
    match ch {
        '\u{3000}' => Some(Cow::Borrowed(" ")),
        '\u{ff01}'..='\u{ffef}' => {
            let mut buf = [0u8; 4];
            let single: &str = ch.encode_utf8(&mut buf);
            let nfkc: String = single.nfkc().collect();
            (nfkc != single).then_some(Cow::Owned(nfkc))
        }
        _ => None,
    }
}

/// ftfy's `uncurl_quotes`.
fn uncurl_quote(ch: char) -> Option<Cow<'static, str>> {
    match ch {
        '\u{2bc}' | '\u{2018}'..='\u{201b}' => Some(Cow::Borrowed("'")),
        '\u{201c}'..='\u{201f}' => Some(Cow::Borrowed("\"")),
        _ => None,
    }
}

/// ftfy's `fix_line_breaks`.
fn fix_line_breaks(text: &str) -> String {
    text.replace("\r\n", "\n")
        .replace(['\r', '\u{2028}', '\u{2029}', '\u{85}'], "\n")
}

/// ftfy's `remove_terminal_escapes`.
fn remove_terminal_escapes(text: &str, ansi: &SysRegex) -> String {
    if !text.contains('\u{1b}') {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for (start, end) in ansi.find_iter(text) {
        out.push_str(&text[last..start]);
        last = end;
    }
    out.push_str(&text[last..]);
    out
}

/// ftfy's `remove_control_chars` set.
fn is_removed_control(ch: char) -> bool {
    matches!(
        ch,
        '\u{0}'..='\u{8}'
            | '\u{b}'
            | '\u{e}'..='\u{1f}'
            | '\u{7f}'
            | '\u{206a}'..='\u{206f}'
            | '\u{feff}'
            | '\u{fff9}'..='\u{fffc}'
    )
}

/// ftfy's `HTML_ENTITIES`: every HTML5 entity that ends in `;`, plus the all-caps form of the
/// lowercase ones whose all-caps form Python's `html.unescape` leaves alone (`&EACUTE;` → `É`).
fn ftfy_entities() -> HashMap<String, String> {
    let mut map = HashMap::new();
    for (key, value) in htmlize::ENTITIES.entries() {
        let (Ok(key), Ok(value)) = (std::str::from_utf8(key), std::str::from_utf8(value)) else {
            continue;
        };
        if !key.ends_with(';') {
            continue;
        }
        map.insert(key.to_owned(), value.to_owned());
        if key == key.to_ascii_lowercase() {
            let upper = key.to_ascii_uppercase();
            if html_unescape(&upper).is_ok_and(|u| u == upper) {
                map.insert(upper, value.to_uppercase());
            }
        }
    }
    map
}

/// ftfy's `unescape_html`: `&#?[0-9A-Za-z]{1,24};` replaced where it names an entity of
/// `entities` or is a character reference that Python decodes completely.
fn ftfy_unescape_html(text: &str, entities: &HashMap<String, String>) -> String {
    if !text.contains('&') {
        return text.to_owned();
    }
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    let mut at = 0;
    while let Some(offset) = bytes[at..].iter().position(|&b| b == b'&') {
        let start = at + offset;
        let mut end = start + 1;
        if bytes.get(end) == Some(&b'#') {
            end += 1;
        }
        let name_start = end;
        while end - name_start < 24 && bytes.get(end).is_some_and(u8::is_ascii_alphanumeric) {
            end += 1;
        }
        if end == name_start || bytes.get(end) != Some(&b';') {
            at = start + 1;
            continue;
        }
        end += 1;
        let entity = &text[start..end];
        let replacement = if let Some(value) = entities.get(entity) {
            Some(Cow::Borrowed(value.as_str()))
        } else if entity.starts_with("&#") {
            match html_unescape(entity) {
                Ok(decoded) if !decoded.contains(';') => Some(Cow::Owned(decoded)),
                _ => None,
            }
        } else {
            None
        };
        if let Some(replacement) = replacement {
            out.push_str(&text[last..start]);
            out.push_str(&replacement);
            last = end;
        }
        at = end;
    }
    out.push_str(&text[last..]);
    out
}

/// Python's `int` refuses to parse more decimal digits than this (`sys.get_int_max_str_digits`).
const PYTHON_INT_MAX_STR_DIGITS: usize = 4300;

/// Python 3's `html.unescape`: named references with or without `;` (longest known prefix),
/// decimal and hexadecimal character references with Python's replacements.
///
/// Fails where Python raises: a decimal reference with more than 4300 digits.
fn html_unescape(text: &str) -> std::result::Result<String, String> {
    if !text.contains('&') {
        return Ok(text.to_owned());
    }
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    let mut at = 0;
    while let Some(offset) = bytes[at..].iter().position(|&b| b == b'&') {
        let start = at + offset;
        let body = &text[start + 1..];
        let decoded = if let Some(number) = body.strip_prefix('#') {
            let decimal = number.bytes().take_while(u8::is_ascii_digit).count();
            let hex = match number.as_bytes().first() {
                Some(b'x' | b'X') => number[1..]
                    .bytes()
                    .take_while(u8::is_ascii_hexdigit)
                    .count(),
                _ => 0,
            };
            if decimal > 0 {
                if decimal > PYTHON_INT_MAX_STR_DIGITS {
                    return Err(format!(
                        "a decimal character reference has {decimal} digits, more than Python's \
                         limit of {PYTHON_INT_MAX_STR_DIGITS}"
                    ));
                }
                let len = 1 + decimal + usize::from(number[decimal..].starts_with(';'));
                Some((len, char_reference(&number[..decimal], 10)))
            } else if hex > 0 {
                let len = 2 + hex + usize::from(number[1 + hex..].starts_with(';'));
                Some((len, char_reference(&number[1..1 + hex], 16)))
            } else {
                None
            }
        } else {
            let name_end = body
                .char_indices()
                .take(32)
                .find(|&(_, ch)| matches!(ch, '\t' | '\n' | '\u{c}' | ' ' | '<' | '&' | '#' | ';'))
                .map_or_else(
                    || {
                        body.char_indices()
                            .nth(32)
                            .map_or(body.len(), |(index, _)| index)
                    },
                    |(index, _)| index,
                );
            if name_end == 0 {
                None
            } else {
                let len = name_end + usize::from(body[name_end..].starts_with(';'));
                Some((len, Cow::Owned(named_reference(&body[..len]))))
            }
        };
        match decoded {
            Some((len, replacement)) => {
                out.push_str(&text[last..start]);
                out.push_str(&replacement);
                last = start + 1 + len;
                at = last;
            }
            None => at = start + 1,
        }
    }
    out.push_str(&text[last..]);
    Ok(out)
}

/// Python's replacement for a numeric character reference with these digits.
fn char_reference(digits: &str, radix: u32) -> Cow<'static, str> {
    // Saturate: any value above U+10FFFF is replaced the same way.
    let mut value: u32 = 0;
    for digit in digits.chars().filter_map(|d| d.to_digit(radix)) {
        value = value.saturating_mul(radix).saturating_add(digit);
    }
    match value {
        0x00 => Cow::Borrowed("\u{fffd}"),
        0x0d => Cow::Borrowed("\r"),
        0x80..=0x9f => cp1252_c1(value).map_or(Cow::Borrowed(""), |c| Cow::Owned(c.to_string())),
        0xd800..=0xdfff | 0x11_0000.. => Cow::Borrowed("\u{fffd}"),
        0x01..=0x08 | 0x0b | 0x0e..=0x1f | 0x7f | 0xfdd0..=0xfdef => Cow::Borrowed(""),
        _ if value & 0xfffe == 0xfffe => Cow::Borrowed(""),
        _ => char::from_u32(value).map_or(Cow::Borrowed("\u{fffd}"), |c| Cow::Owned(c.to_string())),
    }
}

/// Python's replacement for `&` + `name` (which may end in `;`): the entity itself, else its
/// longest known prefix of at least two characters followed by the rest, else unchanged.
fn named_reference(name: &str) -> String {
    let lookup = |candidate: &str| {
        let mut key = Vec::with_capacity(candidate.len() + 1);
        key.push(b'&');
        key.extend_from_slice(candidate.as_bytes());
        htmlize::ENTITIES
            .get(key.as_slice())
            .and_then(|value| std::str::from_utf8(value).ok())
    };
    if let Some(value) = lookup(name) {
        return value.to_owned();
    }
    let boundaries: Vec<usize> = name.char_indices().map(|(index, _)| index).collect();
    for &cut in boundaries.iter().skip(2).rev() {
        if let Some(value) = lookup(&name[..cut]) {
            return format!("{value}{}", &name[cut..]);
        }
    }
    format!("&{name}")
}
