//! Arrow arrays through the masking engine: each value goes, in the PostgreSQL form of its
//! Arrow type, through the same `Mask::apply_text` / `Mask::apply_binary` and `Scanner` the
//! gateway runs on result rows, and comes back as a new array of the same Arrow type. Nothing
//! here transforms a value itself; it only converts between Arrow's and PostgreSQL's layouts.
//!
//! | Arrow | PostgreSQL form the mask sees |
//! |---|---|
//! | utf8, large_utf8, utf8_view | text |
//! | binary, large_binary | bytea (binary format: the raw bytes) |
//! | int16, int32, int64 | int2, int4, int8 |
//! | float32, float64 | float4, float8 |
//! | bool | bool |
//! | decimal128 | numeric (text form) |
//! | date32 | date (days since 2000-01-01) |
//! | timestamp (any unit; with a time zone: timestamptz) | timestamp (µs since 2000-01-01) |
//! | null | every mask keeps NULL |
//! | anything else | a type the engine does not know: `null` and `redact` give NULLs, other masks refuse |

use std::sync::Arc;

use arrow_array::builder::{
    BooleanBuilder, Decimal128Builder, PrimitiveBuilder, StringViewBuilder,
};
use arrow_array::cast::AsArray;
use arrow_array::types::{
    ByteArrayType, Date32Type, Float32Type, Float64Type, GenericBinaryType, GenericStringType,
    Int16Type, Int32Type, Int64Type, TimestampMicrosecondType, TimestampMillisecondType,
    TimestampNanosecondType, TimestampSecondType,
};
use arrow_array::{
    new_null_array, Array, ArrayRef, ArrowPrimitiveType, BooleanArray, Decimal128Array,
    GenericByteArray, PrimitiveArray, StringViewArray,
};
use arrow_buffer::{ArrowNativeType, NullBufferBuilder, OffsetBuffer};
use arrow_schema::{DataType, TimeUnit};
use jitgate_masking::{Mask, MaskKey, PgTypeInfo, Scanner, Written};

use crate::error::ArrayError;

/// What happens to one column.
#[derive(Clone, Copy)]
pub enum Action<'a> {
    Mask(&'a Mask, &'a MaskKey),
    /// Text columns pass the detectors; other types are returned as they are.
    Scan(&'a Scanner),
}

/// Type OIDs of the PostgreSQL forms (fixed by PostgreSQL).
const BOOL: u32 = 16;
const BYTEA: u32 = 17;
const NUMERIC: u32 = 1700;
const INT8: u32 = 20;
const INT2: u32 = 21;
const INT4: u32 = 23;
const TEXT: u32 = 25;
const FLOAT4: u32 = 700;
const FLOAT8: u32 = 701;
const DATE: u32 = 1082;
const TIMESTAMP: u32 = 1114;
const TIMESTAMPTZ: u32 = 1184;
/// Days and microseconds from 1970-01-01 (Arrow) to 2000-01-01 (PostgreSQL).
const EPOCH_DAYS: i32 = 10_957;
const EPOCH_MICROS: i64 = 946_684_800_000_000;

/// The masked (or scanned) array: a new array of the same type, or `array` itself when a scan
/// has nothing to read.
pub fn apply(array: &ArrayRef, action: Action<'_>) -> Result<ArrayRef, ArrayError> {
    match action {
        Action::Mask(mask, key) => mask_array(array, mask, key),
        Action::Scan(scanner) => scan_array(array, scanner),
    }
}

