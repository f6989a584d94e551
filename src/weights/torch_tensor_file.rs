//! `torch.save` of a bare tensor (the authors' `verb.pth`, `torch.save(tensor, path)`): a zip
//! whose pickle rebuilds one tensor from one storage. Burn's PyTorch reader and
//! [`super::WeightMap`] read dictionaries of tensors; this reads the bare case. Like
//! [`super::pickle_args`], it interprets only the opcodes such a file uses and never executes
//! code: any other opcode or global is an error. [`write_bare_tensor`] writes such a file, laid
//! out as `torch.save` lays it out.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use zip::write::SimpleFileOptions;

use super::torch_zip::TorchZip;
use crate::error::{HoiclipError, Result};

/// A value of the small pickle machine below.
#[derive(Clone, Debug)]
enum Pv {
    Int(i64),
    Str(String),
    Tuple(Vec<Pv>),
    Global(String),
    Storage {
        class: String,
        key: String,
        numel: usize,
    },
    Tensor {
        class: String,
        key: String,
        numel: usize,
        offset: usize,
        size: Vec<usize>,
        stride: Vec<usize>,
    },
    Other,
    Mark,
}

/// Run the pickle of a `torch.save`d object far enough to tell whether its root is a tensor
/// (`torch._utils._rebuild_tensor_v2` of a storage). Never executes anything; `Err` for
/// opcodes outside what `torch.save` writes for one tensor.
fn run_pickle(data: &[u8]) -> std::result::Result<Pv, String> {
    let mut r = PickleReader { data, pos: 0 };
    let mut stack: Vec<Pv> = Vec::new();
    let mut memo: HashMap<u64, Pv> = HashMap::new();
    // Python shares memo entries, this machine copies them: a few bytes re-reading an entry
    // into a tuple twice would otherwise double it per opcode. Copies are charged to a budget
    // proportional to the pickle's size.
    let mut budget = COPY_BUDGET_PER_BYTE
        .saturating_mul(data.len())
        .saturating_add(COPY_BUDGET_BASE);
    let mut charge = |v: &Pv| -> std::result::Result<(), String> {
        let cost = pv_cost(v);
        if cost > budget {
            return Err("the pickle copies too many values through its memo".into());
        }
        budget -= cost;
        Ok(())
    };
    loop {
        let op = r.take(1)?[0];
        match op {
            // PROTO, FRAME: nothing to do.
            0x80 => {
                r.take(1)?;
            }
            0x95 => {
                r.take(8)?;
            }
            b'c' => {
                let module = r.line()?;
                let name = r.line()?;
                stack.push(Pv::Global(format!("{module}.{name}")));
            }
            0x93 => {
                let name = pop(&mut stack)?;
                let module = pop(&mut stack)?;
                match (module, name) {
                    (Pv::Str(m), Pv::Str(n)) => stack.push(Pv::Global(format!("{m}.{n}"))),
                    _ => return Err("STACK_GLOBAL of non-strings".into()),
                }
            }
            b'q' | b'r' | 0x94 => {
                let idx = match op {
                    b'q' => r.uint(1)?,
                    b'r' => r.uint(4)?,
                    _ => memo.len() as u64,
                };
                let top = stack.last().ok_or("memo of an empty stack")?;
                charge(top)?;
                memo.insert(idx, top.clone());
            }
            b'h' | b'j' => {
                let idx = r.uint(if op == b'h' { 1 } else { 4 })?;
                let entry = memo.get(&idx).ok_or("unknown memo entry")?;
                charge(entry)?;
                stack.push(entry.clone());
            }
            b'(' => stack.push(Pv::Mark),
            b'X' | 0x8c | 0x8d => {
                let width = match op {
                    b'X' => 4,
                    0x8c => 1,
                    _ => 8,
                };
                let n = usize::try_from(r.uint(width)?).map_err(|_| "string too long")?;
                let bytes = r.take(n)?;
                stack.push(Pv::Str(String::from_utf8_lossy(bytes).into_owned()));
            }
            b'K' => stack.push(Pv::Int(i64::from(r.take(1)?[0]))),
            b'M' => stack.push(Pv::Int(i64::from(r.uint(2)? as u16))),
            b'J' => {
                let b = r.take(4)?;
                stack.push(Pv::Int(i64::from(i32::from_le_bytes([
                    b[0], b[1], b[2], b[3],
                ]))));
            }
            0x8a => {
                let n = usize::from(r.take(1)?[0]);
                if n > 8 {
                    return Err("integer wider than 64 bits".into());
                }
                let bytes = r.take(n)?;
                let mut v = little_endian(bytes) as i64;
                if n > 0 && n < 8 && bytes[n - 1] & 0x80 != 0 {
                    v -= 1i64 << (8 * n);
                }
                stack.push(Pv::Int(v));
            }
            // None, True, False: nothing the tensor needs.
            b'N' | 0x88 | 0x89 => stack.push(Pv::Other),
            b')' => stack.push(Pv::Tuple(Vec::new())),
            0x85..=0x87 => {
                let n = usize::from(op - 0x84);
                if stack.len() < n {
                    return Err("pickle stack underflow".into());
                }
                let items = stack.split_off(stack.len() - n);
                stack.push(tuple(items));
            }
            b't' => {
                let items = pop_mark(&mut stack)?;
                stack.push(tuple(items));
            }
            // Containers are opaque: their items are dropped.
            b'}' | b']' => stack.push(Pv::Other),
            b's' => {
                pop(&mut stack)?;
                pop(&mut stack)?;
            }
            b'a' | b'b' => {
                pop(&mut stack)?;
            }
            b'u' | b'e' => {
                pop_mark(&mut stack)?;
            }
            b'Q' => {
                let pid = pop(&mut stack)?;
                stack.push(storage_of(pid)?);
            }
            b'R' => {
                let args = pop(&mut stack)?;
                let callable = pop(&mut stack)?;
                stack.push(reduce(callable, args));
            }
            b'.' => return pop(&mut stack),
            other => return Err(format!("unsupported pickle opcode 0x{other:02x}")),
        }
    }
}

