// Example rig operator in JavaScript: replaces the named text fields with "[redacted]".
//
// Config: `fields` — comma-separated field names (`fname` or `fname,proc.comm`). Every named field
// must exist and be text. Inline text fields get `[redacted]` truncated to their size and
// NUL-padded; heap text fields point at one `[redacted]` value appended to the batch heap (the
// input heap is kept as is). Every other byte is unchanged: the output is byte-identical to the
// Rust, Python and C versions next to this folder.
//
// Conventions of componentize-js: `list<u8>` is a Uint8Array, records use camelCase
// (`rowSize`), enums are strings ('text'), variants are `{ tag, val }`; returning a value is
// `ok`, throwing a string is `err` (throwing an Error object traps instead).
//
// Build: ./build.sh [OUT.wasm]  (npm ci first; see package.json).

import { log, counterAdd } from 'rig:operator/host@0.1.0';

const REDACTED = new TextEncoder().encode('[redacted]');

let plan = null; // { rowSize, inline: [[offset, Uint8Array]], slots: [offset] }

function init(config, input) {
  plan = null;
  let value;
  for (const [k, v] of config) if (k === 'fields') value = v; // the last one wins
  if (value === undefined) throw 'redact: missing config key "fields"';
  const byName = new Map(input.fields.map((f) => [f.name, f]));
  const inline = [];
  const slots = [];
  const names = [];
  for (const raw of value.split(',')) {
    const name = raw.trim();
    if (name === '') continue;
    const f = byName.get(name);
    if (f === undefined) throw `redact: no field "${name}" in datasource ${input.datasource}`;
    if (f.kind !== 'text') throw `redact: field "${name}" is ${f.kind}, not text`;
    if (f.heap) {
      slots.push(f.offset);
    } else {
      const v = new Uint8Array(f.size); // NUL-padded
      v.set(REDACTED.subarray(0, f.size));
      inline.push([f.offset, v]);
    }
    names.push(name);
  }
  if (names.length === 0) throw 'redact: config key "fields" names no field';
  plan = { rowSize: input.rowSize, inline, slots };
  log('debug', `redact: redacting ${names.join(', ')}`);
  return input;
}

function process(input) {
  if (plan === null) throw 'operator called before a successful init';
  const { rowSize, inline, slots } = plan;
  const count = input.count;
  if (input.rows.length !== count * rowSize) {
    throw `redact: batch of ${count} rows has ${input.rows.length} row bytes (row size ${rowSize})`;
  }
  const rows = new Uint8Array(input.rows);
  let heap = input.heap;
  const slot = new Uint8Array(8);
  if (count > 0 && slots.length > 0) {
    const view = new DataView(slot.buffer);
    view.setUint32(0, heap.length, true);
    view.setUint32(4, REDACTED.length, true);
    const grown = new Uint8Array(heap.length + REDACTED.length);
    grown.set(heap);
    grown.set(REDACTED, heap.length);
    heap = grown;
  }
  for (let base = 0; base < count * rowSize; base += rowSize) {
    for (const [off, v] of inline) rows.set(v, base + off);
    for (const off of slots) rows.set(slot, base + off);
  }
  counterAdd('redacted', BigInt(count * (inline.length + slots.length)));
  return { tag: 'rows', val: { rows, heap, count } };
}

function flush() {
  return undefined;
}

export const operator = { init, process, flush };
