/**
 * Random-access reads over a capture file's bytes: from memory (tests, small
 * files) or from the file itself, a window at a time, so a capture larger than
 * memory (or than Node's 2 GB file-read limit) can still be imported.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';

export interface ByteSource {
  readonly length: number;
  /** `length` bytes from `offset`, fewer only where the source ends. */
  read(offset: number, length: number): Buffer;
}

export function bufferSource(buf: Buffer): ByteSource {
  return { length: buf.length, read: (offset, length) => buf.subarray(offset, Math.min(buf.length, offset + length)) };
}

/** Reads ahead in windows of `windowBytes`; what it returns is a copy, never overwritten later. */
export class FileSource implements ByteSource {
  private window = Buffer.alloc(0);
  private windowStart = 0;

  private constructor(
    private readonly fd: number,
    readonly length: number,
    private readonly windowBytes: number,
  ) {}

  static open(path: string, windowBytes = 4 << 20): FileSource {
    const fd = openSync(path, 'r');
    try {
      return new FileSource(fd, fstatSync(fd).size, windowBytes);
    } catch (err) {
      closeSync(fd);
      throw err;
    }
  }

  read(offset: number, length: number): Buffer {
    const end = Math.min(this.length, offset + length);
    if (end <= offset) return Buffer.alloc(0);
    if (offset < this.windowStart || end > this.windowStart + this.window.length) this.fill(offset, end - offset);
    // A copy: packets handed out earlier (and kept by the TCP reassembler) must not pin whole windows.
    return Buffer.from(this.window.subarray(offset - this.windowStart, end - this.windowStart));
  }

  close(): void {
    closeSync(this.fd);
  }

  private fill(offset: number, atLeast: number): void {
    const size = Math.max(atLeast, Math.min(this.windowBytes, this.length - offset));
    const buf = Buffer.allocUnsafe(size);
    let got = 0;
    while (got < size) {
      const n = readSync(this.fd, buf, got, size - got, offset + got);
      if (n === 0) break;
      got += n;
    }
    this.window = buf.subarray(0, got);
    this.windowStart = offset;
  }
}
