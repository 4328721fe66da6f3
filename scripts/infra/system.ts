/**
 * Small OS helpers for running MariaDB and Redis as local child processes:
 * finding binaries, installing Debian packages when allowed, pid files, ports.
 */
import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { delimiter, join } from 'node:path';
import { TTError } from '../../lib/errors';

export class InfraError extends TTError {
  constructor(message: string) {
    super('TT_ERR_INFRA', message);
  }
}

const EXTRA_PATHS = ['/usr/sbin', '/usr/bin', '/usr/local/sbin', '/usr/local/bin', '/sbin', '/bin'];

export function findExecutable(names: string[]): string | null {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), ...EXTRA_PATHS].filter(Boolean);
  for (const name of names) {
    for (const dir of dirs) {
      const candidate = join(dir, name);
      try {
        accessSync(candidate, constants.X_OK);
        return candidate;
      } catch {
        // keep looking
      }
    }
  }
  return null;
}

export interface Requirement {
  /** Binary names, any of which will do. */
  binaries: string[];
  /** Debian package that provides them. */
  debianPackage: string;
  /** What it is for, for the error message. */
  purpose: string;
  /** Env var that makes it unnecessary. */
  alternativeEnv: string;
}

/**
 * Makes sure each requirement's binary exists. When some are missing and we are
 * root on a machine with apt-get, installs their Debian packages; otherwise
 * fails with the exact install command.
 */
export function ensureInstalled(requirements: Requirement[], log: (line: string) => void): void {
  const missing = requirements.filter((r) => findExecutable(r.binaries) === null);
  if (missing.length === 0) return;
  const packages = missing.map((r) => r.debianPackage);
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  const aptGet = findExecutable(['apt-get']);
  if (!isRoot || aptGet === null) {
    const lines = missing.map(
      (r) => `  - ${r.purpose}: package ${r.debianPackage} (or set ${r.alternativeEnv} to use an existing server)`,
    );
    throw new InfraError(
      [
        'Missing local storage servers:',
        ...lines,
        `Install them with:  sudo apt-get install -y ${packages.join(' ')}`,
        isRoot ? '(apt-get was not found on this machine)' : '(not running as root, so not installing them myself)',
      ].join('\n'),
    );
  }
  log(`installing ${packages.join(' ')} with apt-get (first run on this machine)...`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  for (const args of [['update', '-qq'], ['install', '-y', '-qq', '--no-install-recommends', ...packages]]) {
    const res = spawnSync(aptGet, args, { stdio: ['ignore', 'ignore', 'inherit'], env });
    if (res.status !== 0) {
      throw new InfraError(`apt-get ${args.join(' ')} failed (exit ${res.status}); install ${packages.join(' ')} by hand`);
    }
  }
  const still = missing.filter((r) => findExecutable(r.binaries) === null);
  if (still.length > 0) {
    throw new InfraError(`installed ${packages.join(' ')} but still cannot find ${still.map((r) => r.binaries[0]).join(', ')}`);
  }
}

export function readPidFile(file: string): number | null {
  if (!existsSync(file)) return null;
  const pid = Number(readFileSync(file, 'utf8').trim());
  return Number.isInteger(pid) && pid > 0 ? pid : null;
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** True when something accepts TCP connections on host:port. */
export function portAcceptsConnections(host: string, port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (ok: boolean) => {
      socket.removeAllListeners();
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/**
 * A TCP port on 127.0.0.1 that is free right now, for a service started next:
 * picked at random below the ephemeral range (portsOutsideEphemeralRange), never
 * the same twice in this process; the kernel's pick if none is found.
 */
export async function freeLoopbackPort(): Promise<number> {
  const [low, high] = portsOutsideEphemeralRange();
  for (let attempt = 0; attempt < 100 && high > low; attempt++) {
    const port = low + Math.floor(Math.random() * (high - low + 1));
    if (handedOut.has(port)) continue;
    if (await canListen(port)) {
      handedOut.add(port);
      return port;
    }
  }
  return ephemeralPort();
}

/** Ports this process handed out already (a caller may not have started listening on them yet). */
const handedOut = new Set<number>();

/**
 * Where freeLoopbackPort picks from: below the kernel's ephemeral range. The
 * kernel takes the local port of every outgoing connection from that range, so
 * on a busy machine (parallel tests, a bench) a port picked there can be taken
 * by somebody's connection between the pick and the service's listen().
 */
function portsOutsideEphemeralRange(): [number, number] {
  let ephemeralLow = 32768;
  try {
    ephemeralLow = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]) || ephemeralLow;
  } catch {
    // Not Linux: the usual default.
  }
  return [Math.min(20000, ephemeralLow - 1000), ephemeralLow - 1];
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen({ port, host: '127.0.0.1', exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/** Any free port the kernel picks (the fallback). */
function ephemeralPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as net.AddressInfo).port;
      server.close(() => resolve(port));
    });
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Sends SIGTERM, waits up to graceMs for the process to go, then SIGKILL. */
export async function stopProcess(pid: number, graceMs = 30_000): Promise<void> {
  if (!isAlive(pid)) return;
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  const until = Date.now() + graceMs;
  while (Date.now() < until) {
    if (!isAlive(pid)) return;
    await sleep(100);
  }
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

export function tail(file: string, lines = 15): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}
