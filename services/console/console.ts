/**
 * The web console (express): the cluster at a glance, online users, live
 * charts, recent warnings, and the operators' actions (kick a user, disable or
 * enable an account, drain a msg server, change a service's log level).
 *
 * Nothing but the sign-in page answers before sign-in (APIs say 401, pages
 * redirect to it). Actions are POSTs that must carry the session's CSRF token
 * (header X-CSRF-Token or form field csrf) and, when the browser sends one, a
 * same-origin Origin; the session cookie is HttpOnly and SameSite=Strict.
 * Every action is logged with the operator and where they signed in from, and
 * kept in the list the console shows. The services are reached through their
 * admin endpoints over mutual TLS with an "admin" certificate.
 */
import http from 'node:http';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import express, { type NextFunction, type Request, type Response } from 'express';
import mysql from 'mysql2/promise';
import { AdminCallError, AdminClient } from '../../lib/admin-client';
import { errorMessage } from '../../lib/errors';
import { startInternalTls } from '../../lib/internal-tls';
import { listenOn } from '../../lib/listen';
import { LOG_LEVELS, type Logger } from '../../lib/log';
import { parseMysqlUrl } from '../../lib/mysql-url';
import { projectRoot } from '../../lib/paths';
import type { RunningService } from '../../lib/service';
import { AccountError, UserStatus, setUserStatus, validateUserName } from '../../scripts/db/accounts';
import { Operators, SignInLimiter, Sessions, newToken, redeemSignInLink, sameSecret, type Session } from './auth';
import { ClusterView, UnknownServiceError } from './cluster-view';
import type { ConsoleConfig } from './config';
import { appPage, noticePage, signInPage } from './pages';
import { Sampler } from './sampler';

const SESSION_COOKIE = 'tt_console';
const SIGN_IN_COOKIE = 'tt_console_signin';
const PUBLIC_DIR = join(projectRoot, 'services', 'console', 'public');
/** Actions kept for the page. */
const ACTION_LOG_LENGTH = 100;
const HTTP_MAX_CONNECTIONS = 256;
const HTTP_TIMEOUT_MS = 15_000;

export interface RunningConsole extends RunningService {
  port: number;
  url: string;
}

export interface ActionRecord {
  time: string;
  operator: string;
  address: string;
  action: string;
  target: string;
  ok: boolean;
  detail: string;
}

type SignedInRequest = Request & { session: Session };