fn mask_array(array: &ArrayRef, mask: &Mask, key: &MaskKey) -> Result<ArrayRef, ArrayError> {
    let text = |v: &[u8], out: &mut Vec<u8>| apply_text(mask, v, TEXT, key, out);
    let bytea = |v: &[u8], out: &mut Vec<u8>| apply_binary(mask, v, BYTEA, key, out);
    let masked: ArrayRef = match array.data_type() {
        DataType::Null => Arc::clone(array),
        DataType::Utf8 => Arc::new(bytes::<GenericStringType<i32>>(array.as_string(), text)?),
        DataType::LargeUtf8 => Arc::new(bytes::<GenericStringType<i64>>(array.as_string(), text)?),
        DataType::Utf8View => Arc::new(views(array.as_string_view(), text)?),
        DataType::Binary => Arc::new(bytes::<GenericBinaryType<i32>>(array.as_binary(), bytea)?),
        DataType::LargeBinary => {
            Arc::new(bytes::<GenericBinaryType<i64>>(array.as_binary(), bytea)?)
        }
        DataType::Int16 => Arc::new(fixed::<Int16Type, 2>(array, INT2, mask, key, be, from_be)?),
        DataType::Int32 => Arc::new(fixed::<Int32Type, 4>(array, INT4, mask, key, be, from_be)?),
        DataType::Int64 => Arc::new(fixed::<Int64Type, 8>(array, INT8, mask, key, be, from_be)?),
        DataType::Float32 => Arc::new(fixed::<Float32Type, 4>(
            array, FLOAT4, mask, key, be, from_be,
        )?),
        DataType::Float64 => Arc::new(fixed::<Float64Type, 8>(
            array, FLOAT8, mask, key, be, from_be,
        )?),
        DataType::Date32 => Arc::new(fixed::<Date32Type, 4>(
            array,
            DATE,
            mask,
            key,
            |d: i32| d.checked_sub(EPOCH_DAYS).map(i32::to_be_bytes),
            |b| i32::from_be_bytes(b).checked_add(EPOCH_DAYS),
        )?),
        DataType::Timestamp(unit, tz) => timestamps(array, *unit, tz.is_some(), mask, key)?,
        DataType::Boolean => Arc::new(booleans(array.as_boolean(), mask, key)?),
        DataType::Decimal128(precision, scale) => {
            Arc::new(decimals(array, *precision, *scale, mask, key)?)
        }
        other => {
            // A type the engine does not know: `null` and `redact` make NULLs (as PostgreSQL's
            // typed NULL), every other mask refuses.
            if !mask.applies_to(&PgTypeInfo::from_oid(0)) {
                return Err(ArrayError::NotApplicable {
                    mask: mask.name(),
                    data_type: other.clone(),
                });
            }
            new_null_array(other, array.len())
        }
    };
    Ok(masked)
}

fn scan_array(array: &ArrayRef, scanner: &Scanner) -> Result<ArrayRef, ArrayError> {
    if scanner.is_empty() {
        return Ok(Arc::clone(array));
    }
    let redact = |v: &[u8], out: &mut Vec<u8>| {
        scanner.redact_into(v, out);
        Ok(Written::Value)
    };
    let scanned: ArrayRef = match array.data_type() {
        DataType::Utf8 => Arc::new(bytes::<GenericStringType<i32>>(array.as_string(), redact)?),
        DataType::LargeUtf8 => {
            Arc::new(bytes::<GenericStringType<i64>>(array.as_string(), redact)?)
        }
        DataType::Utf8View => Arc::new(views(array.as_string_view(), redact)?),
        other if holds_text(other) => return Err(ArrayError::Unscannable(other.clone())),
        _ => Arc::clone(array),
    };
    Ok(scanned)
}

/// Whether text could hide inside a nested or encoded type.
fn holds_text(data_type: &DataType) -> bool {
    match data_type {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => true,
        DataType::List(f)
        | DataType::LargeList(f)
        | DataType::ListView(f)
        | DataType::LargeListView(f)
        | DataType::FixedSizeList(f, _)
        | DataType::Map(f, _) => holds_text(f.data_type()),
        DataType::Struct(fields) => fields.iter().any(|f| holds_text(f.data_type())),
        DataType::Union(fields, _) => fields.iter().any(|(_, f)| holds_text(f.data_type())),
        DataType::Dictionary(_, values) => holds_text(values),
        DataType::RunEndEncoded(_, values) => holds_text(values.data_type()),
        _ => false,
    }
}

fn apply_text(
    mask: &Mask,
    value: &[u8],
    oid: u32,
    key: &MaskKey,
    out: &mut Vec<u8>,
) -> Result<Written, ArrayError> {
    Ok(mask.apply_text(value, &PgTypeInfo::from_oid(oid), key, out)?)
}

fn apply_binary(
    mask: &Mask,
    value: &[u8],
    oid: u32,
    key: &MaskKey,
    out: &mut Vec<u8>,
) -> Result<Written, ArrayError> {
    Ok(mask.apply_binary(value, &PgTypeInfo::from_oid(oid), key, out)?)
}

