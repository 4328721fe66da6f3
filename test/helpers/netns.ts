/**
 * "Hosts" for tests: one Linux network namespace each, joined by a bridge that
 * lives in a namespace of its own (nothing is added to the machine's own
 * network: no interface, address or route outside the namespaces). Each host
 * gets eth0 with the address the test gives it (a private range). Needs root
 * and iproute2 (ip netns): where namespaces cannot be made, create() throws
 * NetnsUnavailableError saying why. Processes started in them, and the
 * namespaces, are removed when the test ends; namespaces a killed run left
 * behind (named after a process that is gone) are removed by the next run.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import type { Test } from 'tap';
import { findExecutable, isAlive } from '../../scripts/infra/system';

/** Every namespace the tests make is named NAMESPACE_PREFIX-<pid>-<host>. */
const NAMESPACE_PREFIX = 'ttscale';

export class NetnsUnavailableError extends Error {}

export class Hosts {
  private readonly children: ChildProcess[] = [];
  private readonly created: string[] = [];
  readonly logs = new Map<string, string[]>();

  private constructor(
    private readonly ip: string,
    private readonly prefix: string,
    readonly addresses: Record<string, string>,
  ) {}

  /** The namespace of a host. */
  ns(host: string): string {
    return `${this.prefix}-${host}`;
  }

  /** Command prefix that runs a program on `host`. */
  wrap(host: string): string[] {
    return [this.ip, 'netns', 'exec', this.ns(host)];
  }

  /**
   * Why this machine cannot make network namespaces (no iproute2, not root,
   * the kernel refuses), or null when it can: tried with a namespace made and
   * removed at once.
   */
  static unavailable(): string | null {
    const ip = findExecutable(['ip']);
    if (ip === null) return 'the "ip" command (iproute2) is not installed: network namespaces cannot be made';
    if (typeof process.getuid === 'function' && process.getuid() !== 0) return 'network namespaces need root (ip netns add): run the tests as root';
    const probe = `${NAMESPACE_PREFIX}-${process.pid}-probe`;
    const made = spawnSync(ip, ['netns', 'add', probe], { encoding: 'utf8' });
    if (made.status !== 0) return `ip netns add failed: ${(made.stderr || made.stdout).trim()}`;
    spawnSync(ip, ['netns', 'del', probe]);
    return null;
  }