/** One cookie from the Cookie header (the console sets two; no library needed to read them). */
function cookie(req: Request, name: string): string | undefined {
  for (const part of (req.get('cookie') ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

const addressOf = (req: Request) => req.socket.remoteAddress ?? '?';

export async function startConsole(config: ConsoleConfig, logger: Logger): Promise<RunningConsole> {
  const identity = startInternalTls('console', 'admin', config, logger);
  const client = new AdminClient(identity, config.adminTimeoutMs);
  const cluster = new ClusterView(client, config);
  const sampler = new Sampler(cluster, config.sampleIntervalMs);
  const operators = new Operators(config.operatorsFile);
  const sessions = new Sessions({ idleTimeoutMs: config.sessionIdleTimeoutMs, maxAgeMs: config.sessionMaxAgeMs, maxSessions: config.maxSessions });
  const limiter = new SignInLimiter({ maxFailures: config.signInMaxFailures, maxFailuresTotal: config.signInMaxFailuresTotal, windowMs: config.signInWindowMs });
  const actions: ActionRecord[] = [];
  let pool: mysql.Pool | null = null;
  const accounts = () => (pool ??= mysql.createPool({ ...parseMysqlUrl(config.mysqlUrl), connectionLimit: 2 }));

  if (operators.count() === 0) {
    logger.warn({ operatorsFile: config.operatorsFile }, 'no console operators configured: nobody can sign in until the file lists some');
  }

  const record = (req: SignedInRequest, action: string, target: string, ok: boolean, detail: string) => {
    const entry: ActionRecord = { time: new Date().toISOString(), operator: req.session.operator, address: req.session.address, action, target, ok, detail };
    actions.push(entry);
    if (actions.length > ACTION_LOG_LENGTH) actions.shift();
    (ok ? logger.info : logger.warn).call(logger, { operator: entry.operator, from: entry.address, action, target, ok, detail }, 'console action');
  };

  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  app.use((_req, res, next) => {
    const nonce = randomBytes(16).toString('base64');
    res.locals.nonce = nonce;
    res.setHeader('Cache-Control', 'no-store');
    res.setHeader('X-Content-Type-Options', 'nosniff');
    // Not no-referrer: with it, browsers send "Origin: null" on our own form posts.
    res.setHeader('Referrer-Policy', 'same-origin');
    res.setHeader(
      'Content-Security-Policy',
      `default-src 'none'; script-src 'self'; style-src 'self' 'nonce-${nonce}'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'`,
    );
    next();
  });

  const sessionOf = (req: Request) => sessions.get(cookie(req, SESSION_COOKIE));
  const startSession = (res: Response, operator: string, req: Request) => {
    const session = sessions.create(operator, addressOf(req));
    res.cookie(SESSION_COOKIE, session.id, { httpOnly: true, sameSite: 'strict', path: '/' });
    res.clearCookie(SIGN_IN_COOKIE, { path: '/signin' });
    logger.info({ operator, from: session.address }, 'console: operator signed in');
    return session;
  };
  /** A POST from another site (the browser names it in Origin) is refused, whatever it carries. */
  const sameOrigin = (req: Request) => {
    const origin = req.get('origin');
    return origin === undefined || origin === `http://${req.get('host')}`;
  };
  const showSignIn = (res: Response, status: number, message?: string, name?: string) => {
    const csrf = newToken();
    res.cookie(SIGN_IN_COOKIE, csrf, { httpOnly: true, sameSite: 'strict', path: '/signin' });
    res.status(status).type('html').send(signInPage({ csrf, nonce: res.locals.nonce as string, message, name }));
  };
  const tooMany = (res: Response, retryMs: number) => {
    const minutes = Math.max(1, Math.ceil(retryMs / 60_000));
    res.setHeader('Retry-After', String(Math.ceil(retryMs / 1000)));
    res
      .status(429)
      .type('html')
      .send(noticePage({ nonce: res.locals.nonce as string, title: 'Too many failed sign-ins', text: `Sign-in is refused for now; try again in ${minutes} minute${minutes > 1 ? 's' : ''}.` }));
  };

  // ---- signing in and out (the only routes open without a session) ----
  app.get('/signin', (req, res) => {
    if (sessionOf(req) !== null) return res.redirect(303, '/');
    showSignIn(res, 200);
  });
  app.post('/signin', express.urlencoded({ extended: false, limit: '4kb' }), (req, res) => {
    const address = addressOf(req);
    const body = (req.body ?? {}) as Record<string, unknown>;
    const name = typeof body.name === 'string' ? body.name.slice(0, 64) : '';
    const password = typeof body.password === 'string' ? body.password.slice(0, 256) : '';
    const csrf = typeof body.csrf === 'string' ? body.csrf : '';
    const expected = cookie(req, SIGN_IN_COOKIE);
    if (!sameOrigin(req) || expected === undefined || !sameSecret(csrf, expected)) {
      logger.warn({ from: address }, 'console: sign-in form without its token (stale page or another site); refused');
      return showSignIn(res, 403, 'The sign-in form expired; please try again.', name);
    }
    const wait = limiter.retryAfterMs(address);
    if (wait > 0) {
      logger.warn({ from: address, retryAfterMs: wait }, 'console: sign-in refused, too many failures');
      return tooMany(res, wait);
    }
    const operator = operators.check(name, password);
    if (operator === null) {
      limiter.failed(address);
      logger.warn({ from: address, operator: name }, 'console: wrong operator name or password');
      return showSignIn(res, 401, 'Wrong operator name or password.', name);
    }
    limiter.succeeded(address);
    startSession(res, operator, req);
    res.redirect(303, '/');
  });
  app.get('/signin/link', (req, res) => {
    const address = addressOf(req);
    const wait = limiter.retryAfterMs(address);
    if (wait > 0) return tooMany(res, wait);
    const token = typeof req.query.token === 'string' ? req.query.token : '';
    const operator = redeemSignInLink(config.signInLinkFile, token);
    if (operator === null) {
      limiter.failed(address);
      logger.warn({ from: address }, 'console: sign-in link unknown, used already or expired');
      return res
        .status(401)
        .type('html')
        .send(noticePage({ nonce: res.locals.nonce as string, title: 'This sign-in link does not work', text: 'A sign-in link works once, for a limited time. Sign in with your password instead.' }));
    }
    startSession(res, operator, req);
    res.redirect(303, '/');
  });

  // ---- everything below needs a session ----
  app.use((req, res, next) => {
    const session = sessionOf(req);
    if (session === null) {
      if (req.method === 'GET' && (req.path === '/' || req.path === '/index.html')) return res.redirect(303, '/signin');
      return res.status(401).json({ error: 'sign in first' });
    }
    (req as SignedInRequest).session = session;
    next();
  });
  // Every state change carries the session's CSRF token and comes from our own pages.
  app.use(express.json({ limit: '4kb' }), express.urlencoded({ extended: false, limit: '4kb' }), (req, res, next) => {
    if (req.method === 'GET' || req.method === 'HEAD') return next();
    const session = (req as SignedInRequest).session;
    const token = req.get('x-csrf-token') ?? (typeof req.body?.csrf === 'string' ? (req.body.csrf as string) : '');
    if (!sameOrigin(req) || !sameSecret(token, session.csrf)) {
      logger.warn({ operator: session.operator, from: addressOf(req), path: req.path }, 'console: action without a valid CSRF token refused');
      return res.status(403).json({ error: 'missing or wrong CSRF token' });
    }
    next();
  });

  app.get(['/', '/index.html'], (req, res) => {
    const session = (req as SignedInRequest).session;
    res.type('html').send(appPage({ operator: session.operator, csrf: session.csrf }));
  });
  app.use('/assets', express.static(PUBLIC_DIR, { index: false, fallthrough: false, etag: false, lastModified: false }));
  app.post('/signout', (req, res) => {
    const session = (req as SignedInRequest).session;
    sessions.end(session.id);
    res.clearCookie(SESSION_COOKIE, { path: '/' });
    logger.info({ operator: session.operator, from: addressOf(req) }, 'console: operator signed out');
    res.redirect(303, '/signin');
  });

  app.get('/api/overview', async (req, res) => {
    res.json({ operator: (req as SignedInRequest).session.operator, ...(await cluster.overview()) });
  });
  app.get('/api/users', async (req, res) => {
    const q = typeof req.query.q === 'string' ? req.query.q.trim().slice(0, 64) : '';
    res.json(await cluster.findUsers(q));
  });
  app.get('/api/series', (_req, res) => {
    res.json({ intervalMs: config.sampleIntervalMs, points: sampler.points });
  });
  app.get('/api/warnings', async (_req, res) => {
    res.json({ warnings: await cluster.warnings() });
  });
  app.get('/api/actions', (_req, res) => {
    res.json({ actions: [...actions].reverse() });
  });

  /** Runs an action, records it either way, and answers its result or its error. */
  const action = (name: string, run: (req: SignedInRequest) => Promise<{ target: string; detail: string; body: object }>) =>
    async (req: Request, res: Response) => {
      const r = req as SignedInRequest;
      let target = String((req.body as Record<string, unknown>)?.user ?? (req.body as Record<string, unknown>)?.name ?? (req.body as Record<string, unknown>)?.url ?? '');
      try {
        const result = await run(r);
        target = result.target;
        record(r, name, target, true, result.detail);
        res.json(result.body);
      } catch (err) {
        const status = err instanceof BadInput || err instanceof AccountError || err instanceof UnknownServiceError ? 400 : err instanceof AdminCallError && err.status === 400 ? 400 : 502;
        record(r, name, target, false, errorMessage(err));
        res.status(status).json({ error: errorMessage(err) });
      }
    };

  app.post(
    '/api/kick',
    action('kick', async (req) => {
      const user = stringField(req.body, 'user', 64);
      const { kicked, servers } = await cluster.kick(/^\d+$/.test(user) ? Number(user) : user, req.session.operator);
      return { target: user, detail: kicked > 0 ? `${kicked} connection(s) on ${servers.join(', ')}` : 'not online', body: { kicked, servers } };
    }),
  );
  app.post(
    '/api/accounts',
    action('account', async (req) => {
      const name = stringField(req.body, 'name', 32);
      const what = stringField(req.body, 'action', 8);
      if (what !== 'disable' && what !== 'enable') throw new BadInput('action must be "disable" or "enable"');
      validateUserName(name);
      const before = await setUserStatus(accounts(), name, what === 'disable' ? UserStatus.DISABLED : UserStatus.ACTIVE);
      const detail = `${what}d (status ${before} -> ${what === 'disable' ? UserStatus.DISABLED : UserStatus.ACTIVE})`;
      return { target: name, detail, body: { name, action: what, before } };
    }),
  );
  app.post(
    '/api/drain',
    action('drain', async (req) => {
      const url = stringField(req.body, 'url', 300);
      const { started, name } = await cluster.drain(url, req.session.operator);
      return { target: name, detail: started ? 'drain started' : 'was already draining', body: { started, name } };
    }),
  );
  app.post(
    '/api/log-level',
    action('log level', async (req) => {
      const url = stringField(req.body, 'url', 300);
      const level = stringField(req.body, 'level', 16);
      if (!(LOG_LEVELS as readonly string[]).includes(level)) throw new BadInput(`level must be one of ${LOG_LEVELS.join(', ')}`);
      const result = await cluster.setLogLevel(url, level, req.session.operator);
      return { target: `${result.kind} ${result.name}`, detail: `${result.before} -> ${result.level}`, body: result };
    }),
  );
  app.use((_req, res) => {
    res.status(404).json({ error: 'not found' });
  });
  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    const own = (err as { status?: unknown }).status;
    const status = typeof own === 'number' && own >= 400 && own < 500 ? own : 500;
    if (status >= 500) logger.error({ err }, 'console request failed');
    res.status(status).json({ error: status >= 500 ? 'internal error (see the console log)' : errorMessage(err) });
  });

  const server = http.createServer(app);
  server.maxConnections = HTTP_MAX_CONNECTIONS;
  server.requestTimeout = HTTP_TIMEOUT_MS;
  server.headersTimeout = HTTP_TIMEOUT_MS;
  const { port } = await listenOn(server, config.httpHost, config.httpPort);
  const host = config.httpHost === '0.0.0.0' ? '127.0.0.1' : config.httpHost.includes(':') ? `[${config.httpHost}]` : config.httpHost;
  const url = `http://${host}:${port}`;
  sampler.start();
  logger.info({ url, operators: operators.count() }, 'console listening');
  return {
    port,
    url,
    async stop(reason = 'console stopping') {
      sampler.stop();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      client.close();
      await pool?.end();
      logger.info({ reason }, 'console stopped');
    },
  };
}

class BadInput extends Error {}

function stringField(body: unknown, key: string, max: number): string {
  const value = (body as Record<string, unknown> | undefined)?.[key];
  if (typeof value !== 'string' || value.trim() === '' || value.length > max) throw new BadInput(`"${key}" must be a non-empty string of at most ${max} characters`);
  return value.trim();
}
