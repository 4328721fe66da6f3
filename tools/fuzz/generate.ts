/**
 * Protobuf bodies generated from the reflected schema: every field gets a value
 * of its declared type, picked to be interesting (ids of real users and groups,
 * boundary numbers, empty/huge/odd strings, TeamTalk attach_data layouts),
 * optional fields are often left out, and repeated fields are usually short but
 * sometimes huge (up to a byte budget near the target's PDU limit).
 */
import protobuf from 'protobufjs';
import { encodeHandleAttach, encodePduAttach } from '../../pdu/attach';
import type { Random } from './random';

/** What the generated values draw on: ids and names that exist in the fuzzed cluster. */
export interface Dictionary {
  userIds: readonly number[];
  groupIds: readonly number[];
  /** Login names that exist (never those of the users the fuzzer logs in with: failed logins would lock them). */
  userNames: readonly string[];
}

const BOUNDARY_U32 = [0, 1, 2, 3, 0x7f, 0x80, 0xff, 0x100, 0x7fff, 0x8000, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff];

const ODD_STRINGS = [
  '',
  'a',
  ' ',
  '\u0000',
  'a\u0000b',
  '%s%s%s%n',
  "' OR 1=1 -- ",
  '"; DROP TABLE IMUser; --',
  '\\',
  '../../../../etc/passwd',
  '${jndi:ldap://127.0.0.1/x}',
  '<script>alert(1)</script>',
  '{"a":',
  'null',
  'undefined',
  '__proto__',
  'constructor',
  '\u202e\u0645\u0631\u062d\u0628\u0627',
  '\ud83d\ude00\ud83d\udc4d',
  '\ud800',
  '\r\n\r\nHTTP/1.1 200 OK',
  '0.0.0.0',
  '127.0.0.1',
  '::1',
  '255.255.255.255',
  'e10adc3949ba59abbe56e057f20f883e',
  '1.0',
  '99999999999999999999',
];

/** Times near "now" (a fixed one: the same seed must give the same bytes on every day). */
const RECENT_UNIX_TIME = 1_780_000_000;

type Value = unknown;

export function generateMessage(type: protobuf.Type, rng: Random, dict: Dictionary): Record<string, Value> {
  return fill(type, rng, dict, 0);
}

/** Encodes a generated object; the result is valid protobuf for `type`. */
export function encodeMessage(type: protobuf.Type, message: Record<string, Value>): Buffer {
  return Buffer.from(type.encode(type.fromObject(message)).finish());
}

/**
 * A body of about `bytes` bytes: a generated message plus one field made huge
 * (a repeated field with as many elements as fit, or a long string/bytes
 * value). The huge field is built on the wire level (a few sample elements
 * repeated), so a 16 MB body costs the fuzzer milliseconds, not seconds.
 */
export function generateHugeBody(type: protobuf.Type, rng: Random, dict: Dictionary, bytes: number): Buffer {
  const repeated = type.fieldsArray.filter((f) => f.repeated);
  const blobs = type.fieldsArray.filter((f) => f.type === 'string' || f.type === 'bytes');
  const field = repeated.length > 0 ? rng.pick(repeated) : blobs.length > 0 ? rng.pick(blobs) : null;
  const message = fill(type, rng, dict, 0);
  if (field === null) return encodeMessage(type, message);
  delete message[field.name];
  const base = encodeMessage(type, message);
  let huge: Buffer;
  if (field.repeated) {
    // Fields may come in any order on the wire: the elements follow the rest.
    const block = Buffer.concat(Array.from({ length: 8 }, () => encodeField(field, scalarOrMessage(field, rng, dict, 1))));
    huge = Buffer.alloc(Math.max(1, Math.floor(bytes / block.length)) * block.length, block);
  } else {
    huge = encodeField(field, field.type === 'string' ? 'x'.repeat(bytes) : rng.bytes(bytes));
  }
  return Buffer.concat([base, huge]);
}

/** One occurrence of `field` (tag and value) on the wire. */
function encodeField(field: protobuf.Field, value: Value): Buffer {
  const writer = protobuf.Writer.create();
  const resolved = field.resolvedType;
  if (resolved instanceof protobuf.Type) {
    writer.uint32(((field.id << 3) | 2) >>> 0).bytes(resolved.encode(resolved.fromObject(value as Record<string, Value>)).finish());
  } else if (field.type === 'string') {
    writer.uint32(((field.id << 3) | 2) >>> 0).string(value as string);
  } else if (field.type === 'bytes') {
    writer.uint32(((field.id << 3) | 2) >>> 0).bytes(value as Uint8Array);
  } else {
    // uint32 and enums (int32 on the wire: negative enum values take 10 bytes).
    writer.uint32((field.id << 3) >>> 0);
    if (resolved instanceof protobuf.Enum) writer.int32(value as number);
    else writer.uint32(value as number);
  }
  return Buffer.from(writer.finish());
}

