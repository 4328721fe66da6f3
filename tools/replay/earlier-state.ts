/**
 * Replies whose content depends on what happened before the capture started:
 * unread counts, recent sessions and history. Where that earlier state was not
 * recreated in the target (provision.ts), their differences are reported as
 * "depends on earlier state" instead of as mismatches.
 */
import { CID } from '../../pdu/commands';
import type { FieldDiff } from './compare';

export type EarlierStateKind = 'unread' | 'recent' | 'history';

/** command -> which state it shows and the top-level fields that show it. */
export const EARLIER_STATE_FIELDS: ReadonlyMap<number, { kind: EarlierStateKind; fields: ReadonlySet<string> }> = new Map([
  [CID.MSG_UNREAD_CNT_RESPONSE, { kind: 'unread' as const, fields: new Set(['total_cnt', 'unreadinfo_list']) }],
  [CID.BUDDY_LIST_RECENT_CONTACT_SESSION_RESPONSE, { kind: 'recent' as const, fields: new Set(['contact_session_list']) }],
  [CID.MSG_LIST_RESPONSE, { kind: 'history' as const, fields: new Set(['msg_list']) }],
  [CID.MSG_GET_BY_MSG_ID_RES, { kind: 'history' as const, fields: new Set(['msg_list']) }],
  [CID.MSG_GET_LATEST_MSG_ID_RSP, { kind: 'history' as const, fields: new Set(['latest_msg_id']) }],
]);

/** What provisioning recreated (ProvisionReport.recreated): recorded user ids per kind, and history as a whole. */
export interface RecreatedState {
  unread: readonly number[];
  recent: readonly number[];
  history: boolean;
}

/**
 * Splits a reply's differences into real ones and those in fields that show
 * earlier state the target does not have (`recreated` null: nothing was provisioned).
 */
export function splitEarlierState(
  command: number,
  diffs: FieldDiff[],
  recordedUserId: number,
  recreated: RecreatedState | null,
): { real: FieldDiff[]; earlier: FieldDiff[] } {
  const entry = EARLIER_STATE_FIELDS.get(command);
  if (!entry) return { real: diffs, earlier: [] };
  const have =
    recreated !== null &&
    (entry.kind === 'history' ? recreated.history : (entry.kind === 'unread' ? recreated.unread : recreated.recent).includes(recordedUserId));
  if (have) return { real: diffs, earlier: [] };
  const topField = (path: string) => path.split(/[.[]/, 1)[0];
  return {
    real: diffs.filter((d) => !entry.fields.has(topField(d.path))),
    earlier: diffs.filter((d) => entry.fields.has(topField(d.path))),
  };
}
