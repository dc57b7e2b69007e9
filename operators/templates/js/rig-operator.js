// rig-operator.js: write rig operators in JavaScript, a column at a time.
//
// componentize-js binds `wit/operator.wit` as the module 'rig:operator/host@0.1.0' (imports) and
// the `operator` object this project exports. A batch arrives as two Uint8Arrays (fixed-size
// `rows` and a `heap`) and a `count`; records use camelCase (`rowSize`), enums are strings
// ('text'), variants are `{ tag, val }`, u64 is a BigInt, and throwing a string fails a call
// while throwing an Error object traps. This module is a small typed layer on top, modelled on
// the Rust SDK (`rig-operator-sdk`), shipped with every JavaScript project:
//
// - Schema: `field(name)` / `resolve(name)` give a field's kind, offset, size and heap flag;
//   `project(reads, writes)` declares the only fields that cross into and out of the operator.
// - Batch and Column: `batch.column('proc.pid').values()` is a typed array (Uint32Array…) of the
//   column, one number per row and no object per row; `equals`, `startsWith` and `where` build a
//   Mask; `fill(value)` rewrites a field in every row (in `Batch.zeros`, the answer of a
//   projection, one row is written and the rest are copies doubled with `copyWithin`).
// - Mask / keep(): the keep-list answer (`{ tag: 'keep', val: Uint32Array }`).
// - Config, debug/info/warn/error, count (counters), fail (throw a string).
// - exportOperator(Class): the `operator` object to export; it turns any exception into an error
//   string naming its type and line, instead of a trap.
//
// Why column-wise: StarlingMonkey runs JavaScript interpreted (no JIT inside WebAssembly), at
// hundreds of nanoseconds per statement-level step; a typed-array method call does its whole
// loop natively. See docs/operators.md ("JavaScript") for the API with examples.

import { counterAdd, log, project as hostProject } from 'rig:operator/host@0.1.0';

/** Byte size and typed-array class of every fixed-size kind (little-endian, as WebAssembly). */
export const FORMATS = {
  boolean: [1, Uint8Array],
  u8: [1, Uint8Array],
  u16: [2, Uint16Array],
  u32: [4, Uint32Array],
  u64: [8, BigUint64Array],
  s8: [1, Int8Array],
  s16: [2, Int16Array],
  s32: [4, Int32Array],
  s64: [8, BigInt64Array],
  f32: [4, Float32Array],
  f64: [8, Float64Array],
};

const encoder = new TextEncoder();
const decoder = new TextDecoder();

// --- host: logging, counters, errors ---------------------------------------------------------

/** Logs at trace level (one host call: log per batch, not per row). */
export const trace = (message) => log('trace', String(message));
/** Logs at debug level. */
export const debug = (message) => log('debug', String(message));
/** Logs at info level. */
export const info = (message) => log('info', String(message));
/** Logs at warn level. */
export const warn = (message) => log('warn', String(message));
/** Logs at error level (it does not fail the call: `fail` does). */
export const error = (message) => log('error', String(message));

/** Adds `delta` to the counter `name` (shown by `--stats`). One host call: once per batch. */
export function count(name, delta = 1) {
  counterAdd(name, BigInt(delta));
}

/** Fails the current call with `message`: throws it as a string (the WIT `result` error). */
export function fail(message) {
  throw String(message);
}

// --- configuration ---------------------------------------------------------------------------

/** The operator's settings (`with:` in a graph, `--operator-param NODE.KEY=VALUE`). */
export class Config {
  constructor(entries) {
    this.entries = entries;
  }

  /** The value of `key` (the last one when repeated), or `fallback`. */
  get(key, fallback = undefined) {
    for (let i = this.entries.length - 1; i >= 0; i--) {
      if (this.entries[i][0] === key) return this.entries[i][1];
    }
    return fallback;
  }

  /** The value of `key`, or an error saying it is required. */
  require(key) {
    const v = this.get(key);
    if (v === undefined) fail(`missing config key "${key}"`);
    return v;
  }

  /** `key` as an integer, `fallback` when unset; the error names the key and the value. */
  int(key, fallback = 0) {
    const v = this.get(key);
    if (v === undefined) return fallback;
    const n = Number(v.trim());
    if (!Number.isInteger(n)) fail(`config key "${key}": cannot parse "${v}" as an integer`);
    return n;
  }

