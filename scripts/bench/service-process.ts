/**
 * A service under benchmark as its own process (its own core, as in
 * production), on a loopback port, with a certificate from the local CA; and
 * the small number helpers the file benchmarks print with.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { projectRoot } from '../../lib/paths';
import type { ServiceRole } from '../../lib/internal-tls';
import { localPki, tlsEnv } from '../cluster/pki';
import { portAcceptsConnections, sleep } from '../infra/system';

export interface ServiceProcess {
  stop(): Promise<void>;
}

export async function startServiceProcess(options: {
  script: string;
  envPrefix: string;
  role: ServiceRole;
  env: Record<string, string>;
  waitFor: { host: string; port: number };
}): Promise<ServiceProcess> {
  const env = { ...process.env, ...options.env, ...tlsEnv(localPki(), options.envPrefix, options.role, `bench-${options.role}`, ['127.0.0.1']) };
  const child: ChildProcess = spawn(process.execPath, [join(projectRoot, options.script)], { cwd: projectRoot, env, stdio: ['ignore', 'ignore', 'inherit'] });
  const until = Date.now() + 20_000;
  while (!(await portAcceptsConnections(options.waitFor.host, options.waitFor.port))) {
    if (child.exitCode !== null) throw new Error(`${options.script} exited with code ${child.exitCode}`);
    if (Date.now() > until) {
      child.kill('SIGKILL');
      throw new Error(`${options.script} did not listen on ${options.waitFor.port} within 20 s`);
    }
    await sleep(50);
  }
  return {
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
        setTimeout(() => child.kill('SIGKILL'), 10_000).unref();
      }),
  };
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

export function round(n: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}
