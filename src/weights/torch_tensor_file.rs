//! `torch.save` of a bare tensor (the authors' `verb.pth`, `torch.save(tensor, path)`): a zip
//! whose pickle rebuilds one tensor from one storage. Burn's PyTorch reader and
//! [`super::WeightMap`] read dictionaries of tensors; this reads the bare case. Like
//! [`super::pickle_args`], it interprets only the opcodes such a file uses and never executes
//! code: any other opcode or global is an error.

use std::collections::HashMap;
use std::path::Path;

use super::torch_zip::TorchZip;
use crate::error::Result;

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
            b'q' | b'r' => {
                let idx = r.uint(if op == b'q' { 1 } else { 4 })?;
                let top = stack.last().cloned().ok_or("memo of an empty stack")?;
                memo.insert(idx, top);
            }
            0x94 => {
                let top = stack.last().cloned().ok_or("memo of an empty stack")?;
                memo.insert(memo.len() as u64, top);
            }
            b'h' | b'j' => {
                let idx = r.uint(if op == b'h' { 1 } else { 4 })?;
                stack.push(memo.get(&idx).cloned().ok_or("unknown memo entry")?);
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
                stack.push(Pv::Tuple(items));
            }
            b't' => {
                let items = pop_mark(&mut stack)?;
                stack.push(Pv::Tuple(items));
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
    let count: usize = size.iter().product();
    let mut values = Vec::with_capacity(count);
    let mut index = vec![0usize; size.len()];
    for _ in 0..count {
        let at = offset + index.iter().zip(&stride).map(|(i, s)| i * s).sum::<usize>();
        if at >= numel {
            return Err(zip.error(format!(
                "tensor of shape {size:?} (stride {stride:?}, offset {offset}) reads past its \
                 storage of {numel} elements"
            )));
        }
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
