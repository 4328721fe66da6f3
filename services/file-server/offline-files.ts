/**
 * Offline files on disk, in the original's format (files.md §3.5) so files
 * move between implementations: <offlineDir>/<first 2 chars of task>/<task>
 * = a 960-byte header of NUL-padded ASCII fields, then the data.
 *
 *   task_id @0 (128)  from_user_id @128 (64)  to_user_id @192 (64)
 *   create_time @256 (128)  file_name @384 (512, always empty)  file_size @896 (64)
 *
 * Fixed here: an upload is written to <task>.part and renamed into place only
 * when complete (a cut-off upload is never loadable, nor left behind); only
 * UUID task ids name files (the original used the client's text as a path);
 * files expire (the original kept them forever); a byte quota.
 */
import { closeSync, openSync } from 'node:fs';
import { mkdir, open, readdir, rename, rm, stat, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';

export const HEADER_BYTES = 960;
/** Offline transfers move in blocks of this size; the server dictates offsets and sizes. */
export const BLOCK_BYTES = 32_768;

export const TASK_ID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export interface OfflineHeader {
  taskId: string;
  fromUserId: number;
  toUserId: number;
  createTime: number;
  fileSize: number;
}

export function blockCount(size: number): number {
  return Math.ceil(size / BLOCK_BYTES);
}

/** Length of block `index` of a file of `size` bytes. */
export function blockLength(size: number, index: number): number {
  return Math.min(BLOCK_BYTES, size - index * BLOCK_BYTES);
}

export function encodeHeader(h: OfflineHeader): Buffer {
  const buf = Buffer.alloc(HEADER_BYTES);
  buf.write(h.taskId, 0, 128, 'latin1');
  buf.write(String(h.fromUserId), 128, 64, 'latin1');
  buf.write(String(h.toUserId), 192, 64, 'latin1');
  buf.write(String(h.createTime), 256, 128, 'latin1');
  buf.write(String(h.fileSize), 896, 64, 'latin1');
  return buf;
}

function field(buf: Buffer, at: number, len: number): string {
  const raw = buf.subarray(at, at + len);
  const nul = raw.indexOf(0);
  return raw.subarray(0, nul < 0 ? len : nul).toString('latin1');
}

export function decodeHeader(buf: Buffer): OfflineHeader | null {
  if (buf.length < HEADER_BYTES) return null;
  const h = {
    taskId: field(buf, 0, 128),
    fromUserId: Number(field(buf, 128, 64)),
    toUserId: Number(field(buf, 192, 64)),
    createTime: Number(field(buf, 256, 128)),
    fileSize: Number(field(buf, 896, 64)),
  };
  const ints = [h.fromUserId, h.toUserId, h.createTime, h.fileSize];
  return ints.every((n) => Number.isSafeInteger(n) && n >= 0) ? h : null;
}

/** An upload in progress: blocks appended in order to the .part file. */
export class OfflineUpload {
  private handle: FileHandle | null = null;

  constructor(
    readonly header: OfflineHeader,
    private readonly partPath: string,
    private readonly finalPath: string,
  ) {}

  async start(): Promise<void> {
    await mkdir(join(this.finalPath, '..'), { recursive: true, mode: 0o750 });
    this.handle = await open(this.partPath, 'wx', 0o640);
    await this.handle.write(encodeHeader(this.header), 0, HEADER_BYTES, 0);
  }

  async append(offset: number, data: Uint8Array): Promise<void> {
    if (this.handle === null) throw new Error('upload not started');
    await this.handle.write(data, 0, data.length, HEADER_BYTES + offset);
  }

  /** Flushes and renames into place: from now on the file can be downloaded. */
  async finish(): Promise<void> {
    const handle = this.handle;
    this.handle = null;
    if (handle === null) throw new Error('upload not started');
    await handle.sync();
    await handle.close();
    await rename(this.partPath, this.finalPath);
  }

  async abort(): Promise<void> {
    const handle = this.handle;
    this.handle = null;
    await handle?.close().catch(() => {});
    await unlink(this.partPath).catch(() => {});
  }
}

/** A complete offline file opened for one receiver: blocks read on demand. */
export class OfflineDownload {
  constructor(
    readonly header: OfflineHeader,
    private readonly handle: FileHandle,
  ) {}

  async read(offset: number, length: number): Promise<Buffer> {
    const buf = Buffer.alloc(length);
    const { bytesRead } = await this.handle.read(buf, 0, length, HEADER_BYTES + offset);
    if (bytesRead !== length) throw new Error(`offline file shorter than its header says (${bytesRead} of ${length} bytes at ${offset})`);
    return buf;
  }

  close(): void {
    void this.handle.close().catch(() => {});
  }
}

export class OfflineFiles {
  /** Bytes of complete and in-progress offline files (the quota counts reservations). */
  used = 0;

  constructor(
    private readonly dir: string,
    private readonly ttlSec: number,
    private readonly maxBytes: number,
  ) {}

  pathOf(taskId: string): string {
    return join(this.dir, taskId.slice(0, 2), taskId);
  }

  /** Creates the folder, deletes leftovers of interrupted uploads, counts what is stored. */
  async open(): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o750 });
    // Fails here rather than on the first upload when the folder is not writable.
    closeSync(openSync(join(this.dir, '.writable'), 'w'));
    await unlink(join(this.dir, '.writable'));
    this.used = 0;
    for (const sub of await readdir(this.dir, { withFileTypes: true })) {
      if (!sub.isDirectory()) continue;
      for (const entry of await readdir(join(this.dir, sub.name), { withFileTypes: true })) {
        const path = join(this.dir, sub.name, entry.name);
        if (entry.name.endsWith('.part')) await rm(path, { force: true });
        else if (entry.isFile()) this.used += (await stat(path)).size;
      }
    }
  }

  fits(bytes: number): boolean {
    return this.maxBytes === 0 || this.used + bytes + HEADER_BYTES <= this.maxBytes;
  }

  /** Reserves room and creates the .part file; null when the quota is full. */
  async beginUpload(header: OfflineHeader): Promise<OfflineUpload | null> {
    if (!this.fits(header.fileSize)) return null;
    this.used += header.fileSize + HEADER_BYTES;
    const final = this.pathOf(header.taskId);
    const upload = new OfflineUpload(header, `${final}.part`, final);
    try {
      await upload.start();
    } catch (err) {
      this.used -= header.fileSize + HEADER_BYTES;
      throw err;
    }
    return upload;
  }

  async abortUpload(upload: OfflineUpload): Promise<void> {
    await upload.abort();
    this.used = Math.max(0, this.used - upload.header.fileSize - HEADER_BYTES);
  }

  /**
   * Opens the complete file of `taskId` for `userId`, who must be its receiver;
   * null when there is no such file, it is not theirs, or it is damaged.
   */
  async openDownload(taskId: string, userId: number): Promise<OfflineDownload | null> {
    if (!TASK_ID_PATTERN.test(taskId)) return null;
    let handle: FileHandle;
    try {
      handle = await open(this.pathOf(taskId), 'r');
    } catch {
      return null;
    }
    try {
      const buf = Buffer.alloc(HEADER_BYTES);
      const { bytesRead } = await handle.read(buf, 0, HEADER_BYTES, 0);
      const header = bytesRead === HEADER_BYTES ? decodeHeader(buf) : null;
      const size = (await handle.stat()).size;
      if (header === null || header.taskId !== taskId || header.toUserId !== userId || size - HEADER_BYTES !== header.fileSize) {
        await handle.close();
        return null;
      }
      return new OfflineDownload(header, handle);
    } catch {
      await handle.close().catch(() => {});
      return null;
    }
  }

  /** Deletes complete files older than the TTL; returns how many. */
  async sweep(nowMs = Date.now()): Promise<number> {
    let removed = 0;
    const limit = nowMs - this.ttlSec * 1000;
    for (const sub of await readdir(this.dir, { withFileTypes: true }).catch(() => [])) {
      if (!sub.isDirectory()) continue;
      for (const entry of await readdir(join(this.dir, sub.name), { withFileTypes: true }).catch(() => [])) {
        if (!entry.isFile() || entry.name.endsWith('.part')) continue;
        const path = join(this.dir, sub.name, entry.name);
        const info = await stat(path).catch(() => null);
        if (info === null || info.mtimeMs > limit) continue;
        await rm(path, { force: true });
        this.used = Math.max(0, this.used - info.size);
        removed++;
      }
    }
    return removed;
  }
}