/// What copies of memo entries may allocate (about, in bytes): this many per byte of
/// pickle, plus a constant.
const COPY_BUDGET_PER_BYTE: usize = 64;
const COPY_BUDGET_BASE: usize = 16 << 20;

/// About the memory of a value, in bytes (what copying it costs).
fn pv_cost(v: &Pv) -> usize {
    let node = std::mem::size_of::<Pv>();
    match v {
        Pv::Str(s) | Pv::Global(s) => node + s.len(),
        // Tuples nest at most two deep (see [`tuple`]).
        Pv::Tuple(items) => node + items.iter().map(pv_cost).sum::<usize>(),
        Pv::Storage { class, key, .. } => node + class.len() + key.len(),
        Pv::Tensor {
            class,
            key,
            size,
            stride,
            ..
        } => node + class.len() + key.len() + 8 * (size.len() + stride.len()),
        _ => node,
    }
}

/// A tuple of `items`, where an item that is itself a tuple of tuples becomes opaque: a
/// tensor's pickle needs tuples of ints inside one tuple of arguments, and keeping tuples at
/// most two deep bounds the recursion of copying and dropping values (a crafted pickle can
/// nest a million tuples in a few megabytes).
fn tuple(items: Vec<Pv>) -> Pv {
    Pv::Tuple(
        items
            .into_iter()
            .map(|item| match item {
                Pv::Tuple(inner) if inner.iter().any(|i| matches!(i, Pv::Tuple(_))) => Pv::Other,
                other => other,
            })
            .collect(),
    )
}

/// The bytes of a pickle and the read position.
struct PickleReader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> PickleReader<'a> {
    fn take(&mut self, n: usize) -> std::result::Result<&'a [u8], String> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.data.len())
            .ok_or("truncated pickle")?;
        let bytes = &self.data[self.pos..end];
        self.pos = end;
        Ok(bytes)
    }

    /// A little-endian unsigned integer of `n` bytes.
    fn uint(&mut self, n: usize) -> std::result::Result<u64, String> {
        Ok(little_endian(self.take(n)?))
    }

    /// Text up to the next newline (GLOBAL's arguments).
    fn line(&mut self) -> std::result::Result<String, String> {
        let rest = self.data.get(self.pos..).unwrap_or_default();
        let n = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or("truncated pickle")?;
        let text = String::from_utf8_lossy(&rest[..n]).into_owned();
        self.pos += n + 1;
        Ok(text)
    }
}

