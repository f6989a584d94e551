//! Fuzz-style robustness tests of every reader of untrusted files, bounded so they run in CI.
//!
//! No cargo-fuzz: a deterministic mutation generator (ChaCha8, fixed seeds, a fixed number of
//! iterations per target) starts from valid files under tests/fixtures (or written by the
//! crate's own writers) and mutates them: random byte flips, truncation at random points,
//! insertion and deletion of byte runs, copies of one part over another, and targeted
//! mutations that inflate size and length fields to huge values (zip local and central
//! header sizes and offsets, pickle `BINUNICODE` / `BINBYTES` / `LONG4` lengths and the ints
//! of tensor shapes, the safetensors header length, the burnpack metadata size, the `.npy`
//! header length and shape). For the `torch.save` zip files, mutated pickles are also put
//! back in a well-formed zip (valid CRCs) so that they reach the pickle readers.
//!
//! What is proven, for the inputs these seeds generate:
//!
//! - no reader panics: each call runs inside `std::panic::catch_unwind` and a panic fails
//!   the test with the seed, iteration and mutation that caused it;
//! - every error of a file reader names the file (its message contains the file name);
//! - no reader allocates from a size field without checking it against the bytes that are
//!   there: a mutated file never takes more than [`SLOW`] to be rejected (an attempt to
//!   allocate or fill gigabytes would), and [`declared_huge_sizes_fail_fast`] checks that
//!   multi-GB sizes declared in tiny files are errors within one second.
//!
//! Readers covered: [`hoiclip::weights::WeightMap::from_file`] (and reading every tensor of
//! the map), [`hoiclip::weights::read_checkpoint_entries`] (the `args` pickle),
//! [`hoiclip::model::Checkpoint::open`], [`hoiclip::weights::read_bare_tensor`], the native
//! format ([`hoiclip::model::HoiclipModel::load_native`], [`hoiclip::clip::Clip::load_native`]),
//! the HICO-DET and V-COCO JSON readers and the `.npy` readers of the evaluation.
//!
//! Set `HOICLIP_FUZZ_ITERATIONS` to a larger number to fuzz longer locally (the default keeps
//! each test under a few seconds in the dev profile).

mod common;

use std::io::Write;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use common::fixture;

/// A mutated file that takes longer than this to accept or reject fails the test: the sign
/// of a reader trying to allocate or fill memory from a size field. Generous for a loaded
/// CI machine; valid fixture reads take a few milliseconds.
const SLOW: Duration = Duration::from_secs(3);

