//! A small reader of numpy `.npy` files: the 2-D numeric arrays the evaluations load
//! (`corre_hico.npy`, `corre_vcoco.npy`).

/// A 2-D `.npy` array as `(rows, columns, row-major values as f64)`: dtypes `f8`, `f4`,
/// `i8`, `u8`, `i4`, `u4`, `i2`, `u2`, `i1`, `u1`, `b1` (little-endian), C or Fortran order,
/// format versions 1-3.
///
/// # Errors
///
/// A message (the caller adds the file name) for a bad magic or header, an unsupported
/// dtype, a shape that is not 2-D, or a file shorter than its shape and dtype need.
pub(crate) fn read_2d(bytes: &[u8]) -> std::result::Result<(usize, usize, Vec<f64>), String> {
    let array = NpyArray::parse(bytes)?;
    let [rows, columns] = array.shape[..] else {
        return Err(format!("shape {:?}, expected 2 dimensions", array.shape));
    };
    // `parse` checked that the data holds rows × columns elements, so this cannot overflow
    // and is bounded by the file's size.
    let mut values = vec![0.0; rows * columns];
    for r in 0..rows {
        for c in 0..columns {
            let k = if array.fortran {
                c * rows + r
            } else {
                r * columns + c
            };
            values[r * columns + c] = array.value(k);
        }
    }
    Ok((rows, columns, values))
}

/// A parsed `.npy` array: shape, order and the raw data with its dtype.
struct NpyArray<'b> {
    shape: Vec<usize>,
    fortran: bool,
    kind: NpyKind,
    data: &'b [u8],
}

#[derive(Clone, Copy)]
enum NpyKind {
    F8,
    F4,
    Int { width: usize, signed: bool },
    Bool,
}

impl<'b> NpyArray<'b> {
    fn parse(bytes: &'b [u8]) -> std::result::Result<Self, String> {
        if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
            return Err("not a .npy file (bad magic)".into());
        }
        let (header_len, start): (usize, usize) = match bytes[6] {
            1 => (usize::from(u16::from_le_bytes([bytes[8], bytes[9]])), 10),
            2 | 3 if bytes.len() >= 12 => (
                u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
                12,
            ),
            v => return Err(format!("unsupported .npy version {v}")),
        };
        let header = start
            .checked_add(header_len)
            .and_then(|end| bytes.get(start..end))
            .and_then(|h| std::str::from_utf8(h).ok())
            .ok_or("truncated header")?;
        let descr = dict_value(header, "descr")
            .map(|v| v.trim().trim_matches(|c| c == '\'' || c == '"').to_string())
            .ok_or("header has no `descr`")?;
        let fortran = dict_value(header, "fortran_order").is_some_and(|v| v.trim() == "True");
        let shape_text = dict_value(header, "shape").ok_or("header has no `shape`")?;
        let shape = shape_text
            .trim()
            .trim_matches(|c| c == '(' || c == ')')
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<usize>()
                    .map_err(|_| format!("bad shape {shape_text}"))
            })
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let kind = match descr.as_str() {
            "<f8" => NpyKind::F8,
            "<f4" => NpyKind::F4,
            "<i8" => NpyKind::Int {
                width: 8,
                signed: true,
            },
            "<u8" => NpyKind::Int {
                width: 8,
                signed: false,
            },
            "<i4" => NpyKind::Int {
                width: 4,
                signed: true,
            },
            "<u4" => NpyKind::Int {
                width: 4,
                signed: false,
            },
            "<i2" => NpyKind::Int {
                width: 2,
                signed: true,
            },
            "<u2" => NpyKind::Int {
                width: 2,
                signed: false,
            },
            "|i1" => NpyKind::Int {
                width: 1,
                signed: true,
            },
            "|u1" => NpyKind::Int {
                width: 1,
                signed: false,
            },
            "|b1" => NpyKind::Bool,
            other => return Err(format!("unsupported dtype {other}")),
        };
        let data = &bytes[start + header_len..];
        // The shape is file content: an element count or byte size that overflows is as
        // wrong as one the data cannot fill (checked before anything is allocated).
        let need = shape
            .iter()
            .try_fold(kind.width(), |n, &d| n.checked_mul(d))
            .ok_or_else(|| format!("shape {shape:?} needs more bytes than can be addressed"))?;
        if data.len() < need {
            return Err(format!(
                "data holds {} bytes, shape {shape:?} and dtype {descr} need {need}",
                data.len()
            ));
        }
        Ok(Self {
            shape,
            fortran,
            kind,
            data: &data[..need],
        })
    }

    /// Element `k` in storage order, as f64 (the reference's `np.concatenate` with float64
    /// ones promotes every dtype to float64).
    fn value(&self, k: usize) -> f64 {
        let w = self.kind.width();
        let b = &self.data[k * w..(k + 1) * w];
        let mut raw = [0u8; 8];
        raw[..w].copy_from_slice(b);
        match self.kind {
            NpyKind::F8 => f64::from_le_bytes(raw),
            NpyKind::F4 => f64::from(f32::from_le_bytes([raw[0], raw[1], raw[2], raw[3]])),
            NpyKind::Bool => f64::from(u8::from(raw[0] != 0)),
            NpyKind::Int { width, signed } => {
                let u = u64::from_le_bytes(raw);
                if signed && width < 8 && (u >> (8 * width - 1)) & 1 == 1 {
                    // Sign-extend.
                    (u | (u64::MAX << (8 * width))) as i64 as f64
                } else if signed {
                    u as i64 as f64
                } else {
                    u as f64
                }
            }
        }
    }
}

impl NpyKind {
    fn width(self) -> usize {
        match self {
            NpyKind::F8 => 8,
            NpyKind::F4 => 4,
            NpyKind::Int { width, .. } => width,
            NpyKind::Bool => 1,
        }
    }
}

/// The text after `'key':` in a `.npy` header dict, up to the next top-level comma (a tuple
/// counts as one value).
fn dict_value<'h>(header: &'h str, key: &str) -> Option<&'h str> {
    let pos = header
        .find(&format!("'{key}'"))
        .or_else(|| header.find(&format!("\"{key}\"")))?;
    let rest = header[pos + key.len() + 2..]
        .trim_start()
        .strip_prefix(':')?;
    let mut depth = 0i32;
    for (i, ch) in rest.char_indices() {
        match ch {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' | '}' if depth == 0 => return Some(&rest[..i]),
            _ => {}
        }
    }
    Some(rest)
}