fn little_endian(bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .rev()
        .fold(0u64, |v, &b| (v << 8) | u64::from(b))
}

fn pop(stack: &mut Vec<Pv>) -> std::result::Result<Pv, String> {
    stack
        .pop()
        .ok_or_else(|| "pickle stack underflow".to_string())
}

fn pop_mark(stack: &mut Vec<Pv>) -> std::result::Result<Vec<Pv>, String> {
    let mark = stack
        .iter()
        .rposition(|v| matches!(v, Pv::Mark))
        .ok_or("pickle without a mark")?;
    let items = stack.split_off(mark + 1);
    stack.pop();
    Ok(items)
}

/// A persistent id `('storage', torch.<Type>Storage, key, location, numel)`.
fn storage_of(pid: Pv) -> std::result::Result<Pv, String> {
    let Pv::Tuple(items) = pid else {
        return Ok(Pv::Other);
    };
    match items.as_slice() {
        [
            Pv::Str(tag),
            Pv::Global(class),
            Pv::Str(key),
            _,
            Pv::Int(numel),
        ] if tag == "storage" => Ok(Pv::Storage {
            class: class.rsplit('.').next().unwrap_or_default().to_string(),
            key: key.clone(),
            numel: usize::try_from(*numel).map_err(|_| "negative storage size")?,
        }),
        _ => Ok(Pv::Other),
    }
}

/// `REDUCE`: a tensor from `_rebuild_tensor_v2(storage, offset, size, stride, ...)`, anything
/// else opaque.
fn reduce(callable: Pv, args: Pv) -> Pv {
    let (Pv::Global(name), Pv::Tuple(args)) = (&callable, &args) else {
        return Pv::Other;
    };
    if name != "torch._utils._rebuild_tensor_v2" {
        return Pv::Other;
    }
    let dims = |v: &Pv| -> Option<Vec<usize>> {
        match v {
            Pv::Tuple(items) => items
                .iter()
                .map(|i| match i {
                    Pv::Int(x) => usize::try_from(*x).ok(),
                    _ => None,
                })
                .collect(),
            _ => None,
        }
    };
    match args.as_slice() {
        [
            Pv::Storage { class, key, numel },
            Pv::Int(offset),
            size,
            stride,
            ..,
        ] => match (usize::try_from(*offset).ok(), dims(size), dims(stride)) {
            (Some(offset), Some(size), Some(stride)) if size.len() == stride.len() => Pv::Tensor {
                class: class.clone(),
                key: key.clone(),
                numel: *numel,
                offset,
                size,
                stride,
            },
            _ => Pv::Other,
        },
        _ => Pv::Other,
    }
}