  /**
   * Makes the hosts: `addresses` maps host name -> IPv4 address (all in one
   * /24). Fails with NetnsUnavailableError when this machine does not allow it.
   */
  static async create(t: Test, addresses: Record<string, string>): Promise<Hosts> {
    const ip = findExecutable(['ip']);
    if (ip === null) throw new NetnsUnavailableError('the "ip" command (iproute2) is not installed: network namespaces cannot be made');
    if (typeof process.getuid === 'function' && process.getuid() !== 0) throw new NetnsUnavailableError('network namespaces need root (ip netns add): run the tests as root');
    removeLeftovers(ip);
    const hosts = new Hosts(ip, `${NAMESPACE_PREFIX}-${process.pid}`, addresses);
    t.teardown(() => hosts.destroy());
    const run = (args: string[]) => {
      const res = spawnSync(ip, args, { encoding: 'utf8' });
      if (res.status !== 0) throw new NetnsUnavailableError(`ip ${args.join(' ')} failed: ${(res.stderr || res.stdout).trim()} (network namespaces are not available here)`);
    };
    const bridgeNs = `${hosts.prefix}-switch`;
    run(['netns', 'add', bridgeNs]);
    hosts.created.push(bridgeNs);
    run(['-n', bridgeNs, 'link', 'add', 'br0', 'type', 'bridge']);
    run(['-n', bridgeNs, 'link', 'set', 'br0', 'up']);
    Object.entries(addresses).forEach(([host, address], i) => {
      const ns = hosts.ns(host);
      run(['netns', 'add', ns]);
      hosts.created.push(ns);
      // Both ends are made inside namespaces: the machine's own interface list never sees them.
      const port = `p${i}`;
      run(['link', 'add', port, 'netns', bridgeNs, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
      run(['-n', bridgeNs, 'link', 'set', port, 'master', 'br0']);
      run(['-n', bridgeNs, 'link', 'set', port, 'up']);
      run(['-n', ns, 'addr', 'add', `${address}/24`, 'dev', 'eth0']);
      run(['-n', ns, 'link', 'set', 'eth0', 'up']);
      run(['-n', ns, 'link', 'set', 'lo', 'up']);
    });
    return hosts;
  }

  /** Starts a program on `host`; its output is kept under `name` (see logs). */
  spawn(host: string, name: string, command: string, args: string[], env: Record<string, string>): ChildProcess {
    const [wrapper, ...wrapperArgs] = this.wrap(host);
    const child = spawn(wrapper, [...wrapperArgs, command, ...args], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    const lines: string[] = [];
    this.logs.set(name, lines);
    for (const stream of [child.stdout, child.stderr]) stream?.on('data', (d: Buffer) => lines.push(...d.toString().split('\n').filter(Boolean)));
    this.children.push(child);
    return child;
  }

  /** Runs a host agent (test/multihost/host-agent.js) on `host` until it prints its JSON line. */
  async agent(host: string, name: string, script: string, args: string[], timeoutMs = 120_000): Promise<Record<string, unknown>> {
    const child = this.spawn(host, name, process.execPath, [script, ...args], {});
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${name} on ${host} reported nothing within ${timeoutMs} ms:\n${(this.logs.get(name) ?? []).join('\n')}`)), timeoutMs);
      let buffer = '';
      child.stdout?.on('data', (d: Buffer) => {
        buffer += d.toString();
        const line = buffer.split('\n').find((l) => l.startsWith('{'));
        if (line === undefined) return;
        clearTimeout(timer);
        const report = JSON.parse(line) as Record<string, unknown>;
        if (report.error) reject(new Error(`${name} on ${host}: ${String(report.error)}`));
        else resolve(report);
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        if (!buffer.includes('{')) reject(new Error(`${name} on ${host} exited (${code}) without a report:\n${(this.logs.get(name) ?? []).join('\n')}`));
      });
    });
  }

  /** Stops every process (SIGTERM, then SIGKILL), then removes the namespaces (their links go with them). */
  async destroy(): Promise<void> {
    const alive = this.children.filter((c) => c.exitCode === null && c.signalCode === null);
    for (const c of alive) c.kill('SIGTERM');
    await Promise.all(
      alive.map(
        (c) =>
          new Promise<void>((resolve) => {
            const timer = setTimeout(() => {
              c.kill('SIGKILL');
              resolve();
            }, 15_000);
            c.once('exit', () => {
              clearTimeout(timer);
              resolve();
            });
          }),
      ),
    );
    for (const ns of this.created.reverse()) {
      // Anything still running inside (a server an agent started) is ended before its namespace goes.
      const pids = spawnSync(this.ip, ['netns', 'pids', ns], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean).map(Number);
      for (const pid of pids) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone
        }
      }
      spawnSync(this.ip, ['netns', 'del', ns]);
    }
    this.created.length = 0;
  }
}

/** Namespaces of test runs that were killed before their teardown (their process is gone). */
function removeLeftovers(ip: string): void {
  const list = spawnSync(ip, ['netns', 'list'], { encoding: 'utf8' });
  if (list.status !== 0) return;
  const pattern = new RegExp(`^(${NAMESPACE_PREFIX}-(\\d+)-\\S+)`);
  for (const line of list.stdout.split('\n')) {
    const m = pattern.exec(line.trim());
    if (m === null || isAlive(Number(m[2]))) continue;
    for (const pid of spawnSync(ip, ['netns', 'pids', m[1]], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean).map(Number)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    spawnSync(ip, ['netns', 'del', m[1]]);
  }
}