  /** `true`/`false`, `1`/`0`, `yes`/`no`, `on`/`off` (any case); `fallback` when unset. */
  bool(key, fallback = false) {
    const v = this.get(key);
    if (v === undefined) return fallback;
    const s = v.trim().toLowerCase();
    if (['true', '1', 'yes', 'on'].includes(s)) return true;
    if (['false', '0', 'no', 'off'].includes(s)) return false;
    return fail(`config key "${key}": expected true or false, got "${v}"`);
  }

  /** `key` as a comma-separated list: spaces trimmed, empty items and repeats dropped. */
  names(key) {
    const out = [];
    for (const raw of (this.get(key) ?? '').split(',')) {
      const n = raw.trim();
      if (n !== '' && !out.includes(n)) out.push(n);
    }
    return out;
  }

  /** Errors on any key not in `known`, listing the keys the operator accepts. */
  allowOnly(...known) {
    for (const [k] of this.entries) {
      if (!known.includes(k)) fail(`unknown config key "${k}" (known keys: ${known.join(', ')})`);
    }
  }
}

// --- schemas ---------------------------------------------------------------------------------

let declared = null; // what `Schema.project` declared during the running `init`

/**
 * The columns of a datasource and its row layout (wraps the WIT record `schema`). Fields are WIT
 * `field` records: `name`, `kind` ('u32', 'text'…), `offset`, `size`, `heap` (the value lives in
 * the heap; `offset` is its 8-byte `(offset, length)` slot), `hidden`, `tags`, `annotations`.
 */
export class Schema {
  constructor(wit) {
    this.wit = wit;
    this.byName = new Map(wit.fields.map((f) => [f.name, f]));
  }

  get datasource() {
    return this.wit.datasource;
  }

  get fields() {
    return this.wit.fields;
  }

  get rowSize() {
    return this.wit.rowSize;
  }

  /** The field called `name` (hidden ones included), or undefined. */
  field(name) {
    return this.byName.get(name);
  }

  /** The field called `name`, of `kind` if given; else an error naming it. */
  resolve(name, kind = undefined) {
    const f = this.byName.get(name);
    if (f === undefined) {
      fail(`datasource ${this.datasource} has no field "${name}" (fields: ${this.names().join(', ')})`);
    }
    if (kind !== undefined && f.kind !== kind) fail(`field "${name}" is ${f.kind}, not ${kind}`);
    return f;
  }

  /** Names of the fields shown by default. */
  names() {
    return this.fields.filter((f) => !f.hidden).map((f) => f.name);
  }

  /**
   * Declares that the operator reads only `reads` and writes only `writes`; call it from `init`.
   * From then on `process` gets rows of `reads` packed, and a rows answer holds one row of
   * `writes` per input row (`Batch.zeros(p.writes, batch.count)`). Returns `{ reads, writes }`.
   */
  project(reads = [], writes = []) {
    let p;
    try {
      p = hostProject(reads, writes);
    } catch (e) {
      fail(e?.payload ?? e?.message ?? e);
    }
    declared = { reads: new Schema(p.reads), writes: new Schema(p.writes) };
    return declared;
  }

  /**
   * A copy of this schema with a field appended at the end of the row (scalars inline and
   * naturally aligned, text and bytes as a heap slot; the row stays a multiple of 8 bytes).
   */
  addField(name, kind) {
    if (this.byName.has(name)) fail(`datasource ${this.datasource}: field "${name}" already exists`);
    const [size, heap] = FORMATS[kind] ? [FORMATS[kind][0], false] : [8, true];
    const end = Math.max(0, ...this.fields.map((f) => f.offset + f.size));
    const offset = Math.ceil(end / size) * size;
    const f = { name, kind, offset, size, heap, hidden: false, tags: [], annotations: [] };
    const rowSize = Math.max(this.rowSize, Math.ceil((offset + size) / 8) * 8);
    return new Schema({ datasource: this.datasource, fields: [...this.fields, f], rowSize });
  }
}

// --- batches and columns ---------------------------------------------------------------------

