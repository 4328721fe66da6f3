/**
 * A file server on free ports, a fake msg server on its internal port (mutual
 * TLS with a msg-server certificate), and raw PDU peers that send exact bytes
 * and see exactly what comes back (for the vectors of files.md §5.2-§5.3).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import type { Test } from 'tap';
import { FrameDecoder, type Pdu } from '../../pdu/frame';
import { dialInternal } from '../../lib/internal-tls';
import { createLogger } from '../../lib/log';
import { fileServerConfig, type FileServerConfig } from '../../services/file-server/config';
import { startFileServer, type RunningFileServer } from '../../services/file-server/file-server';
import { testIdentity, tlsSettings } from '../helpers/tls';

export const VECTOR_TASK = '5f2c1a9e-3b4d-4e8f-9a1b-2c3d4e5f6a7b';

export async function startTestFileServer(t: Test, overrides: Partial<FileServerConfig> = {}): Promise<{ fs: RunningFileServer; config: FileServerConfig }> {
  const dir = await mkdtemp(join(tmpdir(), 'tt-file-server-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const config = fileServerConfig.load({
    env: {},
    overrides: { clientListenPort: 0, internalListenPort: 0, offlineDir: join(dir, 'offline_file'), ...tlsSettings('file-server'), ...overrides },
  });
  const fs = await startFileServer(config, createLogger('file-server', process.env.TT_TEST_LOG ?? 'silent'));
  t.teardown(() => fs.stop('test over'));
  return { fs, config };
}

/** A connection that sends raw frames and hands out every frame received, in order. */
export class RawPeer {
  private readonly frames: Pdu[] = [];
  private waiting: ((pdu: Pdu | null) => void) | null = null;
  private isClosed = false;
  readonly closed: Promise<void>;

  constructor(readonly socket: Duplex) {
    const decoder = new FrameDecoder(16 * 1024 * 1024);
    socket.on('data', (chunk: Buffer) => {
      decoder.push(chunk, (pdu) => {
        const copy = { ...pdu, frame: Buffer.from(pdu.frame), body: Buffer.from(pdu.body) };
        if (this.waiting !== null) {
          const w = this.waiting;
          this.waiting = null;
          w(copy);
        } else this.frames.push(copy);
      });
    });
    socket.on('error', () => {});
    this.closed = new Promise((resolve) =>
      socket.once('close', () => {
        this.isClosed = true;
        this.waiting?.(null);
        this.waiting = null;
        resolve();
      }),
    );
  }

  static async client(port: number): Promise<RawPeer> {
    const socket = net.connect({ host: '127.0.0.1', port });
    await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    return new RawPeer(socket);
  }

  static async msgServer(port: number): Promise<RawPeer> {
    return new RawPeer(await dialInternal(testIdentity('msg-server'), '127.0.0.1', port, 'file-server'));
  }

  send(frame: Buffer | string): void {
    this.socket.write(typeof frame === 'string' ? Buffer.from(frame, 'hex') : frame);
  }

  /** The next frame, or null when the connection closed first. */
  next(timeoutMs = 5000): Promise<Pdu | null> {
    const ready = this.frames.shift();
    if (ready !== undefined) return Promise.resolve(ready);
    if (this.isClosed) return Promise.resolve(null);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting = null;
        reject(new Error(`no frame within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiting = (pdu) => {
        clearTimeout(timer);
        resolve(pdu);
      };
    });
  }

  /** Resolves true when the peer closes within timeoutMs having sent nothing more. */
  async closesSilently(timeoutMs = 5000): Promise<boolean> {
    const got = await this.next(timeoutMs).catch(() => 'timeout' as const);
    return got === null;
  }

  close(): void {
    this.socket.destroy();
  }
}

/** A vector's hex with the vector task id replaced by `task` (both 36 characters: lengths stay). */
export function withTask(hex: string, task: string): string {
  return hex.replace(Buffer.from(VECTOR_TASK).toString('hex'), Buffer.from(task).toString('hex'));
}
