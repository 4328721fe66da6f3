/** The bench's readings of the db-proxy's store metrics (scripts/bench/store-steps.ts) and of CPU profiles (scripts/profile-summary.ts). */
import t from 'tap';
import { parseSums, stepsBetween } from '../../scripts/bench/store-steps';
import { moduleOf, summarize } from '../../scripts/profile-summary';

const NAMES = [
  'teamtalk_db_proxy_request_seconds_sum',
  'teamtalk_db_proxy_request_seconds_count',
  'teamtalk_db_proxy_store_batch_messages_sum',
  'teamtalk_db_proxy_store_batch_messages_count',
  'teamtalk_db_proxy_store_batch_seconds_sum',
  'teamtalk_db_proxy_store_batch_seconds_count',
  'teamtalk_db_proxy_store_step_seconds_sum',
  'teamtalk_db_proxy_store_step_seconds_count',
  'teamtalk_db_proxy_storage_retries_total',
];

function metrics(o: { req: [number, number]; msgs: [number, number]; stored: [number, number]; failed: [number, number]; tx: [number, number]; retries: number }): string {
  return [
    '# HELP teamtalk_db_proxy_request_seconds time from a request\'s arrival to its answer',
    `teamtalk_db_proxy_request_seconds_sum{command="CID_MSG_DATA"} ${o.req[0]}`,
    `teamtalk_db_proxy_request_seconds_count{command="CID_MSG_DATA"} ${o.req[1]}`,
    'teamtalk_db_proxy_request_seconds_sum{command="CID_MSG_UNREAD_CNT_REQUEST"} 99',
    'teamtalk_db_proxy_request_seconds_count{command="CID_MSG_UNREAD_CNT_REQUEST"} 1',
    'teamtalk_db_proxy_request_seconds_bucket{command="CID_MSG_DATA",le="0.005"} 3',
    `teamtalk_db_proxy_store_batch_messages_sum ${o.msgs[0]}`,
    `teamtalk_db_proxy_store_batch_messages_count ${o.msgs[1]}`,
    `teamtalk_db_proxy_store_batch_seconds_sum{result="stored"} ${o.stored[0]}`,
    `teamtalk_db_proxy_store_batch_seconds_count{result="stored"} ${o.stored[1]}`,
    `teamtalk_db_proxy_store_batch_seconds_sum{result="failed"} ${o.failed[0]}`,
    `teamtalk_db_proxy_store_batch_seconds_count{result="failed"} ${o.failed[1]}`,
    `teamtalk_db_proxy_store_step_seconds_sum{step="transaction"} ${o.tx[0]}`,
    `teamtalk_db_proxy_store_step_seconds_count{step="transaction"} ${o.tx[1]}`,
    `teamtalk_db_proxy_storage_retries_total{store="mysql"} ${o.retries}`,
    '',
  ].join('\n');
}

t.test('store steps: the differences between two readings, as means per request and per batch', async (t) => {
  const before = parseSums(metrics({ req: [1, 100], msgs: [100, 10], stored: [0.5, 10], failed: [0, 0], tx: [0.2, 10], retries: 2 }), NAMES);
  const after = parseSums(metrics({ req: [3, 300], msgs: [500, 30], stored: [1.3, 28], failed: [0.1, 2], tx: [0.6, 30], retries: 5 }), NAMES);
  t.same(stepsBetween(before, after), {
    request_mean_ms: 10, // 2 s over 200 requests
    batches: 20, // stored and failed batches
    batch_mean_messages: 20, // 400 messages over 20 batches
    batch_mean_ms: 45, // 0.9 s over 20 batches
    deadlock_retries: 3,
    step_mean_ms: { transaction: 20 },
  });
});

t.test('store steps: several db-proxies add up; comments, other commands and buckets are ignored', async (t) => {
  const one = metrics({ req: [2, 10], msgs: [10, 1], stored: [0.1, 1], failed: [0, 0], tx: [0.05, 1], retries: 0 });
  const sums = parseSums(`${one}\n${one}`, NAMES);
  t.equal(sums.get('teamtalk_db_proxy_request_seconds_count{command="CID_MSG_DATA"}'), 20);
  t.equal(sums.get('teamtalk_db_proxy_request_seconds_count{command="CID_MSG_UNREAD_CNT_REQUEST"}'), 2);
  t.notOk([...sums.keys()].some((k) => k.includes('_bucket') || k.startsWith('#')));
  t.same(stepsBetween(new Map(), new Map()), { request_mean_ms: 0, batches: 0, batch_mean_messages: 0, batch_mean_ms: 0, deadlock_retries: 0, step_mean_ms: {} }, 'no traffic: zeros, not NaN');
});

t.test('profile summary: self time by module and function, idle left out of the busy share', async (t) => {
  t.equal(moduleOf('file:///srv/app/node_modules/mysql2/lib/base/connection.js', 'write'), 'mysql2');
  t.equal(moduleOf('file:///srv/app/node_modules/@scope/pkg/index.js', 'f'), '@scope/pkg');
  t.equal(moduleOf('file:///srv/app/dist/services/db-proxy/relations.js', 'f'), 'services/db-proxy/relations.js');
  t.equal(moduleOf('node:net', 'f'), 'node:net');
  t.equal(moduleOf('', '(garbage collector)'), '((garbage collector))');
  const profile = {
    nodes: [
      { id: 1, callFrame: { functionName: '(root)', url: '', lineNumber: -1 } },
      { id: 2, callFrame: { functionName: '(idle)', url: '', lineNumber: -1 } },
      { id: 3, callFrame: { functionName: 'write', url: 'file:///a/node_modules/mysql2/c.js', lineNumber: 9 } },
      { id: 4, callFrame: { functionName: 'plan', url: 'file:///a/dist/services/db-proxy/t.js', lineNumber: 19 } },
    ],
    samples: [2, 3, 3, 4, 2],
    timeDeltas: [1000, 3000, 3000, 2000, 1000],
  };
  const s = summarize([profile], 10);
  t.equal(s.wall_ms, 10);
  t.equal(s.busy_ms, 8);
  t.same(s.by_module, [
    { name: 'mysql2', ms: 6, pct_of_busy: 75 },
    { name: 'services/db-proxy/t.js', ms: 2, pct_of_busy: 25 },
  ]);
  t.same(s.by_function[0], { name: 'write mysql2:10', ms: 6, pct_of_busy: 75 });
});