/// Iterations per target, scaled by `HOICLIP_FUZZ_ITERATIONS` / 100.
fn iterations(default: usize) -> usize {
    match std::env::var("HOICLIP_FUZZ_ITERATIONS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
    {
        Some(n) => default * n / 100,
        None => default,
    }
}

/// Values written into size fields.
const HUGE: [u64; 9] = [
    0xffff_ffff,
    0x7fff_ffff,
    0x8000_0000,
    0xffff_fff0,
    1 << 40,
    u64::MAX,
    i64::MAX as u64,
    (1 << 62) + 3,
    0x0010_0000,
];

/// A size field of a file: its offset and width in bytes (little-endian).
#[derive(Clone, Copy, Debug)]
struct Field {
    at: usize,
    width: usize,
}

/// One mutation applied, for failure messages.
#[derive(Clone, Debug)]
enum Mutation {
    Flip { at: usize, xor: u8 },
    Truncate { len: usize },
    Insert { at: usize, len: usize },
    Delete { at: usize, len: usize },
    Copy { from: usize, to: usize, len: usize },
    Inflate { field: Field, value: u64 },
    Overwrite { at: usize, width: usize, value: u64 },
}

/// The deterministic mutation generator.
struct Mutator {
    rng: ChaCha8Rng,
}

impl Mutator {
    fn new(seed: u64) -> Self {
        Self {
            rng: ChaCha8Rng::seed_from_u64(seed),
        }
    }

    /// A position in `0..len`, drawn from `focus` (a byte range of interest such as a
    /// header) half of the time.
    fn position(&mut self, len: usize, focus: Option<std::ops::Range<usize>>) -> usize {
        if len == 0 {
            return 0;
        }
        if let Some(f) = focus
            && f.start < f.end
            && f.end <= len
            && self.rng.random_bool(0.5)
        {
            return self.rng.random_range(f);
        }
        self.rng.random_range(0..len)
    }

    /// Apply one to three mutations to `bytes`; `fields` are its size fields (offsets in the
    /// unmutated bytes), `focus` a range where mutations are more likely.
    fn mutate(
        &mut self,
        bytes: &[u8],
        fields: &[Field],
        focus: Option<std::ops::Range<usize>>,
    ) -> (Vec<u8>, Vec<Mutation>) {
        let mut out = bytes.to_vec();
        let mut done = Vec::new();
        let count = self.rng.random_range(1..=3);
        for k in 0..count {
            let kind = self.rng.random_range(0..10);
            // Size-field mutations are only meaningful before the bytes move.
            let kind = if k > 0 && kind >= 7 { 0 } else { kind };
            let m = match kind {
                0 | 1 => {
                    let at = self.position(out.len(), focus.clone());
                    let xor = self.rng.random_range(1..=255u8);
                    Mutation::Flip { at, xor }
                }
                2 => Mutation::Truncate {
                    len: self.position(out.len(), focus.clone()),
                },
                3 => Mutation::Insert {
                    at: self.position(out.len() + 1, focus.clone()),
                    len: self.rng.random_range(1..=64),
                },
                4 => Mutation::Delete {
                    at: self.position(out.len(), focus.clone()),
                    len: self.rng.random_range(1..=64),
                },
                5 => Mutation::Copy {
                    from: self.position(out.len(), None),
                    to: self.position(out.len(), focus.clone()),
                    len: self.rng.random_range(1..=256),
                },
                6 => Mutation::Overwrite {
                    at: self.position(out.len(), focus.clone()),
                    width: [2, 4, 8][self.rng.random_range(0..3)],
                    value: HUGE[self.rng.random_range(0..HUGE.len())],
                },
                _ if !fields.is_empty() => Mutation::Inflate {
                    field: fields[self.rng.random_range(0..fields.len())],
                    value: HUGE[self.rng.random_range(0..HUGE.len())],
                },
                _ => Mutation::Flip {
                    at: self.position(out.len(), focus.clone()),
                    xor: 0x80,
                },
            };
            self.apply(&mut out, &m);
            done.push(m);
        }
        (out, done)
    }

    fn apply(&mut self, out: &mut Vec<u8>, m: &Mutation) {
        match *m {
            Mutation::Flip { at, xor } => {
                if let Some(b) = out.get_mut(at) {
                    *b ^= xor;
                }
            }
            Mutation::Truncate { len } => out.truncate(len),
            Mutation::Insert { at, len } => {
                let fill: Vec<u8> = if self.rng.random_bool(0.5) {
                    (0..len).map(|_| self.rng.random()).collect()
                } else {
                    vec![self.rng.random(); len]
                };
                let at = at.min(out.len());
                out.splice(at..at, fill);
            }
            Mutation::Delete { at, len } => {
                let at = at.min(out.len());
                let end = (at + len).min(out.len());
                out.drain(at..end);
            }
            Mutation::Copy { from, to, len } => {
                let len = len.min(out.len().saturating_sub(from.max(to)));
                let chunk = out[from..from + len].to_vec();
                out[to..to + len].copy_from_slice(&chunk);
            }
            Mutation::Inflate { field, value } => write_le(out, field.at, field.width, value),
            Mutation::Overwrite { at, width, value } => write_le(out, at, width, value),
        }
    }
}

/// Write the low `width` bytes of `value` little-endian at `at` (clipped to the buffer).
fn write_le(out: &mut [u8], at: usize, width: usize, value: u64) {
    for (k, b) in value.to_le_bytes().iter().take(width).enumerate() {
        if let Some(slot) = out.get_mut(at + k) {
            *slot = *b;
        }
    }
}

fn u16_at(b: &[u8], at: usize) -> usize {
    usize::from(u16::from_le_bytes([b[at], b[at + 1]]))
}

/// The size, count and offset fields of a zip file's local headers, central directory
/// entries and end records.
fn zip_fields(bytes: &[u8]) -> Vec<Field> {
    let mut fields = Vec::new();
    let f = |at, width| Field { at, width };
    for i in 0..bytes.len().saturating_sub(46) {
        match &bytes[i..i + 4] {
            b"PK\x03\x04" => {
                // compressed, uncompressed sizes; name and extra lengths.
                fields.extend([f(i + 18, 4), f(i + 22, 4), f(i + 26, 2), f(i + 28, 2)]);
            }
            b"PK\x01\x02" => {
                fields.extend([
                    f(i + 20, 4),
                    f(i + 24, 4),
                    f(i + 28, 2),
                    f(i + 30, 2),
                    f(i + 32, 2),
                    f(i + 42, 4),
                ]);
            }
            _ => {}
        }
    }
    for i in 0..bytes.len().saturating_sub(22) {
        match &bytes[i..i + 4] {
            b"PK\x05\x06" => {
                fields.extend([f(i + 8, 2), f(i + 10, 2), f(i + 12, 4), f(i + 16, 4)]);
            }
            b"PK\x06\x06" if i + 56 <= bytes.len() => {
                fields.extend([f(i + 4, 8), f(i + 32, 8), f(i + 40, 8), f(i + 48, 8)]);
            }
            b"PK\x06\x07" if i + 20 <= bytes.len() => fields.push(f(i + 8, 8)),
            _ => {}
        }
    }
    fields
}

/// The length and integer arguments of a pickle's opcodes (protocols 2-5, what `torch.save`
/// writes): string and bytes lengths, `LONG1`/`LONG4` lengths, ints (tensor shapes, storage
/// sizes and offsets), memo indices. Stops at the first opcode it does not know.
fn pickle_fields(p: &[u8]) -> Vec<Field> {
    let mut fields = Vec::new();
    let mut i = 0;
    let read = |at: usize, w: usize| -> Option<usize> {
        let bytes = p.get(at..at + w)?;
        Some(
            bytes
                .iter()
                .rev()
                .fold(0usize, |v, &b| (v << 8) | usize::from(b)),
        )
    };
    while i < p.len() {
        let op = p[i];
        let f = |width| Field { at: i + 1, width };
        let step = match op {
            // Length-prefixed strings and bytes: the length field, then the payload.
            b'X' | b'T' | b'B' | 0x8b => read(i + 1, 4).map(|n| {
                fields.push(f(4));
                5 + n
            }),
            0x8d | 0x8e | 0x96 => read(i + 1, 8).map(|n| {
                fields.push(f(8));
                9 + n
            }),
            0x8c | b'U' | b'C' | 0x8a => read(i + 1, 1).map(|n| {
                fields.push(f(1));
                2 + n
            }),
            b'J' | b'r' | b'j' => {
                fields.push(f(4));
                Some(5)
            }
            b'M' => {
                fields.push(f(2));
                Some(3)
            }
            b'K' | b'q' | b'h' | 0x80 => {
                fields.push(f(1));
                Some(2)
            }
            0x95 => {
                fields.push(f(8));
                Some(9)
            }
            b'c' => {
                // GLOBAL: two text lines.
                let rest = &p[i + 1..];
                let mut lines = rest.iter().enumerate().filter(|(_, b)| **b == b'\n');
                lines.nth(1).map(|(end, _)| end + 2)
            }
            b'.' => None,
            b'(' | b')' | b']' | b'}' | b'N' | 0x88 | 0x89 | 0x85 | 0x86 | 0x87 | b't' | b'l'
            | b'd' | b'R' | 0x81 | b'b' | b'Q' | b'a' | b'e' | b's' | b'u' | 0x93 | 0x94 | b'0'
            | b'2' | 0x8f | 0x90 | 0x91 | 0x92 => Some(1),
            _ => None,
        };
        match step {
            Some(n) => i += n,
            None => break,
        }
    }
    fields
}

/// A reader under test: reads the file at the path.
type Reader<'a> = dyn Fn(&Path) -> Outcome + 'a;

/// How a reader's outcome is judged.
enum Outcome {
    /// Accepted the input.
    Ok,
    /// Rejected it with this message.
    Err(String),
}

/// Run `read` on the file at `path` (its content `bytes`) inside `catch_unwind`; fails on a
/// panic, on an error message that does not name the file, and on a slow read.
fn check(
    target: &str,
    seed: u64,
    iteration: usize,
    mutations: &[Mutation],
    path: &Path,
    read: &Reader<'_>,
) -> Outcome {
    let start = Instant::now();
    let result = catch_unwind(AssertUnwindSafe(|| read(path)));
    let elapsed = start.elapsed();
    let context =
        || format!("{target}: seed {seed}, iteration {iteration}, mutations {mutations:?}");
    let outcome = match result {
        Ok(outcome) => outcome,
        Err(payload) => {
            let message = payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            // Keep the input for a reproduction.
            let keep =
                std::env::temp_dir().join(format!("hoiclip-fuzz-{target}-{seed}-{iteration}"));
            let _ = std::fs::copy(path, &keep);
            panic!(
                "{}: the reader panicked: {message} (input kept at {})",
                context(),
                keep.display()
            );
        }
    };
    assert!(
        elapsed < SLOW,
        "{}: took {elapsed:?} (unbounded allocation or work from a size field?)",
        context()
    );
    if let Outcome::Err(message) = &outcome {
        let name = path.file_name().unwrap().to_string_lossy();
        assert!(
            message.contains(name.as_ref()),
            "{}: the error does not name the file `{name}`: {message}",
            context()
        );
    }
    outcome
}

fn outcome<T>(r: hoiclip::Result<T>) -> Outcome {
    match r {
        Ok(_) => Outcome::Ok,
        Err(e) => Outcome::Err(e.to_string()),
    }
}

/// Fuzz one reader: `iterations` mutations of `original` written to a file named `name`.
#[allow(clippy::too_many_arguments)]
fn fuzz(
    target: &str,
    seed: u64,
    iterations: usize,
    original: &[u8],
    name: &str,
    fields: &[Field],
    focus: Option<std::ops::Range<usize>>,
    read: &Reader<'_>,
) -> (usize, usize) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join(name);
    // The valid input is accepted.
    std::fs::write(&path, original).unwrap();
    if let Outcome::Err(e) = check(target, seed, usize::MAX, &[], &path, read) {
        panic!("{target}: the unmutated input is rejected: {e}");
    }
    let mut mutator = Mutator::new(seed);
    let (mut accepted, mut rejected) = (0, 0);
    for iteration in 0..iterations {
        let (bytes, mutations) = mutator.mutate(original, fields, focus.clone());
        std::fs::write(&path, &bytes).unwrap();
        match check(target, seed, iteration, &mutations, &path, read) {
            Outcome::Ok => accepted += 1,
            Outcome::Err(_) => rejected += 1,
        }
    }
    eprintln!("{target}: {iterations} mutations, {accepted} accepted, {rejected} rejected");
    (accepted, rejected)
}

