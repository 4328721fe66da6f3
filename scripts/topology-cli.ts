/**
 * `npm run topology -- COMMAND`: a topology file (scripts/topology/topology.ts)
 * for real hosts.
 *
 *   check --topology FILE                      validates it; prints hosts, services and storage
 *   env --topology FILE --host NAME --out DIR --secrets FILE [--pki-dir DIR] [--data-dir DIR]
 *                                              one env file per service instance on that host
 *                                              (DIR/<instance>.env, mode 600) for the systemd
 *                                              units in deploy/systemd/, and the commands that
 *                                              issue their certificates and enable the units
 *
 * The secrets file (JSON, mode 600): {"mysqlUser": "...", "mysqlPassword": "...",
 * "redisPassword": "..."}: the services' rows-only database account and the Redis password.
 */
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { UsageError, parseCommandLine } from '../lib/cli';
import { envName } from '../lib/config';
import { errorMessage } from '../lib/errors';
import { SERVICE_ROLE, serviceInstances, storageAccess, type StorageSecrets } from './topology/services';
import { loadTopology, storageEndpoints, SERVICE_NAMES, type Topology } from './topology/topology';

const USAGE = `usage:
  npm run topology -- check --topology FILE
  npm run topology -- env --topology FILE --host NAME --out DIR --secrets FILE [--pki-dir /etc/teamtalk/pki] [--data-dir /var/lib/teamtalk]`;

const log = (line: string) => process.stderr.write(`[topology] ${line}\n`);

/** Data folders of the services that keep files, under `dataDir` (their defaults are under .run/). */
function dataEnv(service: string, name: string, dataDir: string): Record<string, string> {
  const dir = join(dataDir, name);
  switch (service) {
    case 'msfs':
      return { TT_MSFS_BASE_DIR: join(dir, 'files'), TT_MSFS_COUNT_FILE: join(dir, 'file-count'), TT_MSFS_S3_TEMP_DIR: join(dir, 'incoming') };
    case 'file-server':
      return { TT_FILE_OFFLINE_DIR: join(dir, 'offline') };
    case 'push-server':
      return { TT_PUSH_DEAD_LETTER_FILE: join(dir, 'dead-letter.jsonl') };
    case 'console':
      return { TT_CONSOLE_OPERATORS_FILE: join(dir, 'operators.json'), TT_CONSOLE_SIGN_IN_LINK_FILE: join(dir, 'sign-in-links.json') };
    default:
      return {};
  }
}

/** An env file: KEY=value lines, values quoted for systemd's EnvironmentFile. */
export function envFile(env: Record<string, string>): string {
  return Object.entries(env)
    .map(([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`)
    .join('\n') + '\n';
}

export function writeHostEnv(t: Topology, host: string, out: string, secrets: StorageSecrets, pkiDir: string, dataDir: string): Array<{ name: string; service: string; role: string; file: string; addresses: string[] }> {
  if (!(host in t.hosts)) throw new Error(`no host "${host}" in the topology (hosts: ${Object.keys(t.hosts).join(', ')})`);
  const tls = (prefix: string, _role: string, name: string) => ({
    [envName(prefix, 'tlsCaFile')]: join(pkiDir, 'ca.crt'),
    [envName(prefix, 'tlsCertFile')]: join(pkiDir, `${name}.crt`),
    [envName(prefix, 'tlsKeyFile')]: join(pkiDir, `${name}.key`),
  });
  const instances = serviceInstances(t, storageAccess(t, secrets), tls).filter((i) => i.host === host);
  mkdirSync(out, { recursive: true, mode: 0o700 });
  return instances.map((i) => {
    const file = join(out, `${i.name}.env`);
    writeFileSync(file, `# ${i.name} (${i.service}) on ${host}, from topology ${t.name}\n` + envFile({ ...i.env, ...dataEnv(i.service, i.name, dataDir) }), { mode: 0o600 });
    chmodSync(file, 0o600);
    const h = t.hosts[host];
    return { name: i.name, service: i.service, role: SERVICE_ROLE[i.service], file, addresses: [...new Set([h.internal, h.public])] };
  });
}

function check(t: Topology): void {
  process.stdout.write(`topology ${t.name} (${t.file}): ok\n`);
  for (const [name, h] of Object.entries(t.hosts)) {
    const here = SERVICE_NAMES.flatMap((s) => t.services[s].map((e, i) => ({ s, e, i }))).filter((x) => x.e.host === name);
    process.stdout.write(`  host ${name}: internal ${h.internal}, public ${h.public}, client ports bind ${h.clientBind}: ${here.map((x) => `${x.s} ${x.i + 1} :${x.e.port}`).join(', ') || 'storage only'}\n`);
  }
  for (const e of storageEndpoints(t)) process.stdout.write(`  ${e.what}: ${e.address}\n`);
  process.stdout.write(`  message tables: ${t.storage.messageTableCount}, shard map ${JSON.stringify(t.storage.shardMap)} (unlisted tables on main)\n`);
}

function main(): number {
  const { values, positionals } = parseCommandLine(process.argv.slice(2), {
    topology: { type: 'string' },
    host: { type: 'string' },
    out: { type: 'string' },
    secrets: { type: 'string' },
    'pki-dir': { type: 'string' },
    'data-dir': { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  });
  const [command] = positionals;
  if (values.help) {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  if ((command !== 'check' && command !== 'env') || positionals.length !== 1 || values.topology === undefined) {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  const t = loadTopology(values.topology);
  if (command === 'check') {
    check(t);
    return 0;
  }
  if (values.host === undefined || values.out === undefined || values.secrets === undefined) {
    process.stderr.write(`env needs --host, --out and --secrets\n${USAGE}\n`);
    return 2;
  }
  const secrets = JSON.parse(readFileSync(values.secrets, 'utf8')) as Partial<StorageSecrets>;
  if (typeof secrets.mysqlUser !== 'string' || typeof secrets.mysqlPassword !== 'string' || typeof secrets.redisPassword !== 'string') {
    throw new Error(`${values.secrets} must give "mysqlUser", "mysqlPassword" and "redisPassword"`);
  }
  const pkiDir = values['pki-dir'] ?? '/etc/teamtalk/pki';
  const written = writeHostEnv(t, values.host, values.out, secrets as StorageSecrets, pkiDir, values['data-dir'] ?? '/var/lib/teamtalk');
  if (written.length === 0) log(`host ${values.host} runs no service of the topology (storage only?)`);
  for (const w of written) log(`wrote ${w.file}`);
  process.stdout.write('\n# certificates (on the machine that holds the CA), then copy them with ca.crt to ' + `${pkiDir}/ on ${values.host}:\n`);
  for (const w of written) process.stdout.write(`npm run certs -- issue --role ${w.role} --name ${w.name} ${w.addresses.map((a) => `--host ${a}`).join(' ')}\n`);
  process.stdout.write(`\n# on ${values.host} (units from deploy/systemd/, env files in ${values.out}):\n`);
  for (const w of written) process.stdout.write(`systemctl enable --now teamtalk-${w.service}@${w.name}\n`);
  return 0;
}

if (require.main === module) {
  try {
    process.exitCode = main();
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`${err.message}\n${USAGE}\n`);
      process.exitCode = 2;
    } else {
      log(`failed: ${errorMessage(err)}`);
      process.exitCode = 1;
    }
  }
}
