/**
 * `npm run bench:msfs`: upload and download throughput of msfs. Starts msfs as
 * its own process on free loopback ports (disk storage in a temporary folder,
 * deleted afterwards), uploads --count pictures of --size bytes the way the
 * Android client does (one multipart POST per connection), with --concurrency
 * uploads at once, then downloads each one by its URL, and prints one JSON line:
 *   {"upload":{"files":..,"mb_per_s":..,"files_per_s":..,"p50_ms":..,"p99_ms":..},"download":{...},...}
 *
 *   --size BYTES        picture size (default 262144)
 *   --count N           pictures (default 400)
 *   --concurrency N     requests at once (default 8)
 *
 * The per-address upload limits are raised for the run (everything comes from
 * 127.0.0.1); the size limit, type and content checks stay on.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { freeLoopbackPort } from './infra/system';
import { percentile, round, startServiceProcess } from './bench/service-process';

const BOUNDARY = '---------7d4a6d158c9';

function post(port: number, body: Buffer): Promise<{ url: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port, method: 'POST', path: '/', agent: false, headers: { 'content-type': `multipart/form-data; boundary=${BOUNDARY}`, 'content-length': body.length } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const reply = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { error_code: number; url: string };
          if (reply.error_code !== 0) reject(new Error(`upload refused with error_code ${reply.error_code}`));
          else resolve(reply);
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

function get(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent: false }, (res) => {
        let n = 0;
        res.on('data', (c: Buffer) => (n += c.length));
        res.on('end', () => (res.statusCode === 200 ? resolve(n) : reject(new Error(`GET ${url}: ${res.statusCode}`))));
      })
      .on('error', reject);
  });
}

async function runPool<T>(count: number, concurrency: number, task: (i: number) => Promise<T>): Promise<{ results: T[]; seconds: number; latencies: number[] }> {
  const results: T[] = new Array(count);
  const latencies: number[] = [];
  let next = 0;
  const started = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        const i = next++;
        const t0 = process.hrtime.bigint();
        results[i] = await task(i);
        latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
      }
    }),
  );
  return { results, seconds: Number(process.hrtime.bigint() - started) / 1e9, latencies: latencies.sort((a, b) => a - b) };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { size: { type: 'string' }, count: { type: 'string' }, concurrency: { type: 'string' } }, strict: true });
  const size = Number(values.size ?? 262_144);
  const count = Number(values.count ?? 400);
  const concurrency = Number(values.concurrency ?? 8);
  if (!(Number.isInteger(size) && size >= 64 && size <= 10_000_000)) throw new Error('--size must be 64 to 10000000 bytes');
  if (!(Number.isInteger(count) && count >= 1 && count <= 100_000)) throw new Error('--count must be 1 to 100000');
  if (!(Number.isInteger(concurrency) && concurrency >= 1 && concurrency <= 256)) throw new Error('--concurrency must be 1 to 256');
  const dir = await mkdtemp(join(tmpdir(), 'tt-bench-msfs-'));
  const [port, internalPort] = [await freeLoopbackPort(), await freeLoopbackPort()];
  const msfs = await startServiceProcess({
    script: 'dist/services/msfs/main.js',
    envPrefix: 'TT_MSFS',
    role: 'msfs',
    env: {
      TT_MSFS_LISTEN_PORT: String(port),
      TT_MSFS_INTERNAL_PORT: String(internalPort),
      TT_MSFS_BASE_DIR: join(dir, 'files'),
      TT_MSFS_COUNT_FILE: join(dir, 'count'),
      TT_MSFS_UPLOADS_PER_MINUTE_PER_ADDRESS: String(count * 2),
      TT_MSFS_CONCURRENT_UPLOADS_PER_ADDRESS: String(concurrency),
      TT_MSFS_MAX_UPLOAD_BYTES: String(Math.max(size + 4096, 10 * 1024 * 1024)),
      TT_MSFS_LOG_LEVEL: 'warn',
    },
    waitFor: { host: '127.0.0.1', port },
  });
  try {
    const picture = randomBytes(size);
    Buffer.from('89504e470d0a1a0a', 'hex').copy(picture, 0);
    const body = Buffer.concat([
      Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: form-data;name="file0";filename="bench_640x480.png"\r\nContent-Type:application/octet-stream\r\n\r\n`),
      picture,
      Buffer.from(`\r\n--${BOUNDARY}--\r\n`),
    ]);
    const up = await runPool(count, concurrency, () => post(port, body));
    const down = await runPool(count, concurrency, (i) => get(up.results[i].url));
    const total = size * count;
    const summary = (r: { seconds: number; latencies: number[] }) => ({
      files: count,
      seconds: round(r.seconds, 2),
      mb_per_s: round(total / r.seconds / 1e6),
      files_per_s: round(count / r.seconds),
      p50_ms: round(percentile(r.latencies, 50), 2),
      p99_ms: round(percentile(r.latencies, 99), 2),
    });
    process.stdout.write(
      JSON.stringify({ bench: 'msfs', storage: 'disk', size_bytes: size, concurrency, upload: summary(up), download: summary(down), downloaded_bytes: down.results.reduce((a, b) => a + b, 0) }) + '\n',
    );
  } finally {
    await msfs.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  process.stderr.write(`bench:msfs failed: ${(err as Error).message}\n`);
  process.exit(1);
});
