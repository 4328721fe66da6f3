/**
 * Byte-level mutations of a protobuf body that know the wire format: truncated
 * fields, lying lengths, swapped wire types, overlong varints, duplicated or
 * dropped fields, unknown fields, deeply nested groups, splices of two bodies,
 * and plain bit flips. Each returns a new buffer and the name of what it did.
 */
import protobuf from 'protobufjs';
import type { Random } from './random';

interface FieldSpan {
  start: number;
  /** Where the value starts (after the tag). */
  valueStart: number;
  end: number;
  fieldNumber: number;
  wireType: number;
}

/** Top-level fields of `body`, as far as they parse (a broken tail is left out). */
export function scanFields(body: Uint8Array): FieldSpan[] {
  const reader = protobuf.Reader.create(body);
  const spans: FieldSpan[] = [];
  try {
    while (reader.pos < reader.len) {
      const start = reader.pos;
      const tag = reader.uint32();
      const valueStart = reader.pos;
      reader.skipType(tag & 7);
      spans.push({ start, valueStart, end: reader.pos, fieldNumber: tag >>> 3, wireType: tag & 7 });
    }
  } catch {
    // the rest does not parse
  }
  return spans;
}

function varint(value: number): Buffer {
  const out: number[] = [];
  let v = value >>> 0;
  while (v > 0x7f) {
    out.push((v & 0x7f) | 0x80);
    v >>>= 7;
  }
  out.push(v);
  return Buffer.from(out);
}

function tag(fieldNumber: number, wireType: number): Buffer {
  // Field numbers up to 2^29-1; the shift must stay unsigned.
  return varint(((fieldNumber * 8) >>> 0) + wireType);
}

export type Mutation = (body: Buffer, rng: Random, other: Buffer) => Buffer;

