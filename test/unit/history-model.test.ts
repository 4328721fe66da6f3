/** The prefill's history model (pure): deterministic, time-ordered, dense msg ids, few frequent contacts and a long tail. */
import t from 'tap';
import { HistoryModel, type HistoryShape } from '../../scripts/db/history-model';

const shape: HistoryShape = { users: 300, messages: 60_000, groupShare: 0.1, teamSize: 50, contacts: 100, zipf: 1.1, start: 1_000_000, end: 1_600_000, seed: 7 };

function run(s: HistoryShape, readBefore = s.end - 3600) {
  const model = new HistoryModel(s, readBefore);
  const messages = [];
  for (let m = model.next(); m !== null; m = model.next()) messages.push({ ...m });
  return { model, messages };
}

t.test('the same shape gives the same history', async (t) => {
  const a = run(shape).messages;
  const b = run(shape).messages;
  t.same(a.slice(0, 500), b.slice(0, 500));
  t.same(a.slice(-500), b.slice(-500));
  t.not(JSON.stringify(run({ ...shape, seed: 8 }).messages.slice(0, 50)), JSON.stringify(a.slice(0, 50)), 'another seed, another history');
});

t.test('times grow from start to end; msg ids count 1, 2, ... per conversation', async (t) => {
  const { model, messages } = run(shape);
  t.equal(messages.length, shape.messages);
  t.equal(messages[0].created, shape.start);
  t.equal(messages[messages.length - 1].created, shape.end);
  t.ok(messages.every((m, i) => i === 0 || m.created >= messages[i - 1].created), 'non-decreasing');
  const seen = new Map<string, number>();
  let firsts = 0;
  for (const m of messages) {
    const key = `${m.group}:${m.conversation}`;
    const next = (seen.get(key) ?? 0) + 1;
    if (m.msgId !== next) return t.fail(`conversation ${key}: msg id ${m.msgId}, expected ${next}`);
    seen.set(key, next);
    if (!m.group) {
      if (m.from === m.to) return t.fail('nobody writes to themselves');
      if (m.firstContact !== (next === 1)) return t.fail('firstContact marks exactly the first message of a relation');
      if (m.firstContact) {
        if (m.conversation !== firsts) return t.fail('relation indexes in first-contact order');
        firsts++;
      }
    } else if (m.from < model.groupMembers(m.conversation).first || m.from >= model.groupMembers(m.conversation).first + model.groupMembers(m.conversation).size) {
      return t.fail('group messages come from members');
    }
  }
  t.equal(firsts, model.relations);
  const share = messages.filter((m) => m.group).length / messages.length;
  t.ok(share > 0.08 && share < 0.12, `about a tenth are group messages (${share})`);
});

t.test('most traffic goes to a few contacts, first contacts go on all through the history', async (t) => {
  const { messages } = run(shape);
  const perSender = new Map<number, Map<number, number>>();
  for (const m of messages) {
    if (m.group) continue;
    const peers = perSender.get(m.from) ?? new Map<number, number>();
    peers.set(m.to, (peers.get(m.to) ?? 0) + 1);
    perSender.set(m.from, peers);
  }
  let topFive = 0;
  let all = 0;
  for (const peers of perSender.values()) {
    const counts = [...peers.values()].sort((a, b) => b - a);
    topFive += counts.slice(0, 5).reduce((a, b) => a + b, 0);
    all += counts.reduce((a, b) => a + b, 0);
  }
  t.ok(topFive / all > 0.35, `the five most frequent contacts take a large share (${(topFive / all).toFixed(2)})`);
  const lastQuarter = messages.slice(Math.floor(messages.length * 0.75));
  t.ok(lastQuarter.filter((m) => m.firstContact).length > 0, 'first contacts still happen late in the history');
});

t.test('unread: what the receiver has not answered since readBefore', async (t) => {
  const readBefore = shape.end - 20_000;
  const { model, messages } = run(shape, readBefore);
  for (let r = 0; r < Math.min(model.relations, 200); r++) {
    const mine = messages.filter((m) => !m.group && m.conversation === r);
    let expected = 0;
    const last = mine[mine.length - 1];
    for (let i = mine.length - 1; i >= 0 && mine[i].from === last.from && mine[i].created >= readBefore; i--) expected++;
    t.equal(model.relationTailUnread.data[r], expected, `relation ${r}`);
    if (expected > 0) t.equal(model.relationTailSender.data[r], last.from);
  }
});

t.test('refuses shapes it cannot make', async (t) => {
  t.throws(() => new HistoryModel({ ...shape, users: 1 }, 0), /at least 2 users/);
  t.throws(() => new HistoryModel({ ...shape, teamSize: 1 }, 0), /at least 2/);
});
