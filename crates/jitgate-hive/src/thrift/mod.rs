//! A thin codec of Thrift's binary protocol: one message (strict header, then a struct) decoded
//! into a generic tree of [`Value`]s and encoded back, byte for byte the same when nothing was
//! changed. Fields jitgate does not know (Databricks extensions, newer Hive fields) are kept as
//! they came, so a rewritten message loses nothing.
//!
//! Bounded: the caller caps the message's size, and [`Limits`] cap the nesting depth and the
//! number of values decoded (each value is at least one byte on the wire, but a tree of them
//! takes more room in memory than on the wire). Malformed input is an error, never a panic.

use bytes::Bytes;

/// Thrift's type ids on the wire.
pub mod ty {
    pub const STOP: u8 = 0;
    pub const BOOL: u8 = 2;
    pub const BYTE: u8 = 3;
    pub const DOUBLE: u8 = 4;
    pub const I16: u8 = 6;
    pub const I32: u8 = 8;
    pub const I64: u8 = 10;
    pub const STRING: u8 = 11;
    pub const STRUCT: u8 = 12;
    pub const MAP: u8 = 13;
    pub const SET: u8 = 14;
    pub const LIST: u8 = 15;
}

/// Message types.
pub const CALL: u8 = 1;
pub const REPLY: u8 = 2;
pub const EXCEPTION: u8 = 3;
pub const ONEWAY: u8 = 4;

const VERSION_1: u32 = 0x8001_0000;

mod walk;
pub use walk::Walk;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("the message ends early")]
    Truncated,
    #[error("not a strict Thrift binary-protocol message")]
    BadHeader,
    #[error("unknown Thrift type {0}")]
    BadType(u8),
    #[error("negative length")]
    NegativeLength,
    #[error("nested deeper than {0} levels")]
    TooDeep(usize),
    #[error("more than {0} values")]
    TooManyValues(usize),
    #[error("{0} bytes after the message")]
    Trailing(usize),
}

/// How much a decode may take.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_depth: usize,
    pub max_values: usize,
}

/// One value of the tree.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Bool(bool),
    Byte(i8),
    I16(i16),
    I32(i32),
    I64(i64),
    Double(f64),
    /// Thrift `string` and `binary` alike (the wire does not tell them apart).
    Binary(Bytes),
    Struct(Struct),
    Map {
        key: u8,
        value: u8,
        entries: Vec<(Value, Value)>,
    },
    List {
        elem: u8,
        items: Vec<Value>,
    },
    Set {
        elem: u8,
        items: Vec<Value>,
    },
}

/// A struct (or union): its fields in wire order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Struct {
    pub fields: Vec<(i16, Value)>,
}

/// A whole message: header and body (the arguments or result struct).
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub name: String,
    pub kind: u8,
    pub seq: i32,
    pub body: Struct,
}

impl Value {
    pub fn type_id(&self) -> u8 {
        match self {
            Value::Bool(_) => ty::BOOL,
            Value::Byte(_) => ty::BYTE,
            Value::I16(_) => ty::I16,
            Value::I32(_) => ty::I32,
            Value::I64(_) => ty::I64,
            Value::Double(_) => ty::DOUBLE,
            Value::Binary(_) => ty::STRING,
            Value::Struct(_) => ty::STRUCT,
            Value::Map { .. } => ty::MAP,
            Value::List { .. } => ty::LIST,
            Value::Set { .. } => ty::SET,
        }
    }