export const MUTATIONS: ReadonlyArray<readonly [string, Mutation]> = [
  ['truncate', (b, rng) => b.subarray(0, b.length === 0 ? 0 : rng.int(0, b.length - 1))],
  [
    'truncate-field',
    (b, rng) => {
      // Cut inside a field's value: its tag and part of its length/value remain.
      const spans = scanFields(b);
      if (spans.length === 0) return b.subarray(0, Math.floor(b.length / 2));
      const s = rng.pick(spans);
      return b.subarray(0, rng.int(s.valueStart, Math.max(s.valueStart, s.end - 1)));
    },
  ],
  [
    'bit-flip',
    (b, rng) => {
      const out = Buffer.from(b);
      if (out.length === 0) return rng.bytes(1);
      for (let i = rng.int(1, 4); i > 0; i--) out[rng.int(0, out.length - 1)] ^= 1 << rng.int(0, 7);
      return out;
    },
  ],
  [
    'boundary-byte',
    (b, rng) => {
      const out = Buffer.from(b);
      if (out.length === 0) return Buffer.from([rng.pick([0x00, 0x7f, 0x80, 0xff])]);
      out[rng.int(0, out.length - 1)] = rng.pick([0x00, 0x01, 0x7f, 0x80, 0xfe, 0xff]);
      return out;
    },
  ],
  [
    'insert-bytes',
    (b, rng) => {
      const at = rng.int(0, b.length);
      return Buffer.concat([b.subarray(0, at), rng.bytes(rng.int(1, 16)), b.subarray(at)]);
    },
  ],
  [
    'delete-bytes',
    (b, rng) => {
      if (b.length === 0) return b;
      const at = rng.int(0, b.length - 1);
      return Buffer.concat([b.subarray(0, at), b.subarray(Math.min(b.length, at + rng.int(1, 8)))]);
    },
  ],
  [
    'duplicate-field',
    (b, rng) => {
      const spans = scanFields(b);
      if (spans.length === 0) return b;
      const s = rng.pick(spans);
      const copies = rng.chance(0.9) ? rng.int(1, 3) : rng.int(100, 2000);
      return Buffer.concat([b, ...Array.from({ length: copies }, () => b.subarray(s.start, s.end))]);
    },
  ],
  [
    'drop-field',
    (b, rng) => {
      const spans = scanFields(b);
      if (spans.length === 0) return b;
      const s = rng.pick(spans);
      return Buffer.concat([b.subarray(0, s.start), b.subarray(s.end)]);
    },
  ],
  [
    'swap-wire-type',
    (b, rng) => {
      const spans = scanFields(b);
      if (spans.length === 0) return b;
      const s = rng.pick(spans);
      const wire = rng.pick([0, 1, 2, 3, 4, 5, 6, 7].filter((w) => w !== s.wireType));
      return Buffer.concat([b.subarray(0, s.start), tag(s.fieldNumber, wire), b.subarray(s.valueStart)]);
    },
  ],
  [
    'lying-length',
    (b, rng) => {
      const spans = scanFields(b).filter((s) => s.wireType === 2);
      if (spans.length === 0) return Buffer.concat([b, tag(rng.int(1, 20), 2), varint(rng.pick([0x7fffffff, 0xffffffff, 1000]))]);
      const s = rng.pick(spans);
      const reader = protobuf.Reader.create(b.subarray(s.valueStart));
      const length = reader.uint32();
      const lie = rng.pick([length + 1, length + rng.int(2, 1000), Math.max(0, length - 1), 0, 0x7fffffff, 0xffffffff]);
      return Buffer.concat([b.subarray(0, s.valueStart), varint(lie), b.subarray(s.valueStart + reader.pos)]);
    },
  ],
  [
    'overlong-varint',
    (b, rng) => {
      const spans = scanFields(b).filter((s) => s.wireType === 0);
      // A 64-bit (or even 11-byte) varint where a uint32 is expected.
      const big = rng.pick([
        Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]),
        Buffer.from([0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01]),
        Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f]),
        Buffer.from([0x80, 0x80, 0x80, 0x80, 0x00]),
      ]);
      if (spans.length === 0) return Buffer.concat([b, tag(1, 0), big]);
      const s = rng.pick(spans);
      return Buffer.concat([b.subarray(0, s.valueStart), big, b.subarray(s.end)]);
    },
  ],
  [
    'unknown-field',
    (b, rng) => {
      const number = rng.pick([0, 7, 19, 21, 99, 1000, 19000, 0x1fffffff, rng.int(1, 0x1fffffff)]);
      const wire = rng.int(0, 7);
      const payload =
        wire === 0 ? varint(rng.uint32()) : wire === 1 ? rng.bytes(8) : wire === 5 ? rng.bytes(4) : wire === 2 ? Buffer.concat([varint(3), rng.bytes(3)]) : rng.bytes(rng.int(0, 4));
      return Buffer.concat([b, tag(number, wire), payload]);
    },
  ],
  [
    'nested-groups',
    (b, rng) => {
      // Start-group tags nested deeply, with or without their end tags.
      const depth = rng.pick([100, 5_000, 50_000]);
      const start = tag(rng.int(1, 30), 3);
      const parts = Array.from({ length: depth }, () => start);
      if (rng.chance(0.5)) {
        const end = tag(rng.int(1, 30), 4);
        for (let i = 0; i < depth; i++) parts.push(end);
      }
      return Buffer.concat([b, ...parts]);
    },
  ],
  ['splice', (b, rng, other) => Buffer.concat([b.subarray(0, rng.int(0, b.length)), other.subarray(rng.int(0, other.length))])],
  ['concat', (b, _rng, other) => Buffer.concat([b, other])],
  ['random-bytes', (_b, rng) => rng.bytes(rng.size(2048))],
  ['empty', () => Buffer.alloc(0)],
];

/** Applies 1..3 mutations; returns the body and the names of what was done. */
export function mutateBody(body: Buffer, rng: Random, other: Buffer): { body: Buffer; what: string } {
  let out = body;
  const names: string[] = [];
  for (let i = rng.weighted([
    [6, 1],
    [3, 2],
    [1, 3],
  ] as const); i > 0; i--) {
    const [name, mutate] = rng.pick(MUTATIONS);
    out = mutate(out, rng, other);
    names.push(name);
  }
  return { body: out, what: names.join('+') };
}
