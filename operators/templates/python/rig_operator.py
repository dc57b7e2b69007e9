"""rig_operator: write rig operators in Python, a column at a time.

componentize-py turns `wit/operator.wit` into the module `wit_world` at build time: an operator
is a class `Operator(wit_world.exports.Operator)` in `app.py` whose `process` gets a batch as two
`bytes` objects (fixed-size `rows` and a `heap`) and a `count`. This module is a small typed layer
on top, modelled on the Rust SDK (`rig-operator-sdk`), shipped with every Python project:

- `Schema`: `field(name)` / `resolve(name)` give a field's kind, offset, size and heap flag;
  `project(reads, writes)` declares the only fields that cross into and out of the operator.
- `Batch` and `Column`: `batch.column("proc.pid").values()` is a memoryview of numbers (no Python
  object per row until you index it); `equals`, `startswith` and `where` build a `Mask`;
  `fill(value)` rewrites a field in every row with one strided write per byte of the field, or
  just one row's bytes when every row is equal (`Batch.zeros`, the answer of a projection).
- `Mask` / `keep()`: the keep-list answer (`Output_Keep`) from column predicates.
- `Config`, `debug`/`info`/`warn`/`error` (`Level`), `count` (counters), `fail` (raise `Err`).
- `export(cls)`: the class componentize-py exports, for an operator written against this module.
  It keeps the instance at module level (componentize-py 0.25.1 creates one `Operator` object per
  exported function, so an attribute set on `self` in its `init` is not there in `process`) and
  turns any exception into an error that names its type and line, instead of a trap.

Why column-wise: CPython runs interpreted inside the component, at about a microsecond per
bytecode-level loop iteration over a row. One slice operation over a whole column runs in C, so
an operator whose Python code does a fixed number of operations per batch (not per row) costs
tens of nanoseconds per event at batch 512. See docs/operators.md ("Python") for the API with
examples.
"""

import itertools
import struct

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import host, types
from wit_world.imports.types import FieldKind, Output_Keep, Output_Rows

__all__ = [
    "Batch", "Column", "Config", "Err", "FieldKind", "Level", "Mask", "Operator", "Output_Keep",
    "Output_Rows", "Projection", "Schema", "count", "debug", "error", "export", "fail", "info",
    "keep", "kind_name", "trace", "warn",
]

Level = host.Level

#: struct / memoryview format of every fixed-size kind (little-endian, as WebAssembly is).
FORMATS = {
    FieldKind.BOOLEAN: "?", FieldKind.U8: "B", FieldKind.U16: "H", FieldKind.U32: "I",
    FieldKind.U64: "Q", FieldKind.S8: "b", FieldKind.S16: "h", FieldKind.S32: "i",
    FieldKind.S64: "q", FieldKind.F32: "f", FieldKind.F64: "d",
}
_WIDE = {2: "H", 4: "I", 8: "Q"}
# bytes.translate tables: _EQUAL[b] maps byte b to 1 and every other byte to 0.
_EQUAL = [bytes(int(i == b) for i in range(256)) for b in range(256)]
_NOT = bytes([1]) + bytes(255)


def kind_name(kind):
    """`u32`, `text`…: a kind as rig's messages spell it."""
    return kind.name.lower()


# --- host: logging, counters, errors --------------------------------------------------------

def trace(message):
    """Logs at trace level (one host call: log per batch, not per row)."""
    host.log(Level.TRACE, message)


def debug(message):
    """Logs at debug level."""
    host.log(Level.DEBUG, message)


def info(message):
    """Logs at info level."""
    host.log(Level.INFO, message)


def warn(message):
    """Logs at warn level."""
    host.log(Level.WARN, message)


def error(message):
    """Logs at error level (it does not fail the call: `fail` does)."""
    host.log(Level.ERROR, message)


def count(name, delta=1):
    """Adds `delta` to the counter `name` (shown by `--stats`). One host call: once per batch."""
    host.counter_add(name, delta)


def fail(message):
    """Fails the current call with `message` (raises `Err`, the WIT `result` error)."""
    raise Err(message)


# --- configuration ----------------------------------------------------------------------------