/// The tensor of a `torch.save(tensor)` zip file; `None` for anything else (another file
/// type, or a pickle whose root is not a tensor).
pub fn read_bare_tensor(path: &Path) -> Result<Option<(Vec<usize>, Vec<f32>)>> {
    let Some(mut zip) = TorchZip::open(path)? else {
        return Ok(None);
    };
    let Some(pickle_name) = zip.pickle_name().map(str::to_string) else {
        return Ok(None);
    };
    let pickle = zip.read(&pickle_name)?;
    let Ok(Pv::Tensor {
        class,
        key,
        numel,
        offset,
        size,
        stride,
    }) = run_pickle(&pickle)
    else {
        return Ok(None);
    };
    let dir = &pickle_name[..pickle_name.len() - "data.pkl".len()];
    if let Ok(order) = zip.read(&format!("{dir}byteorder"))
        && order.trim_ascii() == b"big"
    {
        return Err(zip.error("big-endian tensor data is not supported"));
    }
    let bytes = zip.read(&format!("{dir}data/{key}"))?;
    let (width, decode): (usize, fn(&[u8]) -> f32) = match class.as_str() {
        "FloatStorage" => (4, |b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
        "HalfStorage" => (2, |b| half::f16::from_le_bytes([b[0], b[1]]).to_f32()),
        "BFloat16Storage" => (2, |b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32()),
        "DoubleStorage" => (8, |b| {
            f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]) as f32
        }),
        other => return Err(zip.error(format!("tensor storage `{other}` is not a float type"))),
    };
    if numel.checked_mul(width).is_none_or(|n| bytes.len() < n) {
        return Err(zip.error(format!(
            "storage `{key}` holds {} bytes, {numel} elements of {width} bytes need more",
            bytes.len()
        )));
    }
    // Every size below comes from the file: check them against the storage's bytes before
    // allocating or indexing (a crafted shape must not allocate terabytes or overflow).
    let past_storage = || {
        zip.error(format!(
            "tensor of shape {size:?} (stride {stride:?}, offset {offset}) reads past its \
             storage of {numel} elements"
        ))
    };
    let count = size
        .iter()
        .try_fold(1usize, |n, &d| n.checked_mul(d))
        .ok_or_else(past_storage)?;
    if count > 0 {
        // The last element read: offset + Σ (size - 1) × stride, which must lie in the storage.
        let last = size
            .iter()
            .zip(&stride)
            .try_fold(offset, |at, (&d, &s)| {
                at.checked_add((d - 1).checked_mul(s)?)
            })
            .ok_or_else(past_storage)?;
        if last >= numel {
            return Err(past_storage());
        }
    }
    // A view with zero or overlapping strides may hold more elements than its storage; the
    // values returned are bounded by the storage (the bytes in the file), not by the shape.
    if count > numel {
        return Err(zip.error(format!(
            "tensor of shape {size:?} (stride {stride:?}) holds {count} elements, more than its \
             storage of {numel}: expanded or overlapping tensors are not supported"
        )));
    }
    let mut values = Vec::with_capacity(count);
    let mut index = vec![0usize; size.len()];
    for _ in 0..count {
        // In bounds and without overflow: each term is at most the `last` checked above.
        let at = offset + index.iter().zip(&stride).map(|(i, s)| i * s).sum::<usize>();
        values.push(decode(&bytes[at * width..(at + 1) * width]));
        for axis in (0..size.len()).rev() {
            index[axis] += 1;
            if index[axis] < size[axis] {
                break;
            }
            index[axis] = 0;
        }
    }
    Ok(Some((size, values)))
}

/// The alignment `torch.save` gives every record's bytes (its `.storage_alignment` record,
/// `torch.utils.serialization.config.save.storage_alignment`).
const STORAGE_ALIGNMENT: u16 = 64;

/// The first twenty digits of the `.data/serialization_id` that `torch.save` writes for one
/// tensor. PyTorch's stream writer combines (`c10::hash_combine`) the `std::hash` of the record
/// names it wrote, without the archive folder; for a bare tensor these are always `data.pkl`,
/// `.format_version`, `.storage_alignment`, `byteorder`, `data/0` and `version`, so the value is
/// the same for every such file (read from files written by torch 2.15 on Linux, whose
/// libstdc++ hash this is). The last twenty digits depend on the records' bytes: see
/// [`hash_combine`].
const TORCH_RECORD_NAMES_HASH: u64 = 15_728_199_511_854_643_026;

