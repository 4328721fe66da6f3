/**
 * Who may use the console, and how they prove it:
 *
 * - Operators: names and passwords in the operators file (npm start creates
 *   "admin" with a random password in .run/credentials.json, mode 600). The file
 *   is read at every sign-in, so an edit takes effect without a restart.
 * - One-time sign-in links: npm start issues one per run (the banner's console
 *   line). The file keeps only a SHA-256 of each token and its expiry; a link
 *   works once, and not after it expires.
 * - Sessions: a random id in an HttpOnly, SameSite=Strict cookie; each has its
 *   own CSRF token that every action must send back. Sessions end when unused
 *   for sessionIdleTimeoutMs, sessionMaxAgeMs after sign-in, or at sign-out.
 * - Sign-in attempts are limited per client address and in total
 *   (signInMaxFailures, signInMaxFailuresTotal per signInWindowMs).
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';

export interface Session {
  id: string;
  operator: string;
  csrf: string;
  createdAt: number;
  lastUsedAt: number;
  /** Where the operator signed in from (for the action log). */
  address: string;
}

const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest();
export const newToken = () => randomBytes(32).toString('base64url');

/** Constant-time comparison of two secrets (of any length). */
export function sameSecret(a: string, b: string): boolean {
  return timingSafeEqual(sha256(a), sha256(b));
}

export class Operators {
  constructor(private readonly file: string) {}

  /** The operator's name when `password` is theirs, else null (also when the file is unreadable). */
  check(name: string, password: string): string | null {
    let operators: Array<{ name?: unknown; password?: unknown }>;
    try {
      const parsed = JSON.parse(readFileSync(this.file, 'utf8')) as { consoleOperators?: unknown };
      operators = Array.isArray(parsed.consoleOperators) ? parsed.consoleOperators : [];
    } catch {
      return null;
    }
    let match: string | null = null;
    // Every entry is compared, so the time taken does not tell which names exist.
    for (const op of operators) {
      if (typeof op.name !== 'string' || typeof op.password !== 'string' || op.password === '') continue;
      const ok = sameSecret(op.name, name) && sameSecret(op.password, password);
      if (ok) match = op.name;
    }
    return match;
  }

  /** Whether the file names at least one operator (the console says so at start). */
  count(): number {
    try {
      const parsed = JSON.parse(readFileSync(this.file, 'utf8')) as { consoleOperators?: unknown };
      return Array.isArray(parsed.consoleOperators) ? parsed.consoleOperators.length : 0;
    } catch {
      return 0;
    }
  }
}

export class Sessions {
  private readonly sessions = new Map<string, Session>();

  constructor(private readonly options: { idleTimeoutMs: number; maxAgeMs: number; maxSessions: number }) {}

  create(operator: string, address: string): Session {
    this.sweep();
    while (this.sessions.size >= this.options.maxSessions) {
      const oldest = this.sessions.keys().next().value as string;
      this.sessions.delete(oldest);
    }
    const now = Date.now();
    const session: Session = { id: newToken(), operator, csrf: newToken(), createdAt: now, lastUsedAt: now, address };
    this.sessions.set(session.id, session);
    return session;
  }

  /** The live session with this id (its idle clock restarts), or null. */
  get(id: string | undefined): Session | null {
    if (id === undefined) return null;
    const session = this.sessions.get(id);
    if (session === undefined) return null;
    const now = Date.now();
    if (now - session.lastUsedAt > this.options.idleTimeoutMs || now - session.createdAt > this.options.maxAgeMs) {
      this.sessions.delete(id);
      return null;
    }
    session.lastUsedAt = now;
    return session;
  }

  end(id: string): void {
    this.sessions.delete(id);
  }

  get size(): number {
    return this.sessions.size;
  }

  private sweep(): void {
    const now = Date.now();
    for (const [id, s] of this.sessions) {
      if (now - s.lastUsedAt > this.options.idleTimeoutMs || now - s.createdAt > this.options.maxAgeMs) this.sessions.delete(id);
    }
  }
}

/** Failed sign-ins per client address and in total, in fixed windows. */
export class SignInLimiter {
  private readonly byAddress = new Map<string, { since: number; failures: number }>();
  private total = { since: 0, failures: 0 };

  constructor(private readonly options: { maxFailures: number; maxFailuresTotal: number; windowMs: number }) {}

  /** Milliseconds until `address` may try again; 0 = it may now. */
  retryAfterMs(address: string, now = Date.now()): number {
    const w = this.options.windowMs;
    if (now - this.total.since < w && this.total.failures >= this.options.maxFailuresTotal) return this.total.since + w - now;
    const entry = this.byAddress.get(address);
    if (entry !== undefined && now - entry.since < w && entry.failures >= this.options.maxFailures) return entry.since + w - now;
    return 0;
  }

  failed(address: string, now = Date.now()): void {
    const w = this.options.windowMs;
    if (now - this.total.since >= w) this.total = { since: now, failures: 0 };
    this.total.failures++;
    let entry = this.byAddress.get(address);
    if (entry === undefined || now - entry.since >= w) {
      if (this.byAddress.size > 10_000) this.byAddress.clear();
      entry = { since: now, failures: 0 };
      this.byAddress.set(address, entry);
    }
    entry.failures++;
  }

  succeeded(address: string): void {
    this.byAddress.delete(address);
  }
}

interface StoredLink {
  sha256: string;
  operator: string;
  expiresAt: string;
}

/** Writes a new one-time sign-in link token for `operator` into `file` (mode 600) and returns it. */
export function issueSignInLink(file: string, operator: string, ttlMs: number): string {
  const token = newToken();
  const links = readLinks(file).filter((l) => Date.parse(l.expiresAt) > Date.now());
  links.push({ sha256: sha256(token).toString('hex'), operator, expiresAt: new Date(Date.now() + ttlMs).toISOString() });
  writeLinks(file, links);
  return token;
}

/** Uses up a sign-in link token: the operator it was issued for, or null when unknown, used or expired. */
export function redeemSignInLink(file: string, token: string): string | null {
  if (!/^[A-Za-z0-9_-]{20,100}$/.test(token)) return null;
  const digest = sha256(token).toString('hex');
  const links = readLinks(file);
  const now = Date.now();
  const match = links.find((l) => sameSecret(l.sha256, digest));
  const kept = links.filter((l) => l !== match && Date.parse(l.expiresAt) > now);
  if (match !== undefined || kept.length !== links.length) writeLinks(file, kept);
  return match !== undefined && Date.parse(match.expiresAt) > now ? match.operator : null;
}

function readLinks(file: string): StoredLink[] {
  if (!existsSync(file)) return [];
  try {
    const parsed = JSON.parse(readFileSync(file, 'utf8')) as { links?: unknown };
    return Array.isArray(parsed.links) ? (parsed.links as StoredLink[]).filter((l) => typeof l.sha256 === 'string' && typeof l.operator === 'string') : [];
  } catch {
    return [];
  }
}

function writeLinks(file: string, links: StoredLink[]): void {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify({ links }, null, 2) + '\n', { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, file);
}
