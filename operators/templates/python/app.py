"""@NAME@: a rig operator in Python (componentize-py).

rig calls `init` once with this operator's settings (the graph file's `with:`) and the schema of
its input, then `process` once per batch of events, then `flush` at the end of the stream. A batch
is `count` fixed-size rows (`row_size` bytes each, laid out by the schema) plus a heap for
variable-length values: see wit/operator.wit. `rows` and `heap` are `bytes`.

Raise `componentize_py_types.Err("message")` to fail a call.

Build: ./build.sh (or `rig operator build .`); the build also checks this file's types against the
contract.
"""

from componentize_py_types import Err  # noqa: F401  (raise Err("...") to fail a call)
from wit_world import exports
from wit_world.imports import host
from wit_world.imports.types import Output_Keep


def keep(rows: bytes, row_size: int) -> list:
    """Which rows of a batch to keep, in order. This skeleton keeps them all.

    Edit here: read fields with rows[base + offset : base + offset + size] (offsets come from the
    schema given to `init`) and return the indices of the rows to keep. To change values instead,
    return Output_Rows(Batch(rows, heap, count)) from `process`.
    """
    return list(range(len(rows) // row_size)) if row_size else []


class _State:
    """What `init` decided. Module-level, not on the Operator: componentize-py may create a new
    Operator object for each call, so attributes set in `init` are gone by `process`."""

    row_size = 0


STATE = _State()


class Operator(exports.Operator):
    def init(self, config, input):
        # Edit here: read settings from `config` (a list of (key, value)), find the fields you
        # need in `input.fields`, and raise Err naming what is wrong. Keep what `process` needs
        # in STATE.
        host.log(host.Level.DEBUG, f"@NAME@: {len(config)} settings, {len(input.fields)} fields")
        STATE.row_size = input.row_size
        return input

    def process(self, input):
        kept = keep(input.rows, STATE.row_size)
        host.counter_add("kept", len(kept))
        return Output_Keep(kept)

    def flush(self):
        return None
