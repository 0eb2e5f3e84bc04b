//! Content detection over Spark Connect query results.
//!
//! Spark Connect returns rows as `ExecutePlanResponse.arrow_batch.data`: the bytes of an Arrow IPC
//! *stream* (a schema message, record batches, usually an end-of-stream marker). For masked
//! subjects every string value in those batches must go through the content detectors, as a
//! second line of defence behind the SQL masks: a computed column or a UDF can carry an SSN past
//! a column-level policy.
//!
//! The common case is that nothing is found, so that path decodes zero-copy, scans each value in
//! place and hands back [`Scanned::Unchanged`]: the caller relays the bytes it already holds. Only
//! a batch stream with a finding is rebuilt (the affected arrays only) and re-encoded.
//!
//! Scanned: `Utf8`, `LargeUtf8`, `Utf8View`, and strings nested in `Struct`, `List`, `LargeList`,
//! `FixedSizeList`, `Map` (keys and values) and `Dictionary` values, to any depth. Strings inside
//! types this module does not rebuild (`Union`, `RunEndEncoded`, `ListView`, `LargeListView`)
//! fail closed with [`ScanError::Unscannable`] rather than passing unscanned. Binary columns
//! are not text and are passed through as they are.

use std::borrow::Cow;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use arrow_array::builder::{GenericStringBuilder, StringViewBuilder};
use arrow_array::cast::AsArray;
use arrow_array::{
    Array, ArrayAccessor, ArrayRef, FixedSizeListArray, GenericListArray, GenericStringArray,
    MapArray, OffsetSizeTrait, RecordBatch, RecordBatchOptions, StringViewArray, StructArray,
};
use arrow_buffer::Buffer;
use arrow_ipc::reader::StreamDecoder;
use arrow_ipc::writer::StreamWriter;
use arrow_schema::{ArrowError, DataType};
use jitgate_masking::Scanner;

/// What scanning one Arrow IPC stream found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scanned {
    /// No string value needed redaction: relay the bytes unchanged (the common case must not
    /// copy or re-encode).
    Unchanged,
    /// Some values were redacted: the re-encoded IPC stream (same schema, same row count), and
    /// how many values were redacted.
    Redacted { ipc: Vec<u8>, values: usize },
}

