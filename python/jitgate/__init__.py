"""jitgate's masks and content detectors for pandas, Arrow and Polars.

The same masking engine the jitgate gateway runs, driven by the same policy file, so a masked
extract made in a notebook is value for value what the gateway shows the same subject::

    import jitgate
    policy = jitgate.Policy.from_file("jitgate.toml", resource="prod-pg")
    analyst = policy.for_groups(["analysts"])
    masked = analyst.mask_pandas(df, table="public.customers")

    jitgate.scan("call +1-415-555-2671")   # [Finding(kind='phone', start=5, end=20)]
    jitgate.redact("SSN 078-05-1120")      # 'SSN [ssn]'

Errors are exceptions of this module (``ConfigError``, ``MaskingError``,
``UnsupportedTypeError``); a column is masked whole or the call fails — a value that cannot be
masked is never returned in clear.
"""

from __future__ import annotations

import os
from typing import Any, List, Mapping, NamedTuple, Optional, Sequence, Union

import pyarrow as pa

from . import _native
from ._native import ConfigError, InternalError, Mask, MaskingError, UnsupportedTypeError

__all__ = [
    "ConfigError",
    "Finding",
    "InternalError",
    "Mask",
    "MaskingError",
    "Policy",
    "UnsupportedTypeError",
    "View",
    "redact",
    "scan",
]

ColumnMasks = Mapping[str, Union[Mask, str]]


class Finding(NamedTuple):
    """What a detector found: its kind (``ssn``, ``card``, ``email``…) and span
    (characters of a ``str``, bytes of ``bytes``)."""

    kind: str
    start: int
    end: int


class Policy:
    """The masking policy of one resource, from a jitgate configuration file (its
    ``[masking]`` section and masking key, read exactly as the gateway reads them)."""

    def __init__(self, native: _native.Policy):
        self._native = native

    @classmethod
    def from_file(cls, path: Union[str, os.PathLike], resource: str) -> "Policy":
        if not isinstance(resource, str):
            raise TypeError("resource is the name of a [resources.NAME] section")
        return cls(_native.Policy.from_file(os.fspath(path), resource))

    def for_groups(self, groups: Sequence[str], user: Optional[str] = None) -> "View":
        """What a member of ``groups`` sees (``user`` for ``user:NAME`` exemptions)."""
        if isinstance(groups, (str, bytes)):
            raise TypeError("groups is a list of group names, e.g. ['analysts']")
        return View(self._native.for_groups(list(groups), user), self)

    @property
    def resource(self) -> str:
        return self._native.resource

    @property
    def key_origin(self) -> str:
        """Where the masking key comes from (never the key)."""
        return self._native.key_origin

    def describe(self) -> str:
        return self._native.describe()

    def scan(self, data: Any) -> Any:
        """``jitgate.scan`` with this policy's detectors (custom ones included)."""
        return scan(data, _policy=self._native)

    def redact(self, data: Any) -> Any:
        """``jitgate.redact`` with this policy's detectors (custom ones included)."""
        return redact(data, _policy=self._native)

    def __repr__(self) -> str:
        return repr(self._native)


