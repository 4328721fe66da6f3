// First thing `npm start` and `npm test` run (plain .mjs: nothing is installed
// or compiled yet): installs the npm dependencies when node_modules is missing
// or does not match package-lock.json (a fresh clone, a pull that changed
// them), so the README's two commands are the whole story on a new machine.
//
//   node_modules missing or stale, package-lock.json in step with package.json  ->  npm ci
//   package.json lists dependencies package-lock.json does not have             ->  npm install
//
// "Stale" compares npm's own record of what it installed (node_modules/.package-lock.json)
// with package-lock.json, package by package; optional packages for other
// platforms are never installed and do not count. Takes a few milliseconds
// when everything is in place.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const readJson = (file) => JSON.parse(readFileSync(file, 'utf8'));

/** The dependency lists of package.json, for comparison with the lockfile's root entry. */
function declared(pkg) {
  const pick = (o) => Object.fromEntries(Object.entries(o ?? {}).sort(([a], [b]) => a.localeCompare(b)));
  return JSON.stringify([pick(pkg.dependencies), pick(pkg.devDependencies), pick(pkg.optionalDependencies)]);
}

/**
 * What the checkout at `root` needs: { state: 'ok' } or
 * { state: 'missing' | 'stale', why, args } with the npm arguments that fix it.
 */
export function dependencyState(root) {
  const pkg = readJson(join(root, 'package.json'));
  const lockFile = join(root, 'package-lock.json');
  const lock = existsSync(lockFile) ? readJson(lockFile) : null;
  const inStep = lock !== null && declared(pkg) === declared(lock.packages?.[''] ?? {});
  const args = inStep ? ['ci', '--no-audit', '--no-fund', '--prefer-offline'] : ['install', '--no-audit', '--no-fund', '--prefer-offline'];
  const installed = join(root, 'node_modules', '.package-lock.json');
  if (!existsSync(installed)) return { state: 'missing', why: 'node_modules is missing (a fresh clone?)', args };
  if (lock === null) return { state: 'stale', why: 'there is no package-lock.json', args };
  if (!inStep) return { state: 'stale', why: 'package.json lists dependencies that package-lock.json does not have', args };
  const have = readJson(installed).packages ?? {};
  for (const [path, entry] of Object.entries(lock.packages ?? {})) {
    if (path === '' || entry.link) continue;
    const got = have[path];
    if (got === undefined) {
      if (entry.optional || entry.devOptional) continue;
      return { state: 'stale', why: `${path.replace(/^.*node_modules\//, '')} is not installed`, args };
    }
    if (got.version !== entry.version) {
      return { state: 'stale', why: `${path.replace(/^.*node_modules\//, '')} is ${got.version}, package-lock.json wants ${entry.version}`, args };
    }
  }
  return { state: 'ok' };
}

function main() {
  const root = join(dirname(fileURLToPath(import.meta.url)), '..');
  const need = dependencyState(root);
  if (need.state === 'ok') return;
  console.error(`[deps] ${need.why}: running npm ${need.args.join(' ')}`);
  // Under `npm start` npm says where its own CLI is; otherwise npm from the PATH.
  const npmCli = process.env.npm_execpath;
  const [command, args] = npmCli && existsSync(npmCli) ? [process.execPath, [npmCli, ...need.args]] : ['npm', need.args];
  const result = spawnSync(command, args, { cwd: root, stdio: 'inherit' });
  if (result.status !== 0) {
    console.error(
      `[deps] npm ${need.args[0]} failed (${result.error ? result.error.message : `exit code ${result.status}`}). ` +
        `It needs the npm registry; fix that and run "npm ${need.args[0]}" in ${root}, then try again.`,
    );
    process.exit(1);
  }
  const after = dependencyState(root);
  if (after.state !== 'ok') {
    console.error(`[deps] still not in place after npm ${need.args[0]}: ${after.why}`);
    process.exit(1);
  }
  console.error('[deps] dependencies installed');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) main();