/// Why a stream could not be scanned. Every variant means the bytes must not be relayed to a
/// masked subject: the gateway cannot vouch for what it could not read.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    /// Not a readable Arrow IPC stream: corrupt, truncated, invalid UTF-8 in a string column, or
    /// compressed (LZ4/ZSTD buffer compression is not compiled in; Spark does not compress by
    /// default).
    #[error("unreadable Arrow IPC stream: {0}")]
    Decode(#[source] ArrowError),
    /// No schema message: even an empty result starts with one.
    #[error("Arrow IPC stream has no schema message")]
    NoSchema,
    /// A column whose type can hold strings in a shape this module does not rebuild.
    #[error("column {column:?} of type {data_type} may hold strings that cannot be scanned")]
    Unscannable { column: String, data_type: DataType },
    /// Rebuilding or re-encoding a redacted batch failed (not expected for valid input).
    #[error("re-encoding redacted Arrow batches failed: {0}")]
    Encode(#[source] ArrowError),
    /// The Arrow reader panicked on this input. It is third-party code parsing bytes from the
    /// upstream server, so a panic is contained and treated like corrupt input rather than
    /// tearing down the session's task.
    #[error("the Arrow IPC reader panicked on malformed input")]
    Panicked,
}

/// Runs `scanner` over every string value of the record batches in `ipc` (see the module
/// documentation for which types are covered).
///
/// Values are scanned one at a time, never as the concatenated values buffer: the detectors
/// look at the bytes around a candidate (a digit right before `123-45-6789` makes it part of a
/// longer number, a letter before `4111 …` makes the digits part of a word, `version` before an
/// address exempts it, custom patterns may anchor on `^`/`$`), so the tail of one value could
/// hide a finding at the head of the next: a false negative, which is not acceptable.
///
/// Null slots are scanned too (their bytes still travel on the wire); a rebuilt array writes
/// them empty.
///
/// The input is copied once into an aligned Arrow buffer (the slice a protobuf decoder hands
/// out has arbitrary alignment, and the decoder would otherwise copy misaligned buffers one by
/// one); the arrays are zero-copy views of that buffer and nothing is written on the clean path.
///
/// A scanner without detectors returns [`Scanned::Unchanged`] without reading the stream.
pub fn scan_ipc_stream(ipc: &[u8], scanner: &Scanner) -> Result<Scanned, ScanError> {
    if scanner.is_empty() {
        return Ok(Scanned::Unchanged);
    }
    match catch_unwind(AssertUnwindSafe(|| scan_stream(ipc, scanner))) {
        Ok(result) => result,
        Err(_) => Err(ScanError::Panicked),
    }
}

/// The body of [`scan_ipc_stream`], outside the panic guard.
fn scan_stream(ipc: &[u8], scanner: &Scanner) -> Result<Scanned, ScanError> {
    let mut buffer = Buffer::from(ipc);
    let mut decoder = StreamDecoder::new();
    let mut batches = Vec::new();
    while !buffer.is_empty() {
        if let Some(batch) = decoder.decode(&mut buffer).map_err(ScanError::Decode)? {
            batches.push(batch);
        }
    }
    decoder.finish().map_err(ScanError::Decode)?;
    let schema = decoder.schema().ok_or(ScanError::NoSchema)?;

    // Which columns to look at is a property of the schema; checking it once keeps integer and
    // date columns out of the per-batch loop, and rejects unscannable shapes even when the
    // stream has no rows (the next response of the same query may have some).
    let mut columns = Vec::new();
    for (i, field) in schema.fields().iter().enumerate() {
        match strings_in(field.data_type()) {
            Strings::None => {}
            Strings::Scannable => columns.push(i),
            Strings::Unscannable => {
                return Err(ScanError::Unscannable {
                    column: field.name().clone(),
                    data_type: field.data_type().clone(),
                })
            }
        }
    }
    if columns.is_empty() {
        return Ok(Scanned::Unchanged);
    }

    let mut redacted = 0;
    let mut rebuilt: Vec<Option<RecordBatch>> = Vec::new();
    for (b, batch) in batches.iter().enumerate() {
        let mut replaced: Vec<(usize, ArrayRef)> = Vec::new();
        for &i in &columns {
            if let Some((array, n)) = scan_array(batch.column(i), scanner)? {
                replaced.push((i, array));
                redacted += n;
            }
        }
        if replaced.is_empty() {
            continue;
        }
        let mut arrays = batch.columns().to_vec();
        for (i, array) in replaced {
            arrays[i] = array;
        }
        // The row count is given explicitly so that a batch without columns keeps its rows.
        let options = RecordBatchOptions::new().with_row_count(Some(batch.num_rows()));
        let new = RecordBatch::try_new_with_options(batch.schema(), arrays, &options)
            .map_err(ScanError::Encode)?;
        rebuilt.resize(batches.len(), None);
        rebuilt[b] = Some(new);
    }
    if redacted == 0 {
        return Ok(Scanned::Unchanged);
    }

    // Every batch is written, changed or not: the response is one stream and is replaced whole.
    let mut writer =
        StreamWriter::try_new(Vec::with_capacity(ipc.len()), &schema).map_err(ScanError::Encode)?;
    for (b, batch) in batches.iter().enumerate() {
        let batch = rebuilt.get(b).and_then(Option::as_ref).unwrap_or(batch);
        writer.write(batch).map_err(ScanError::Encode)?;
    }
    let ipc = writer.into_inner().map_err(ScanError::Encode)?;
    Ok(Scanned::Redacted {
        ipc,
        values: redacted,
    })
}

/// Whether values of a type can contain strings, and whether this module can rebuild them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Strings {
    None,
    Scannable,
    Unscannable,
}

