//! Reading the plain-Python entries of a PyTorch checkpoint (`args`, `epoch`), which the
//! tensor reader does not keep: an `argparse.Namespace` is a class instance whose attributes
//! live in its pickled `BUILD` state.
//!
//! A deliberately small pickle interpreter (protocols 2–5, the opcodes `torch.save`
//! writes): it builds Python values, turns tensors (persistent ids) and class instances
//! into opaque values that keep their `BUILD` state, and never executes anything.

use std::collections::HashMap;
use std::path::Path;

use super::torch_zip::TorchZip;
use crate::error::Result;

/// A Python value from a checkpoint's pickle, as far as configuration needs it.
#[derive(Clone, Debug, PartialEq)]
pub enum ArgValue {
    /// `None`.
    None,
    /// `True` / `False`.
    Bool(bool),
    /// An `int` that fits an `i64`.
    Int(i64),
    /// A `float`.
    Float(f64),
    /// A `str`.
    Str(String),
    /// A `list` or `tuple`.
    List(Vec<ArgValue>),
    /// A `dict` with string keys (entries with other keys are dropped).
    Dict(HashMap<String, ArgValue>),
    /// Anything else (a tensor, a class, an object without dict state), by its Python type.
    Other(String),
}

/// A value on the interpreter's stack.
#[derive(Clone, Debug)]
enum Value {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Bytes,
    List(Vec<Value>),
    Tuple(Vec<Value>),
    Dict(Vec<(Value, Value)>),
    Global(String),
    /// A class instance or call result: its type name and its `BUILD` state, if any.
    Object(String, Option<Box<Value>>),
    Mark,
}

/// Containers nested deeper than this read as [`ArgValue::Other`] (bounds the recursion on
/// crafted files).
const MAX_DEPTH: usize = 64;

impl Value {
    fn into_arg(self) -> ArgValue {
        self.into_arg_at(0)
    }

    fn into_arg_at(self, depth: usize) -> ArgValue {
        if depth > MAX_DEPTH {
            return ArgValue::Other("nested too deep".into());
        }
        let inner = |v: Value| v.into_arg_at(depth + 1);
        match self {
            Value::None => ArgValue::None,
            Value::Bool(b) => ArgValue::Bool(b),
            Value::Int(i) => ArgValue::Int(i),
            Value::Float(f) => ArgValue::Float(f),
            Value::Str(s) => ArgValue::Str(s),
            Value::List(items) | Value::Tuple(items) => {
                ArgValue::List(items.into_iter().map(inner).collect())
            }
            Value::Dict(entries) => ArgValue::Dict(
                entries
                    .into_iter()
                    .filter_map(|(k, v)| match k {
                        Value::Str(k) => Some((k, inner(v))),
                        _ => None,
                    })
                    .collect(),
            ),
            // An object whose state is a dict (argparse.Namespace, most plain classes) reads
            // as that dict.
            Value::Object(_, Some(state)) if matches!(*state, Value::Dict(_)) => {
                state.into_arg_at(depth)
            }
            Value::Object(name, _) | Value::Global(name) => ArgValue::Other(name),
            Value::Bytes => ArgValue::Other("bytes".into()),
            Value::Mark => ArgValue::Other("mark".into()),
        }
    }
}

/// Containers nested deeper than this make the pickle an error: it bounds the recursion of
/// dropping, cloning and converting values (a 2 MB pickle can nest a million lists). Real
/// checkpoints nest a few levels.
const MAX_NESTING: usize = 512;

/// What copies of memo entries (`BINGET`, `BINPUT`, `DUP`) may allocate, in bytes per byte
/// of pickle plus a constant: Python shares memo entries, this interpreter copies them, so
/// a few bytes re-reading an entry into itself would otherwise double a list per opcode.
const COPY_BUDGET_PER_BYTE: usize = 64;
const COPY_BUDGET_BASE: usize = 16 << 20;