class View:
    """What one subject sees: a mask per column, and the detectors over their other text."""

    def __init__(self, native: _native.View, policy: Policy):
        self._native = native
        self.policy = policy

    @property
    def is_clear(self) -> bool:
        return self._native.is_clear

    def mask_for(self, column: str) -> Optional[Mask]:
        """The mask of ``"schema.table.column"`` for this subject; None when clear to them."""
        return self._native.mask_for(column)

    def plan(
        self,
        names: Sequence[str],
        table: Optional[str] = None,
        columns: Optional[ColumnMasks] = None,
    ) -> List[Union[Mask, str, None]]:
        """Per column name: its ``Mask``, ``"scan"`` (text a masked subject sees passes the
        detectors, as in the gateway) or None (unchanged)."""
        return self._native.plan(list(names), table, _columns(columns))

    def mask(
        self,
        data: Any,
        table: Optional[str] = None,
        columns: Optional[ColumnMasks] = None,
    ) -> Any:
        """Masks a ``pyarrow.Table`` or ``RecordBatch``, a pandas or a Polars ``DataFrame``;
        returns the same kind of object, with new arrays for what changed.

        ``table="schema.table"`` masks columns by the policy's ``schema.table.column`` rules;
        ``columns={name: mask}`` names masks for data that did not come from a table (a
        ``jitgate.Mask``, a mask's name such as ``"hash"``, or ``"schema.table.column"`` for
        that column's mask in the policy), and wins over ``table``. For a masked subject,
        every other text column passes the detectors, as in the gateway."""
        if isinstance(data, pa.Table):
            return self._mask_table(data, table, columns)
        if isinstance(data, pa.RecordBatch):
            masked = self._mask_table(pa.Table.from_batches([data]), table, columns)
            return masked.combine_chunks().to_batches()[0] if data.num_rows else _empty_batch(masked)
        kind = type(data).__module__.split(".")[0]
        if kind == "pandas":
            return self.mask_pandas(data, table, columns)
        if kind == "polars":
            return self.mask_polars(data, table, columns)
        raise TypeError(
            "mask() takes a pyarrow.Table or RecordBatch, a pandas or a Polars DataFrame, "
            f"not {type(data).__name__}"
        )

    def mask_pandas(self, df: Any, table: Optional[str] = None, columns: Optional[ColumnMasks] = None) -> Any:
        """A masked copy of a pandas ``DataFrame``; unchanged columns keep their dtypes."""
        import pandas as pd

        if not isinstance(df, pd.DataFrame):
            raise TypeError(f"mask_pandas() takes a pandas DataFrame, not {type(df).__name__}")
        names = list(df.columns)
        if not all(isinstance(n, str) for n in names):
            raise TypeError("column labels must be strings to be matched against the policy")
        if not df.columns.is_unique:
            raise MaskingError("column labels must be unique")
        out = df.copy(deep=False)
        for name, action in zip(names, self.plan(names, table, columns)):
            if action is None:
                continue
            series = df[name]
            if action == "scan" and not _may_hold_text_pandas(series):
                continue
            try:
                array = pa.array(series, from_pandas=True)
            except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as e:
                raise UnsupportedTypeError(f"column {name!r}: {e}") from e
            if isinstance(array, pa.ChunkedArray):
                array = array.combine_chunks()
            values = self._apply(array, action).to_pandas()
            # Categories are values: masked values make new ones.
            dtype = "category" if isinstance(series.dtype, pd.CategoricalDtype) else series.dtype
            try:
                values = values.astype(dtype)
            except (TypeError, ValueError):
                pass  # NULLs a mask made, in a dtype without them: pandas' own stand-in.
            values.index = df.index
            out[name] = values
        return out

    def mask_polars(self, df: Any, table: Optional[str] = None, columns: Optional[ColumnMasks] = None) -> Any:
        """A masked copy of a Polars ``DataFrame`` (through Arrow)."""
        import polars as pl

        if not isinstance(df, pl.DataFrame):
            raise TypeError(f"mask_polars() takes a Polars DataFrame, not {type(df).__name__}")
        return pl.from_arrow(self._mask_table(df.to_arrow(), table, columns))

    def _mask_table(self, data: pa.Table, table: Optional[str], columns: Optional[ColumnMasks]) -> pa.Table:
        plan = self.plan(data.column_names, table, columns)
        for i, action in enumerate(plan):
            if action is None:
                continue
            field = data.schema.field(i)
            if action == "scan" and not _may_hold_text(field.type):
                continue
            chunks = [self._apply(chunk, action) for chunk in data.column(i).chunks]
            out_type = chunks[0].type if chunks else _decoded(field.type)
            # A mask may make NULLs (null, or redact of a type without a constant).
            nullable = field.nullable or action != "scan"
            new_field = pa.field(field.name, out_type, nullable=nullable, metadata=field.metadata)
            data = data.set_column(i, new_field, pa.chunked_array(chunks, type=out_type))
        return data

    def _apply(self, array: pa.Array, action: Union[Mask, str]) -> pa.Array:
        if pa.types.is_dictionary(array.type):
            array = array.dictionary_decode()
        return self._native.apply(array, action)

    def __repr__(self) -> str:
        return repr(self._native)


def scan(data: Any, *, _policy: Optional[_native.Policy] = None) -> Any:
    """The built-in detectors' findings.

    - ``str`` → list of ``Finding`` (spans in characters); ``bytes`` → spans in bytes;
    - ``pyarrow`` string ``Array``/``ChunkedArray`` → ``pyarrow.Table`` (row, kind, start, end);
    - pandas ``Series`` → ``DataFrame`` (row = index label, kind, start, end);
    - a list of those → a list of results (None stays None)."""
    if isinstance(data, str):
        return [Finding(*f) for f in _native.scan_text(data, _policy)]
    if isinstance(data, (bytes, bytearray, memoryview)):
        return [Finding(*f) for f in _native.scan_bytes(bytes(data), _policy)]
    if isinstance(data, (pa.Array, pa.ChunkedArray)):
        return _scan_arrow(data, _policy)
    if type(data).__module__.split(".")[0] == "pandas":
        return _scan_pandas(data, _policy)
    if isinstance(data, (list, tuple)):
        return [None if item is None else scan(item, _policy=_policy) for item in data]
    raise TypeError(f"scan() takes text, bytes, an Arrow or pandas string column or a list, not {type(data).__name__}")


