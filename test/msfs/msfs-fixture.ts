/**
 * An msfs on free ports with its own storage folder, and the raw HTTP helpers
 * the tests use to send exactly what TeamTalk clients send.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Test } from 'tap';
import { createLogger } from '../../lib/log';
import { msfsConfig, type MsfsConfig } from '../../services/msfs/config';
import { startMsfs, type RunningMsfs } from '../../services/msfs/msfs';
import { tlsSettings } from '../helpers/tls';

export interface MsfsFixture {
  msfs: RunningMsfs;
  config: MsfsConfig;
  dir: string;
}

export async function startTestMsfs(t: Test, overrides: Partial<MsfsConfig> = {}): Promise<MsfsFixture> {
  const dir = await mkdtemp(join(tmpdir(), 'tt-msfs-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const config = msfsConfig.load({
    env: {},
    overrides: {
      listenPort: 0,
      internalPort: 0,
      baseDir: join(dir, 'files'),
      countFile: join(dir, 'file-count'),
      s3TempDir: join(dir, 'incoming'),
      ...tlsSettings('msfs'),
      ...overrides,
    },
  });
  const msfs = await startMsfs(config, createLogger('msfs', process.env.TT_TEST_LOG ?? 'silent'));
  t.teardown(() => msfs.stop('test over'));
  return { msfs, config, dir };
}

export interface RawAnswer {
  /** Everything received until the server closed. */
  raw: Buffer;
  status: number;
  headers: Map<string, string>;
  /** Header lines as sent (exact text). */
  headerLines: string[];
  body: Buffer;
}

/** Sends `request` as is on a new connection and reads until the server closes it. */
export function rawHttp(port: number, request: Buffer | string, host = '127.0.0.1'): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port });
    const chunks: Buffer[] = [];
    socket.on('data', (d) => chunks.push(d));
    socket.once('error', reject);
    socket.once('close', () => {
      const raw = Buffer.concat(chunks);
      const split = raw.indexOf('\r\n\r\n');
      const head = split < 0 ? raw.toString('latin1') : raw.subarray(0, split).toString('latin1');
      const lines = head.split('\r\n');
      const headers = new Map<string, string>();
      for (const line of lines.slice(1)) {
        const i = line.indexOf(':');
        if (i > 0) headers.set(line.slice(0, i).toLowerCase(), line.slice(i + 1).trim());
      }
      resolve({
        raw,
        status: Number(/^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '')?.[1] ?? 0),
        headers,
        headerLines: lines,
        body: split < 0 ? Buffer.alloc(0) : raw.subarray(split + 4),
      });
    });
    socket.write(request);
  });
}

/** The multipart body of one file part the way the Android client writes it (files.md §2.1). */
export function androidUpload(fileName: string, data: Buffer, hostHeader: string, options: { contentLength?: number } = {}): Buffer {
  const boundary = '---------7d4a6d158c9';
  const body = Buffer.concat([
    Buffer.from(`--${boundary}\r\nContent-Disposition: form-data;name="file0";filename="${fileName}"\r\nContent-Type:application/octet-stream\r\n\r\n`, 'latin1'),
    data,
    Buffer.from(`\r\n--${boundary}--\r\n`, 'latin1'),
  ]);
  const head =
    `POST / HTTP/1.1\r\nHost: ${hostHeader}\r\nContent-Type: multipart/form-data; boundary=${boundary}\r\n` +
    `Content-Length: ${options.contentLength ?? body.length}\r\n\r\n`;
  return Buffer.concat([Buffer.from(head, 'latin1'), body]);
}

/** A small valid PNG (1x1, opaque): what a client's picture starts like. */
export const PNG_1X1 = Buffer.from(
  '89504e470d0a1a0a0000000d4948445200000001000000010806000000' + '1f15c4890000000d49444154789c6360f8cf00000301010018dd8db40000000049454e44ae426082',
  'hex',
);

/** Bytes that start like a PNG, of any length (for size tests). */
export function pngOfSize(bytes: number): Buffer {
  const out = Buffer.alloc(bytes, 0x5a);
  PNG_1X1.copy(out, 0, 0, Math.min(bytes, PNG_1X1.length));
  return out;
}

export interface UploadReply {
  error_code: number;
  error_msg: string;
  path?: string;
  url?: string;
}

export function parseReply(answer: RawAnswer): UploadReply {
  return JSON.parse(answer.body.toString('utf8')) as UploadReply;
}