/// Write a float32 tensor to `path` as `torch.save(tensor, path)` does for a contiguous CPU
/// tensor: the layout of the authors' `verb.pth`, read back by [`read_bare_tensor`] and by
/// `torch.load(path, weights_only=True)`.
///
/// `values` are the tensor's elements in row-major order; `shape` may be empty (a scalar) or
/// hold zeros (an empty tensor). The file is a zip archive (the zipfile format `torch.save`
/// has used since PyTorch 1.6) whose records sit in a folder named after the file stem
/// (`archive` when the stem is not ASCII, as `torch.save` does), in `torch.save`'s order, all
/// stored uncompressed with their bytes aligned to 64:
///
/// - `data.pkl`: a protocol-2 pickle of `torch._utils._rebuild_tensor_v2(storage, 0, shape,
///   stride, False, collections.OrderedDict())`, the storage a persistent id `('storage',
///   torch.FloatStorage, '0', 'cpu', numel)`; byte for byte what `torch.save` writes, memo
///   opcodes included;
/// - `.format_version` (`1`), `.storage_alignment` (`64`), `byteorder` (`little`);
/// - `data/0`: the values as little-endian f32;
/// - `version` (`3` and a newline);
/// - `.data/serialization_id`: forty digits computed as PyTorch computes them.
///
/// The file is written next to `path` under a temporary name, synced, then renamed onto
/// `path`, so a reader never sees half a file.
///
/// # Errors
///
/// [`HoiclipError::Write`] naming `path` when `shape` does not hold `values.len()` elements
/// (the message gives both) or the file cannot be written.
pub fn write_bare_tensor(path: impl AsRef<Path>, shape: &[usize], values: &[f32]) -> Result<()> {
    let path = path.as_ref();
    let fail = |reason: String| HoiclipError::Write {
        path: path.to_path_buf(),
        reason,
    };
    let numel = shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d));
    if numel != Some(values.len()) {
        let holds = numel.map_or_else(|| "more than usize::MAX".to_string(), |n| n.to_string());
        return Err(fail(format!(
            "shape {shape:?} holds {holds} values, {} were given",
            values.len()
        )));
    }
    let stride = contiguous_stride(shape)
        .ok_or_else(|| fail(format!("the strides of shape {shape:?} overflow")))?;
    let pickle = tensor_pickle(values.len(), shape, &stride);
    let tmp = temporary_path(path).ok_or_else(|| fail("the path names no file".into()))?;
    let written = write_archive(&tmp, &archive_name(path), &pickle, values).and_then(|()| {
        fs::rename(&tmp, path).map_err(|e| format!("cannot rename {} onto it: {e}", tmp.display()))
    });
    written.map_err(|reason| {
        // Best effort: the temporary file may not exist, and the error to report is `reason`.
        let _ = fs::remove_file(&tmp);
        fail(reason)
    })
}

/// The strides of a contiguous tensor of `shape`, as PyTorch computes them (a dimension of
/// size 0 counts as 1); `None` on overflow.
fn contiguous_stride(shape: &[usize]) -> Option<Vec<usize>> {
    let mut stride = vec![0; shape.len()];
    let mut step = 1usize;
    for (s, &d) in stride.iter_mut().zip(shape).rev() {
        *s = step;
        step = step.checked_mul(d.max(1))?;
    }
    Some(stride)
}

/// The folder of the archive's records: the file stem, as `torch.save` names it, or `archive`
/// (what `torch.save` uses when it cannot use the name, e.g. a non-ASCII one).
fn archive_name(path: &Path) -> String {
    path.file_stem()
        .and_then(|s| s.to_str())
        .filter(|s| !s.is_empty() && s.is_ascii())
        .unwrap_or("archive")
        .to_string()
}

/// A new name in `path`'s folder for the file before it is renamed onto `path`; `None` when
/// `path` has no file name.
fn temporary_path(path: &Path) -> Option<PathBuf> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let name = path.file_name()?;
    let mut tmp = std::ffi::OsString::from(".");
    tmp.push(name);
    tmp.push(format!(
        ".{}-{}.tmp",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    Some(path.with_file_name(tmp))
}

/// Write the zip archive of a bare tensor to the new file `tmp` and sync it.
fn write_archive(
    tmp: &Path,
    archive: &str,
    pickle: &[u8],
    values: &[f32],
) -> std::result::Result<(), String> {
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(tmp)
        .map_err(|e| format!("cannot create {}: {e}", tmp.display()))?;
    let mut records = Records {
        zip: zip::ZipWriter::new(BufWriter::new(file)),
        archive,
        options: SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored)
            .with_alignment(STORAGE_ALIGNMENT),
        crcs: 0,
    };
    records.add("data.pkl", pickle)?;
    records.add(".format_version", b"1")?;
    records.add(".storage_alignment", b"64")?;
    records.add("byteorder", b"little")?;
    // Zip64 sizes when the storage does not fit a 32-bit size field.
    let large = u64::try_from(values.len())
        .ok()
        .and_then(|n| n.checked_mul(4))
        .is_none_or(|n| n >= u64::from(u32::MAX));
    let chunks = values
        .chunks(1 << 14)
        .map(|c| c.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>());
    records.add_chunks("data/0", chunks, large)?;
    records.add("version", b"3\n")?;
    let id = format!("{TORCH_RECORD_NAMES_HASH:020}{:020}", records.crcs);
    records.add(".data/serialization_id", id.as_bytes())?;
    let buffered = records
        .zip
        .finish()
        .map_err(|e| format!("cannot finish the zip archive in {}: {e}", tmp.display()))?;
    let file = buffered
        .into_inner()
        .map_err(|e| format!("cannot write {}: {}", tmp.display(), e.error()))?;
    file.sync_all()
        .map_err(|e| format!("cannot sync {}: {e}", tmp.display()))
}