// ---------------------------------------------------------------------------------------
// torch.save zip files: WeightMap, Checkpoint, the `args` pickle, bare tensors.

/// Read a weight map and every tensor in it.
fn read_weight_map(path: &Path) -> Outcome {
    let map = match hoiclip::weights::WeightMap::from_file(path) {
        Ok(map) => map,
        Err(e) => return Outcome::Err(e.to_string()),
    };
    let names: Vec<String> = map.names().map(str::to_string).collect();
    for name in names {
        if let Err(e) = map.read_f32(&name) {
            return Outcome::Err(e.to_string());
        }
    }
    Outcome::Ok
}

fn read_args(path: &Path) -> Outcome {
    outcome(hoiclip::weights::read_checkpoint_entries(path))
}

fn open_checkpoint(path: &Path) -> Outcome {
    outcome(hoiclip::model::Checkpoint::open(path))
}

fn read_bare(path: &Path) -> Outcome {
    outcome(hoiclip::weights::read_bare_tensor(path))
}

/// The entries of a zip file, in order.
fn zip_entries(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    use std::io::Read;
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).expect("a zip fixture");
    (0..archive.len())
        .map(|i| {
            let mut entry = archive.by_index(i).unwrap();
            let mut data = Vec::new();
            entry.read_to_end(&mut data).unwrap();
            (entry.name().expect("entry name").into_owned(), data)
        })
        .collect()
}