def redact(data: Any, *, _policy: Optional[_native.Policy] = None) -> Any:
    """``data`` with every finding replaced by ``[kind]`` (``[ssn]``, ``[card]``…), of the
    same kind: ``str``, ``bytes``, Arrow array, pandas ``Series`` or list."""
    if isinstance(data, str):
        return _native.redact_text(data, _policy)
    if isinstance(data, (bytes, bytearray, memoryview)):
        return _native.redact_bytes(bytes(data), _policy)
    if isinstance(data, pa.ChunkedArray):
        return pa.chunked_array([redact(c, _policy=_policy) for c in data.chunks], type=_decoded(data.type))
    if isinstance(data, pa.Array):
        if pa.types.is_dictionary(data.type):
            data = data.dictionary_decode()
        return _native.redact_array(data, _policy)
    if type(data).__module__.split(".")[0] == "pandas":
        import pandas as pd

        if not isinstance(data, pd.Series):
            raise TypeError("redact() takes a pandas Series (one column), not a DataFrame: use View.mask_pandas")
        values = redact(_text_array(data), _policy=_policy).to_pandas()
        values.index = data.index
        values.name = data.name
        return values
    if isinstance(data, (list, tuple)):
        return [None if item is None else redact(item, _policy=_policy) for item in data]
    raise TypeError(f"redact() takes text, bytes, an Arrow or pandas string column or a list, not {type(data).__name__}")


def _scan_arrow(data: Union[pa.Array, pa.ChunkedArray], policy: Optional[_native.Policy]) -> pa.Table:
    chunks = data.chunks if isinstance(data, pa.ChunkedArray) else [data]
    rows, kinds, starts, ends = [], [], [], []
    offset = 0
    for chunk in chunks:
        if pa.types.is_dictionary(chunk.type):
            chunk = chunk.dictionary_decode()
        r, k, s, e = _native.scan_array(chunk, policy)
        rows.extend(offset + i for i in r)
        kinds.extend(k)
        starts.extend(s)
        ends.extend(e)
        offset += len(chunk)
    return pa.table(
        {
            "row": pa.array(rows, pa.int64()),
            "kind": pa.array(kinds, pa.string()),
            "start": pa.array(starts, pa.int64()),
            "end": pa.array(ends, pa.int64()),
        }
    )


def _scan_pandas(series: Any, policy: Optional[_native.Policy]) -> Any:
    import pandas as pd

    if not isinstance(series, pd.Series):
        raise TypeError("scan() takes a pandas Series (one column), not a DataFrame")
    found = _scan_arrow(_text_array(series), policy).to_pandas()
    found["row"] = series.index.take(found["row"].to_numpy()) if len(found) else found["row"]
    return found


def _text_array(series: Any) -> pa.Array:
    try:
        array = pa.array(series, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as e:
        raise UnsupportedTypeError(f"not a column of text: {e}") from e
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    return array


def _columns(columns: Optional[ColumnMasks]) -> Optional[dict]:
    if columns is None:
        return None
    if not isinstance(columns, Mapping):
        raise TypeError("columns is a mapping {column name: mask}")
    return dict(columns)


def _decoded(data_type: pa.DataType) -> pa.DataType:
    return data_type.value_type if pa.types.is_dictionary(data_type) else data_type


def _may_hold_text(data_type: pa.DataType) -> bool:
    """Whether a column of this type could hold text (the engine refuses nested text)."""
    if pa.types.is_dictionary(data_type):
        return _may_hold_text(data_type.value_type)
    if (
        pa.types.is_string(data_type)
        or pa.types.is_large_string(data_type)
        or pa.types.is_string_view(data_type)
    ):
        return True
    return pa.types.is_nested(data_type) or isinstance(data_type, pa.ExtensionType)


def _may_hold_text_pandas(series: Any) -> bool:
    import pandas as pd

    api = pd.api.types
    return not (
        api.is_numeric_dtype(series)
        or api.is_bool_dtype(series)
        or api.is_datetime64_any_dtype(series)
        or api.is_timedelta64_dtype(series)
    )


def _empty_batch(table: pa.Table) -> pa.RecordBatch:
    return pa.RecordBatch.from_pylist([], schema=table.schema)