class Config:
    """The operator's settings (`with:` in a graph, `--operator-param NODE.KEY=VALUE`)."""

    __slots__ = ("entries",)

    def __init__(self, entries):
        self.entries = list(entries)

    def get(self, key, default=None):
        """The value of `key` (the last one when repeated), or `default`."""
        for k, v in reversed(self.entries):
            if k == key:
                return v
        return default

    def require(self, key):
        """The value of `key`, or an error saying it is required."""
        value = self.get(key)
        if value is None:
            fail(f'missing config key "{key}"')
        return value

    def int(self, key, default=0):
        """`key` as an integer, `default` when unset; the error names the key and the value."""
        value = self.get(key)
        if value is None:
            return default
        try:
            return int(value.strip(), 0)
        except ValueError:
            fail(f'config key "{key}": cannot parse "{value}" as an integer')

    def bool(self, key, default=False):
        """`true`/`false`, `1`/`0`, `yes`/`no`, `on`/`off` (any case); `default` when unset."""
        value = self.get(key)
        if value is None:
            return default
        v = value.strip().lower()
        if v in ("true", "1", "yes", "on"):
            return True
        if v in ("false", "0", "no", "off"):
            return False
        fail(f'config key "{key}": expected true or false, got "{value}"')

    def names(self, key):
        """`key` as a comma-separated list: spaces trimmed, empty items and repeats dropped."""
        out = []
        for name in (n.strip() for n in (self.get(key) or "").split(",")):
            if name and name not in out:
                out.append(name)
        return out

    def allow_only(self, *known):
        """Errors on any key not in `known`, listing the keys the operator accepts."""
        for k, _ in self.entries:
            if k not in known:
                fail(f'unknown config key "{k}" (known keys: {", ".join(known)})')


# --- schemas ----------------------------------------------------------------------------------

