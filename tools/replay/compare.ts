/**
 * Structural comparison of a recorded PDU with the one a live server sent,
 * field by field over the decoded protobuf (format.ts DECODE_OPTIONS: enums as
 * names, bytes as base64), plus the header fields that matter.
 *
 * Fields that legitimately change from run to run are ignored by name wherever
 * they appear (DEFAULT_IGNORED_FIELDS, extended with --ignore). An ignore entry
 * is either a field name ("msg_id": that field at any depth, with everything
 * under it) or a dotted path from the top of the message
 * ("user_info.user_nick_name", "header.reserved"); array positions are not part
 * of paths ("msg_list.create_time" covers every element).
 */

/**
 * Volatile by nature: assigned by the server (message ids), clocks (times), or
 * both. Everything else must match.
 */
export const DEFAULT_IGNORED_FIELDS: readonly string[] = Object.freeze([
  'msg_id',
  'server_time',
  'create_time',
  'latest_msg_id',
  'updated_time',
  'latest_update_time',
]);

export interface FieldDiff {
  /** e.g. "user_info.user_nick_name", "msg_list[2].msg_data", "header.seq". */
  path: string;
  /** undefined = the field is absent on that side. */
  expected: unknown;
  actual: unknown;
}

export class IgnoreList {
  private readonly names = new Set<string>();
  private readonly paths = new Set<string>();

  constructor(entries: Iterable<string>) {
    for (const raw of entries) {
      const entry = raw.trim();
      if (!entry) continue;
      (entry.includes('.') ? this.paths : this.names).add(entry);
    }
  }

  get entries(): string[] {
    return [...this.names, ...this.paths];
  }

  /** `path`: field names from the top, array indices left out. */
  ignores(path: readonly string[]): boolean {
    for (let i = 0; i < path.length; i++) {
      if (this.names.has(path[i])) return true;
      if (i > 0 && this.paths.has(path.slice(0, i + 1).join('.'))) return true;
    }
    return false;
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function formatPath(segments: ReadonlyArray<string | number>): string {
  let out = '';
  for (const s of segments) out += typeof s === 'number' ? `[${s}]` : out ? `.${s}` : s;
  return out;
}

/**
 * Every difference between two decoded values (objects from protobuf toObject),
 * in field order; at most `limit` of them.
 */
export function diffValues(expected: unknown, actual: unknown, ignore: IgnoreList, limit = 50): FieldDiff[] {
  const out: FieldDiff[] = [];
  const walk = (e: unknown, a: unknown, segments: Array<string | number>, names: string[]): void => {
    if (out.length >= limit) return;
    if (names.length > 0 && ignore.ignores(names)) return;
    if (Array.isArray(e) && Array.isArray(a)) {
      for (let i = 0; i < Math.max(e.length, a.length); i++) walk(e[i], a[i], [...segments, i], names);
      return;
    }
    if (isPlainObject(e) && isPlainObject(a)) {
      const keys = [...Object.keys(e), ...Object.keys(a).filter((k) => !(k in e))];
      for (const key of keys) walk(e[key], a[key], [...segments, key], [...names, key]);
      return;
    }
    if (e === a) return;
    if (e !== undefined && a !== undefined && JSON.stringify(e) === JSON.stringify(a)) return;
    out.push({ path: formatPath(segments), expected: e, actual: a });
  };
  walk(expected, actual, [], []);
  return out;
}

/** One value for a report line: JSON, long strings shortened. */
export function showValue(value: unknown, max = 80): string {
  if (value === undefined) return '(absent)';
  const text = JSON.stringify(value) ?? String(value);
  return text.length > max ? `${text.slice(0, max - 3)}...` : text;
}
