/**
 * `npm run chaos`: kills each part of a running cluster in turn, under load,
 * and counts what happened to every message.
 *
 * It starts a cluster of its own on free loopback ports (two db-proxies, two
 * route servers, two msg servers, login server, msfs, file and push servers)
 * with a MariaDB and a Redis of its own under --run-dir, logs in --users
 * clients through the login server (they reconnect and catch up like the
 * project's client library does) and has them chat at --rate msgs/s. Then, for
 * each fault (--faults, default all, in this order) it SIGKILLs:
 *   db-proxy       the first db-proxy (the msg servers move to the second)
 *   route-master   the route server the msg servers use as master
 *   msg-server     the first msg server (its clients reconnect elsewhere)
 *   login-server   the login server
 *   mariadb        MariaDB (started again after --storage-down-ms, as systemd would)
 *   redis          Redis (likewise)
 * Services are restarted by the supervisor, as in `npm start`.
 *
 * Prints one JSON line per fault and a summary line: sent, acked, stored (in
 * MySQL), delivered (live or by the client's catch-up), duplicates stored,
 * duplicate deliveries (one message pushed to one device twice), lost (acked,
 * never delivered), msg ids reused, seconds to heal. Exit code 1 when a fault
 * lost or duplicated a stored message, reused an id or did not heal.
 * Loopback only; stops by itself.
 */
import { parseArgs } from 'node:util';
import { join } from 'node:path';
import { errorMessage } from '../lib/errors';
import { runDir } from '../lib/paths';
import { FAULTS, runChaos, type ChaosOptions, type Fault } from '../tools/chaos/run';

const USAGE = `usage: npm run chaos -- [options]
  --users N             clients chatting (default 400)
  --rate N              messages per second over all of them (default 1500)
  --contacts N          people each user writes to (default 5)
  --faults a,b,...      ${FAULTS.join(', ')} (default: all, in this order)
  --before S            seconds of load before each kill (default 3)
  --after S             seconds of load after the cluster healed (default 3)
  --heal-timeout S      a fault that has not healed by then fails (default 60)
  --settle S            longest wait for acked messages still on their way (default 20)
  --storage-down-ms N   how long a killed MariaDB / Redis stays down (default 2000)
  --run-dir DIR         where its MariaDB and Redis keep their data (default .run/chaos)
  --verbose             every service log line on stderr`;

function options(argv: string[]): ChaosOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      users: { type: 'string', default: '400' },
      rate: { type: 'string', default: '1500' },
      contacts: { type: 'string', default: '5' },
      faults: { type: 'string', default: FAULTS.join(',') },
      before: { type: 'string', default: '3' },
      after: { type: 'string', default: '3' },
      'heal-timeout': { type: 'string', default: '60' },
      settle: { type: 'string', default: '20' },
      'storage-down-ms': { type: 'string', default: '2000' },
      'run-dir': { type: 'string', default: join(runDir, 'chaos') },
      verbose: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE + '\n');
    process.exit(0);
  }
  const number = (name: string, raw: string, min: number): number => {
    const n = Number(raw);
    if (!Number.isFinite(n) || n < min) throw new Error(`--${name} must be a number >= ${min}, got "${raw}"`);
    return n;
  };
  const faults = values.faults.split(',').map((f) => f.trim()).filter((f) => f !== '');
  for (const f of faults) if (!(FAULTS as readonly string[]).includes(f)) throw new Error(`--faults: unknown fault "${f}" (known: ${FAULTS.join(', ')})`);
  if (faults.length === 0) throw new Error('--faults: name at least one fault');
  return {
    users: number('users', values.users, 4),
    rate: number('rate', values.rate, 1),
    contacts: number('contacts', values.contacts, 1),
    faults: faults as Fault[],
    beforeSeconds: number('before', values.before, 0),
    afterSeconds: number('after', values.after, 0),
    healTimeoutSeconds: number('heal-timeout', values['heal-timeout'], 1),
    settleSeconds: number('settle', values.settle, 0),
    storageDownMs: number('storage-down-ms', values['storage-down-ms'], 0),
    runDir: values['run-dir'],
    verbose: values.verbose,
    note: (line) => process.stderr.write(`[chaos] ${line}\n`),
  };
}

async function main(): Promise<void> {
  let opts: ChaosOptions;
  try {
    opts = options(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`${errorMessage(err)}\n${USAGE}\n`);
    process.exit(2);
  }
  const summary = await runChaos(opts, (report) => process.stdout.write(JSON.stringify(report) + '\n'));
  process.stdout.write(JSON.stringify(summary) + '\n');
  process.exitCode = summary.ok ? 0 : 1;
}

main().catch((err) => {
  process.stderr.write(`chaos: ${errorMessage(err)}\n`);
  process.exit(1);
});
