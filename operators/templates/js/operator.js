// @NAME@: a rig operator in JavaScript (componentize-js).
//
// rig calls `init` once with this operator's settings (the graph file's `with:`) and the schema
// of its input, then `process` once per batch of events, then `flush` at the end of the stream.
// A batch is `count` fixed-size rows (`rowSize` bytes each, laid out by the schema) plus a heap
// for variable-length values: see wit/operator.wit. `rows` and `heap` are Uint8Arrays; records
// use camelCase; enums are strings; a variant is `{ tag, val }`. Throw a string to fail a call
// (an Error object traps instead).
//
// Build: ./build.sh (or `rig operator build .`).

import { log, counterAdd } from 'rig:operator/host@0.1.0';

let rowSize = 0;

// Which rows of a batch to keep, in order. This skeleton keeps them all.
//
// Edit here: read fields with rows.subarray(base + offset, base + offset + size) (offsets come
// from the schema given to `init`) and return the indices of the rows to keep. To change values
// instead, return { tag: 'rows', val: { rows, heap, count } } from `process`.
export function keep(rows, rowSize) {
  const count = rowSize ? Math.floor(rows.length / rowSize) : 0;
  return Array.from({ length: count }, (_, i) => i);
}

function init(config, input) {
  // Edit here: read settings from `config` (an array of [key, value]), find the fields you need
  // in `input.fields`, and throw a string naming what is wrong.
  log('debug', `@NAME@: ${config.length} settings, ${input.fields.length} fields`);
  rowSize = input.rowSize;
  return input;
}

function process(input) {
  const kept = keep(input.rows, rowSize);
  counterAdd('kept', BigInt(kept.length));
  return { tag: 'keep', val: kept };
}

function flush() {
  return undefined;
}

export const operator = { init, process, flush };