/// The size a value is charged for when copied: about its memory, in bytes.
fn copy_cost(v: &Value, limit: usize) -> usize {
    let node = std::mem::size_of::<Value>();
    match v {
        Value::Str(s) | Value::Global(s) => node + s.len(),
        Value::List(items) | Value::Tuple(items) => {
            let mut cost = node;
            for item in items {
                if cost > limit {
                    break;
                }
                cost += copy_cost(item, limit - cost);
            }
            cost
        }
        Value::Dict(entries) => {
            let mut cost = node;
            for (k, item) in entries {
                if cost > limit {
                    break;
                }
                cost += copy_cost(k, limit - cost);
                if cost <= limit {
                    cost += copy_cost(item, limit - cost);
                }
            }
            cost
        }
        Value::Object(name, state) => {
            node + name.len()
                + state
                    .as_ref()
                    .map_or(0, |s| copy_cost(s, limit.saturating_sub(node + name.len())))
        }
        _ => node,
    }
}

/// Take the cost of copying `v` from `budget`; `false` (and nothing taken) when it does not
/// fit.
fn charge(budget: &mut usize, v: &Value) -> bool {
    let cost = copy_cost(v, *budget);
    if cost > *budget {
        return false;
    }
    *budget -= cost;
    true
}

/// The depth of a container holding values nested `inner` deep; an error past
/// [`MAX_NESTING`].
fn nest(inner: usize) -> PResult<usize> {
    let depth = inner + 1;
    if depth > MAX_NESTING {
        return Err(format!(
            "containers nested more than {MAX_NESTING} deep (not a checkpoint)"
        ));
    }
    Ok(depth)
}

/// Entries as values, and the deepest nesting among them.
fn split_depths(entries: Vec<Entry>) -> (Vec<Value>, usize) {
    let depth = entries.iter().map(|(_, d)| *d).max().unwrap_or(0);
    (entries.into_iter().map(|(v, _)| v).collect(), depth)
}

/// A stack or memo entry: a value and how deep its containers nest (0: not a container, or
/// an empty one).
type Entry = (Value, usize);

struct Machine<'a> {
    data: &'a [u8],
    pos: usize,
    stack: Vec<Entry>,
    memo: HashMap<u32, Entry>,
    /// Bytes that copies of values may still allocate.
    copy_budget: usize,
}

/// Why a pickle could not be read.
type PResult<T> = std::result::Result<T, String>;