/**
 * `count` rows of `schema` and their heap: what `process` receives, or an answer.
 * `Batch.zeros(schema, n)` holds n equal rows as a single row until something writes one row
 * only, so filling its columns costs one row whatever n is.
 */
export class Batch {
  constructor(schema, rows, heap = new Uint8Array(0), count = undefined) {
    const rs = schema.rowSize;
    const n = count ?? (rs ? Math.floor(rows.length / rs) : 0);
    if (rows.length !== n * rs) {
      fail(`datasource ${schema.datasource}: batch of ${n} rows has ${rows.length} row bytes (row size ${rs})`);
    }
    this.schema = schema;
    this.count = n;
    this.heap = heap;
    this.packed = rows; // undefined while every row equals `row`
    this.row = undefined;
    this.interned = new Map();
  }

  /** `count` rows of zeros (empty text, zero numbers) and an empty heap. */
  static zeros(schema, count) {
    const b = new Batch(schema, new Uint8Array(0), new Uint8Array(0), 0);
    b.count = count;
    b.packed = undefined;
    b.row = new Uint8Array(schema.rowSize);
    return b;
  }

  /** The packed rows (`count * rowSize` bytes). */
  get rows() {
    if (this.packed === undefined) this.packed = repeat(this.row, this.count);
    return this.packed;
  }

  /** A copy that this operator may change. */
  copy() {
    const b = new Batch(this.schema, this.rows.slice(), this.heap.slice(), this.count);
    b.interned = new Map(this.interned);
    return b;
  }

  /**
   * A new batch of the rows `rows` (a Mask or row indices), in that order, sharing this batch's
   * heap: one copy per kept row. To filter and rewrite at once, `take` then `fill` and return it
   * (a projected operator answers one row of its writes per input row instead).
   */
  take(rows) {
    const idx = rows instanceof Mask ? rows.indices() : Uint32Array.from(rows);
    const rs = this.schema.rowSize;
    const src = this.rows;
    const out = new Uint8Array(idx.length * rs);
    for (let k = 0; k < idx.length; k++) {
      if (idx[k] >= this.count) fail(`take: row ${idx[k]} is outside the ${this.count}-row batch`);
      out.set(src.subarray(idx[k] * rs, (idx[k] + 1) * rs), k * rs);
    }
    const b = new Batch(this.schema, out, this.heap, idx.length);
    b.interned = new Map(this.interned);
    return b;
  }

  /** The column of field `name` (a name or a field, looked up by name in this batch's schema:
   * in a projected operator, the packed `reads` layout). */
  column(name) {
    return new Column(this, this.schema.resolve(typeof name === 'string' ? name : name.name));
  }

  /** Appends `value` (a Uint8Array) to the heap once per batch; returns its offset. */
  addHeap(value) {
    const key = value.join(',');
    let at = this.interned.get(key);
    if (at === undefined) {
      at = this.heap.length;
      const grown = new Uint8Array(at + value.length);
      grown.set(this.heap);
      grown.set(value, at);
      this.heap = grown;
      this.interned.set(key, at);
    }
    return at;
  }

  /** This batch as the WIT record `batch`. */
  wit() {
    return { rows: this.rows, heap: this.heap, count: this.count };
  }

  /** The `rows` answer: replace the batch with these rows. */
  output() {
    return { tag: 'rows', val: this.wit() };
  }

  /** The `keep` answer for `rows` (a Mask or row indices); every row when omitted. */
  keep(rows = undefined) {
    if (rows === undefined) {
      const all = new Uint32Array(this.count);
      for (let i = 0; i < all.length; i++) all[i] = i;
      return keep(all);
    }
    return keep(rows);
  }

  /** The `width` bytes at `off` of every row, packed (`count * width` bytes). */
  gather(off, width) {
    const rs = this.schema.rowSize;
    if (this.packed === undefined) return repeat(this.row.subarray(off, off + width), this.count);
    const rows = this.packed;
    if (width === rs) return rows;
    const out = new Uint8Array(this.count * width);
    for (let i = 0, src = off, dst = 0; i < this.count; i++, src += rs) {
      for (let j = 0; j < width; j++) out[dst++] = rows[src + j];
    }
    return out;
  }