function fill(type: protobuf.Type, rng: Random, dict: Dictionary, depth: number): Record<string, Value> {
  const out: Record<string, Value> = {};
  for (const field of type.fieldsArray) {
    // Optional fields are often left out. (Required ones go missing through the
    // drop-field mutation: protobufjs writes a default for a missing required scalar
    // and cannot encode a missing required message.)
    if (!field.required && rng.chance(0.3)) continue;
    if (field.repeated) {
      const count = depth > 2 ? 0 : rng.weighted([
        [3, 0],
        [6, rng.int(1, 3)],
        [1, rng.int(4, 40)],
      ] as const);
      out[field.name] = Array.from({ length: count }, () => scalarOrMessage(field, rng, dict, depth));
    } else {
      out[field.name] = scalarOrMessage(field, rng, dict, depth);
    }
  }
  return out;
}

function scalarOrMessage(field: protobuf.Field, rng: Random, dict: Dictionary, depth: number): Value {
  const resolved = field.resolvedType;
  if (resolved instanceof protobuf.Type) return fill(resolved, rng, dict, depth + 1);
  if (resolved instanceof protobuf.Enum) return enumValue(resolved, rng);
  switch (field.type) {
    case 'string':
      return stringValue(field.name, rng, dict);
    case 'bytes':
      return bytesValue(field.name, rng);
    default:
      return numberValue(field.name, rng, dict);
  }
}

function enumValue(e: protobuf.Enum, rng: Random): number {
  const values = Object.values(e.values);
  if (rng.chance(0.85)) return rng.pick(values);
  return rng.pick([0, -1, 3, 16, 19, 0x7fffffff, -0x80000000, rng.int(-1000, 1000)]);
}

/** uint32 fields: ids where the name says so, boundaries and random values otherwise. */
function numberValue(name: string, rng: Random, dict: Dictionary): number {
  if (rng.chance(0.15)) return rng.pick(BOUNDARY_U32);
  if (rng.chance(0.05)) return rng.uint32();
  if (/group_id/.test(name)) return pickId(dict.groupIds, rng);
  if (/session_id/.test(name)) return rng.chance(0.7) ? pickId(dict.userIds, rng) : pickId(dict.groupIds, rng);
  if (/user_id|changed_user|from_id|to_id|creator/.test(name)) return pickId(dict.userIds, rng);
  if (/msg_id/.test(name)) return rng.weighted([
    [3, rng.int(0, 20)],
    [1, rng.int(0, 100_000)],
  ] as const);
  if (/cnt|count|size|offset/.test(name)) return rng.weighted([
    [4, rng.int(0, 50)],
    [1, rng.int(50, 100_000)],
  ] as const);
  if (/time/.test(name)) return rng.chance(0.5) ? RECENT_UNIX_TIME + rng.int(-100_000, 100_000) : rng.int(0, 10);
  if (/port/.test(name)) return rng.chance(0.5) ? rng.int(1, 65535) : rng.pick([0, 65536, 0xffffffff]);
  if (/type|status|reason|action|master|result|version|stat|mode|role/.test(name)) return rng.int(0, 20);
  return rng.weighted([
    [3, rng.int(0, 100)],
    [1, rng.uint32()],
  ] as const);
}

function pickId(pool: readonly number[], rng: Random): number {
  if (pool.length === 0 || rng.chance(0.2)) return rng.int(0, 5000);
  return rng.pick(pool);
}

function stringValue(name: string, rng: Random, dict: Dictionary): string {
  const r = rng.float();
  if (r < 0.3) return rng.pick(ODD_STRINGS);
  if (r < 0.45 && /name/.test(name) && dict.userNames.length > 0) return rng.pick(dict.userNames);
  if (r < 0.55) return 'x'.repeat(rng.size(70_000));
  if (r < 0.6) return String.fromCodePoint(...Array.from({ length: rng.int(1, 40) }, () => rng.int(1, 0x10ffff)).filter((c) => c < 0xd800 || c > 0xdfff));
  if (/ip/.test(name)) return `${rng.int(0, 300)}.${rng.int(0, 255)}.${rng.int(0, 255)}.${rng.int(0, 255)}`;
  if (/password/.test(name)) return rng.bytes(16).toString('hex');
  return rng.bytes(rng.int(0, 24)).toString('base64');
}

function bytesValue(name: string, rng: Random): Buffer {
  const r = rng.float();
  if (/attach/.test(name)) {
    // TeamTalk's attach_data layouts (pdu/attach.ts), with handles that may or may not exist.
    if (r < 0.35) return encodeHandleAttach(rng.chance(0.5) ? rng.int(0, 5000) : rng.uint32(), rng.int(0, 6));
    if (r < 0.6) {
      const attach = encodePduAttach(rng.int(0, 6), rng.int(0, 5000), rng.bytes(rng.int(0, 40)));
      // A lying embedded length.
      if (rng.chance(0.3)) attach.writeUInt32BE(rng.pick([0xffffffff, attach.length, attach.length - 15]) >>> 0, 12);
      return attach;
    }
  }
  if (r < 0.7) return rng.bytes(rng.int(0, 64));
  if (r < 0.8) return Buffer.alloc(0);
  if (r < 0.9) return Buffer.from(rng.bytes(rng.int(1, 300)).toString('base64'));
  return rng.bytes(rng.size(70_000));
}