/// Classifies `data_type`, recursing into nested types.
fn strings_in(data_type: &DataType) -> Strings {
    let worst = |types: &mut dyn Iterator<Item = &DataType>| {
        types
            .map(strings_in)
            .fold(Strings::None, |a, b| match (a, b) {
                (Strings::Unscannable, _) | (_, Strings::Unscannable) => Strings::Unscannable,
                (Strings::Scannable, _) | (_, Strings::Scannable) => Strings::Scannable,
                _ => Strings::None,
            })
    };
    match data_type {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => Strings::Scannable,
        DataType::Struct(fields) => worst(&mut fields.iter().map(|f| f.data_type())),
        DataType::List(f)
        | DataType::LargeList(f)
        | DataType::FixedSizeList(f, _)
        | DataType::Map(f, _) => strings_in(f.data_type()),
        DataType::Dictionary(_, values) => strings_in(values),
        DataType::ListView(f) | DataType::LargeListView(f) => {
            unscannable(strings_in(f.data_type()))
        }
        DataType::RunEndEncoded(_, values) => unscannable(strings_in(values.data_type())),
        DataType::Union(fields, _) => {
            unscannable(worst(&mut fields.iter().map(|(_, f)| f.data_type())))
        }
        _ => Strings::None,
    }
}

/// A container this module does not rebuild: strings inside it cannot be redacted.
fn unscannable(inner: Strings) -> Strings {
    match inner {
        Strings::None => Strings::None,
        _ => Strings::Unscannable,
    }
}

/// Scans `array`; returns the rebuilt array and the number of redacted values when anything was
/// found, `None` (and no allocation) otherwise. Only arrays on the path to a finding are
/// rebuilt; siblings, offsets and validity are shared with the input.
fn scan_array(array: &ArrayRef, scanner: &Scanner) -> Result<Option<(ArrayRef, usize)>, ScanError> {
    // The `as_*` casts cannot fail: each arm matches the data type that decides the concrete
    // array type.
    let found = match array.data_type() {
        DataType::Utf8 => scan_strings(array.as_string::<i32>(), scanner),
        DataType::LargeUtf8 => scan_strings(array.as_string::<i64>(), scanner),
        DataType::Utf8View => scan_views(array.as_string_view(), scanner),
        DataType::Struct(_) => {
            scan_struct(array.as_struct(), scanner)?.map(|(s, n)| (Arc::new(s) as ArrayRef, n))
        }
        DataType::List(_) => scan_list(array.as_list::<i32>(), scanner)?,
        DataType::LargeList(_) => scan_list(array.as_list::<i64>(), scanner)?,
        DataType::FixedSizeList(_, _) => scan_fixed_list(array.as_fixed_size_list(), scanner)?,
        DataType::Map(_, _) => scan_map(array.as_map(), scanner)?,
        DataType::Dictionary(_, _) => {
            let dict = array.as_any_dictionary();
            scan_array(dict.values(), scanner)?.map(|(values, n)| (dict.with_values(values), n))
        }
        // Unreachable through `scan_stream`, which rejects such columns by schema (with their
        // name) before any batch is scanned; kept so that no shape can pass silently.
        other => match strings_in(other) {
            Strings::None => None,
            _ => {
                return Err(ScanError::Unscannable {
                    column: String::new(),
                    data_type: other.clone(),
                })
            }
        },
    };
    Ok(found)
}

/// `Utf8`/`LargeUtf8`: each value is a slice of the values buffer, read straight from the
/// offsets (cheaper than `value(i)`, and it covers null slots too).
fn scan_strings<O: OffsetSizeTrait>(
    array: &GenericStringArray<O>,
    scanner: &Scanner,
) -> Option<(ArrayRef, usize)> {
    let offsets = array.value_offsets();
    let data = array.value_data();
    let slot = |i: usize| &data[offsets[i].as_usize()..offsets[i + 1].as_usize()];
    let first = (0..array.len()).find(|&i| scanner.finds_any(slot(i)))?;
    let mut builder = GenericStringBuilder::<O>::with_capacity(array.len(), data.len());
    let redacted = rebuild(array, first, slot, &mut builder, scanner);
    Some((Arc::new(builder.finish()), redacted))
}

/// `Utf8View`: values are inline (up to 12 bytes) or in one of several data buffers.
fn scan_views(array: &StringViewArray, scanner: &Scanner) -> Option<(ArrayRef, usize)> {
    let slot = |i: usize| array.value(i).as_bytes();
    let first = (0..array.len()).find(|&i| scanner.finds_any(slot(i)))?;
    let mut builder = StringViewBuilder::with_capacity(array.len());
    let redacted = rebuild(array, first, slot, &mut builder, scanner);
    Some((Arc::new(builder.finish()), redacted))
}