  /** Writes `data` at `off` in every row. */
  fillAt(off, data) {
    if (this.packed === undefined) {
      this.row.set(data, off);
      return;
    }
    const rs = this.schema.rowSize;
    for (let at = off, end = this.count * rs; at < end; at += rs) this.packed.set(data, at);
  }

  /** Writes `data` at `off` of row `row` only. */
  setAt(row, off, data) {
    this.rows.set(data, row * this.schema.rowSize + off);
    this.row = undefined;
  }
}

/** `row` repeated `count` times: one copy, then `copyWithin` doubling what is there. */
function repeat(row, count) {
  const out = new Uint8Array(row.length * count);
  if (out.length === 0) return out;
  out.set(row, 0);
  for (let have = row.length; have < out.length; have *= 2) {
    out.copyWithin(have, 0, Math.min(have, out.length - have));
  }
  return out;
}

/** One field of every row of a batch. */
export class Column {
  constructor(batch, field) {
    this.batch = batch;
    this.field = field;
  }

  /**
   * The column's numbers as a typed array, one per row (Uint32Array for u32, BigUint64Array for
   * u64, Uint8Array of 0/1 for boolean…): a view without copying when the rows hold only this
   * field, else a packed copy. No object is made per row.
   */
  values() {
    const f = this.field;
    const fmt = FORMATS[f.kind];
    if (fmt === undefined || f.heap) {
      fail(`field "${f.name}" is ${f.kind}: values() reads numbers and booleans; use bytes() or texts()`);
    }
    const [width, Typed] = fmt;
    return view(this.batch.gather(f.offset, width), Typed, this.batch.count);
  }

  /** A heap field's slots: a Uint32Array of `(offset, length)` pairs, flattened. */
  slots() {
    return view(this.batch.gather(this.field.offset, 8), Uint32Array, 2 * this.batch.count);
  }

  /** Every row's value as a Uint8Array (one object per row): inline text up to its first NUL,
   * other inline fields all `size` bytes, heap fields their value. */
  bytes() {
    const f = this.field;
    const b = this.batch;
    const out = new Array(b.count);
    if (f.heap) {
      const s = this.slots();
      for (let i = 0; i < b.count; i++) {
        const o = s[2 * i];
        const n = s[2 * i + 1];
        out[i] = o + n <= b.heap.length ? b.heap.subarray(o, o + n) : new Uint8Array(0);
      }
      return out;
    }
    const data = b.gather(f.offset, f.size);
    for (let i = 0; i < b.count; i++) {
      let v = data.subarray(i * f.size, (i + 1) * f.size);
      if (f.kind === 'text') {
        const nul = v.indexOf(0);
        if (nul >= 0) v = v.subarray(0, nul);
      }
      out[i] = v;
    }
    return out;
  }

  /** Every row's value as a string (one object per row; invalid UTF-8 is replaced). */
  texts() {
    return this.bytes().map((v) => decoder.decode(v));
  }

  /** `value` as this field stores it: text cut to an inline field's size at a character boundary
   * and NUL-padded; numbers little-endian (a BigInt for 64-bit integers). */
  encode(value) {
    const f = this.field;
    if (f.kind === 'text' || f.kind === 'bytes') {
      let data = typeof value === 'string' ? encoder.encode(value) : Uint8Array.from(value);
      if (f.heap) return data;
      if (data.length > f.size) {
        let n = f.size;
        // A UTF-8 continuation byte (10xxxxxx) at the cut: back off to the character's start.
        if (f.kind === 'text') while (n > 0 && (data[n] & 0xc0) === 0x80) n--;
        data = data.subarray(0, n);
      }
      const out = new Uint8Array(f.size);
      out.set(data);
      return out;
    }
    const [width, Typed] = FORMATS[f.kind];
    const out = new Uint8Array(f.size);
    try {
      new Typed(out.buffer, 0, 1)[0] = width === 8 ? BigInt(value) : f.kind === 'boolean' ? Number(!!value) : value;
    } catch (e) {
      fail(`field "${f.name}" (${f.kind}) cannot hold ${value}: ${e?.message ?? e}`);
    }
    return out;
  }