impl<'a> Machine<'a> {
    fn take(&mut self, n: usize) -> PResult<&'a [u8]> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.data.len())
            .ok_or_else(|| format!("truncated at byte {}", self.pos))?;
        let bytes = &self.data[self.pos..end];
        self.pos = end;
        Ok(bytes)
    }

    fn uint(&mut self, n: usize) -> PResult<u64> {
        let bytes = self.take(n)?;
        Ok(bytes
            .iter()
            .rev()
            .fold(0u64, |acc, &b| (acc << 8) | u64::from(b)))
    }

    fn len(&mut self, n: usize) -> PResult<usize> {
        usize::try_from(self.uint(n)?).map_err(|_| "length too large".to_string())
    }

    fn line(&mut self) -> PResult<String> {
        let rest = &self.data[self.pos..];
        let end = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or("unterminated text line")?;
        let text = String::from_utf8_lossy(&rest[..end]).into_owned();
        self.pos += end + 1;
        Ok(text)
    }

    fn text(&mut self, n: usize) -> PResult<String> {
        let len = self.len(n)?;
        Ok(String::from_utf8_lossy(self.take(len)?).into_owned())
    }

    fn pop(&mut self) -> PResult<Value> {
        self.pop_entry().map(|(v, _)| v)
    }

    fn pop_entry(&mut self) -> PResult<Entry> {
        self.stack
            .pop()
            .ok_or_else(|| "stack underflow".to_string())
    }

    /// A value that is not a container (or an empty one).
    fn push(&mut self, v: Value) {
        self.stack.push((v, 0));
    }

    /// A container holding values nested `inner` deep.
    fn push_container(&mut self, v: Value, inner: usize) -> PResult<()> {
        let depth = nest(inner)?;
        self.stack.push((v, depth));
        Ok(())
    }

    /// The items above the topmost MARK and how deep the deepest of them nests.
    fn pop_mark(&mut self) -> PResult<(Vec<Value>, usize)> {
        let mark = self
            .stack
            .iter()
            .rposition(|(v, _)| matches!(v, Value::Mark))
            .ok_or("MARK missing")?;
        let entries = self.stack.split_off(mark + 1);
        self.stack.pop();
        Ok(split_depths(entries))
    }

    fn top(&mut self) -> PResult<&mut Value> {
        self.stack
            .last_mut()
            .map(|(v, _)| v)
            .ok_or_else(|| "stack underflow".to_string())
    }

    /// The top entry now holds values nested `inner` deep.
    fn deepen_top(&mut self, inner: usize) -> PResult<()> {
        let depth = nest(inner)?;
        let top = self
            .stack
            .last_mut()
            .ok_or_else(|| "stack underflow".to_string())?;
        top.1 = top.1.max(depth);
        Ok(())
    }

    /// The error of an exhausted copy budget.
    fn budget_error(&self) -> String {
        format!(
            "the pickle copies more than {} bytes of values through its memo (a memo bomb, or \
             not a checkpoint)",
            COPY_BUDGET_PER_BYTE * self.data.len() + COPY_BUDGET_BASE
        )
    }

    /// `BINPUT`: a copy of the top entry into the memo, charged to the copy budget before
    /// it is made.
    fn memo_put(&mut self, i: u32) -> PResult<()> {
        let top = self.stack.last().ok_or("stack underflow")?;
        if !charge(&mut self.copy_budget, &top.0) {
            return Err(self.budget_error());
        }
        let copy = top.clone();
        self.memo.insert(i, copy);
        Ok(())
    }

    /// `BINGET`: a copy of a memo entry onto the stack, charged likewise.
    fn memo_get(&mut self, i: u32) -> PResult<()> {
        let entry = self
            .memo
            .get(&i)
            .ok_or_else(|| format!("memo entry {i} missing"))?;
        if !charge(&mut self.copy_budget, &entry.0) {
            return Err(self.budget_error());
        }
        let copy = entry.clone();
        self.stack.push(copy);
        Ok(())
    }

    /// `DUP`: a copy of the top entry, charged likewise.
    fn dup(&mut self) -> PResult<()> {
        let top = self.stack.last().ok_or("stack underflow")?;
        if !charge(&mut self.copy_budget, &top.0) {
            return Err(self.budget_error());
        }
        let copy = top.clone();
        self.stack.push(copy);
        Ok(())
    }

    fn push_items(&mut self, items: Vec<Value>) -> PResult<()> {
        match self.top()? {
            Value::List(list) => list.extend(items),
            Value::Object(..) => {}
            other => return Err(format!("APPEND to a {other:?}")),
        }
        Ok(())
    }

    fn set_items(&mut self, items: Vec<Value>) -> PResult<()> {
        if !items.len().is_multiple_of(2) {
            return Err("SETITEMS with an odd number of items".into());
        }
        let mut pairs = Vec::with_capacity(items.len() / 2);
        let mut it = items.into_iter();
        while let (Some(k), Some(v)) = (it.next(), it.next()) {
            pairs.push((k, v));
        }
        match self.top()? {
            Value::Dict(dict) => dict.extend(pairs),
            // A dict subclass (OrderedDict, Counter) built by REDUCE: keep its items as state.
            Value::Object(_, state) => {
                let entry = state.get_or_insert_with(|| Box::new(Value::Dict(Vec::new())));
                if let Value::Dict(dict) = entry.as_mut() {
                    dict.extend(pairs);
                }
            }
            other => return Err(format!("SETITEM on a {other:?}")),
        }
        Ok(())
    }

    fn run(mut self) -> PResult<Value> {
        loop {
            let op = self.take(1)?[0];
            match op {
                0x80 => {
                    self.take(1)?; // PROTO
                }
                0x95 => {
                    self.take(8)?; // FRAME
                }
                b'.' => return self.pop(), // STOP
                b'(' => self.push(Value::Mark),
                b'0' => {
                    self.pop()?;
                }
                b'1' => {
                    self.pop_mark()?;
                }
                b'2' => self.dup()?,
                b'N' => self.push(Value::None),
                0x88 => self.push(Value::Bool(true)),
                0x89 => self.push(Value::Bool(false)),
                b'J' => {
                    let v = self.uint(4)? as u32 as i32;
                    self.push(Value::Int(i64::from(v)));
                }
                b'K' => {
                    let v = self.uint(1)?;
                    self.push(Value::Int(v as i64));
                }
                b'M' => {
                    let v = self.uint(2)?;
                    self.push(Value::Int(v as i64));
                }
                0x8a => {
                    let n = self.len(1)?;
                    let bytes = self.take(n)?;
                    self.push(long_value(bytes));
                }
                0x8b => {
                    let n = self.len(4)?;
                    let bytes = self.take(n)?;
                    self.push(long_value(bytes));
                }
                b'G' => {
                    let bytes: [u8; 8] = self.take(8)?.try_into().map_err(|_| "float")?;
                    self.push(Value::Float(f64::from_be_bytes(bytes)));
                }
                b'I' | b'L' => {
                    let line = self.line()?;
                    let value = match line.trim_end_matches('L') {
                        "01" => Value::Bool(true),
                        "00" => Value::Bool(false),
                        digits => digits
                            .parse::<i64>()
                            .map_or(Value::Object("int".into(), None), Value::Int),
                    };
                    self.push(value);
                }
                b'F' => {
                    let line = self.line()?;
                    let v = line.trim().parse::<f64>().map_err(|e| e.to_string())?;
                    self.push(Value::Float(v));
                }
                b'X' => {
                    let s = self.text(4)?;
                    self.push(Value::Str(s));
                }
                0x8c => {
                    let s = self.text(1)?;
                    self.push(Value::Str(s));
                }
                0x8d => {
                    let s = self.text(8)?;
                    self.push(Value::Str(s));
                }
                b'T' => {
                    let s = self.text(4)?;
                    self.push(Value::Str(s));
                }
                b'U' => {
                    let s = self.text(1)?;
                    self.push(Value::Str(s));
                }
                b'B' => {
                    let n = self.len(4)?;
                    self.take(n)?;
                    self.push(Value::Bytes);
                }
                b'C' => {
                    let n = self.len(1)?;
                    self.take(n)?;
                    self.push(Value::Bytes);
                }
                0x8e => {
                    let n = self.len(8)?;
                    self.take(n)?;
                    self.push(Value::Bytes);
                }
                0x96 => {
                    let n = self.len(8)?;
                    self.take(n)?;
                    self.push(Value::Bytes);
                }
                b'}' => self.push(Value::Dict(Vec::new())),
                b']' => self.push(Value::List(Vec::new())),
                b')' => self.push(Value::Tuple(Vec::new())),
                0x8f => self.push(Value::List(Vec::new())), // EMPTY_SET
                b'd' => {
                    let (items, inner) = self.pop_mark()?;
                    self.push_container(Value::Dict(Vec::new()), inner)?;
                    self.set_items(items)?;
                }
                b'l' => {
                    let (items, inner) = self.pop_mark()?;
                    self.push_container(Value::List(items), inner)?;
                }
                b't' => {
                    let (items, inner) = self.pop_mark()?;
                    self.push_container(Value::Tuple(items), inner)?;
                }
                0x91 => {
                    let (items, inner) = self.pop_mark()?; // FROZENSET
                    self.push_container(Value::List(items), inner)?;
                }
                0x85..=0x87 => {
                    let n = usize::from(op - 0x84);
                    let at = self.stack.len().checked_sub(n).ok_or("stack underflow")?;
                    let (items, inner) = split_depths(self.stack.split_off(at));
                    self.push_container(Value::Tuple(items), inner)?;
                }
                b'a' => {
                    let (item, inner) = self.pop_entry()?;
                    self.deepen_top(inner)?;
                    self.push_items(vec![item])?;
                }
                b'e' | 0x90 => {
                    let (items, inner) = self.pop_mark()?; // APPENDS, ADDITEMS
                    self.deepen_top(inner)?;
                    self.push_items(items)?;
                }
                b's' => {
                    let (v, vd) = self.pop_entry()?;
                    let (k, kd) = self.pop_entry()?;
                    self.deepen_top(vd.max(kd))?;
                    self.set_items(vec![k, v])?;
                }
                b'u' => {
                    let (items, inner) = self.pop_mark()?;
                    self.deepen_top(inner)?;
                    self.set_items(items)?;
                }
                b'q' => {
                    let i = self.uint(1)? as u32;
                    self.memo_put(i)?;
                }
                b'r' => {
                    let i = self.uint(4)? as u32;
                    self.memo_put(i)?;
                }
                0x94 => {
                    let i = self.memo.len() as u32;
                    self.memo_put(i)?;
                }
                b'h' | b'j' => {
                    let i = self.uint(if op == b'h' { 1 } else { 4 })? as u32;
                    self.memo_get(i)?;
                }
                b'c' => {
                    let module = self.line()?;
                    let name = self.line()?;
                    self.push(Value::Global(format!("{module}.{name}")));
                }
                0x93 => {
                    let name = self.pop()?;
                    let module = self.pop()?;
                    let text = |v: Value| match v {
                        Value::Str(s) => s,
                        _ => "?".into(),
                    };
                    self.push(Value::Global(format!("{}.{}", text(module), text(name))));
                }
                b'R' | 0x81 => {
                    let _args = self.pop()?; // REDUCE, NEWOBJ
                    let callable = self.pop()?;
                    let name = match callable {
                        Value::Global(name) | Value::Object(name, _) => name,
                        other => format!("{other:?}"),
                    };
                    self.push(Value::Object(name, None));
                }
                0x92 => {
                    let _kwargs = self.pop()?; // NEWOBJ_EX
                    let _args = self.pop()?;
                    let callable = self.pop()?;
                    let name = match callable {
                        Value::Global(name) => name,
                        other => format!("{other:?}"),
                    };
                    self.push(Value::Object(name, None));
                }
                b'b' => {
                    let (state, inner) = self.pop_entry()?;
                    self.deepen_top(inner)?;
                    match self.top()? {
                        Value::Object(_, slot) => {
                            // (dict, slots) state tuples: keep the dict.
                            let state = match state {
                                Value::Tuple(mut parts) if parts.len() == 2 => parts.remove(0),
                                s => s,
                            };
                            *slot = Some(Box::new(state));
                        }
                        Value::Dict(dict) => {
                            if let Value::Dict(update) = state {
                                dict.extend(update);
                            }
                        }
                        _ => {}
                    }
                }
                b'Q' => {
                    self.pop()?; // BINPERSID: a tensor storage
                    self.push(Value::Object("torch.Storage".into(), None));
                }
                b'P' => {
                    self.line()?;
                    self.push(Value::Object("torch.Storage".into(), None));
                }
                other => return Err(format!("unsupported pickle opcode 0x{other:02x}")),
            }
        }
    }
}

