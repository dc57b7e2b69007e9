"""Example rig operator in Python: replaces the named text fields with "[redacted]".

Config: `fields` — comma-separated field names (`fname` or `fname,proc.comm`). Every named field
must exist and be text. Inline text fields get `[redacted]` truncated to their size and
NUL-padded; heap text fields point at one `[redacted]` value appended to the batch heap (the input
heap is kept as is). Every other byte is unchanged: the output is byte-identical to the Rust, JS
and C versions next to this folder.

Written with the Python SDK of rig's templates (`rig_operator`, operators/templates/python/): it
projects — reads nothing, writes only the named fields — so a batch costs a few Python
operations whatever its size: one answer row is filled, and the host repeats it.

Build: ./build.sh [OUT.wasm]  (componentize-py; the bindings module `wit_world` is generated from
the WIT at build time, and rig_operator.py is taken from the template folder).
"""

import rig_operator as rig

REDACTED = "[redacted]"


class Redact(rig.Operator):
    def init(self, config, input):
        if config.get("fields") is None:
            rig.fail('redact: missing config key "fields"')
        names = config.names("fields")
        for name in names:
            f = input.field(name)
            if f is None:
                rig.fail(f'redact: no field "{name}" in datasource {input.datasource}')
            if f.kind != rig.FieldKind.TEXT:
                rig.fail(f'redact: field "{name}" is {rig.kind_name(f.kind)}, not text')
        if not names:
            rig.fail('redact: config key "fields" names no field')
        self.writes = input.project(reads=[], writes=names).writes
        self.names = names
        rig.debug("redact: redacting " + ", ".join(names))

    def process(self, batch):
        out = rig.Batch.zeros(self.writes, batch.count)
        for name in self.names:
            out.column(name).fill(REDACTED)
        rig.count("redacted", batch.count * len(self.names))
        return out


Operator = rig.export(Redact)
