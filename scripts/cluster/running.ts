/**
 * .run/cluster.json: what a running `npm start` brought up, so a second `npm
 * start` can say so, and `npm run msg-server` can join the running cluster.
 */
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runDir } from '../../lib/paths';
import { isAlive } from '../infra/system';

export interface RunningCluster {
  pid: number;
  startedAt: string;
  clientHost: string;
  internalHost: string;
  publicIp: string;
  loginUrl: string;
  loginHttpPort: number;
  loginMsgServerPort: number;
  loginAdminPort: number;
  routePort: number;
  standbyRoutePorts: number[];
  dbProxyPort: number;
  extraDbProxyPorts: number[];
  msgServerPorts: number[];
  fileServerInternalPort: number;
  pushServerPort: number;
  /** WebSocket ports of the msg servers ([] = none) and the web chat origins they accept. */
  msgServerWsPorts: number[];
  webOrigins: string[];
  routeAdminPort: number;
  dbProxyAdminPort: number;
  msgServerAdminPorts: number[];
  consolePort: number;
}

const FILE = join(runDir, 'cluster.json');

export function readRunningCluster(): RunningCluster | null {
  if (!existsSync(FILE)) return null;
  try {
    const cluster = JSON.parse(readFileSync(FILE, 'utf8')) as RunningCluster;
    return isAlive(cluster.pid) ? cluster : null;
  } catch {
    return null;
  }
}

export function writeRunningCluster(cluster: RunningCluster): void {
  writeFileSync(FILE, JSON.stringify(cluster, null, 2) + '\n');
}

export function removeRunningCluster(): void {
  rmSync(FILE, { force: true });
}

/** Where a local process reaches a service listening on `host` (0.0.0.0 means all interfaces). */
export function reachable(host: string): string {
  return host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
}


