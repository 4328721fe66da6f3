/**
 * `npm test`: provisions MariaDB + Redis (MYSQL_URL / REDIS_URL, or local ones
 * under .run/), runs every compiled test file with tap (code coverage on: the
 * summary is printed), and ends with the line "N passed, N failed" counted from
 * tap's own results.
 *
 *   npm test                      all tests: the unit tier, then everything else
 *   npm test -- dist/test/pdu     only the files under a folder (or given files)
 *   npm run test:unit             the unit tier only (test/unit/): pure logic and
 *                                 handlers over in-memory streams, no MariaDB,
 *                                 no Redis, no ports; seconds
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { parseArgs } from 'node:util';
import { projectRoot, runDir } from '../lib/paths';
import { prepareTestPki, TEST_PKI_DIR } from '../test/helpers/tls';
import { provisionStorage, type Storage } from './infra/provision';
import { formatSummary, summarizeTap } from './test-summary';

/** The unit tier: needs neither storage nor the network. */
const UNIT_DIR = 'dist/test/unit';

function testFiles(paths: string[]): string[] {
  const out: string[] = [];
  const walk = (p: string) => {
    if (statSync(p).isDirectory()) {
      for (const entry of readdirSync(p).sort()) walk(join(p, entry));
    } else if (p.endsWith('.test.js')) {
      out.push(relative(projectRoot, p));
    }
  };
  for (const p of paths) walk(join(projectRoot, p));
  return out;
}

async function main(): Promise<number> {
  const log = (line: string) => process.stderr.write(`[test] ${line}\n`);
  const { values, positionals } = parseArgs({ options: { unit: { type: 'boolean' } }, allowPositionals: true, strict: true });
  const unitOnly = values.unit === true;
  const files = testFiles(unitOnly ? [UNIT_DIR] : positionals.length > 0 ? positionals : [UNIT_DIR, 'dist/test']);
  const unique = [...new Set(files)];
  if (unique.length === 0) {
    log('no test files found (did the build run?)');
    return 1;
  }
  const needsStorage = unique.some((f) => !f.startsWith(`${UNIT_DIR}/`));
  let storage: Storage | null = null;
  if (needsStorage) {
    storage = await provisionStorage({ database: 'tt_test', log });
    prepareTestPki();
  }
  let stopping = false;
  const stopStorage = async () => {
    if (stopping) return;
    stopping = true;
    await storage?.stop();
  };
  process.once('SIGINT', () => void stopStorage().then(() => process.exit(130)));
  process.once('SIGTERM', () => void stopStorage().then(() => process.exit(143)));

  // Per run: several test runs may share .run/ (e.g. two terminals).
  const interactive = process.stdout.isTTY === true;
  const rawTap = join(runDir, `test-run-${process.pid}.tap`);
  const tapBin = join(projectRoot, 'node_modules', '.bin', 'tap');
  const storageEnv = storage ? { MYSQL_URL: storage.mysqlAdminUrl, REDIS_URL: storage.redisUrl, TT_TEST_PKI_DIR: TEST_PKI_DIR } : {};
  const code = await new Promise<number>((resolve) => {
    const child = spawn(
      tapBin,
      [
        // Coverage of the compiled code, mapped to the sources; a summary at the end.
        '--allow-incomplete-coverage',
        '--coverage-report=text-summary',
        '--timeout=180',
        '--jobs=2',
        // A terminal gets tap's live view; logs (CI) get a plain per-file summary printed below.
        `--reporter=${interactive ? 'base' : 'silent'}`,
        `--output-file=${rawTap}`,
        ...unique,
      ],
      { cwd: projectRoot, stdio: 'inherit', env: { ...process.env, ...storageEnv, TT_TEST: '1' } },
    );
    child.on('exit', (c, signal) => resolve(c ?? (signal ? 1 : 0)));
  });
  await stopStorage();
  const tap = existsSync(rawTap) ? readFileSync(rawTap, 'utf8') : '';
  rmSync(rawTap, { force: true });
  const summary = summarizeTap(tap);
  if (!interactive) process.stdout.write(formatSummary(summary));
  if (summary.todo + summary.skipped > 0) log(`${summary.todo} todo, ${summary.skipped} skipped`);
  // tap can fail a run without a failing point (e.g. a file that crashed before its first test).
  const failed = summary.failed === 0 && (code !== 0 || tap === '') ? 1 : summary.failed;
  process.stdout.write(`${summary.passed} passed, ${failed} failed\n`);
  return code !== 0 || failed > 0 ? 1 : 0;
}

if (require.main === module) {
  main().then(
    (code) => process.exit(code),
    (err) => {
      process.stderr.write(`[test] ${err instanceof Error ? err.message : String(err)}\n`);
      process.stdout.write('0 passed, 1 failed\n');
      process.exit(1);
    },
  );
}
