/**
 * Read latency (`--only ...,reads`): what a client asks when it opens the app
 * and then a conversation: its recent sessions, its unread counts, the newest
 * history page of one of its conversations (one with more than two pages of
 * history when it has any), and an older page from a random point of that
 * conversation (scrolling back: rows that are rarely in memory).
 * Sampled over random users, a few requests at a time, through the msg servers.
 */
import { IM } from '../../pdu/commands';
import { Latencies, nowMs, type BenchUser } from './load-stats';

const { SessionType } = IM.BaseDefine;

export interface ReadStats {
  count: number;
  p50_ms: number;
  p99_ms: number;
  max_ms: number;
}

export interface ReadsResult {
  recent_sessions: ReadStats & { sessions_per_reply: number };
  unread: ReadStats & { conversations_per_reply: number };
  /** Every history page below (single and group, newest and older). */
  history: ReadStats & { messages_per_page: number };
  history_newest: ReadStats;
  history_older: ReadStats;
  history_group: ReadStats;
}

function stats(l: Latencies): ReadStats {
  return { count: l.count, p50_ms: l.percentile(50), p99_ms: l.percentile(99), max_ms: l.percentile(100) };
}

export async function readsPhase(users: BenchUser[], samples: number, concurrency: number): Promise<ReadsResult> {
  const recent = new Latencies();
  const unread = new Latencies();
  const history = new Latencies();
  const newest = new Latencies();
  const older = new Latencies();
  const group = new Latencies();
  let sessions = 0;
  let unreadConversations = 0;
  let pageMessages = 0;
  const timed = async <T>(into: Latencies[], call: () => Promise<T>): Promise<T> => {
    const t0 = nowMs();
    const result = await call();
    const ms = nowMs() - t0;
    for (const l of into) l.add(ms);
    return result;
  };
  let left = samples;
  const worker = async () => {
    while (left > 0) {
      left--;
      const { client } = users[Math.floor(Math.random() * users.length)];
      const list = (await timed([recent], () => client.recentSessions(0))).contact_session_list;
      sessions += list.length;
      unreadConversations += (await timed([unread], () => client.unreadCounts())).unreadinfo_list.length;
      // Conversations with a history to page through (not the ones a bench run just started), if there are.
      const long = list.filter((c) => c.latest_msg_id > 40);
      const candidates = long.length > 0 ? long : list;
      if (candidates.length === 0) continue;
      const session = candidates[Math.floor(Math.random() * candidates.length)];
      const isGroup = session.session_type === SessionType.SESSION_TYPE_GROUP;
      const top = await timed([history, newest, ...(isGroup ? [group] : [])], () => client.history(session.session_id, { group: isGroup, count: 20 }));
      pageMessages += top.msg_list.length;
      const from = 1 + Math.floor(Math.random() * session.latest_msg_id);
      const page = await timed([history, older, ...(isGroup ? [group] : [])], () =>
        client.history(session.session_id, { group: isGroup, fromMsgId: from, count: 20 }),
      );
      pageMessages += page.msg_list.length;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return {
    recent_sessions: { ...stats(recent), sessions_per_reply: Math.round(sessions / Math.max(1, recent.count)) },
    unread: { ...stats(unread), conversations_per_reply: Math.round(unreadConversations / Math.max(1, unread.count)) },
    history: { ...stats(history), messages_per_page: Math.round(pageMessages / Math.max(1, history.count)) },
    history_newest: stats(newest),
    history_older: stats(older),
    history_group: stats(group),
  };
}
