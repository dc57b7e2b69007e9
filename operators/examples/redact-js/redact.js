// Example rig operator in JavaScript: replaces the named text fields with "[redacted]".
//
// Config: `fields` — comma-separated field names (`fname` or `fname,proc.comm`). Every named field
// must exist and be text. Inline text fields get `[redacted]` truncated to their size and
// NUL-padded; heap text fields point at one `[redacted]` value appended to the batch heap (the
// input heap is kept as is). Every other byte is unchanged: the output is byte-identical to the
// Rust, Python and C versions next to this folder.
//
// Written with the JavaScript SDK of rig's templates (`rig-operator.js`,
// operators/templates/js/): it projects — reads nothing, writes only the named fields — so a
// batch costs a few statements whatever its size: one answer row is filled and doubled with
// `copyWithin` into the others.
//
// Build: ./build.sh [OUT.wasm]  (npm ci first; see package.json).

import * as rig from './rig-operator.js';

const REDACTED = '[redacted]';

class Redact extends rig.Operator {
  init(config, input) {
    if (config.get('fields') === undefined) rig.fail('redact: missing config key "fields"');
    const names = config.names('fields');
    for (const name of names) {
      const f = input.field(name);
      if (f === undefined) rig.fail(`redact: no field "${name}" in datasource ${input.datasource}`);
      if (f.kind !== 'text') rig.fail(`redact: field "${name}" is ${f.kind}, not text`);
    }
    if (names.length === 0) rig.fail('redact: config key "fields" names no field');
    this.writes = input.project([], names).writes;
    this.names = names;
    rig.debug(`redact: redacting ${names.join(', ')}`);
  }

  process(batch) {
    const out = rig.Batch.zeros(this.writes, batch.count);
    for (const name of this.names) out.column(name).fill(REDACTED);
    rig.count('redacted', batch.count * this.names.length);
    return out;
  }
}

export const operator = rig.exportOperator(Redact);
