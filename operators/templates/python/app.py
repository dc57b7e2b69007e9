"""@NAME@: a rig operator in Python (componentize-py), written with rig_operator (the SDK next to
this file: read its docstrings, or docs/operators.md in rig's repository).

rig calls `init` once with this operator's settings (the graph file's `with:`) and the schema of
its input, then `process` once per batch of events, then `flush` at the end of the stream. A batch
is `count` fixed-size rows laid out by the schema plus a heap for variable-length values (see
wit/operator.wit); the SDK reads and writes it a column at a time, which keeps the Python work per
batch, not per event. `rig.fail("message")` (or any exception) fails a call with that message.

Build: ./build.sh (or `rig operator build .`).
"""

import rig_operator as rig


class MyOperator(rig.Operator):
    def init(self, config, input):
        # Edit here: read settings (config.get / require / int / names), look up the fields you
        # need (input.resolve("fname")) and rig.fail("...") naming what is wrong. Attributes set
        # on self are kept for `process`. To have only the fields you use cross into the
        # operator: p = input.project(reads=["proc.comm"], writes=[]).
        rig.debug(f"@NAME@: {len(config.entries)} settings, {len(input.fields)} fields")

    def process(self, batch):
        # Edit here: batch.column("proc.comm").equals("cat") is a Mask of the matching rows;
        # return rig.keep(mask) to keep them, or a Batch to rewrite them (batch.copy(), then
        # column(...).fill(value)). This skeleton keeps every row.
        rig.count("kept", batch.count)
        return batch.keep()


Operator = rig.export(MyOperator)
