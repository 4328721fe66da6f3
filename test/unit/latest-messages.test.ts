/**
 * The newest-message copy's pure parts (services/db-proxy/latest-messages.ts):
 * a batch's rows become one upsert row per conversation, the newest, in key
 * order; the upsert never moves a row back.
 */
import t from 'tap';
import { GROUP_CONVERSATION, SINGLE_CONVERSATION, UPSERT_LATEST, upsertValues, type LatestRow } from '../../services/db-proxy/latest-messages';

const row = (kind: LatestRow['kind'], conversationId: number, msgId: number, content = `m${msgId}`): LatestRow => ({
  kind,
  conversationId,
  msgId,
  type: kind === GROUP_CONVERSATION ? 17 : 1,
  fromId: 100 + msgId,
  content,
  created: 1_700_000_000 + msgId,
});

t.test('one row per conversation, the newest, sorted by (kind, conversation)', async (t) => {
  const values = upsertValues([
    row(GROUP_CONVERSATION, 5, 7),
    row(SINGLE_CONVERSATION, 9, 3),
    row(SINGLE_CONVERSATION, 2, 11),
    row(SINGLE_CONVERSATION, 9, 4),
    row(GROUP_CONVERSATION, 5, 6),
    row(SINGLE_CONVERSATION, 9, 2),
    row(GROUP_CONVERSATION, 1, 1),
  ]);
  t.same(values, [
    [SINGLE_CONVERSATION, 2, 11, 1, 111, 'm11', 1_700_000_011],
    [SINGLE_CONVERSATION, 9, 4, 1, 104, 'm4', 1_700_000_004],
    [GROUP_CONVERSATION, 1, 1, 17, 101, 'm1', 1_700_000_001],
    [GROUP_CONVERSATION, 5, 7, 17, 107, 'm7', 1_700_000_007],
  ]);
  t.same(upsertValues([]), []);
});

t.test('an equal msg id replaces (an id given back after a failed store is given out again)', async (t) => {
  t.same(upsertValues([row(SINGLE_CONVERSATION, 3, 8, 'first'), row(SINGLE_CONVERSATION, 3, 8, 'again')]), [[SINGLE_CONVERSATION, 3, 8, 1, 108, 'again', 1_700_000_008]]);
});

t.test('the upsert compares against the old msgId in every assignment: msgId is assigned last', async (t) => {
  const assignments = UPSERT_LATEST.split('UPDATE')[1].split(',\n').map((a) => a.trim().split(' ')[0]);
  t.same(assignments, ['type', 'fromId', 'content', 'created', 'msgId']);
  t.match(UPSERT_LATEST, /msgId = GREATEST\(msgId, VALUES\(msgId\)\)\s*$/);
});
