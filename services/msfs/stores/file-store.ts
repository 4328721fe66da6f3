/**
 * Where msfs keeps files: local disk (DiskStore, the default) or an
 * S3-compatible bucket (S3Store) for deployments on several hosts. An upload is
 * first streamed to a temporary file; put() then makes it visible under its key
 * in one step, or not at all, and never over an existing file.
 */
import type { Readable } from 'node:stream';

export interface StoredFile {
  size: number;
  stream(): Readable;
}

export interface FileStore {
  /** For logs: "disk /path" or "s3 bucket/prefix". */
  readonly description: string;
  /** Checks the storage is usable (creates folders, finds the bucket). */
  open(): Promise<void>;
  /** A fresh temporary file path for an upload in progress. */
  tempPath(): string;
  /**
   * Makes the temporary file `temp` (size bytes) visible as `key`, atomically.
   * Resolves false when `key` already exists (the caller picks another name).
   * The temporary file stays; the caller removes it.
   */
  put(key: string, temp: string, size: number, contentType: string): Promise<boolean>;
  /** The file under `key`, or null when there is none. */
  get(key: string): Promise<StoredFile | null>;
  /** Bytes stored (read once at start for the quota). */
  usage(): Promise<number>;
  close(): Promise<void>;
}