/// Writes a string column again into `sink` (the builder of its layout) from its first finding
/// (slot `first`) on: values before it as they are, later ones redacted, nulls kept. `slot(i)`
/// is the bytes behind slot `i`, null or not. Returns how many values changed: a null counts
/// when the bytes hidden behind it held a finding (they are dropped, not redacted).
fn rebuild<'a>(
    array: impl ArrayAccessor<Item = &'a str>,
    first: usize,
    slot: impl Fn(usize) -> &'a [u8],
    sink: &mut impl Extend<Option<Cow<'a, str>>>,
    scanner: &Scanner,
) -> usize {
    let mut redacted = 0;
    for i in 0..array.len() {
        let value = if array.is_null(i) {
            redacted += usize::from(i >= first && scanner.finds_any(slot(i)));
            None
        } else if i < first {
            Some(Cow::Borrowed(array.value(i)))
        } else {
            let value = scanner.redact(array.value(i));
            redacted += usize::from(matches!(value, Cow::Owned(_)));
            Some(value)
        };
        sink.extend(std::iter::once(value));
    }
    redacted
}

fn scan_struct(
    array: &StructArray,
    scanner: &Scanner,
) -> Result<Option<(StructArray, usize)>, ScanError> {
    let mut columns: Option<Vec<ArrayRef>> = None;
    let mut redacted = 0;
    for (i, child) in array.columns().iter().enumerate() {
        if let Some((new, n)) = scan_array(child, scanner)? {
            columns.get_or_insert_with(|| array.columns().to_vec())[i] = new;
            redacted += n;
        }
    }
    let Some(columns) = columns else {
        return Ok(None);
    };
    let rebuilt = StructArray::try_new_with_length(
        array.fields().clone(),
        columns,
        array.nulls().cloned(),
        array.len(),
    )
    .map_err(ScanError::Encode)?;
    Ok(Some((rebuilt, redacted)))
}

/// Lists share their offsets with the input; only the child values are replaced. The child is
/// scanned whole, including any values outside the list's offsets range.
fn scan_list<O: OffsetSizeTrait>(
    array: &GenericListArray<O>,
    scanner: &Scanner,
) -> Result<Option<(ArrayRef, usize)>, ScanError> {
    let Some((values, n)) = scan_array(array.values(), scanner)? else {
        return Ok(None);
    };
    // `into_parts` of a clone (reference counts only) is the public way to the list's field.
    let (field, offsets, _, nulls) = array.clone().into_parts();
    let rebuilt =
        GenericListArray::<O>::try_new(field, offsets, values, nulls).map_err(ScanError::Encode)?;
    Ok(Some((Arc::new(rebuilt), n)))
}

fn scan_fixed_list(
    array: &FixedSizeListArray,
    scanner: &Scanner,
) -> Result<Option<(ArrayRef, usize)>, ScanError> {
    let Some((values, n)) = scan_array(array.values(), scanner)? else {
        return Ok(None);
    };
    let len = array.len();
    let (field, size, _, nulls) = array.clone().into_parts();
    let rebuilt = FixedSizeListArray::try_new_with_length(field, size, values, nulls, len)
        .map_err(ScanError::Encode)?;
    Ok(Some((Arc::new(rebuilt), n)))
}

/// Maps: keys are scanned like values (a map keyed by e-mail address is as sensitive).
fn scan_map(array: &MapArray, scanner: &Scanner) -> Result<Option<(ArrayRef, usize)>, ScanError> {
    let Some((entries, n)) = scan_struct(array.entries(), scanner)? else {
        return Ok(None);
    };
    let (field, offsets, _, nulls, sorted) = array.clone().into_parts();
    let rebuilt =
        MapArray::try_new(field, offsets, entries, nulls, sorted).map_err(ScanError::Encode)?;
    Ok(Some((Arc::new(rebuilt), n)))
}

#[cfg(test)]
mod tests;