    pub fn as_struct(&self) -> Option<&Struct> {
        match self {
            Value::Struct(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_struct_mut(&mut self) -> Option<&mut Struct> {
        match self {
            Value::Struct(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_bytes(&self) -> Option<&Bytes> {
        match self {
            Value::Binary(b) => Some(b),
            _ => None,
        }
    }

    pub fn as_i32(&self) -> Option<i32> {
        match self {
            Value::I32(v) => Some(*v),
            _ => None,
        }
    }

    pub fn string(text: &str) -> Value {
        Value::Binary(Bytes::copy_from_slice(text.as_bytes()))
    }
}

impl Struct {
    pub fn get(&self, id: i16) -> Option<&Value> {
        self.fields.iter().find(|(i, _)| *i == id).map(|(_, v)| v)
    }

    pub fn get_mut(&mut self, id: i16) -> Option<&mut Value> {
        self.fields
            .iter_mut()
            .find(|(i, _)| *i == id)
            .map(|(_, v)| v)
    }

    /// Sets field `id` (replacing it where it is, else appending).
    pub fn set(&mut self, id: i16, value: Value) {
        match self.get_mut(id) {
            Some(v) => *v = value,
            None => self.fields.push((id, value)),
        }
    }

    pub fn remove(&mut self, id: i16) -> Option<Value> {
        let at = self.fields.iter().position(|(i, _)| *i == id)?;
        Some(self.fields.remove(at).1)
    }

    pub fn get_struct(&self, id: i16) -> Option<&Struct> {
        self.get(id).and_then(Value::as_struct)
    }

    pub fn get_struct_mut(&mut self, id: i16) -> Option<&mut Struct> {
        self.get_mut(id).and_then(Value::as_struct_mut)
    }

    /// A string field as UTF-8 (lossy: audit text only).
    pub fn get_str(&self, id: i16) -> Option<String> {
        self.get(id)
            .and_then(Value::as_bytes)
            .map(|b| String::from_utf8_lossy(b).into_owned())
    }
}

/// Decodes one message; the whole input must be that message.
pub fn decode(input: Bytes, limits: Limits) -> Result<Message, DecodeError> {
    let mut r = Reader {
        buf: input,
        pos: 0,
        limits,
        values: 0,
    };
    let header = r.u32()?;
    if header & 0xffff_0000 != VERSION_1 {
        return Err(DecodeError::BadHeader);
    }
    let kind = (header & 0xff) as u8;
    let name_bytes = r.binary()?;
    let name = String::from_utf8(name_bytes.to_vec()).map_err(|_| DecodeError::BadHeader)?;
    let seq = r.u32()? as i32;
    let body = r.structure(0)?;
    let rest = r.buf.len() - r.pos;
    if rest != 0 {
        return Err(DecodeError::Trailing(rest));
    }
    Ok(Message {
        name,
        kind,
        seq,
        body,
    })
}

struct Reader {
    buf: Bytes,
    pos: usize,
    limits: Limits,
    values: usize,
}

impl Reader {
    fn take(&mut self, n: usize) -> Result<&[u8], DecodeError> {
        let end = self.pos.checked_add(n).ok_or(DecodeError::Truncated)?;
        let slice = self.buf.get(self.pos..end).ok_or(DecodeError::Truncated)?;
        self.pos = end;
        Ok(slice)
    }

    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    fn len(&mut self) -> Result<usize, DecodeError> {
        let n = self.u32()? as i32;
        usize::try_from(n).map_err(|_| DecodeError::NegativeLength)
    }

    fn binary(&mut self) -> Result<Bytes, DecodeError> {
        let n = self.len()?;
        let start = self.pos;
        self.take(n)?;
        Ok(self.buf.slice(start..start + n))
    }

    fn count(&mut self) -> Result<(), DecodeError> {
        self.values += 1;
        if self.values > self.limits.max_values {
            return Err(DecodeError::TooManyValues(self.limits.max_values));
        }
        Ok(())
    }

    fn structure(&mut self, depth: usize) -> Result<Struct, DecodeError> {
        let mut fields = Vec::new();
        loop {
            let t = self.u8()?;
            if t == ty::STOP {
                return Ok(Struct { fields });
            }
            let id = i16::from_be_bytes(self.array()?);
            fields.push((id, self.value(t, depth + 1)?));
        }
    }

    /// A collection's element count, checked against what is left (every element is at least
    /// one byte), so that no allocation is sized by a forged count.
    fn elements(&mut self) -> Result<usize, DecodeError> {
        let n = self.len()?;
        if n > self.buf.len() - self.pos {
            return Err(DecodeError::Truncated);
        }
        Ok(n)
    }

    fn value(&mut self, t: u8, depth: usize) -> Result<Value, DecodeError> {
        if depth > self.limits.max_depth {
            return Err(DecodeError::TooDeep(self.limits.max_depth));
        }
        self.count()?;
        Ok(match t {
            ty::BOOL => Value::Bool(self.u8()? != 0),
            ty::BYTE => Value::Byte(self.u8()? as i8),
            ty::I16 => Value::I16(i16::from_be_bytes(self.array()?)),
            ty::I32 => Value::I32(i32::from_be_bytes(self.array()?)),
            ty::I64 => Value::I64(i64::from_be_bytes(self.array()?)),
            ty::DOUBLE => Value::Double(f64::from_bits(u64::from_be_bytes(self.array()?))),
            ty::STRING => Value::Binary(self.binary()?),
            ty::STRUCT => Value::Struct(self.structure(depth)?),
            ty::MAP => {
                let key = self.u8()?;
                let value = self.u8()?;
                let n = self.elements()?;
                let mut entries = Vec::with_capacity(n);
                for _ in 0..n {
                    let k = self.value(key, depth + 1)?;
                    entries.push((k, self.value(value, depth + 1)?));
                }
                Value::Map {
                    key,
                    value,
                    entries,
                }
            }
            ty::LIST | ty::SET => {
                let elem = self.u8()?;
                let n = self.elements()?;
                let mut items = Vec::with_capacity(n);
                for _ in 0..n {
                    items.push(self.value(elem, depth + 1)?);
                }
                if t == ty::LIST {
                    Value::List { elem, items }
                } else {
                    Value::Set { elem, items }
                }
            }
            other => return Err(DecodeError::BadType(other)),
        })
    }
}

/// Encodes a message.
pub fn encode(message: &Message) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(&(VERSION_1 | u32::from(message.kind)).to_be_bytes());
    put_binary(&mut out, message.name.as_bytes());
    out.extend_from_slice(&message.seq.to_be_bytes());
    put_struct(&mut out, &message.body);
    out
}

fn put_binary(out: &mut Vec<u8>, b: &[u8]) {
    // Lengths come from decoded input or jitgate's own texts, far below 2 GiB.
    out.extend_from_slice(&(b.len() as i32).to_be_bytes());
    out.extend_from_slice(b);
}

fn put_struct(out: &mut Vec<u8>, s: &Struct) {
    for (id, v) in &s.fields {
        out.push(v.type_id());
        out.extend_from_slice(&id.to_be_bytes());
        put_value(out, v);
    }
    out.push(ty::STOP);
}

fn put_value(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Bool(b) => out.push(u8::from(*b)),
        Value::Byte(b) => out.push(*b as u8),
        Value::I16(x) => out.extend_from_slice(&x.to_be_bytes()),
        Value::I32(x) => out.extend_from_slice(&x.to_be_bytes()),
        Value::I64(x) => out.extend_from_slice(&x.to_be_bytes()),
        Value::Double(x) => out.extend_from_slice(&x.to_bits().to_be_bytes()),
        Value::Binary(b) => put_binary(out, b),
        Value::Struct(s) => put_struct(out, s),
        Value::Map {
            key,
            value,
            entries,
        } => {
            out.push(*key);
            out.push(*value);
            out.extend_from_slice(&(entries.len() as i32).to_be_bytes());
            for (k, v) in entries {
                put_value(out, k);
                put_value(out, v);
            }
        }
        Value::List { elem, items } | Value::Set { elem, items } => {
            out.push(*elem);
            out.extend_from_slice(&(items.len() as i32).to_be_bytes());
            for item in items {
                put_value(out, item);
            }
        }
    }
}

#[cfg(test)]
mod tests;
