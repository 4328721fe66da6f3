/**
 * `npm run storage -- COMMAND`: the storage of a deployment, for operators.
 *
 *   status [--estimate]          one JSON object: each MariaDB server (role, message tables,
 *                                rows per table, replica lag) and each Redis node (role, slots, keys)
 *   migrate                      applies schema/ to every server that holds tables
 *   move-table N --to SERVER     moves IMMessage_N and IMGroupMessage_N to another server, online
 *                                (see scripts/db/move-table.ts and the README)
 *
 * Which deployment: see scripts/topology/deployment.ts (--topology, the running
 * `npm start`, or config/cluster.json; --secrets FILE for remote hosts).
 */
import { UsageError, parseCommandLine } from '../lib/cli';
import { errorMessage } from '../lib/errors';
import { redactUrl } from '../lib/mysql-url';
import { migrateServers } from './db/migrate';
import { moveTable } from './db/move-table';
import { storageStatus } from './db/storage-status';
import { DeploymentUsageError, openDeployment, type Deployment } from './topology/deployment';

const USAGE = `usage: npm run storage -- COMMAND [--topology NAME|FILE [--port-base N]] [--secrets FILE]

  status [--estimate]          JSON: MariaDB servers (role, message tables, rows, replica lag), Redis nodes (role, slots, keys)
  migrate                      apply schema/ to every server that holds tables
  move-table N --to SERVER [--chunk ROWS]
                               move IMMessage_N and IMGroupMessage_N to SERVER while the cluster runs`;

const log = (line: string) => process.stderr.write(`[storage] ${line}\n`);

async function main(): Promise<number> {
  const { values, positionals } = parseCommandLine(process.argv.slice(2), {
    topology: { type: 'string' },
    'port-base': { type: 'string' },
    secrets: { type: 'string' },
    to: { type: 'string' },
    chunk: { type: 'string' },
    estimate: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  const [command, ...rest] = positionals;
  if (values.help || command === undefined) {
    process.stdout.write(USAGE + '\n');
    return command === undefined && !values.help ? 2 : 0;
  }
  if (!['status', 'migrate', 'move-table'].includes(command)) {
    process.stderr.write(`unknown command "${command}"\n${USAGE}\n`);
    return 2;
  }
  let index = -1;
  if (command === 'move-table') {
    if (rest.length !== 1 || !/^\d+$/.test(rest[0]) || values.to === undefined) {
      process.stderr.write(`move-table needs a table index and --to SERVER\n${USAGE}\n`);
      return 2;
    }
    index = Number(rest[0]);
  } else if (rest.length > 0) {
    process.stderr.write(`${command} takes no arguments\n${USAGE}\n`);
    return 2;
  }
  let target: Deployment;
  try {
    target = await openDeployment({ topology: values.topology, portBase: values['port-base'], secretsFile: values.secrets, log });
  } catch (err) {
    if (err instanceof DeploymentUsageError) {
      process.stderr.write(`${err.message}\n`);
      return 2;
    }
    throw err;
  }
  try {
    if (command === 'status') {
      const status = await storageStatus({ primaries: target.admin, replicas: target.replicas, redis: target.redis }, { estimate: values.estimate === true });
      process.stdout.write(JSON.stringify({ topology: target.name, ...status }, null, 2) + '\n');
      return 0;
    }
    if (command === 'migrate') {
      const results = await migrateServers(target.admin, target.layout);
      for (const [server, r] of Object.entries(results)) log(`${server} (${redactUrl(target.admin[server])}): ${r.applied.length > 0 ? `applied ${r.applied.join(', ')}` : 'schema up to date'}`);
      return 0;
    }
    if (index >= target.layout.messageTableCount) throw new Error(`table index ${index} is beyond messageTableCount ${target.layout.messageTableCount}`);
    const chunk = values.chunk === undefined ? undefined : Number(values.chunk);
    if (chunk !== undefined && (!Number.isInteger(chunk) || chunk < 1)) throw new Error('--chunk must be a positive number of rows');
    const report = await moveTable({ index, servers: target.admin, to: values.to as string, chunkRows: chunk, log });
    process.stdout.write(JSON.stringify(report) + '\n');
    log(`done. Now set "shardMap": {"${index}": "${values.to}"} where the db-proxies are configured (they already use the new place), and drop ${report.tables.map((t) => `tt_moved_${t}`).join(', ')} on ${report.from} once backed up`);
    return 0;
  } finally {
    await target.stop();
  }
}

main().then(
  (code) => process.exit(code),
  (err) => {
    if (err instanceof UsageError) {
      process.stderr.write(`${err.message}\n${USAGE}\n`);
      process.exit(2);
    }
    log(`failed: ${errorMessage(err)}`);
    process.exit(1);
  },
);
