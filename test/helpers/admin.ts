/**
 * Calls to the services' admin endpoints from tests, with the test PKI's
 * "admin" certificate (as the console and Prometheus would).
 */
import { AdminClient, type AdminTarget } from '../../lib/admin-client';
import type { ServiceRole } from '../../lib/internal-tls';
import { testIdentity } from './tls';

let shared: AdminClient | null = null;

/** One client for the whole test file (keep-alive sockets are unref'd by https). */
export function adminClient(): AdminClient {
  shared ??= new AdminClient(testIdentity('admin'));
  return shared;
}

export function target(url: string, role: ServiceRole): AdminTarget {
  return { url, role };
}

export function adminGet<T>(url: string, role: ServiceRole, path: string): Promise<T> {
  return adminClient().get<T>(target(url, role), path);
}

export function adminPost<T>(url: string, role: ServiceRole, path: string, body: unknown, operator?: string): Promise<T> {
  return adminClient().send<T>(target(url, role), 'POST', path, body, operator);
}

export function metricsText(url: string, role: ServiceRole): Promise<string> {
  return adminClient().text(target(url, role), '/metrics');
}

/** The value of one sample in Prometheus text, e.g. sample(text, 'teamtalk_msg_server_online_users'), or with labels. */
export function sample(text: string, name: string, labels: Record<string, string> = {}): number | null {
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (m === null || m[1] !== name) continue;
    const have = Object.fromEntries([...(m[2] ?? '').matchAll(/([a-zA-Z_]+)="((?:[^"\\]|\\.)*)"/g)].map((l) => [l[1], l[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) return Number(m[3]);
  }
  return null;
}