fn long_value(bytes: &[u8]) -> Value {
    if bytes.is_empty() {
        return Value::Int(0);
    }
    if bytes.len() > 8 {
        return Value::Object("int".into(), None);
    }
    let negative = bytes[bytes.len() - 1] & 0x80 != 0;
    let mut v: u64 = if negative { u64::MAX } else { 0 };
    for (i, &b) in bytes.iter().enumerate() {
        v &= !(0xffu64 << (8 * i));
        v |= u64::from(b) << (8 * i);
    }
    Value::Int(v as i64)
}

/// Interpret a pickle (no tensors are read) and return its top-level value.
fn interpret(data: &[u8]) -> PResult<ArgValue> {
    let machine = Machine {
        data,
        pos: 0,
        stack: Vec::new(),
        memo: HashMap::new(),
        copy_budget: COPY_BUDGET_PER_BYTE
            .saturating_mul(data.len())
            .saturating_add(COPY_BUDGET_BASE),
    };
    machine.run().map(Value::into_arg)
}

/// The top-level dict of a `torch.save` zip checkpoint, with plain Python values (tensors
/// and unknown objects as [`ArgValue::Other`]); `Ok(None)` for a file that is not a zip
/// checkpoint (safetensors, legacy `.pth`), which holds no readable `args`.
///
/// # Errors
///
/// [`crate::HoiclipError::Io`] if the file cannot be read,
/// [`crate::HoiclipError::WeightFile`] if it is a
/// zip without a readable `data.pkl`.
pub fn read_checkpoint_entries(path: &Path) -> Result<Option<HashMap<String, ArgValue>>> {
    let Some(mut zip) = TorchZip::open(path)? else {
        return Ok(None);
    };
    let name = zip
        .pickle_name()
        .map(str::to_string)
        .ok_or_else(|| zip.error("zip archive without a data.pkl entry"))?;
    let data = zip.read(&name)?;
    match interpret(&data).map_err(|e| zip.error(format!("{name}: {e}")))? {
        ArgValue::Dict(entries) => Ok(Some(entries)),
        _ => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long1_is_little_endian_twos_complement() {
        assert!(matches!(long_value(&[0xff]), Value::Int(-1)));
        assert!(matches!(long_value(&[0x00, 0x01]), Value::Int(256)));
        assert!(matches!(long_value(&[]), Value::Int(0)));
    }

    #[test]
    fn namespace_state_reads_as_a_dict() {
        // pickle.dumps(argparse.Namespace(a=1, b='x'), protocol=2)
        let data = b"\x80\x02cargparse\nNamespace\nq\x00)\x81q\x01}q\x02(X\x01\x00\x00\x00aq\x03K\x01X\x01\x00\x00\x00bq\x04X\x01\x00\x00\x00xq\x05ub.";
        let value = interpret(data).expect("valid pickle");
        let ArgValue::Dict(d) = value else {
            panic!("expected a dict, got {value:?}");
        };
        assert_eq!(d.get("a"), Some(&ArgValue::Int(1)));
        assert_eq!(d.get("b"), Some(&ArgValue::Str("x".into())));
    }

    #[test]
    fn deep_nesting_is_cut_off() {
        // 100 nested lists: `]` (EMPTY_LIST) then APPEND into the one below, repeated; read
        // back cut off at MAX_DEPTH.
        let nested = |n: usize| {
            let mut data = vec![0x80, 0x02];
            data.extend(std::iter::repeat_n(b']', n));
            data.extend(std::iter::repeat_n(b'a', n - 1));
            data.push(b'.');
            data
        };
        let value = interpret(&nested(100)).expect("valid pickle");
        assert!(matches!(value, ArgValue::List(_)));
        // Deeper than MAX_NESTING: an error, not a stack overflow.
        let err = interpret(&nested(100_000)).expect_err("too deep");
        assert!(err.contains("nested"), "{err}");
    }

    #[test]
    fn memo_copies_are_bounded() {
        // A list re-read from the memo and appended to itself doubles with every 4 bytes.
        let mut data = b"\x80\x02]q\x00".to_vec();
        for _ in 0..64 {
            data.extend_from_slice(b"h\x00aq\x00");
        }
        data.push(b'.');
        let err = interpret(&data).expect_err("memo bomb");
        assert!(err.contains("memo"), "{err}");
    }

    #[test]
    fn truncated_pickle_is_an_error() {
        assert!(interpret(b"\x80\x02}q\x00(X\x05\x00").is_err());
    }
}
