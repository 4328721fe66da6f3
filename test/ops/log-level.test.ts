/**
 * The log level of a running service, as an operator changes it: through the
 * admin endpoint (the console does this) and with SIGHUP after editing the
 * config file. A real service process (the route server), each change logged
 * with who made it.
 */
import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freeLoopbackPort } from '../../scripts/infra/system';
import { adminClient, adminGet } from '../helpers/admin';
import { runScript } from '../helpers/npm-start';
import { tlsSettings } from '../helpers/tls';
import { waitFor } from '../helpers/wait';

t.test('log level: admin endpoint and SIGHUP, each change logged with who made it', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tt-loglevel-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const [port, adminPort] = await Promise.all([freeLoopbackPort(), freeLoopbackPort()]);
  const file = join(dir, 'route.json');
  const tls = tlsSettings('route-server');
  const writeConfig = (logLevel: string) =>
    writeFileSync(file, JSON.stringify({ logLevel, listenPort: port, adminPort, tlsCaFile: tls.tlsCaFile, tlsCertFile: tls.tlsCertFile, tlsKeyFile: tls.tlsKeyFile }));
  writeConfig('info');
  const route = runScript('dist/services/route-server/main.js', { ...process.env, TT_ROUTE_CONFIG: file });
  t.teardown(() => {
    if (route.proc.exitCode === null) route.proc.kill('SIGKILL');
  });
  const url = `https://127.0.0.1:${adminPort}`;
  const level = async () => (await adminGet<{ level: string }>(url, 'route-server', '/log-level')).level;
  await waitFor(async () => (await level().catch(() => '')) === 'info', 10_000, 'the route server up');

  await adminClient().send({ url, role: 'route-server' }, 'PUT', '/log-level', { level: 'warn' }, 'night-shift');
  t.equal(await level(), 'warn', 'changed through the admin endpoint');
  await waitFor(() => /"msg":"log level changed"/.test(route.out.text) && /"by":"night-shift"/.test(route.out.text), 5000, 'logged with the operator');

  writeConfig('debug');
  route.proc.kill('SIGHUP');
  await waitFor(async () => (await level()) === 'debug', 5000, 'SIGHUP applied the file');
  await waitFor(() => /"by":"SIGHUP"/.test(route.out.text), 5000, 'logged as SIGHUP');
  t.match(route.out.text, /"from":"warn","to":"debug","by":"SIGHUP"/, 'from the level set through the endpoint to the file\'s');

  route.proc.kill('SIGTERM');
  t.equal(await route.exited, 0);
});