class Schema:
    """The columns of a datasource and its row layout (wraps the WIT record `types.Schema`).

    Fields are the WIT `types.Field` records: `name`, `kind` (a `FieldKind`), `offset`, `size`,
    `heap` (the value lives in the heap; `offset` is its 8-byte `(offset, length)` slot),
    `hidden`, `tags`, `annotations`.
    """

    __slots__ = ("wit", "_by_name")

    def __init__(self, wit):
        self.wit = wit
        self._by_name = {f.name: f for f in wit.fields}

    datasource = property(lambda self: self.wit.datasource, doc="Datasource name (`open`).")
    fields = property(lambda self: self.wit.fields, doc="Columns in declaration order.")
    row_size = property(lambda self: self.wit.row_size, doc="Bytes per row.")

    def field(self, name):
        """The field called `name` (hidden ones included), or None."""
        return self._by_name.get(name)

    def resolve(self, name, kind=None):
        """The field called `name`, of `kind` if given; else an error naming it: `datasource open
        has no field "fnam" (fields: proc.comm, fname)`."""
        f = self._by_name.get(name)
        if f is None:
            fail(f'datasource {self.datasource} has no field "{name}" '
                 f'(fields: {", ".join(self.names())})')
        if kind is not None and f.kind != kind:
            fail(f'field "{name}" is {kind_name(f.kind)}, not {kind_name(kind)}')
        return f

    def names(self):
        """Names of the fields shown by default."""
        return [f.name for f in self.wit.fields if not f.hidden]

    def project(self, reads=(), writes=()):
        """Declares that the operator reads only `reads` and writes only `writes`; call it from
        `init`. From then on `process` gets rows of `reads` packed (resolve read fields against
        `Projection.reads`), and a rows answer holds one row of `writes` per input row
        (`Batch.zeros(p.writes, batch.count)`). An unknown or repeated name is an error."""
        p = host.project(list(reads), list(writes))
        _STATE.projection = Projection(Schema(p.reads), Schema(p.writes))
        return _STATE.projection

    def add_field(self, name, kind):
        """A copy of this schema with a field appended at the end of the row (scalars inline and
        naturally aligned, text and bytes as a heap slot; the row stays a multiple of 8 bytes).
        Rows of this schema are prefixes of the new one's. Return the copy from `init`."""
        if name in self._by_name:
            fail(f'datasource {self.datasource}: field "{name}" already exists')
        fmt = FORMATS.get(kind)
        size, heap = (struct.calcsize(fmt), False) if fmt else (8, True)
        end = max((f.offset + f.size for f in self.fields), default=0)
        offset = -(-end // size) * size
        f = types.Field(name, kind, offset, size, heap, False, [], [])
        row_size = max(self.row_size, -(-(offset + size) // 8) * 8)
        return Schema(types.Schema(self.datasource, [*self.fields, f], row_size))


class Projection:
    """What `Schema.project` declared: `reads` (the layout `process` receives) and `writes` (the
    layout of a rows answer: one row per input row)."""

    __slots__ = ("reads", "writes")

    def __init__(self, reads, writes):
        self.reads, self.writes = reads, writes


# --- batches and columns ----------------------------------------------------------------------

class Batch:
    """`count` rows of `schema` and their heap: what `process` receives, or an answer.

    An input batch is read-only (`bytes`); `copy()` gives a mutable one. `Batch.zeros(schema, n)`
    holds n equal rows as a single row until something writes one row only, so filling its
    columns costs one row whatever n is.
    """

    __slots__ = ("schema", "count", "heap", "_rows", "_row", "_interned")

    def __init__(self, schema, rows, heap=b"", count=None):
        rs = schema.row_size
        if count is None:
            count = len(rows) // rs if rs else 0
        if len(rows) != count * rs:
            fail(f"datasource {schema.datasource}: batch of {count} rows has {len(rows)} row "
                 f"bytes (row size {rs})")
        self.schema, self.count, self.heap = schema, count, heap
        self._rows, self._row, self._interned = rows, None, {}

    @classmethod
    def zeros(cls, schema, count):
        """`count` rows of zeros (empty text, zero numbers) and an empty heap."""
        b = cls(schema, b"", bytearray(), 0)
        b.count, b._rows, b._row = count, None, bytearray(schema.row_size)
        return b

    def __len__(self):
        return self.count

    @property
    def rows(self):
        """The packed rows (`count * row_size` bytes)."""
        if self._rows is None:
            return bytes(self._row) * self.count
        return self._rows

    def copy(self):
        """A mutable copy (rows and heap as bytearrays)."""
        b = Batch(self.schema, bytearray(self.rows), bytearray(self.heap), self.count)
        b._interned = dict(self._interned)
        return b

    def take(self, rows):
        """A new batch of the rows `rows` (a `Mask` or row indices), in that order, sharing this
        batch's heap: one slice per kept row. To filter and rewrite at once, `take` then `fill`
        and return it (a projected operator answers one row of its writes per input row
        instead)."""
        idx = rows.indices() if isinstance(rows, Mask) else list(rows)
        rs, data = self.schema.row_size, self.rows
        if any(i < 0 or i >= self.count for i in idx):
            fail(f"take: a row index outside the {self.count}-row batch")
        b = Batch(self.schema, b"".join([data[i * rs:(i + 1) * rs] for i in idx]),
                  self.heap, len(idx))
        b._interned = dict(self._interned)
        return b

    def column(self, name):
        """The column of field `name` (a name or a field, looked up by name in this batch's
        schema: in a projected operator, the packed `reads` layout)."""
        return Column(self, self.schema.resolve(name if isinstance(name, str) else name.name))

    def add_heap(self, value):
        """Appends `value` to the heap once per batch (a repeat returns the first offset)."""
        at = self._interned.get(value)
        if at is None:
            if not isinstance(self.heap, bytearray):
                self.heap = bytearray(self.heap)
            at = self._interned[value] = len(self.heap)
            self.heap += value
        return at

    def wit(self):
        """This batch as the WIT record `types.Batch`."""
        return types.Batch(bytes(self.rows), bytes(self.heap), self.count)

    def output(self):
        """The `rows` answer: replace the batch with these rows (`Output_Rows`)."""
        return Output_Rows(self.wit())

    def keep(self, rows=None):
        """The `keep` answer for `rows` (a `Mask` or row indices); every row when None."""
        return keep(range(self.count) if rows is None else rows)

    # Column-wise primitives: each is a fixed number of C-level slice operations per field byte.

    def _gather(self, off, width):
        """The `width` bytes at `off` of every row, packed (`count * width` bytes)."""
        rs, n = self.schema.row_size, self.count
        if self._rows is None:
            return bytes(self._row[off:off + width]) * n
        if width == rs:
            return self._rows
        out = bytearray(n * width)
        for j in range(width):
            out[j::width] = self._rows[off + j::rs]
        return out

    def _byte_mask(self, off, value):
        """1 for the rows whose bytes at `off` are `value`, else 0 (one byte per row)."""
        rs, n = self.schema.row_size, self.count
        rows = self.rows
        acc = -1
        for j, b in enumerate(value):
            acc &= int.from_bytes(rows[off + j::rs].translate(_EQUAL[b]), "little")
        return bytes([1]) * n if acc == -1 else acc.to_bytes(n, "little")

    def _fill(self, off, data):
        """Writes `data` at `off` in every row."""
        rs, n, k = self.schema.row_size, self.count, len(data)
        if self._rows is None:
            self._row[off:off + k] = data
            return
        if not isinstance(self._rows, bytearray):
            self._rows = bytearray(self._rows)
        rows = self._rows
        if k == rs:
            rows[:] = data * n
            return
        w = next(w for w in (8, 4, 2, 1) if off % w == 0 and k % w == 0 and rs % w == 0)
        if n <= k // w:  # fewer rows than strided writes: one slice per row
            for base in range(off, n * rs, rs):
                rows[base:base + k] = data
            return
        view = memoryview(rows).cast(_WIDE[w]) if w > 1 else rows
        start, step = off // w, rs // w
        for j in range(k // w):
            piece = data[j * w:(j + 1) * w] * n
            view[start + j::step] = memoryview(piece).cast(_WIDE[w]) if w > 1 else piece

    def _set(self, row, off, data):
        if self._rows is None:
            self._rows = bytearray(bytes(self._row) * self.count)
        elif not isinstance(self._rows, bytearray):
            self._rows = bytearray(self._rows)
        at = row * self.schema.row_size + off
        self._rows[at:at + len(data)] = data


def _typed_values(kind):
    """`Column.values` for one kind: `column.u32s()` and the like."""
    def values(self):
        if self.field.kind != kind:
            fail(f'field "{self.field.name}" is {kind_name(self.field.kind)}, not {kind_name(kind)}')
        return self.values()
    values.__doc__ = f"`values()` of a {kind_name(kind)} field (an error for other kinds)."
    return values


class Column:
    """One field of every row of a batch."""

    __slots__ = ("batch", "field")

    def __init__(self, batch, field):
        self.batch, self.field = batch, field

    def values(self):
        """A memoryview of the column's numbers (or booleans), one per row: index it, iterate
        it, or `.tolist()` it. No Python object is made per row until you read one."""
        f = self.field
        fmt = FORMATS.get(f.kind)
        if fmt is None or f.heap:
            fail(f'field "{f.name}" is {kind_name(f.kind)}: values() reads numbers and '
                 f'booleans; use bytes() or texts()')
        return memoryview(self.batch._gather(f.offset, struct.calcsize(fmt))).cast(fmt)

    bools, u8s, u16s, u32s, u64s = map(_typed_values, (
        FieldKind.BOOLEAN, FieldKind.U8, FieldKind.U16, FieldKind.U32, FieldKind.U64))
    s8s, s16s, s32s, s64s, f32s, f64s = map(_typed_values, (
        FieldKind.S8, FieldKind.S16, FieldKind.S32, FieldKind.S64, FieldKind.F32, FieldKind.F64))

    def slots(self):
        """A heap field's slots: a memoryview of `(offset, length)` pairs, flattened."""
        return memoryview(self.batch._gather(self.field.offset, 8)).cast("I")

    def bytes(self):
        """Every row's value as `bytes` (one object per row): inline text up to its first NUL,
        other inline fields all `size` bytes, heap fields their value."""
        f, b = self.field, self.batch
        if f.heap:
            s, heap = self.slots(), b.heap
            return [bytes(heap[o:o + n]) if o + n <= len(heap) else b""
                    for o, n in zip(s[::2], s[1::2])]
        data, size = b._gather(f.offset, f.size), f.size
        values = [bytes(data[i:i + size]) for i in range(0, len(data), size)]
        if f.kind == FieldKind.TEXT:
            return [v.split(b"\0", 1)[0] for v in values]
        return values

    def texts(self):
        """Every row's value as `str` (one object per row; invalid UTF-8 is replaced)."""
        return [v.decode("utf-8", "replace") for v in self.bytes()]

    def encode(self, value):
        """`value` as this field stores it: text cut to an inline field's size at a character
        boundary and NUL-padded; numbers packed little-endian."""
        f = self.field
        if f.kind in (FieldKind.TEXT, FieldKind.BYTES):
            data = value.encode() if isinstance(value, str) else bytes(value)
            if f.heap:
                return data
            if len(data) > f.size:
                data = data[:f.size]
                if f.kind == FieldKind.TEXT:
                    data = data.decode("utf-8", "ignore").encode()
            return data.ljust(f.size, b"\0")
        try:
            return struct.pack("<" + FORMATS[f.kind], value).ljust(f.size, b"\0")
        except (struct.error, TypeError) as e:
            fail(f'field "{f.name}" ({kind_name(f.kind)}) cannot hold {value!r}: {e}')

    def equals(self, value):
        """A `Mask` of the rows whose value is `value` (text as a str or bytes; numbers)."""
        f = self.field
        if f.heap:
            return self.where(value.encode() if isinstance(value, str) else value)
        data = self.encode(value)
        if f.kind == FieldKind.TEXT:
            want = value.encode() if isinstance(value, str) else bytes(value)
            if len(want) > f.size:
                return Mask(bytes(self.batch.count))
            data = data[:len(want) + 1] if len(want) < f.size else want
        elif f.kind in FORMATS:
            data = data[:struct.calcsize(FORMATS[f.kind])]
        return Mask(self.batch._byte_mask(f.offset, data))

    def startswith(self, prefix):
        """A `Mask` of the rows whose text (or bytes) starts with `prefix`."""
        f = self.field
        want = prefix.encode() if isinstance(prefix, str) else bytes(prefix)
        if f.kind not in (FieldKind.TEXT, FieldKind.BYTES):
            fail(f'field "{f.name}" is {kind_name(f.kind)}: startswith() reads text or bytes')
        if f.heap:
            return Mask.where(self.bytes(), lambda v: v.startswith(want))
        if len(want) > f.size:
            return Mask(bytes(self.batch.count))
        return Mask(self.batch._byte_mask(f.offset, want))

    def where(self, predicate):
        """A `Mask` of the rows for which `predicate(value)` is true (`values()` for numbers,
        `bytes()` otherwise); a non-callable `predicate` is a value to compare with. The
        predicate runs once per row: prefer `equals` and `startswith` on inline fields."""
        values = self.values() if FORMATS.get(self.field.kind) and not self.field.heap \
            else self.bytes()
        if not callable(predicate):
            return Mask.where(values, lambda v: v == predicate)
        return Mask.where(values, predicate)

    def fill(self, value):
        """Writes `value` into this field of every row. Inline: one strided write per byte (or
        word) of the field, or one row's bytes in a `Batch.zeros`. Heap: `value` is appended to
        the heap once per batch and every row's slot points at it (nothing when the batch is
        empty)."""
        f, b = self.field, self.batch
        data = self.encode(value)
        if f.heap:
            if b.count == 0:
                return
            data = struct.pack("<II", b.add_heap(data), len(data))
        b._fill(f.offset, data)

    def set(self, row, value):
        """Writes `value` into this field of row `row` only."""
        f, b = self.field, self.batch
        data = self.encode(value)
        if f.heap:
            data = struct.pack("<II", b.add_heap(data), len(data))
        b._set(row, f.offset, data)


class Mask:
    """Which rows of a batch are selected: one byte per row, 1 or 0. Combine masks with `&`, `|`
    and `~` (each one C-level operation over the whole batch); `keep(mask)` answers with them."""

    __slots__ = ("bits",)

    def __init__(self, bits):
        self.bits = bytes(bits)

    @classmethod
    def where(cls, values, predicate):
        """The rows of `values` for which `predicate(value)` is true."""
        return cls(map(bool, map(predicate, values)))

    def __len__(self):
        return len(self.bits)

    def _combine(self, other, op):
        n = len(self.bits)
        if len(other.bits) != n:
            fail(f"cannot combine masks of {n} and {len(other.bits)} rows")
        a, b = int.from_bytes(self.bits, "little"), int.from_bytes(other.bits, "little")
        return Mask(op(a, b).to_bytes(n, "little"))

    def __and__(self, other):
        return self._combine(other, int.__and__)

    def __or__(self, other):
        return self._combine(other, int.__or__)

    def __invert__(self):
        return Mask(self.bits.translate(_NOT))

    def count(self):
        """How many rows are selected."""
        return len(self.bits) - self.bits.count(0)

    def indices(self):
        """The selected row indices, in order."""
        return list(itertools.compress(range(len(self.bits)), self.bits))


def keep(rows):
    """The `keep` answer (`Output_Keep`): `rows` is a `Mask` or row indices, in output order."""
    return Output_Keep(rows.indices() if isinstance(rows, Mask) else list(rows))


# --- the exported operator --------------------------------------------------------------------

class Operator:
    """Base of an operator written with this module: override `process`, and `init` / `flush` as
    needed, then export it from app.py with `Operator = rig_operator.export(MyOperator)`.

    - `init(config: Config, input: Schema)`: returns None (rows keep the input layout) or the
      output `Schema`; raise (or `fail`) to refuse the run before any event flows.
    - `process(batch: Batch)`: returns `keep(...)`, a `Batch` (the rows answer), or an
      `Output_Keep` / `Output_Rows`.
    - `flush()`: rows held back (a `Batch`), or None.
    """

    def init(self, config, input):
        return None

    def process(self, batch):
        fail(f"{type(self).__name__}.process is not implemented")

    def flush(self):
        return None


class _State:
    """What the last successful `init` set up. Module-level: componentize-py's `init`, `process`
    and `flush` are methods of three different `Operator` objects."""

    op = None
    reads = None
    projection = None


_STATE = _State()


def _call(method, *args):
    """Calls the author's method; an exception other than `Err` becomes an `Err` naming its type
    and where it was raised (a trap would lose the message)."""
    try:
        return method(*args)
    except Err:
        raise
    except Exception as e:
        tb = e.__traceback__
        while tb.tb_next is not None:
            tb = tb.tb_next
        code = tb.tb_frame.f_code
        raise Err(f"{type(e).__name__}: {e} (at {code.co_filename.rsplit('/', 1)[-1]}:"
                  f"{tb.tb_lineno} in {code.co_name})") from e


def _answer(out):
    if isinstance(out, Batch):
        return out.output()
    if isinstance(out, (Output_Keep, Output_Rows)):
        return out
    if isinstance(out, Mask):
        return keep(out)
    fail(f"process returned {type(out).__name__}: return keep(...), a Batch or an Output_*")


def export(cls):
    """The class to export from app.py for the operator class `cls` (a subclass of `Operator`):
    `Operator = rig_operator.export(MyOperator)`."""

    class Export(exports.Operator):
        def init(self, config, input):
            _STATE.op = _STATE.reads = _STATE.projection = None
            schema = Schema(input)
            op = _call(cls)
            out = _call(op.init, Config(config), schema)
            if out is not None and not isinstance(out, Schema):
                fail(f"init returned {type(out).__name__}: return None or a Schema")
            p = _STATE.projection
            if p is not None and out is not None and out.wit != input:
                fail("an operator that projects must keep its input schema as its output")
            _STATE.op, _STATE.reads = op, (p.reads if p else schema)
            return input if out is None else out.wit

        def process(self, input):
            if _STATE.op is None:
                fail("operator called before a successful init")
            batch = Batch(_STATE.reads, input.rows, input.heap, input.count)
            return _answer(_call(_STATE.op.process, batch))

        def flush(self):
            if _STATE.op is None:
                return None
            out = _call(_STATE.op.flush)
            return None if out is None else out.wit()

    Export.__name__ = Export.__qualname__ = f"Export({cls.__name__})"
    return Export
