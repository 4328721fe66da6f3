/**
 * A first run that just works: from a fresh copy of the repository (no
 * node_modules, no dist, no .run), the README's `npm start` installs the
 * dependencies, builds and brings the cluster up; `npm test` after a dependency
 * went stale installs again and runs. And the check itself
 * (scripts/ensure-deps.mjs), case by case.
 */
import t from 'tap';
import { spawn, execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { projectRoot } from '../../lib/paths';
import { collectOutput, prepareClusterRun } from '../helpers/npm-start';
import { waitFor } from '../helpers/wait';

// Two real `npm ci` runs and two builds of the whole project: minutes on a shared 2-core machine.
t.setTimeout(900_000);

type State = { state: 'ok' } | { state: 'missing' | 'stale'; why: string; args: string[] };
// A real dynamic import (the compiled CommonJS would turn import() into require()).
const importEsm = new Function('url', 'return import(url)') as (url: string) => Promise<{ dependencyState(root: string): State }>;

function fakeCheckout(files: Record<string, unknown>): string {
  const dir = mkdtempSync(join(tmpdir(), 'tt-deps-'));
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), JSON.stringify(content));
  }
  return dir;
}

t.test('the dependency check, case by case', async (t) => {
  const { dependencyState } = await importEsm(pathToFileURL(join(projectRoot, 'scripts', 'ensure-deps.mjs')).href);
  const pkg = { name: 'x', dependencies: { a: '^1.0.0' }, devDependencies: { b: '^2.0.0' } };
  const lock = {
    packages: {
      '': { name: 'x', dependencies: { a: '^1.0.0' }, devDependencies: { b: '^2.0.0' } },
      'node_modules/a': { version: '1.2.0' },
      'node_modules/b': { version: '2.1.0', dev: true },
      'node_modules/b-darwin': { version: '2.1.0', dev: true, optional: true },
    },
  };
  const installed = { packages: { 'node_modules/a': { version: '1.2.0' }, 'node_modules/b': { version: '2.1.0' } } };
  const dirs: string[] = [];
  t.teardown(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
  const check = (files: Record<string, unknown>) => {
    const dir = fakeCheckout(files);
    dirs.push(dir);
    return dependencyState(dir);
  };

  t.match(check({ 'package.json': pkg, 'package-lock.json': lock }), { state: 'missing', args: ['ci'] }, 'no node_modules: npm ci');
  t.same(check({ 'package.json': pkg, 'package-lock.json': lock, 'node_modules/.package-lock.json': installed }), { state: 'ok' }, 'all in place (the other platform\'s optional package does not count)');
  const older = { packages: { ...installed.packages, 'node_modules/a': { version: '1.1.0' } } };
  t.match(check({ 'package.json': pkg, 'package-lock.json': lock, 'node_modules/.package-lock.json': older }), { state: 'stale', why: /a is 1\.1\.0, package-lock\.json wants 1\.2\.0/, args: ['ci'] }, 'an old version: npm ci');
  const without = { packages: { 'node_modules/a': { version: '1.2.0' } } };
  t.match(check({ 'package.json': pkg, 'package-lock.json': lock, 'node_modules/.package-lock.json': without }), { state: 'stale', why: /b is not installed/ }, 'a missing package');
  const added = { ...pkg, dependencies: { a: '^1.0.0', c: '^3.0.0' } };
  t.match(check({ 'package.json': added, 'package-lock.json': lock, 'node_modules/.package-lock.json': installed }), { state: 'stale', args: ['install'] }, 'package.json ahead of the lockfile: npm install');
  t.same(dependencyState(projectRoot), { state: 'ok' }, 'this checkout is in place');
});

/** The repository's files as a fresh clone has them (tracked and new ones; nothing ignored: no node_modules, dist, .run). */
function freshCopy(): string {
  const dir = mkdtempSync(join(tmpdir(), 'tt-clone-'));
  const files = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: projectRoot, encoding: 'utf8' }).split('\0').filter(Boolean);
  for (const file of files) {
    if (!existsSync(join(projectRoot, file))) continue; // deleted in the working tree
    mkdirSync(dirname(join(dir, file)), { recursive: true });
    copyFileSync(join(projectRoot, file), join(dir, file));
  }
  return dir;
}

/** `npm ARGS` in its own process group, as a terminal runs it (Ctrl-C reaches the whole group). */
function npm(dir: string, args: string[], env: NodeJS.ProcessEnv) {
  return collectOutput(spawn('npm', args, { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true }));
}

t.test('from a fresh copy, npm start and npm test are the whole story', async (t) => {
  const dir = freshCopy();
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  t.notOk(existsSync(join(dir, 'node_modules')), 'no node_modules in the copy');
  const run = await prepareClusterRun(t, 2);
  const env: NodeJS.ProcessEnv = { ...run.env, TT_RUN_DIR: join(dir, '.run') };
  delete env.TT_TEST_PKI_DIR;

  const start = npm(dir, ['start'], env);
  t.teardown(() => {
    if (start.proc.exitCode === null && start.proc.signalCode === null) process.kill(-(start.proc.pid as number), 'SIGKILL');
  });
  await waitFor(() => start.out.text.includes('TeamTalk cluster is up') || start.proc.exitCode !== null, 300_000, 'the banner');
  t.match(start.out.text, /\[deps\] node_modules is missing \(a fresh clone\?\): running npm ci/, 'npm start installs the dependencies first');
  t.match(start.out.text, /\[deps\] dependencies installed/);
  t.match(start.out.text, /TeamTalk cluster is up/, 'then builds and starts the cluster');
  // Ctrl-C in a terminal: SIGINT to the foreground process group.
  process.kill(-(start.proc.pid as number), 'SIGINT');
  await start.exited;
  t.match(start.out.text, /\[start\] stopped/, 'Ctrl-C stops it');

  // A dependency goes stale (as after a pull that changed package-lock.json): npm test installs again, then runs.
  const installedFile = join(dir, 'node_modules', '.package-lock.json');
  const installed = JSON.parse(readFileSync(installedFile, 'utf8')) as { packages: Record<string, { version: string }> };
  installed.packages['node_modules/pino'].version = '0.0.1';
  writeFileSync(installedFile, JSON.stringify(installed));
  const test = npm(dir, ['test', '--', 'dist/test/pdu/frame.test.js'], env);
  t.equal(await test.exited, 0, 'npm test passes');
  t.match(test.out.text, /\[deps\] pino is 0\.0\.1, package-lock\.json wants \S+: running npm ci/, 'after installing what was stale');
  t.match(test.out.text.trimEnd().split('\n').pop() ?? '', /^\d+ passed, 0 failed$/, 'and ends with its count');
});
