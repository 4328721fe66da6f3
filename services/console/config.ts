/**
 * Web console configuration (env prefix TT_CONSOLE). The console signs its
 * operators in with a password and talks to every service's admin endpoint
 * with an "admin" cluster certificate.
 */
import { join, relative } from 'node:path';
import { defineConfig, field, type ConfigOf } from '../../lib/config';
import { internalTlsSpec } from '../../lib/internal-tls';
import { projectRoot, runDir } from '../../lib/paths';

const run = relative(projectRoot, runDir) || '.';

const spec = {
  logLevel: field.logLevel(),
  httpHost: field.host('127.0.0.1', 'address of the console (HTTP); internal: anyone who reaches it can try passwords'),
  httpPort: field.port(8190, 'console port'),
  loginServers: field.hostPortList([{ host: '127.0.0.1', port: 8181 }], 'admin endpoints of the login servers (the msg servers are found there)', { min: 1 }),
  routeServers: field.hostPortList([{ host: '127.0.0.1', port: 8281 }], 'admin endpoints of the route servers'),
  dbProxies: field.hostPortList([{ host: '127.0.0.1', port: 10681 }], 'admin endpoints of the db-proxies'),
  mysqlUrl: field.url('mysql://teamtalk@127.0.0.1:33306/teamtalk', 'database of the accounts (disable / enable)', {
    protocols: ['mysql', 'mariadb'],
    aliases: ['MYSQL_URL'],
  }),
  operatorsFile: field.file(join(run, 'credentials.json'), 'JSON file whose "consoleOperators" list holds {"name", "password"} of each operator (npm start creates one, "admin"; keep it mode 600)'),
  signInLinkFile: field.file(join(run, 'console-sign-in.json'), 'one-time sign-in links issued by npm start (each works once, until it expires)'),
  sessionIdleTimeoutMs: field.int(30 * 60_000, 'a session unused for this long is signed out', { min: 1_000 }),
  sessionMaxAgeMs: field.int(12 * 3_600_000, 'a session ends this long after sign-in, used or not', { min: 1_000 }),
  maxSessions: field.int(100, 'sessions at once; signing in beyond it ends the oldest', { min: 1 }),
  signInMaxFailures: field.int(5, 'wrong sign-ins per client address within signInWindowMs; more are refused until the window ends', { min: 1 }),
  signInMaxFailuresTotal: field.int(50, 'wrong sign-ins from all addresses together within signInWindowMs; more are refused for everyone', { min: 1 }),
  signInWindowMs: field.int(15 * 60_000, 'sign-in failure counting window', { min: 1_000 }),
  sampleIntervalMs: field.int(2_000, 'how often the message-rate and store-latency charts take a sample', { min: 100 }),
  adminTimeoutMs: field.int(3_000, 'how long a service\'s admin endpoint may take to answer', { min: 100 }),
  ...internalTlsSpec('console'),
};

export const consoleConfig = defineConfig('console', 'TT_CONSOLE', spec);
export type ConsoleConfig = ConfigOf<typeof spec>;