  /** A Mask of the rows whose value is `value` (text as a string or bytes; numbers). */
  equals(value) {
    const f = this.field;
    if (f.heap) return this.where(typeof value === 'string' ? encoder.encode(value) : value);
    let data = this.encode(value);
    if (f.kind === 'text') {
      const want = typeof value === 'string' ? encoder.encode(value) : value;
      if (want.length > f.size) return new Mask(new Uint8Array(this.batch.count));
      data = data.subarray(0, Math.min(want.length + 1, f.size));
    } else if (FORMATS[f.kind]) {
      data = data.subarray(0, FORMATS[f.kind][0]);
    }
    return this.matchAt(data);
  }

  /** A Mask of the rows whose text (or bytes) starts with `prefix`. */
  startsWith(prefix) {
    const f = this.field;
    const want = typeof prefix === 'string' ? encoder.encode(prefix) : prefix;
    if (f.kind !== 'text' && f.kind !== 'bytes') fail(`field "${f.name}" is ${f.kind}: startsWith() reads text or bytes`);
    if (f.heap) return Mask.where(this.bytes(), (v) => startsWith(v, want));
    if (want.length > f.size) return new Mask(new Uint8Array(this.batch.count));
    return this.matchAt(want);
  }

  /** A Mask of the rows for which `predicate(value)` is true (`values()` for numbers, `bytes()`
   * otherwise); a non-function `predicate` is a value to compare with. It runs once per row:
   * prefer `equals` and `startsWith` on inline fields. */
  where(predicate) {
    const f = this.field;
    const values = FORMATS[f.kind] && !f.heap ? this.values() : this.bytes();
    if (typeof predicate === 'function') return Mask.where(values, predicate);
    if (ArrayBuffer.isView(predicate)) return Mask.where(values, (v) => sameBytes(v, predicate));
    return Mask.where(values, (v) => v === predicate);
  }

  /** 1 for the rows whose bytes at the field's offset are `data`. */
  matchAt(data) {
    const b = this.batch;
    const rs = b.schema.rowSize;
    const rows = b.rows;
    const bits = new Uint8Array(b.count);
    for (let i = 0, at = this.field.offset; i < b.count; i++, at += rs) {
      let j = 0;
      while (j < data.length && rows[at + j] === data[j]) j++;
      bits[i] = j === data.length ? 1 : 0;
    }
    return new Mask(bits);
  }

  /** Writes `value` into this field of every row. Heap: `value` is appended to the heap once
   * per batch and every row's slot points at it (nothing when the batch is empty). */
  fill(value) {
    const f = this.field;
    const b = this.batch;
    let data = this.encode(value);
    if (f.heap) {
      if (b.count === 0) return;
      data = slot(b.addHeap(data), data.length);
    }
    b.fillAt(f.offset, data);
  }

  /** Writes `value` into this field of row `row` only. */
  set(row, value) {
    const f = this.field;
    let data = this.encode(value);
    if (f.heap) data = slot(this.batch.addHeap(data), data.length);
    this.batch.setAt(row, f.offset, data);
  }
}

/** `n` elements of `Typed` over `data` (copied first when its offset is not aligned). */
function view(data, Typed, n) {
  const d = data.byteOffset % Typed.BYTES_PER_ELEMENT === 0 ? data : data.slice();
  return new Typed(d.buffer, d.byteOffset, n);
}

function slot(offset, length) {
  return new Uint8Array(new Uint32Array([offset, length]).buffer);
}

function startsWith(v, want) {
  if (v.length < want.length) return false;
  for (let j = 0; j < want.length; j++) if (v[j] !== want[j]) return false;
  return true;
}

function sameBytes(a, b) {
  return a.length === b.length && startsWith(a, b);
}

/** Which rows of a batch are selected: one byte per row, 1 or 0. */
export class Mask {
  constructor(bits) {
    this.bits = bits;
  }

  /** The rows of `values` for which `predicate(value)` is true. */
  static where(values, predicate) {
    const bits = new Uint8Array(values.length);
    for (let i = 0; i < bits.length; i++) bits[i] = predicate(values[i]) ? 1 : 0;
    return new Mask(bits);
  }

  get length() {
    return this.bits.length;
  }

