"""Example rig operator in Python: replaces the named text fields with "[redacted]".

Config: `fields` — comma-separated field names (`fname` or `fname,proc.comm`). Every named field
must exist and be text. Inline text fields get `[redacted]` truncated to their size and
NUL-padded; heap text fields point at one `[redacted]` value appended to the batch heap (the input
heap is kept as is). Every other byte is unchanged: the output is byte-identical to the Rust, JS
and C versions next to this folder.

Build: ./build.sh [OUT.wasm]  (componentize-py; the bindings module `wit_world` is generated from
the WIT at build time).
"""

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import host
from wit_world.imports.types import Batch, FieldKind, Output_Rows

REDACTED = b"[redacted]"


class _State:
    """What init decided. Module-level: componentize-py may build a new Operator per call."""

    row_size = 0
    inline: list = []  # (offset, replacement bytes of the field's size)
    slots: list = []  # offsets of heap slots
    ready = False


STATE = _State()


class Operator(exports.Operator):

    def init(self, config, input):
        STATE.ready = False
        value = dict(config).get("fields")
        if value is None:
            raise Err('redact: missing config key "fields"')
        by_name = {f.name: f for f in input.fields}
        inline, slots, names = [], [], []
        for name in (n.strip() for n in value.split(",")):
            if not name:
                continue
            f = by_name.get(name)
            if f is None:
                raise Err(f'redact: no field "{name}" in datasource {input.datasource}')
            if f.kind != FieldKind.TEXT:
                raise Err(f'redact: field "{name}" is {f.kind.name.lower()}, not text')
            if f.heap:
                slots.append(f.offset)
            else:
                inline.append((f.offset, REDACTED[: f.size].ljust(f.size, b"\0")))
            names.append(name)
        if not names:
            raise Err('redact: config key "fields" names no field')
        STATE.row_size, STATE.inline, STATE.slots = input.row_size, inline, slots
        STATE.ready = True
        host.log(host.Level.DEBUG, "redact: redacting " + ", ".join(names))
        return input

    def process(self, input):
        if not STATE.ready:
            raise Err("operator called before a successful init")
        rs, count = STATE.row_size, input.count
        if len(input.rows) != count * rs:
            raise Err(
                f"redact: batch of {count} rows has {len(input.rows)} row bytes (row size {rs})"
            )
        rows = bytearray(input.rows)
        heap = input.heap
        slot = b""
        if count and STATE.slots:
            slot = len(heap).to_bytes(4, "little") + len(REDACTED).to_bytes(4, "little")
            heap = heap + REDACTED
        for base in range(0, count * rs, rs):
            for off, value in STATE.inline:
                rows[base + off : base + off + len(value)] = value
            for off in STATE.slots:
                rows[base + off : base + off + 8] = slot
        host.counter_add("redacted", count * (len(STATE.inline) + len(STATE.slots)))
        return Output_Rows(Batch(bytes(rows), heap, count))

    def flush(self):
        return None