/// Strings and binaries: every value's transform is appended to one values buffer.
fn bytes<T: ByteArrayType>(
    array: &GenericByteArray<T>,
    transform: impl Fn(&[u8], &mut Vec<u8>) -> Result<Written, ArrayError>,
) -> Result<GenericByteArray<T>, ArrayError> {
    let mut values = Vec::with_capacity(array.value_data().len());
    let mut offsets = Vec::with_capacity(array.len() + 1);
    offsets.push(T::Offset::usize_as(0));
    let mut nulls = NullBufferBuilder::new(array.len());
    for i in 0..array.len() {
        if array.is_null(i) {
            nulls.append_null();
        } else {
            let value: &[u8] = array.value(i).as_ref();
            match transform(value, &mut values)? {
                Written::Value => nulls.append_non_null(),
                Written::Null => nulls.append_null(),
            }
        }
        offsets.push(T::Offset::from_usize(values.len()).ok_or(ArrayError::TooLarge)?);
    }
    // Validates the offsets and, for strings, that every value is UTF-8.
    let offsets = OffsetBuffer::new(offsets.into());
    Ok(GenericByteArray::<T>::try_new(
        offsets,
        values.into(),
        nulls.finish(),
    )?)
}

fn views(
    array: &StringViewArray,
    transform: impl Fn(&[u8], &mut Vec<u8>) -> Result<Written, ArrayError>,
) -> Result<StringViewArray, ArrayError> {
    let mut builder = StringViewBuilder::with_capacity(array.len());
    let mut buf = Vec::new();
    for i in 0..array.len() {
        if array.is_null(i) {
            builder.append_null();
            continue;
        }
        buf.clear();
        match transform(array.value(i).as_bytes(), &mut buf)? {
            Written::Value => {
                let text = std::str::from_utf8(&buf).map_err(|_| ArrayError::NotUtf8)?;
                builder.try_append_value(text)?;
            }
            Written::Null => builder.append_null(),
        }
    }
    Ok(builder.finish())
}

/// Fixed-width values through the binary format: `encode` gives PostgreSQL's big-endian bytes
/// (`None`: out of PostgreSQL's range), `decode` reads the masked bytes back.
fn fixed<T: ArrowPrimitiveType, const N: usize>(
    array: &ArrayRef,
    oid: u32,
    mask: &Mask,
    key: &MaskKey,
    encode: impl Fn(T::Native) -> Option<[u8; N]>,
    decode: impl Fn([u8; N]) -> Option<T::Native>,
) -> Result<PrimitiveArray<T>, ArrayError> {
    let array = array.as_primitive::<T>();
    let out_of_range = || ArrayError::OutOfRange(array.data_type().clone());
    let mut builder = PrimitiveBuilder::<T>::with_capacity(array.len());
    let mut buf = Vec::with_capacity(N);
    for v in array.iter() {
        let Some(v) = v else {
            builder.append_null();
            continue;
        };
        buf.clear();
        let value = encode(v).ok_or_else(out_of_range)?;
        match apply_binary(mask, &value, oid, key, &mut buf)? {
            Written::Value => {
                let bytes: [u8; N] = buf.as_slice().try_into().map_err(|_| out_of_range())?;
                builder.append_value(decode(bytes).ok_or_else(out_of_range)?);
            }
            Written::Null => builder.append_null(),
        }
    }
    // Keeps the unit and time zone of timestamps.
    Ok(builder.finish().with_data_type(array.data_type().clone()))
}

fn be<T: ToBe<N>, const N: usize>(v: T) -> Option<[u8; N]> {
    Some(v.to_be())
}

fn from_be<T: ToBe<N>, const N: usize>(b: [u8; N]) -> Option<T> {
    Some(T::from_be(b))
}

/// Big-endian bytes of the fixed-width natives.
trait ToBe<const N: usize>: Sized {
    fn to_be(self) -> [u8; N];
    fn from_be(b: [u8; N]) -> Self;
}

macro_rules! to_be {
    ($($t:ty => $n:literal),*) => {$(
        impl ToBe<$n> for $t {
            fn to_be(self) -> [u8; $n] {
                self.to_be_bytes()
            }
            fn from_be(b: [u8; $n]) -> Self {
                <$t>::from_be_bytes(b)
            }
        }
    )*};
}
to_be!(i16 => 2, i32 => 4, i64 => 8, f32 => 4, f64 => 8);