  /** `op` applied to four rows' bytes at a time (a Uint32 word each; no object per row). */
  combine(other, op) {
    const n = this.bits.length;
    if (other !== null && other.bits.length !== n) {
      fail(`cannot combine masks of ${n} and ${other.bits.length} rows`);
    }
    const padded = (bits) => {
      const p = new Uint8Array((n + 3) & ~3);
      p.set(bits);
      return new Uint32Array(p.buffer);
    };
    const x = padded(this.bits);
    const y = other === null ? x : padded(other.bits);
    for (let i = 0; i < x.length; i++) x[i] = op(x[i], y[i]);
    return new Mask(new Uint8Array(x.buffer, 0, n));
  }

  /** Rows selected by both. */
  and(other) {
    return this.combine(other, (x, y) => x & y);
  }

  /** Rows selected by either. */
  or(other) {
    return this.combine(other, (x, y) => x | y);
  }

  /** Rows not selected. */
  not() {
    return this.combine(null, (x) => x ^ 0x01010101);
  }

  /** How many rows are selected. */
  count() {
    let n = 0;
    for (const b of this.bits) n += b;
    return n;
  }

  /** The selected row indices, in order (a Uint32Array). */
  indices() {
    const out = new Uint32Array(this.count());
    for (let i = 0, k = 0; k < out.length; i++) if (this.bits[i]) out[k++] = i;
    return out;
  }
}

/** The `keep` answer: `rows` is a Mask or row indices (an array or a Uint32Array), in order. */
export function keep(rows) {
  const val = rows instanceof Mask ? rows.indices() : Uint32Array.from(rows);
  return { tag: 'keep', val };
}

// --- the exported operator -------------------------------------------------------------------

/**
 * Base of an operator written with this module: override `process`, and `init` / `flush` as
 * needed, then `export const operator = exportOperator(MyOperator);`.
 *
 * - `init(config: Config, input: Schema)`: returns undefined (rows keep the input layout) or the
 *   output Schema; throw (or `fail`) to refuse the run before any event flows.
 * - `process(batch: Batch)`: returns `keep(...)`, a Batch (the rows answer) or a WIT `output`.
 * - `flush()`: rows held back (a Batch), or undefined.
 */
export class Operator {
  init(config, input) {
    return undefined;
  }

  process(batch) {
    return fail(`${this.constructor.name}.process is not implemented`);
  }

  flush() {
    return undefined;
  }
}

/** Runs `f`; an exception that is not a string becomes one naming its type and where it was
 * thrown (an Error thrown out of a call would trap, losing the message). */
function guarded(f) {
  try {
    return f();
  } catch (e) {
    if (typeof e === 'string') throw e;
    // SpiderMonkey's stack lines read `process@operator.js:12:7`; V8's `    at process (…)`.
    const at = String(e?.stack ?? '').split('\n').find((l) => l.includes('@') || l.trim().startsWith('at '));
    throw `${e?.name ?? 'Error'}: ${e?.message ?? e}${at ? ` (at ${at.trim().replace(/^at /, '')})` : ''}`;
  }
}

function answer(out) {
  if (out instanceof Batch) return out.output();
  if (out instanceof Mask) return keep(out);
  if (out && (out.tag === 'keep' || out.tag === 'rows')) return out;
  return fail(`process returned ${out}: return keep(...), a Batch or { tag, val }`);
}

/** The `operator` object to export for the operator class `Cls` (a subclass of Operator):
 * `export const operator = exportOperator(MyOperator);`. */
export function exportOperator(Cls) {
  let op = null;
  let reads = null;
  return {
    init(config, input) {
      op = reads = declared = null;
      const schema = new Schema(input);
      return guarded(() => {
        const o = new Cls();
        const out = o.init(new Config(config), schema);
        if (out !== undefined && out !== null && !(out instanceof Schema)) {
          fail(`init returned ${out}: return nothing or a Schema`);
        }
        if (declared && out && out.wit !== input) {
          fail('an operator that projects must keep its input schema as its output');
        }
        [op, reads] = [o, declared ? declared.reads : schema];
        return out ? out.wit : input;
      });
    },
    process(input) {
      if (op === null) fail('operator called before a successful init');
      return guarded(() => answer(op.process(new Batch(reads, input.rows, input.heap, input.count))));
    },
    flush() {
      if (op === null) return undefined;
      return guarded(() => op.flush()?.wit());
    },
  };
}