/// The zip archive being written, with the CRC-32s of its records folded as PyTorch folds
/// them into its serialization id.
struct Records<'a> {
    zip: zip::ZipWriter<BufWriter<File>>,
    archive: &'a str,
    options: SimpleFileOptions,
    crcs: u64,
}

impl Records<'_> {
    /// Add the record `name` holding `bytes`.
    fn add(&mut self, name: &str, bytes: &[u8]) -> std::result::Result<(), String> {
        self.add_chunks(name, std::iter::once(bytes.to_vec()), false)
    }

    /// Add the record `name` holding the concatenated `chunks`, with zip64 sizes if `large`.
    fn add_chunks(
        &mut self,
        name: &str,
        chunks: impl Iterator<Item = Vec<u8>>,
        large: bool,
    ) -> std::result::Result<(), String> {
        let name = format!("{}/{name}", self.archive);
        self.zip
            .start_file(name.as_str(), self.options.large_file(large))
            .map_err(|e| format!("cannot add `{name}` to the zip archive: {e}"))?;
        let (mut crc, mut len) = (0u32, 0usize);
        for chunk in chunks {
            self.zip
                .write_all(&chunk)
                .map_err(|e| format!("cannot write `{name}`: {e}"))?;
            crc = crc32(crc, &chunk);
            len += chunk.len();
        }
        // PyTorch folds in the CRC-32 of the data descriptor its zip writer emits after each
        // record's bytes, and it writes none after an empty record.
        if len > 0 {
            self.crcs = hash_combine(self.crcs, u64::from(crc));
        }
        Ok(())
    }
}

/// `c10::hash_combine`, with which PyTorch folds the CRC-32 of each record it writes into the
/// last twenty digits of `.data/serialization_id`.
fn hash_combine(seed: u64, value: u64) -> u64 {
    seed ^ value
        .wrapping_add(0x9e37_79b9)
        .wrapping_add(seed << 6)
        .wrapping_add(seed >> 2)
}