/// A zip file of `entries`, stored uncompressed and aligned as `torch.save` writes them.
fn write_zip(entries: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Stored)
        .with_alignment(64);
    for (name, data) in entries {
        zip.start_file(name.as_str(), options).unwrap();
        zip.write_all(data).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

/// Fuzz the pickle of a zip file: the `data.pkl` entry is mutated (its fields known) and
/// the zip rebuilt around it, so that the mutated pickle passes the CRC checks.
fn fuzz_pickle(
    target: &str,
    seed: u64,
    iterations: usize,
    original: &[u8],
    name: &str,
    read: &Reader<'_>,
) {
    let entries = zip_entries(original);
    let k = entries
        .iter()
        .position(|(n, _)| n.ends_with("data.pkl"))
        .expect("a data.pkl entry");
    let pickle = entries[k].1.clone();
    let fields = pickle_fields(&pickle);
    assert!(
        fields.len() > 10,
        "{target}: the pickle walker found only {} fields",
        fields.len()
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join(name);
    let mut mutator = Mutator::new(seed);
    for iteration in 0..iterations {
        let (mutated, mutations) = mutator.mutate(&pickle, &fields, None);
        let mut with = entries.clone();
        with[k].1 = mutated;
        std::fs::write(&path, write_zip(&with)).unwrap();
        check(target, seed, iteration, &mutations, &path, read);
    }
    eprintln!("{target}: {iterations} mutated pickles");
}

/// A `.pth` fixture of the weight readers: `clip_openai_small.pth` is a state dict of
/// about 0.8 MB (fast to read whole on every iteration).
fn clip_pth() -> Vec<u8> {
    std::fs::read(fixture("clip_openai_small.pth")).expect("fixture")
}

#[test]
fn fuzz_weight_map_bytes() {
    let original = clip_pth();
    let fields = zip_fields(&original);
    assert!(fields.len() > 20, "zip fields found: {}", fields.len());
    // The central directory (the end of the file) and the first header are where the
    // structure is; the bulk is tensor data.
    let tail = original.len().saturating_sub(16 * 1024)..original.len();
    fuzz(
        "weight_map",
        1,
        iterations(150),
        &original,
        "clip_openai_small.pth",
        &fields,
        Some(tail),
        &read_weight_map,
    );
}

#[test]
fn fuzz_weight_map_pickle() {
    fuzz_pickle(
        "weight_map_pickle",
        2,
        iterations(200),
        &clip_pth(),
        "clip_openai_small.pth",
        &read_weight_map,
    );
}

#[test]
fn fuzz_checkpoint_args_pickle() {
    // hoiclip_small.pth holds `args` (an argparse.Namespace), `model`, `epoch`, ...; only
    // its pickle is mutated, so its 5 MB of tensors are not read (read_checkpoint_entries
    // reads data.pkl alone).
    let original = std::fs::read(fixture("hoiclip_small.pth")).expect("fixture");
    fuzz_pickle(
        "checkpoint_args",
        3,
        iterations(300),
        &original,
        "hoiclip_small.pth",
        &read_args,
    );
}

#[test]
fn fuzz_checkpoint_args_bytes() {
    let original = std::fs::read(fixture("hoiclip_small.pth")).expect("fixture");
    let fields = zip_fields(&original);
    let tail = original.len().saturating_sub(32 * 1024)..original.len();
    let head = 0..4096.min(original.len());
    fuzz(
        "checkpoint_args_bytes_tail",
        4,
        iterations(100),
        &original,
        "hoiclip_small.pth",
        &fields,
        Some(tail),
        &read_args,
    );
    fuzz(
        "checkpoint_args_bytes_head",
        5,
        iterations(100),
        &original,
        "hoiclip_small.pth",
        &fields,
        Some(head),
        &read_args,
    );
}

#[test]
fn fuzz_checkpoint_open() {
    // Checkpoint::open reads the tensor index and the `args` (no tensor bytes): the
    // whole-model fixture, mutations focused on its pickle and central directory.
    let original = std::fs::read(fixture("hoiclip_small.pth")).expect("fixture");
    let fields = zip_fields(&original);
    let tail = original.len().saturating_sub(32 * 1024)..original.len();
    fuzz(
        "checkpoint_open",
        6,
        iterations(60),
        &original,
        "hoiclip_small.pth",
        &fields,
        Some(tail),
        &open_checkpoint,
    );
    fuzz_pickle(
        "checkpoint_open_pickle",
        7,
        iterations(60),
        &original,
        "hoiclip_small.pth",
        &open_checkpoint,
    );
}

/// A bare tensor written by the crate's `torch.save` writer.
fn bare_tensor_file() -> Vec<u8> {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("verb.pth");
    let values: Vec<f32> = (0..6 * 5).map(|i| i as f32 * 0.5).collect();
    hoiclip::weights::write_bare_tensor(&path, &[6, 5], &values).expect("write");
    std::fs::read(&path).unwrap()
}

#[test]
fn fuzz_bare_tensor() {
    let original = bare_tensor_file();
    let fields = zip_fields(&original);
    fuzz(
        "bare_tensor",
        8,
        iterations(300),
        &original,
        "verb.pth",
        &fields,
        None,
        &read_bare,
    );
    fuzz_pickle(
        "bare_tensor_pickle",
        9,
        iterations(400),
        &original,
        "verb.pth",
        &read_bare,
    );
}

#[test]
fn fuzz_safetensors() {
    let original = std::fs::read(fixture("heads_small_io.safetensors")).expect("fixture");
    let header = u64::from_le_bytes(original[..8].try_into().unwrap()) as usize;
    let fields = [Field { at: 0, width: 8 }];
    fuzz(
        "safetensors",
        10,
        iterations(200),
        &original,
        "heads_small_io.safetensors",
        &fields,
        Some(0..8 + header),
        &read_weight_map,
    );
}

// ---------------------------------------------------------------------------------------
// The native format.

/// A native CLIP file written by `Clip::save_native` (the small CLIP fixture).
fn native_clip_file(dir: &Path) -> PathBuf {
    let device = hoiclip::BackendChoice::Flex.device().expect("flex");
    let clip = hoiclip::clip::Clip::from_file_with_config(
        fixture("clip_openai_small.pth"),
        &common::clip_small_config(),
        &device,
    )
    .expect("the small CLIP fixture loads");
    let path = dir.join("clip_small.bpk");
    clip.save_native(&path).expect("save");
    path
}

/// The burnpack header and metadata of a native file: `magic (4) version (2) metadata
/// size (4)`, then that many bytes of CBOR.
fn burnpack_header(bytes: &[u8]) -> (Vec<Field>, std::ops::Range<usize>) {
    let metadata = u32::from_le_bytes(bytes[6..10].try_into().unwrap()) as usize;
    (vec![Field { at: 6, width: 4 }], 0..10 + metadata)
}

#[test]
fn fuzz_native_clip() {
    let dir = tempfile::tempdir().expect("temp dir");
    let original = std::fs::read(native_clip_file(dir.path())).unwrap();
    let (fields, header) = burnpack_header(&original);
    let device = hoiclip::BackendChoice::Flex.device().expect("flex");
    fuzz(
        "native_clip",
        11,
        iterations(120),
        &original,
        "clip_small.bpk",
        &fields,
        Some(header),
        &|p| outcome(hoiclip::clip::Clip::load_native(p, &device)),
    );
}

#[test]
fn fuzz_native_hoiclip() {
    let device = hoiclip::BackendChoice::Flex.device().expect("flex");
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("hoiclip_small.bpk");
    common::hoiclip_small_model(&device)
        .save_native(&path)
        .expect("save");
    let original = std::fs::read(&path).unwrap();
    let (fields, header) = burnpack_header(&original);
    fuzz(
        "native_hoiclip",
        12,
        iterations(60),
        &original,
        "hoiclip_small.bpk",
        &fields,
        Some(header),
        &|p| outcome(hoiclip::model::HoiclipModel::load_native(p, &device)),
    );
}

// ---------------------------------------------------------------------------------------
// The evaluation's JSON and .npy readers.

/// JSON-aware mutations: parse, replace a random node by a hostile value, write back.
fn mutate_json(rng: &mut ChaCha8Rng, value: &serde_json::Value) -> serde_json::Value {
    use serde_json::{Value, json};
    let mut v = value.clone();
    let hostile = |rng: &mut ChaCha8Rng| -> Value {
        match rng.random_range(0..14) {
            0 => json!(null),
            1 => json!(-1),
            2 => json!(u64::MAX),
            3 => json!(i64::MIN),
            4 => json!(1e308),
            5 => json!(-0.5),
            6 => json!(""),
            7 => json!("x".repeat(300)),
            8 => json!([]),
            9 => json!({}),
            10 => json!([1e300, -1e300, 0, 5]),
            11 => json!(4_294_967_296u64),
            12 => json!(true),
            _ => json!([[[[[[[[[]]]]]]]]]),
        }
    };
    let depth = rng.random_range(0..6);
    mutate_node(rng, &mut v, depth, &hostile);
    v
}

/// Descend `depth` levels into `node` at random, then drop or duplicate an element, remove a
/// key, or replace the node by a hostile value.
fn mutate_node(
    rng: &mut ChaCha8Rng,
    node: &mut serde_json::Value,
    depth: usize,
    hostile: &dyn Fn(&mut ChaCha8Rng) -> serde_json::Value,
) {
    use serde_json::Value;
    if depth > 0 {
        match node {
            Value::Array(items) if !items.is_empty() => {
                let k = rng.random_range(0..items.len());
                return mutate_node(rng, &mut items[k], depth - 1, hostile);
            }
            Value::Object(map) if !map.is_empty() => {
                let k = rng.random_range(0..map.len());
                let child = map.values_mut().nth(k).expect("k < len");
                return mutate_node(rng, child, depth - 1, hostile);
            }
            _ => {}
        }
    }
    match node {
        Value::Array(items) if !items.is_empty() && rng.random_bool(0.3) => {
            // Drop or duplicate an element.
            let k = rng.random_range(0..items.len());
            if rng.random_bool(0.5) {
                items.remove(k);
            } else {
                let copy = items[k].clone();
                items.push(copy);
            }
        }
        Value::Object(map) if !map.is_empty() && rng.random_bool(0.3) => {
            let k = rng.random_range(0..map.len());
            let key = map.keys().nth(k).expect("k < len").clone();
            map.remove(&key);
        }
        _ => *node = hostile(rng),
    }
}

/// Fuzz a JSON reader: byte-level mutations of the text, then JSON-aware ones.
fn fuzz_json(
    target: &str,
    seed: u64,
    fixture_path: &Path,
    name: &str,
    iterations_each: usize,
    read: &Reader<'_>,
) {
    let original = std::fs::read(fixture_path).expect("fixture");
    fuzz(
        target,
        seed,
        iterations_each,
        &original,
        name,
        &[],
        None,
        read,
    );
    let value: serde_json::Value = serde_json::from_slice(&original).expect("JSON fixture");
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join(name);
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5eed);
    for iteration in 0..iterations_each {
        let mut v = mutate_json(&mut rng, &value);
        if rng.random_bool(0.5) {
            v = mutate_json(&mut rng, &v);
        }
        std::fs::write(&path, serde_json::to_vec(&v).unwrap()).unwrap();
        check(&format!("{target}_json"), seed, iteration, &[], &path, read);
    }
}

#[test]
fn fuzz_hico_annotations() {
    use hoiclip::eval::HicoAnnotations;
    let dir = tempfile::tempdir().expect("temp dir");
    let small = dir.path().join("test_hico_small.json");
    std::fs::write(
        &small,
        json_head(&fixture("hico_official_octave_test.json"), 6),
    )
    .unwrap();
    fuzz_json(
        "hico_annotations",
        20,
        &small,
        "test_hico.json",
        iterations(300),
        &|p| outcome(HicoAnnotations::from_file(p)),
    );
}

/// The first `n` images of a JSON array fixture, written as a smaller fixture (the large
/// files would make every iteration slow).
fn json_head(path: &Path, n: usize) -> Vec<u8> {
    let value: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let items: Vec<serde_json::Value> = match value {
        serde_json::Value::Array(items) => items.into_iter().take(n).collect(),
        other => panic!("{} is not an array: {other}", path.display()),
    };
    serde_json::to_vec(&items).unwrap()
}

#[test]
fn fuzz_hico_predictions() {
    use hoiclip::eval::Predictions;
    let dir = tempfile::tempdir().expect("temp dir");
    let small = dir.path().join("preds_small.json");
    std::fs::write(
        &small,
        json_head(&fixture("hico_official_octave_predictions.json"), 4),
    )
    .unwrap();
    fuzz_json(
        "hico_predictions",
        21,
        &small,
        "preds.json",
        iterations(300),
        &|p| outcome(Predictions::from_file(p)),
    );
    // The same images as JSON lines (one image per line).
    let lines = dir.path().join("preds_small.jsonl");
    let images: Vec<serde_json::Value> =
        serde_json::from_slice(&std::fs::read(&small).unwrap()).unwrap();
    let text: Vec<String> = images.iter().map(|v| v.to_string()).collect();
    std::fs::write(&lines, text.join("\n")).unwrap();
    fuzz(
        "hico_predictions_jsonl",
        22,
        iterations(100),
        &std::fs::read(&lines).unwrap(),
        "preds.jsonl",
        &[],
        None,
        &|p| outcome(Predictions::from_file(p)),
    );
}

#[test]
fn fuzz_vcoco_readers() {
    use hoiclip::eval::vcoco::official::{
        CocoInstances, VcocoDetections, VsrlAnnotations, read_split_ids,
    };
    use hoiclip::eval::vcoco::{VcocoAnnotations, VcocoPredictions};
    fuzz_json(
        "vcoco_annotations",
        30,
        &fixture("vcoco_proxy/main_test_vcoco.json"),
        "test_vcoco.json",
        iterations(200),
        &|p| outcome(VcocoAnnotations::from_file(p)),
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let small = dir.path().join("detections_small.json");
    std::fs::write(
        &small,
        json_head(&fixture("vcoco_official/detections.json"), 3),
    )
    .unwrap();
    fuzz_json(
        "vcoco_detections",
        31,
        &small,
        "detections.json",
        iterations(150),
        &|p| outcome(VcocoDetections::from_file(p)),
    );
    fuzz_json(
        "vcoco_vsrl",
        32,
        &fixture("vcoco_official/vsrl_synthetic.json"),
        "vsrl.json",
        iterations(150),
        &|p| outcome(VsrlAnnotations::from_file(p)),
    );
    fuzz_json(
        "vcoco_instances",
        33,
        &fixture("vcoco_official/instances_synthetic.json"),
        "instances.json",
        iterations(150),
        &|p| outcome(CocoInstances::from_file(p)),
    );
    let ids = std::fs::read(fixture("vcoco_official/synthetic.ids")).unwrap();
    fuzz(
        "vcoco_split_ids",
        34,
        iterations(200),
        &ids,
        "synthetic.ids",
        &[],
        None,
        &|p| outcome(read_split_ids(p)),
    );
    // Predictions in the proxy's format, written by the crate from the fixture's scores.
    let preds = vcoco_predictions_fixture(dir.path());
    fuzz_json(
        "vcoco_predictions",
        35,
        &preds,
        "vcoco_preds.json",
        iterations(150),
        &|p| outcome(VcocoPredictions::from_file(p)),
    );
}

/// A V-COCO predictions file: a few images with a handful of pairs, as `write_json` writes
/// them.
fn vcoco_predictions_fixture(dir: &Path) -> PathBuf {
    use serde_json::json;
    let preds = json!([
        {"filename": "COCO_val2014_000000184159.jpg",
         "predictions": [
             {"bbox": [1.0, 2.0, 30.0, 40.0], "category_id": 1},
             {"bbox": [5.0, 6.0, 50.0, 60.0], "category_id": 3}
         ],
         "hoi_prediction": [
             {"subject_id": 0, "object_id": 1, "category_id": 2, "score": 0.5},
             {"subject_id": 0, "object_id": 0, "category_id": 0, "score": 0.25}
         ]},
        {"filename": "COCO_val2014_000000205282.jpg",
         "predictions": [{"bbox": [0.0, 0.0, 10.0, 10.0], "category_id": 1}],
         "hoi_prediction": []}
    ]);
    let path = dir.join("vcoco_preds_fixture.json");
    std::fs::write(&path, serde_json::to_vec(&preds).unwrap()).unwrap();
    let parsed = hoiclip::eval::vcoco::VcocoPredictions::from_file(&path)
        .expect("the V-COCO predictions fixture parses");
    parsed.write_json(&path).expect("write");
    path
}

#[test]
fn fuzz_npy() {
    use hoiclip::eval::vcoco::VcocoCorrectMat;
    let original = std::fs::read(fixture("vcoco_proxy/corre_vcoco.npy")).expect("fixture");
    let header_len = u16_at(&original, 8);
    let fields = [Field { at: 8, width: 2 }];
    fuzz(
        "npy",
        40,
        iterations(300),
        &original,
        "corre_vcoco.npy",
        &fields,
        Some(0..10 + header_len),
        &|p| outcome(VcocoCorrectMat::from_npy(p)),
    );
}

// ---------------------------------------------------------------------------------------
// Declared huge sizes in tiny files.

/// A pickle `torch.save` would write for `{"args": <value>}` where the value's bytes are
/// `value` (a protocol-2 pickle body).
fn dict_pickle(value: &[u8]) -> Vec<u8> {
    let mut p = b"\x80\x02}q\x00X\x04\x00\x00\x00argsq\x01".to_vec();
    p.extend_from_slice(value);
    p.extend_from_slice(b"s.");
    p
}

fn torch_zip(pickle: &[u8], storages: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut entries = vec![("archive/data.pkl".to_string(), pickle.to_vec())];
    entries.push(("archive/byteorder".into(), b"little".to_vec()));
    for (key, data) in storages {
        entries.push((format!("archive/data/{key}"), data.clone()));
    }
    entries.push(("archive/version".into(), b"3\n".to_vec()));
    write_zip(&entries)
}

/// The pickle of `torch.save(tensor)` for a float tensor with storage `numel`, `size` and
/// `stride` (tuples of up to three ints, as `J` 4-byte ints or `LONG1` 8-byte ones).
fn bare_tensor_pickle(numel: u64, size: &[u64], stride: &[u64]) -> Vec<u8> {
    let int = |p: &mut Vec<u8>, v: u64| {
        p.extend_from_slice(&[0x8a, 8]);
        p.extend_from_slice(&v.to_le_bytes());
    };
    let mut p = b"\x80\x02ctorch._utils\n_rebuild_tensor_v2\n((X\x07\x00\x00\x00storagectorch\nFloatStorage\nX\x01\x00\x00\x000X\x03\x00\x00\x00cpu".to_vec();
    int(&mut p, numel);
    p.push(b't');
    p.push(b'Q');
    int(&mut p, 0);
    for dims in [size, stride] {
        p.push(b'(');
        for &d in dims {
            int(&mut p, d);
        }
        p.push(b't');
    }
    p.extend_from_slice(b"\x89ccollections\nOrderedDict\n)RtR.");
    p
}

/// A state dict `{"w": tensor}` pickle (what `torch.save(model.state_dict())` writes) with
/// the tensor's `size`.
fn state_dict_pickle(numel: u64, size: &[u64]) -> Vec<u8> {
    let int = |p: &mut Vec<u8>, v: u64| {
        p.extend_from_slice(&[0x8a, 8]);
        p.extend_from_slice(&v.to_le_bytes());
    };
    let mut p = b"\x80\x02ccollections\nOrderedDict\n)R(X\x01\x00\x00\x00wctorch._utils\n_rebuild_tensor_v2\n((X\x07\x00\x00\x00storagectorch\nFloatStorage\nX\x01\x00\x00\x000X\x03\x00\x00\x00cpu".to_vec();
    int(&mut p, numel);
    p.push(b't');
    p.push(b'Q');
    int(&mut p, 0);
    let mut stride = vec![1u64; size.len()];
    for k in (0..size.len().saturating_sub(1)).rev() {
        stride[k] = stride[k + 1].saturating_mul(size[k + 1].max(1));
    }
    for dims in [size, &stride[..]] {
        p.push(b'(');
        for &d in dims {
            int(&mut p, d);
        }
        p.push(b't');
    }
    p.extend_from_slice(b"\x89ccollections\nOrderedDict\n)RtRu.");
    p
}

#[test]
fn declared_huge_sizes_fail_fast() {
    let dir = tempfile::tempdir().expect("temp dir");
    let limit = Duration::from_secs(1);
    // (file name, bytes, reader, whether the reader must reject it). A zip reader may
    // legitimately ignore a local header's sizes (the central directory's are the ones
    // used), so those cases need only be fast.
    let mut cases: Vec<(&str, Vec<u8>, &Reader<'_>, bool)> = Vec::new();

    // The `args` pickle: BINUNICODE of 4 GiB, BINUNICODE8 / BINBYTES8 of 2^62 bytes.
    cases.push((
        "args_binunicode.pth",
        torch_zip(&dict_pickle(b"X\xff\xff\xff\xffabc"), &[]),
        &read_args,
        true,
    ));
    let mut unicode8 = vec![0x8d];
    unicode8.extend_from_slice(&(1u64 << 62).to_le_bytes());
    cases.push((
        "args_binunicode8.pth",
        torch_zip(&dict_pickle(&unicode8), &[]),
        &read_args,
        true,
    ));
    let mut bytes8 = vec![0x8e];
    bytes8.extend_from_slice(&u64::MAX.to_le_bytes());
    cases.push((
        "args_binbytes8.pth",
        torch_zip(&dict_pickle(&bytes8), &[]),
        &read_args,
        true,
    ));
    cases.push((
        "args_long4.pth",
        torch_zip(&dict_pickle(b"\x8b\xff\xff\xff\x7f\x01"), &[]),
        &read_args,
        true,
    ));

    // A bare tensor whose shape declares 2^40 elements over a storage of 4 (stride 0, or
    // 1), and one whose storage declares 2^60 elements.
    let four = vec![0u8; 16];
    for (name, numel, size, stride) in [
        (
            "bare_stride0.pth",
            4,
            vec![1u64 << 20, 1 << 20],
            vec![0u64, 0],
        ),
        ("bare_stride1.pth", 4, vec![1u64 << 40], vec![1u64]),
        ("bare_numel.pth", 1u64 << 60, vec![4u64], vec![1u64]),
        (
            "bare_overflow.pth",
            4,
            vec![u64::MAX >> 1, 3],
            vec![1u64, 1],
        ),
    ] {
        cases.push((
            name,
            torch_zip(
                &bare_tensor_pickle(numel, &size, &stride),
                &[("0", four.clone())],
            ),
            &read_bare,
            true,
        ));
    }

    // A state dict whose tensor declares 2^40 elements (shape [2^20, 2^20]) over 16 bytes,
    // and one whose shape's element count overflows.
    for (name, size) in [
        ("state_dict_huge.pth", vec![1u64 << 20, 1 << 20]),
        ("state_dict_overflow.pth", vec![1u64 << 40, 1 << 40]),
    ] {
        cases.push((
            name,
            torch_zip(&state_dict_pickle(4, &size), &[("0", four.clone())]),
            &read_weight_map,
            true,
        ));
    }

    // Zip headers declaring a 4 GiB data.pkl in a file of a few hundred bytes.
    let small = torch_zip(&dict_pickle(b"K\x01"), &[]);
    for field in zip_fields(&small).into_iter().filter(|f| f.width == 4) {
        let mut bytes = small.clone();
        write_le(&mut bytes, field.at, 4, 0xffff_fff0);
        let name: &'static str = Box::leak(format!("zip_field_{}.pth", field.at).into_boxed_str());
        cases.push((name, bytes.clone(), &read_args, false));
        let name: &'static str =
            Box::leak(format!("zip_field_{}_map.pth", field.at).into_boxed_str());
        cases.push((name, bytes, &read_weight_map, false));
    }

    // safetensors: a header length of 2^40 in a 64-byte file.
    let mut st = (1u64 << 40).to_le_bytes().to_vec();
    st.extend_from_slice(b"{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}");
    cases.push(("huge_header.safetensors", st, &read_weight_map, true));
    // ... and a tensor whose shape declares 2^40 elements over 4 bytes.
    let header = b"{\"w\":{\"dtype\":\"F32\",\"shape\":[1048576,1048576],\"data_offsets\":[0,4]}}";
    let mut st = (header.len() as u64).to_le_bytes().to_vec();
    st.extend_from_slice(header);
    st.extend_from_slice(&[0; 4]);
    cases.push(("huge_shape.safetensors", st, &read_weight_map, true));

    // .npy: a shape of 2^62 x 4 over a few bytes, and an overflowing one.
    for (name, shape) in [
        ("huge.npy", "(4611686018427387904, 4)"),
        ("overflow.npy", "(18446744073709551615, 3)"),
    ] {
        let header = format!("{{'descr': '<f8', 'fortran_order': False, 'shape': {shape}, }}");
        let mut npy = b"\x93NUMPY\x01\x00".to_vec();
        npy.extend_from_slice(&(header.len() as u16).to_le_bytes());
        npy.extend_from_slice(header.as_bytes());
        npy.extend_from_slice(&[0; 32]);
        cases.push((
            name,
            npy,
            &|p| outcome(hoiclip::eval::vcoco::VcocoCorrectMat::from_npy(p)),
            true,
        ));
    }

    // The native format: a metadata size of 4 GiB in a 10-byte header.
    let mut bpk = b"NRUB\x01\x00".to_vec();
    bpk.extend_from_slice(&0xffff_fff0u32.to_le_bytes());
    bpk.extend_from_slice(&[0; 16]);
    let device = hoiclip::BackendChoice::Flex.device().expect("flex");
    let native = |p: &Path| outcome(hoiclip::model::HoiclipModel::load_native(p, &device));
    cases.push(("huge_metadata.bpk", bpk, &native, true));

    for (name, bytes, read, must_fail) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, &bytes).unwrap();
        let start = Instant::now();
        let result = check(name, 0, 0, &[], &path, read);
        let elapsed = start.elapsed();
        match result {
            Outcome::Err(e) => eprintln!("{name} ({} bytes): {elapsed:?}: {e}", bytes.len()),
            Outcome::Ok if must_fail => panic!("{name}: a declared huge size was accepted"),
            Outcome::Ok => eprintln!("{name} ({} bytes): {elapsed:?}: accepted", bytes.len()),
        }
        assert!(
            elapsed < limit,
            "{name}: took {elapsed:?} to reject a declared huge size"
        );
    }
}

/// Pickles that build huge or deep values from few bytes: a memo entry re-read and appended
/// to itself doubles a list with every 4 bytes (`h`, `a`, `q`), and a million nested
/// containers (a 2 MB pickle) would overflow the stack of a recursive drop or conversion.
/// The readers must reject both quickly, without running out of memory or stack.
#[test]
fn pickle_bombs_fail_fast() {
    let dir = tempfile::tempdir().expect("temp dir");
    let limit = Duration::from_secs(2);
    // {"args": L} where L doubles 64 times.
    let mut doubling = b"]q\x02".to_vec();
    for _ in 0..64 {
        doubling.extend_from_slice(b"h\x02aq\x02");
    }
    // A tuple of two copies of the memo entry, 64 times (the bare-tensor reader).
    let mut tuples = b"\x80\x02)q\x00".to_vec();
    for _ in 0..64 {
        tuples.extend_from_slice(b"(h\x00h\x00tq\x00");
    }
    tuples.push(b'.');
    // A million nested lists, and a million nested tuples.
    let depth = 1_000_000;
    let mut lists = vec![b']'; depth];
    lists.extend(std::iter::repeat_n(b'a', depth - 1));
    let mut nested_tuples = vec![b')'];
    nested_tuples.extend(std::iter::repeat_n(0x85, depth));
    let mut bare_nested = b"\x80\x02".to_vec();
    bare_nested.extend_from_slice(&nested_tuples);
    bare_nested.push(b'.');
    let cases: Vec<(&str, Vec<u8>, &Reader<'_>)> = vec![
        (
            "args_doubling.pth",
            torch_zip(&dict_pickle(&doubling), &[]),
            &read_args,
        ),
        (
            "args_deep.pth",
            torch_zip(&dict_pickle(&lists), &[]),
            &read_args,
        ),
        (
            "args_deep_tuples.pth",
            torch_zip(&dict_pickle(&nested_tuples), &[]),
            &read_args,
        ),
        ("bare_doubling.pth", torch_zip(&tuples, &[]), &read_bare),
        ("bare_deep.pth", torch_zip(&bare_nested, &[]), &read_bare),
        (
            "map_doubling.pth",
            torch_zip(&dict_pickle(&doubling), &[]),
            &read_weight_map,
        ),
        (
            "map_deep.pth",
            torch_zip(&dict_pickle(&lists), &[]),
            &read_weight_map,
        ),
    ];
    for (name, bytes, read) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, &bytes).unwrap();
        let start = Instant::now();
        let result = check(name, 0, 0, &[], &path, read);
        let elapsed = start.elapsed();
        match result {
            Outcome::Err(e) => eprintln!("{name} ({} bytes): {elapsed:?}: {e}", bytes.len()),
            Outcome::Ok => eprintln!("{name} ({} bytes): {elapsed:?}: accepted", bytes.len()),
        }
        assert!(elapsed < limit, "{name}: took {elapsed:?}");
    }
}
