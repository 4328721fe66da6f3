/**
 * `npm test`: provisions MariaDB + Redis (MYSQL_URL / REDIS_URL, or local ones
 * under .run/), runs every compiled test file with tap, and ends with the line
 * "N passed, N failed" counted from tap's own results.
 *
 *   npm test                      all tests
 *   npm test -- dist/test/pdu     only the files under a folder (or given files)
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { projectRoot, runDir } from '../lib/paths';
import { prepareTestPki, TEST_PKI_DIR } from '../test/helpers/tls';
import { provisionStorage } from './infra/provision';

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

/** Counts test points in raw TAP: every "ok"/"not ok" line that is not a subtest's summary. */
export function countResults(tap: string): { passed: number; failed: number; todo: number; skipped: number } {
  const lines = tap.split('\n');
  let passed = 0;
  let failed = 0;
  let todo = 0;
  let skipped = 0;
  for (let i = 0; i < lines.length; i++) {
    const m = /^(\s*)(not ok|ok) \d+/.exec(lines[i]);
    if (!m) continue;
    // A subtest's summary point is followed by "# Subtest" lines before it, i.e. its
    // children sit above it, indented deeper: count only points with no children.
    const indent = m[1].length;
    let j = i - 1;
    while (j >= 0 && lines[j].trim() === '') j--;
    const prev = j >= 0 ? lines[j] : '';
    const prevIndent = prev.length - prev.trimStart().length;
    const closesSubtest = prevIndent > indent && /^\s*(1\.\.\d+|# )/.test(prev);
    if (closesSubtest) {
      if (m[2] === 'not ok' && !/# (TODO|SKIP)/.test(lines[i])) {
        // A failing subtest without failing children (e.g. it threw or timed out) still counts.
        if (!hasFailingChild(lines, i, indent)) failed++;
      }
      continue;
    }
    if (/# TODO/.test(lines[i])) todo++;
    else if (/# SKIP/.test(lines[i])) skipped++;
    else if (m[2] === 'ok') passed++;
    else failed++;
  }
  return { passed, failed, todo, skipped };
}

/** Plain-text report for logs: one line per test file, plus the details of every failure. */
export function summarize(tap: string): string {
  const lines = tap.split('\n');
  const out: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    const top = /^(not ok|ok) \d+ - (\S+)(.*)$/.exec(line);
    if (top) {
      out.push(`${top[1] === 'ok' ? 'ok  ' : 'FAIL'} ${top[2]}${top[3]}`);
      continue;
    }
    const failed = /^(\s+)not ok \d+ - (.*)$/.exec(line);
    if (failed && !/# (TODO|SKIP)/.test(line)) {
      out.push(`  not ok: ${failed[2]}`);
      // The YAML diagnostics block that follows the failing point.
      if (lines[i + 1]?.trim() === '---') {
        const indent = lines[i + 1].indexOf('---');
        for (let j = i + 2; j < lines.length && lines[j].trim() !== '...'; j++) out.push(`    ${lines[j].slice(indent)}`);
      }
    }
  }
  return out.join('\n') + '\n';
}

function hasFailingChild(lines: string[], summaryIndex: number, indent: number): boolean {
  for (let k = summaryIndex - 1; k >= 0; k--) {
    const line = lines[k];
    if (line.trim() === '') continue;
    const lineIndent = line.length - line.trimStart().length;
    if (lineIndent <= indent) return false;
    if (/^\s*not ok \d+/.test(line) && !/# (TODO|SKIP)/.test(line)) return true;
  }
  return false;
}

async function main(): Promise<number> {
  const log = (line: string) => process.stderr.write(`[test] ${line}\n`);
  const args = process.argv.slice(2);
  const files = testFiles(args.length > 0 ? args : ['dist/test']);
  if (files.length === 0) {
    log('no test files found (did the build run?)');
    return 1;
  }
  const storage = await provisionStorage({ database: 'tt_test', log });
  prepareTestPki();
  let stopping = false;
  const stopStorage = async () => {
    if (stopping) return;
    stopping = true;
    await storage.stop();
  };
  process.once('SIGINT', () => void stopStorage().then(() => process.exit(130)));
  process.once('SIGTERM', () => void stopStorage().then(() => process.exit(143)));

  // Per run: several test runs may share .run/ (e.g. two terminals).
  const interactive = process.stdout.isTTY === true;
  const rawTap = join(runDir, `test-run-${process.pid}.tap`);
  const tapBin = join(projectRoot, 'node_modules', '.bin', 'tap');
  const code = await new Promise<number>((resolve) => {
    const child = spawn(
      tapBin,
      // A terminal gets tap's live view; logs (CI) get a plain per-file summary printed below.
      ['--disable-coverage', '--timeout=180', '--jobs=2', `--reporter=${interactive ? 'base' : 'silent'}`, `--output-file=${rawTap}`, ...files],
      {
        cwd: projectRoot,
        stdio: 'inherit',
        env: { ...process.env, MYSQL_URL: storage.mysqlAdminUrl, REDIS_URL: storage.redisUrl, TT_TEST: '1', TT_TEST_PKI_DIR: TEST_PKI_DIR },
      },
    );
    child.on('exit', (c, signal) => resolve(c ?? (signal ? 1 : 0)));
  });
  await stopStorage();
  const counts = existsSync(rawTap) ? countResults(readFileSync(rawTap, 'utf8')) : { passed: 0, failed: 1, todo: 0, skipped: 0 };
  if (!interactive && existsSync(rawTap)) process.stdout.write(summarize(readFileSync(rawTap, 'utf8')));
  rmSync(rawTap, { force: true });
  if (counts.todo + counts.skipped > 0) log(`${counts.todo} todo, ${counts.skipped} skipped`);
  // tap can fail a run without a failing point (e.g. a file that crashed before its first test).
  const failed = counts.failed === 0 && code !== 0 ? 1 : counts.failed;
  process.stdout.write(`${counts.passed} passed, ${failed} failed\n`);
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
