/**
 * RecentSessionTouches (services/db-proxy/recent-session-touches.ts): which
 * session rows a batch touches with UPDATE (known or presumed to exist) and
 * which with an upsert, coalesced per second.
 */
import t from 'tap';
import { RecentSessionTouches, type SessionKey } from '../../services/db-proxy/recent-session-touches';

const single = (userId: number, peerId: number): SessionKey => ({ userId, peerId, type: 1 });
const keys = (list: SessionKey[]) => list.map((s) => `${s.userId}:${s.peerId}:${s.type}`);

t.test('unknown rows are upserted, presumed ones updated; each row once, in key order', async (t) => {
  const touches = new RecentSessionTouches();
  const presumed = (s: SessionKey) => s.userId + s.peerId === 5; // the pair 2-3
  const plan = touches.plan(100, [single(9, 1), single(1, 9), single(3, 2), single(2, 3), single(3, 2)], [7, 7, 4], presumed);
  t.same(keys(plan.update), ['2:3:1', '3:2:1'], 'a conversation older than the batch: UPDATE');
  t.same(keys(plan.upsert), ['1:9:1', '9:1:1'], 'a first contact: upsert');
  t.same(plan.groups, [4, 7]);
});

t.test('rows written in this second are skipped; upserted rows are known afterwards', async (t) => {
  const touches = new RecentSessionTouches();
  const first = touches.plan(100, [single(1, 9), single(9, 1)], []);
  touches.committed(100, first);
  const again = touches.plan(100, [single(1, 9), single(9, 1)], []);
  t.same([again.update, again.upsert], [[], []], 'nothing to write twice in one second');
  const next = touches.plan(101, [single(1, 9), single(9, 1)], []);
  t.same(keys(next.update), ['1:9:1', '9:1:1'], 'the next second: a plain UPDATE of rows it made');
  touches.notExisting(next.update);
  t.same(keys(touches.plan(102, [single(1, 9)], []).upsert), ['1:9:1'], 'rows found missing are upserted again');
});
