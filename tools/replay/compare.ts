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
 *
 * Lists whose order carries no meaning (DEFAULT_UNORDERED_LISTS, extended with
 * --unordered) are compared as multisets: each recorded element is paired with
 * an equal live one wherever it is, and only elements left without a partner
 * are reported. Message lists and recent sessions keep their order: it is
 * part of what the server promises.
 *
 * Two modes:
 * - exact: every value that is not ignored must be equal;
 * - protocol: for captures from a deployment whose data differs. Values are
 *   compared only where they are protocol, not data (result codes, enum fields
 *   such as session and message types, the header): elsewhere a field must be
 *   present on both sides or on neither and have the same type, and a list must
 *   have the same length. Profile values, texts and ids may differ.
 * In both modes a list with an ordering rule (ORDERING_RULES: history newest
 * first, recent sessions most recently updated first) must follow it whenever
 * the recorded list does, whatever values are ignored.
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

/** Repeated fields (by name) whose element order a server is free to choose. */
export const DEFAULT_UNORDERED_LISTS: readonly string[] = Object.freeze([
  'user_list',
  'user_info_list',
  'user_stat_list',
  'user_id_list',
  'user_id',
  'member_id_list',
  'cur_user_id_list',
  'chg_user_id_list',
  'group_member_list',
  'group_version_list',
  'group_info_list',
  'dept_list',
  'unreadinfo_list',
  'shield_status_list',
  'user_token_list',
  'user_token_info',
  'offline_file_list',
  'push_result_list',
]);

export type CompareMode = 'exact' | 'protocol';
export const COMPARE_MODES: readonly CompareMode[] = Object.freeze(['exact', 'protocol']);

export interface OrderingRule {
  /** Element field that orders the list. */
  key: string;
  /** Largest first (ties allowed). */
  order: 'descending';
  /** For reports. */
  meaning: string;
}

/** Lists whose order the protocol fixes, by field name. */
export const ORDERING_RULES: Readonly<Record<string, OrderingRule>> = Object.freeze({
  msg_list: { key: 'msg_id', order: 'descending', meaning: 'newest message first (msg_id descending)' },
  contact_session_list: { key: 'updated_time', order: 'descending', meaning: 'most recently updated first (updated_time descending)' },
});

export interface DiffOptions {
  /** Report at most this many differences (default 50). */
  limit?: number;
  /** Field names of lists compared regardless of order. */
  unordered?: ReadonlySet<string>;
  /** Default 'exact'. */
  mode?: CompareMode;
  /**
   * protocol mode: whether the value at this field path (names from the top,
   * no array positions) is compared; other values only by presence and type.
   */
  isProtocolValue?: (names: readonly string[]) => boolean;
}

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
export function diffValues(expected: unknown, actual: unknown, ignore: IgnoreList, options: DiffOptions = {}): FieldDiff[] {
  const limit = options.limit ?? 50;
  const unordered = options.unordered ?? new Set<string>();
  const protocol = options.mode === 'protocol';
  const isProtocolValue = options.isProtocolValue ?? (() => false);
  const out: FieldDiff[] = [];
  /** A value reduced to what is compared: ignored fields dropped, unordered lists sorted. */
  const canonical = (value: unknown, names: string[]): unknown => {
    if (Array.isArray(value)) {
      const items = value.map((item) => canonical(item, names));
      return unordered.has(names[names.length - 1]) ? items.map((item) => JSON.stringify(item)).sort() : items;
    }
    if (!isPlainObject(value)) return value;
    const kept: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) {
      const path = [...names, key];
      if (!ignore.ignores(path)) kept[key] = canonical(value[key], path);
    }
    return kept;
  };
  /** `actual` reordered so that each element equal to one of `expected` stands at that element's index. */
  const aligned = (e: unknown[], a: unknown[], names: string[]): unknown[] => {
    const waiting = new Map<string, number[]>();
    a.forEach((item, i) => {
      const key = JSON.stringify(canonical(item, names));
      const list = waiting.get(key);
      if (list) list.push(i);
      else waiting.set(key, [i]);
    });
    const partner: Array<number | undefined> = e.map((item) => waiting.get(JSON.stringify(canonical(item, names)))?.shift());
    const taken = new Set(partner.filter((i): i is number => i !== undefined));
    const leftovers = a.map((_, i) => i).filter((i) => !taken.has(i));
    // Recorded elements without an equal live one are compared with the live ones left over, in order.
    const live = partner.map((i) => (i !== undefined ? a[i] : leftovers.length > 0 ? a[leftovers.shift() as number] : undefined));
    for (const i of leftovers) live.push(a[i]);
    return live;
  };
  const walk = (e: unknown, a: unknown, segments: Array<string | number>, names: string[]): void => {
    if (out.length >= limit) return;
    if (names.length > 0 && ignore.ignores(names)) return;
    if (Array.isArray(e) && Array.isArray(a)) {
      const rule = ORDERING_RULES[names[names.length - 1]];
      if (rule) checkOrder(e, a, rule, formatPath(segments));
      if (protocol) {
        if (e.length !== a.length) out.push({ path: `${formatPath(segments)}.length`, expected: e.length, actual: a.length });
        for (let i = 0; i < Math.min(e.length, a.length); i++) walk(e[i], a[i], [...segments, i], names);
        return;
      }
      const live = unordered.has(names[names.length - 1]) ? aligned(e, a, names) : a;
      for (let i = 0; i < Math.max(e.length, live.length); i++) walk(e[i], live[i], [...segments, i], names);
      return;
    }
    if (isPlainObject(e) && isPlainObject(a)) {
      const keys = [...Object.keys(e), ...Object.keys(a).filter((k) => !(k in e))];
      for (const key of keys) walk(e[key], a[key], [...segments, key], [...names, key]);
      return;
    }
    if (e === a) return;
    if (protocol && e !== undefined && a !== undefined && !isProtocolValue(names) && kindOf(e) === kindOf(a)) return;
    if (e !== undefined && a !== undefined && JSON.stringify(e) === JSON.stringify(a)) return;
    out.push({ path: formatPath(segments), expected: e, actual: a });
  };
  /** A list the recorded one shows in its protocol order must be in that order live. */
  const checkOrder = (e: unknown[], a: unknown[], rule: OrderingRule, path: string): void => {
    const keys = (list: unknown[]) => list.map((item) => (isPlainObject(item) ? item[rule.key] : undefined));
    const follows = (values: unknown[]) =>
      values.every((v) => typeof v === 'number') && values.every((v, i) => i === 0 || (values[i - 1] as number) >= (v as number));
    const live = keys(a);
    if (follows(keys(e)) && !follows(live)) out.push({ path, expected: `ordered ${rule.meaning}`, actual: `${rule.key} ${JSON.stringify(live)}` });
  };
  walk(expected, actual, [], []);
  return out;
}

/** The JSON kind of a value: what protocol mode compares where it does not compare values. */
function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}

/** One value for a report line: JSON, long strings shortened. */
export function showValue(value: unknown, max = 80): string {
  if (value === undefined) return '(absent)';
  const text = JSON.stringify(value) ?? String(value);
  return text.length > max ? `${text.slice(0, max - 3)}...` : text;
}
