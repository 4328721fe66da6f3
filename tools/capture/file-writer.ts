/**
 * Writes capture records to a file, one JSON line each. Buffered (a busy proxy
 * produces many small lines); close() flushes everything before it resolves, so
 * a CLI can stop on SIGINT/SIGTERM without losing the tail of the capture.
 */
import { closeSync, createWriteStream, openSync, writeSync, type WriteStream } from 'node:fs';
import { TTError } from '../../lib/errors';
import { serializeRecord, type CaptureRecord } from './format';

export class CaptureFileWriter {
  private readonly stream: WriteStream;
  private failure: Error | null = null;
  records = 0;

  private constructor(stream: WriteStream) {
    this.stream = stream;
    stream.on('error', (err) => {
      this.failure = err;
    });
  }

  /** Opens `path` for writing; refuses to replace an existing file unless `overwrite`. */
  static open(path: string, overwrite = false): Promise<CaptureFileWriter> {
    return new Promise((resolve, reject) => {
      const stream = createWriteStream(path, { flags: overwrite ? 'w' : 'wx' });
      stream.once('error', (err: NodeJS.ErrnoException) => reject(openError(path, err)));
      stream.once('open', () => {
        stream.removeAllListeners('error');
        resolve(new CaptureFileWriter(stream));
      });
    });
  }

  write(record: CaptureRecord): void {
    if (this.failure) return;
    this.stream.write(serializeRecord(record));
    this.records++;
  }

  /** Flushes and closes; rejects if any write failed (disk full...). */
  close(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.stream.end(() => (this.failure ? reject(this.failure) : resolve()));
    });
  }
}

/**
 * The same file format written synchronously, for a producer that runs in one
 * synchronous loop (the pcap import): an async stream would only start writing
 * after the loop, holding every record in memory until then.
 */
export class SyncCaptureFileWriter {
  private pending: string[] = [];
  private pendingBytes = 0;
  records = 0;

  private constructor(private readonly fd: number) {}

  static open(path: string, overwrite = false): SyncCaptureFileWriter {
    try {
      return new SyncCaptureFileWriter(openSync(path, overwrite ? 'w' : 'wx'));
    } catch (err) {
      throw openError(path, err as NodeJS.ErrnoException);
    }
  }

  write(record: CaptureRecord): void {
    const line = serializeRecord(record);
    this.pending.push(line);
    this.pendingBytes += line.length;
    this.records++;
    if (this.pendingBytes >= 1 << 20) this.flush();
  }

  close(): void {
    this.flush();
    closeSync(this.fd);
  }

  private flush(): void {
    if (this.pending.length === 0) return;
    writeSync(this.fd, this.pending.join(''));
    this.pending = [];
    this.pendingBytes = 0;
  }
}

function openError(path: string, err: NodeJS.ErrnoException): TTError {
  return err.code === 'EEXIST'
    ? new TTError('TT_ERR_FILE_EXISTS', `${path} already exists (pass --force to overwrite it)`)
    : new TTError('TT_ERR_FILE', `cannot write ${path}: ${err.message}`);
}
