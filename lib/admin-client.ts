/**
 * The client side of the services' admin endpoints (lib/admin-server.ts): HTTPS
 * with this process's cluster certificate (role "admin"), accepting only a
 * server that holds a cluster certificate of the role it is expected to have.
 * Used by the web console, `npm start` and `npm run msg-server -- drain`.
 */
import https from 'node:https';
import type { InternalTls, ServiceRole } from './internal-tls';
import { TTError } from './errors';
import { OPERATOR_HEADER } from './admin-server';

/** Admin answers are small; a bigger one is not an admin endpoint talking. */
const MAX_ANSWER_BYTES = 16 * 1024 * 1024;

export class AdminCallError extends TTError {
  constructor(
    message: string,
    /** HTTP status, 0 when there was no answer. */
    readonly status: number,
  ) {
    super('TT_ERR_ADMIN_CALL', message);
  }
}

export interface AdminTarget {
  /** https://host:port */
  url: string;
  /** The role the server's certificate must have. */
  role: ServiceRole;
}

export class AdminClient {
  /** One keep-alive agent per expected role: a socket checked for one role is never reused for another. */
  private readonly agents = new Map<ServiceRole, https.Agent>();

  constructor(
    private readonly identity: InternalTls,
    private readonly timeoutMs = 5_000,
  ) {}

  get<T>(target: AdminTarget, path: string): Promise<T> {
    return this.call<T>(target, 'GET', path);
  }

  /** A request with a JSON body; `operator` is recorded by the service as who asked. */
  send<T>(target: AdminTarget, method: 'POST' | 'PUT', path: string, body: unknown, operator?: string): Promise<T> {
    return this.call<T>(target, method, path, body, operator);
  }

  /** GET of a text resource (/metrics). */
  async text(target: AdminTarget, path: string): Promise<string> {
    return (await this.raw(target, 'GET', path)).body;
  }

  close(): void {
    for (const agent of this.agents.values()) agent.destroy();
    this.agents.clear();
  }

  private async call<T>(target: AdminTarget, method: string, path: string, body?: unknown, operator?: string): Promise<T> {
    const answer = await this.raw(target, method, path, body, operator);
    let parsed: unknown;
    try {
      parsed = JSON.parse(answer.body);
    } catch {
      throw new AdminCallError(`${target.url}${path}: answered HTTP ${answer.status} with something that is not JSON`, answer.status);
    }
    if (answer.status >= 400) {
      const error = (parsed as { error?: unknown }).error;
      throw new AdminCallError(`${target.url}${path}: HTTP ${answer.status}: ${typeof error === 'string' ? error : 'failed'}`, answer.status);
    }
    return parsed as T;
  }

  private raw(target: AdminTarget, method: string, path: string, body?: unknown, operator?: string): Promise<{ status: number; body: string }> {
    let url: URL;
    try {
      url = new URL(path, target.url);
    } catch {
      return Promise.reject(new AdminCallError(`"${target.url}" is not an admin URL`, 0));
    }
    if (url.protocol !== 'https:') return Promise.reject(new AdminCallError(`admin URL ${target.url} must be https`, 0));
    const host = url.hostname.replace(/^\[|\]$/g, '');
    const payload = body === undefined ? null : Buffer.from(JSON.stringify(body));
    const headers: Record<string, string> = { Accept: 'application/json' };
    if (payload !== null) {
      headers['Content-Type'] = 'application/json';
      headers['Content-Length'] = String(payload.length);
    }
    if (operator !== undefined) headers[OPERATOR_HEADER] = operator;
    return new Promise((resolve, reject) => {
      const req = https.request(
        url,
        { method, headers, agent: this.agent(target.role), timeout: this.timeoutMs, ...this.identity.clientOptions(host, target.role) },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (chunk: Buffer) => {
            size += chunk.length;
            if (size > MAX_ANSWER_BYTES) {
              req.destroy(new AdminCallError(`${target.url}${path}: answer over ${MAX_ANSWER_BYTES} bytes`, 0));
              return;
            }
            chunks.push(chunk);
          });
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
          res.on('error', (err) => reject(new AdminCallError(`${target.url}${path}: ${err.message}`, 0)));
        },
      );
      req.on('timeout', () => req.destroy(new AdminCallError(`${target.url}${path}: no answer within ${this.timeoutMs} ms`, 0)));
      req.on('error', (err: NodeJS.ErrnoException) =>
        reject(err instanceof AdminCallError ? err : new AdminCallError(`${target.url}${path}: ${err.code !== undefined && /^E[A-Z]+$/.test(err.code) ? err.code : err.message}`, 0)),
      );
      req.end(payload ?? undefined);
    });
  }

  private agent(role: ServiceRole): https.Agent {
    let agent = this.agents.get(role);
    if (agent === undefined) {
      agent = new https.Agent({ keepAlive: true, maxSockets: 4 });
      this.agents.set(role, agent);
    }
    return agent;
  }
}