/// Timestamps of any unit as PostgreSQL's microseconds since 2000-01-01. Masks give whole
/// days (redact, generalize) or NULL, which every unit represents exactly.
fn timestamps(
    array: &ArrayRef,
    unit: TimeUnit,
    zoned: bool,
    mask: &Mask,
    key: &MaskKey,
) -> Result<ArrayRef, ArrayError> {
    let oid = if zoned { TIMESTAMPTZ } else { TIMESTAMP };
    let per_micro: i64 = match unit {
        TimeUnit::Second => 1_000_000,
        TimeUnit::Millisecond => 1_000,
        TimeUnit::Microsecond => 1,
        // Nanoseconds are read as whole microseconds (toward the past), as PostgreSQL stores them.
        TimeUnit::Nanosecond => -1_000,
    };
    let encode = move |v: i64| {
        let micros = if per_micro < 0 {
            Some(v.div_euclid(-per_micro))
        } else {
            v.checked_mul(per_micro)
        };
        micros?.checked_sub(EPOCH_MICROS).map(i64::to_be_bytes)
    };
    let decode = move |b: [u8; 8]| {
        let micros = i64::from_be_bytes(b).checked_add(EPOCH_MICROS)?;
        if per_micro < 0 {
            micros.checked_mul(-per_micro)
        } else {
            Some(micros.div_euclid(per_micro))
        }
    };
    Ok(match unit {
        TimeUnit::Second => Arc::new(fixed::<TimestampSecondType, 8>(
            array, oid, mask, key, encode, decode,
        )?),
        TimeUnit::Millisecond => Arc::new(fixed::<TimestampMillisecondType, 8>(
            array, oid, mask, key, encode, decode,
        )?),
        TimeUnit::Microsecond => Arc::new(fixed::<TimestampMicrosecondType, 8>(
            array, oid, mask, key, encode, decode,
        )?),
        TimeUnit::Nanosecond => Arc::new(fixed::<TimestampNanosecondType, 8>(
            array, oid, mask, key, encode, decode,
        )?),
    })
}

fn booleans(array: &BooleanArray, mask: &Mask, key: &MaskKey) -> Result<BooleanArray, ArrayError> {
    let mut builder = BooleanBuilder::with_capacity(array.len());
    let mut buf = Vec::with_capacity(1);
    for v in array.iter() {
        let Some(v) = v else {
            builder.append_null();
            continue;
        };
        buf.clear();
        match apply_binary(mask, &[u8::from(v)], BOOL, key, &mut buf)? {
            Written::Value => match buf.as_slice() {
                [b] => builder.append_value(*b != 0),
                _ => return Err(ArrayError::OutOfRange(DataType::Boolean)),
            },
            Written::Null => builder.append_null(),
        }
    }
    Ok(builder.finish())
}

/// Decimals through numeric's text form (`-123.45`), read back at the column's precision and
/// scale; a masked value that does not fit them is an error.
fn decimals(
    array: &ArrayRef,
    precision: u8,
    scale: i8,
    mask: &Mask,
    key: &MaskKey,
) -> Result<Decimal128Array, ArrayError> {
    let array: &Decimal128Array = array.as_primitive();
    let out_of_range = || ArrayError::OutOfRange(array.data_type().clone());
    let mut builder = Decimal128Builder::with_capacity(array.len());
    let mut buf = Vec::new();
    for i in 0..array.len() {
        if array.is_null(i) {
            builder.append_null();
            continue;
        }
        buf.clear();
        let text = array.value_as_string(i);
        match apply_text(mask, text.as_bytes(), NUMERIC, key, &mut buf)? {
            Written::Value => {
                let v = parse_decimal(&buf, precision, scale).ok_or_else(out_of_range)?;
                builder.append_value(v);
            }
            Written::Null => builder.append_null(),
        }
    }
    Ok(builder
        .finish()
        .with_precision_and_scale(precision, scale)?)
}

/// `[-]digits[.digits]` as an integer scaled by `scale`, if it has at most `precision` digits
/// and no non-zero digit beyond the scale.
fn parse_decimal(text: &[u8], precision: u8, scale: i8) -> Option<i128> {
    let scale = usize::try_from(scale).ok()?;
    let (negative, text) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, text),
    };
    let (whole, fraction) = match text.iter().position(|&b| b == b'.') {
        Some(dot) => (&text[..dot], &text[dot + 1..]),
        None => (text, &text[..0]),
    };
    let digits = |part: &[u8]| part.iter().all(u8::is_ascii_digit);
    if whole.is_empty() || !digits(whole) || !digits(fraction) {
        return None;
    }
    if fraction.iter().skip(scale).any(|&b| b != b'0') {
        return None;
    }
    let mut v: i128 = 0;
    let kept = fraction.iter().take(scale);
    let padding = scale.saturating_sub(fraction.len());
    for &b in whole.iter().chain(kept) {
        v = v.checked_mul(10)?.checked_add(i128::from(b - b'0'))?;
    }
    for _ in 0..padding {
        v = v.checked_mul(10)?;
    }
    let limit = 10i128.checked_pow(u32::from(precision))?;
    (v < limit).then_some(if negative { -v } else { v })
}
