/**
 * `npm run fuzz -- --target msg-server|route-server|db-proxy|login-server --pdus N [--seed S] [--seconds T]`
 *
 * Starts its own cluster (every service a separate process, free loopback
 * ports, database tt_fuzz and Redis prefix "tt_fuzz:" emptied first, a CA of
 * its own under .run/fuzz/),
 * then sends protocol-aware PDUs to the target (tools/fuzz/) while a sentinel
 * pair of clients keeps chatting and every process is watched, and prints one
 * JSON object. Exits 1 when a process crashed, hung, answered an
 * unauthenticated peer, or the sentinel failed. Loopback only; stops by itself.
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { errorMessage } from '../lib/errors';
import { runDir } from '../lib/paths';
import { startFuzzCluster } from '../tools/fuzz/cluster';
import { failed, runFuzz, type FuzzOptions } from '../tools/fuzz/run';
import { TARGETS, type Target } from '../tools/fuzz/targets';
import { dropRunData, provisionStorage } from './infra/provision';

const USAGE = `usage: npm run fuzz -- --target ${TARGETS.join('|')} [options]
  --pdus N                 PDUs to send (default 100000)
  --seconds T              stop after T seconds even if fewer PDUs were sent (default 600)
  --seed S                 seed of the PDU generators (default: random; printed in the result)
  --connections C          fuzz connections open at once (default 8)
  --rate R                 PDUs per second at most (default 0: as fast as the target takes them)
  --sentinel-timeout-ms M  a sentinel message must be acked and delivered within M ms (default 10000)
  --database NAME          MariaDB database of the run, emptied first; also the Redis key prefix (default tt_fuzz)
  --verbose                print the services' log lines (info and up) on stderr`;

const FUZZ_DIR = join(runDir, 'fuzz');

const note = (line: string) => process.stderr.write(`[fuzz] ${line}\n`);

/** The run's options (runFuzz's, but where crashes go and how progress is told), and the cluster's. */
interface Options extends Omit<FuzzOptions, 'crashDir' | 'note'> {
  database: string;
  verbose: boolean;
}

function readOptions(argv: string[]): Options | null {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      target: { type: 'string' },
      pdus: { type: 'string' },
      seconds: { type: 'string' },
      seed: { type: 'string' },
      connections: { type: 'string' },
      rate: { type: 'string' },
      'sentinel-timeout-ms': { type: 'string' },
      database: { type: 'string' },
      verbose: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return null;
  const target = values.target;
  if (target === undefined) throw new Error(`--target is required (${TARGETS.join(', ')})`);
  if (!(TARGETS as readonly string[]).includes(target)) throw new Error(`--target must be one of ${TARGETS.join(', ')}, got "${target}"`);
  const int = (name: keyof typeof values, def: number, min: number, max = Number.MAX_SAFE_INTEGER): number => {
    const raw = values[name];
    if (raw === undefined) return def;
    const n = Number(raw);
    if (typeof raw !== 'string' || !/^\d+$/.test(raw) || n < min || n > max) throw new Error(`--${name} must be a whole number from ${min} to ${max}, got "${String(raw)}"`);
    return n;
  };
  return {
    target: target as Target,
    pdus: int('pdus', 100_000, 1),
    seconds: int('seconds', 600, 1, 86_400),
    seed: int('seed', Math.floor(Math.random() * 0x1_0000_0000), 0, 0xffffffff),
    connections: int('connections', 8, 1, 256),
    rate: int('rate', 0, 0),
    sentinelTimeoutMs: int('sentinel-timeout-ms', 10_000, 100),
    database: databaseName(values.database ?? 'tt_fuzz'),
    verbose: values.verbose === true,
  };
}

function databaseName(name: string): string {
  if (!/^[A-Za-z0-9_]{1,64}$/.test(name)) throw new Error(`--database must be 1-64 letters, digits or "_", got "${name}"`);
  return name;
}

async function main(): Promise<number> {
  let options: Options | null;
  try {
    options = readOptions(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`${errorMessage(err)}\n${USAGE}\n`);
    return 2;
  }
  if (options === null) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const storage = await provisionStorage({ database: options.database, log: note });
  const redisPrefix = `${options.database}:`;
  try {
    await dropRunData(storage, redisPrefix); // each run starts from an empty database and Redis prefix
    note(`starting the cluster (separate processes, loopback)`);
    const cluster = await startFuzzCluster({
      storage,
      redisKeyPrefix: redisPrefix,
      pkiDir: join(FUZZ_DIR, 'pki'),
      logLevel: options.verbose ? 'info' : 'error',
      verbose: options.verbose,
      loginUsers: options.connections,
      note,
    });
    try {
      note(`fuzzing ${options.target} with seed ${options.seed}: up to ${options.pdus} PDUs in ${options.seconds} s over ${options.connections} connections`);
      const result = await runFuzz(cluster, { ...options, crashDir: FUZZ_DIR, note });
      process.stdout.write(JSON.stringify(result) + '\n');
      return failed(result) ? 1 : 0;
    } finally {
      await cluster.stop();
    }
  } finally {
    await storage.stop();
  }
}

main().then(
  (code) => process.exit(code),
  (err) => {
    note(`failed: ${err instanceof Error && process.env.TT_FUZZ_DEBUG ? err.stack : errorMessage(err)}`);
    process.exit(1);
  },
);