/// The CRC-32 (zip's, IEEE 802.3) of `crc`'s bytes followed by `bytes`.
fn crc32(crc: u32, bytes: &[u8]) -> u32 {
    const TABLE: [u32; 256] = {
        let mut table = [0u32; 256];
        let mut i = 0;
        while i < 256 {
            let mut c = i as u32;
            let mut k = 0;
            while k < 8 {
                c = if c & 1 != 0 {
                    0xedb8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
                k += 1;
            }
            table[i] = c;
            i += 1;
        }
        table
    };
    !bytes.iter().fold(!crc, |c, &b| {
        TABLE[((c ^ u32::from(b)) & 0xff) as usize] ^ (c >> 8)
    })
}

/// The `data.pkl` of `torch.save(tensor)` for a float32 CPU tensor of `numel` elements, shape
/// `size` and strides `stride`, as Python's protocol-2 pickler writes it.
fn tensor_pickle(numel: usize, size: &[usize], stride: &[usize]) -> Vec<u8> {
    let mut p = PickleWriter::default();
    p.out.extend_from_slice(b"\x80\x02");
    p.global("torch._utils", "_rebuild_tensor_v2");
    p.out.push(b'('); // The arguments of `_rebuild_tensor_v2`: six items.
    p.out.push(b'('); // The persistent id of the storage: five items.
    p.string("storage");
    p.global("torch", "FloatStorage");
    p.string("0");
    p.string("cpu");
    p.int(numel);
    p.out.push(b't');
    p.memoize();
    p.out.push(b'Q');
    p.int(0);
    p.tuple(size);
    p.tuple(stride);
    p.out.push(0x89); // requires_grad = False
    p.global("collections", "OrderedDict");
    p.out.extend_from_slice(b")R");
    p.memoize();
    p.out.push(b't');
    p.memoize();
    p.out.push(b'R');
    p.memoize();
    p.out.push(b'.');
    p.out
}

/// The opcodes of Python's protocol-2 pickler that a tensor's pickle needs, with its memo.
#[derive(Default)]
struct PickleWriter {
    out: Vec<u8>,
    memo: u32,
}

impl PickleWriter {
    /// `BINPUT` / `LONG_BINPUT` of the next memo index, as the pickler memoizes every object
    /// but ints and the empty tuple.
    fn memoize(&mut self) {
        match u8::try_from(self.memo) {
            Ok(i) => self.out.extend_from_slice(&[b'q', i]),
            Err(_) => {
                self.out.push(b'r');
                self.out.extend_from_slice(&self.memo.to_le_bytes());
            }
        }
        self.memo += 1;
    }

    /// `GLOBAL module\nname\n`.
    fn global(&mut self, module: &str, name: &str) {
        self.out.push(b'c');
        for part in [module, name] {
            self.out.extend_from_slice(part.as_bytes());
            self.out.push(b'\n');
        }
        self.memoize();
    }

    /// `BINUNICODE` of a short constant string.
    fn string(&mut self, s: &str) {
        self.out.push(b'X');
        self.out.extend_from_slice(&(s.len() as u32).to_le_bytes());
        self.out.extend_from_slice(s.as_bytes());
        self.memoize();
    }

    /// A non-negative int: `BININT1`, `BININT2`, `BININT` or `LONG1`, whichever is shortest.
    fn int(&mut self, v: usize) {
        if let Ok(b) = u8::try_from(v) {
            self.out.extend_from_slice(&[b'K', b]);
        } else if let Ok(w) = u16::try_from(v) {
            self.out.push(b'M');
            self.out.extend_from_slice(&w.to_le_bytes());
        } else if let Ok(i) = i32::try_from(v) {
            self.out.push(b'J');
            self.out.extend_from_slice(&i.to_le_bytes());
        } else {
            // Two's complement, little-endian, one byte more than the bits need (a sign bit).
            let n = (usize::BITS - v.leading_zeros()) as usize / 8 + 1;
            self.out.extend_from_slice(&[0x8a, n as u8]);
            self.out.extend_from_slice(&(v as u128).to_le_bytes()[..n]);
        }
    }

    /// A tuple of ints: `EMPTY_TUPLE`, `TUPLE1`..`TUPLE3` or `MARK` ... `TUPLE`.
    fn tuple(&mut self, items: &[usize]) {
        match items.len() {
            0 => {
                self.out.push(b')');
                return;
            }
            1..=3 => {
                items.iter().for_each(|&v| self.int(v));
                self.out.push(0x84 + items.len() as u8);
            }
            _ => {
                self.out.push(b'(');
                items.iter().for_each(|&v| self.int(v));
                self.out.push(b't');
            }
        }
        self.memoize();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The pickle `torch.save` writes for a `[117, 512]` float tensor (the authors'
    /// `tmp/verb.pth`).
    const VERB_PTH_PICKLE: &[u8] = b"\x80\x02ctorch._utils\n_rebuild_tensor_v2\nq\x00((X\x07\x00\x00\x00storageq\x01ctorch\nFloatStorage\nq\x02X\x01\x00\x00\x000q\x03X\x03\x00\x00\x00cpuq\x04M\x00\xeatq\x05QK\x00KuM\x00\x02\x86q\x06M\x00\x02K\x01\x86q\x07\x89ccollections\nOrderedDict\nq\x08)Rq\ttq\nRq\x0b.";

    #[test]
    fn the_authors_verb_pickle_is_a_tensor() {
        match run_pickle(VERB_PTH_PICKLE) {
            Ok(Pv::Tensor {
                class,
                key,
                numel,
                offset,
                size,
                stride,
            }) => {
                assert_eq!(class, "FloatStorage");
                assert_eq!(key, "0");
                assert_eq!(numel, 117 * 512);
                assert_eq!(offset, 0);
                assert_eq!(size, vec![117, 512]);
                assert_eq!(stride, vec![512, 1]);
            }
            other => panic!("not a tensor: {other:?}"),
        }
    }

    #[test]
    fn a_dictionary_pickle_is_not_a_tensor() {
        assert!(!matches!(
            run_pickle(b"\x80\x02}q\x00."),
            Ok(Pv::Tensor { .. })
        ));
        assert!(run_pickle(b"\x80\x02").is_err());
    }
}
