/**
 * Writes capture records to a file, one JSON line each. Buffered (a busy proxy
 * produces many small lines); close() flushes everything before it resolves, so
 * a CLI can stop on SIGINT/SIGTERM without losing the tail of the capture.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
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
      stream.once('error', (err: NodeJS.ErrnoException) => {
        reject(
          err.code === 'EEXIST'
            ? new TTError('TT_ERR_FILE_EXISTS', `${path} already exists (pass --force to overwrite it)`)
            : new TTError('TT_ERR_FILE', `cannot write ${path}: ${err.message}`),
        );
      });
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
