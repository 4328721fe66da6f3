/**
 * Files in an S3-compatible bucket (AWS S3, MinIO, Ceph, ...), for msfs
 * instances on several hosts that must serve each other's files. The object key
 * is keyPrefix + the msfs key. Writes are single PutObject calls: an object is
 * visible whole or not at all. Uploads are staged in a local temporary folder.
 */
import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import type { FileStore, StoredFile } from './file-store';

import { GetObjectCommand, HeadBucketCommand, HeadObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';

export interface S3Settings {
  endpoint: string;
  region: string;
  bucket: string;
  keyPrefix: string;
  accessKeyId: string;
  secretAccessKey: string;
  forcePathStyle: boolean;
  timeoutMs: number;
  /** Local folder for uploads in progress. */
  tempDir: string;
}

export class S3Store implements FileStore {
  private readonly client: S3Client;

  constructor(private readonly settings: S3Settings) {
    // The SDK warns at start under Node 20 about its future support policy; this project supports Node 20.
    process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
    this.client = new S3Client({
      endpoint: settings.endpoint || undefined,
      region: settings.region,
      forcePathStyle: settings.forcePathStyle,
      credentials: settings.accessKeyId ? { accessKeyId: settings.accessKeyId, secretAccessKey: settings.secretAccessKey } : undefined,
      // Plain checksums only: many S3-compatible servers do not take the SDK's newer trailing checksums.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      maxAttempts: 3,
      requestHandler: { requestTimeout: settings.timeoutMs, connectionTimeout: settings.timeoutMs },
    });
  }

  get description(): string {
    return `s3 ${this.settings.endpoint || 'aws'} bucket ${this.settings.bucket}${this.settings.keyPrefix ? ` prefix ${this.settings.keyPrefix}` : ''}`;
  }

  async open(): Promise<void> {
    await rm(this.settings.tempDir, { recursive: true, force: true });
    await mkdir(this.settings.tempDir, { recursive: true, mode: 0o700 });
    await this.client.send(new HeadBucketCommand({ Bucket: this.settings.bucket }));
  }

  tempPath(): string {
    return join(this.settings.tempDir, randomBytes(12).toString('hex'));
  }

  async put(key: string, temp: string, size: number, contentType: string): Promise<boolean> {
    const objectKey = this.settings.keyPrefix + key;
    if (await this.exists(objectKey)) return false;
    await this.client.send(
      new PutObjectCommand({ Bucket: this.settings.bucket, Key: objectKey, Body: createReadStream(temp), ContentLength: size, ContentType: contentType }),
    );
    return true;
  }

  private async exists(objectKey: string): Promise<boolean> {
    try {
      await this.client.send(new HeadObjectCommand({ Bucket: this.settings.bucket, Key: objectKey }));
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
  }

  async get(key: string): Promise<StoredFile | null> {
    try {
      const res = await this.client.send(new GetObjectCommand({ Bucket: this.settings.bucket, Key: this.settings.keyPrefix + key }));
      const body = res.Body as Readable | undefined;
      if (body === undefined) return null;
      let taken = false;
      return {
        size: Number(res.ContentLength ?? 0),
        stream: () => {
          if (taken) throw new Error('S3 object stream already taken');
          taken = true;
          return body;
        },
      };
    } catch (err) {
      if (isNotFound(err)) return null;
      throw err;
    }
  }

  async usage(): Promise<number> {
    let total = 0;
    let token: string | undefined;
    do {
      const page = await this.client.send(
        new ListObjectsV2Command({ Bucket: this.settings.bucket, Prefix: this.settings.keyPrefix || undefined, ContinuationToken: token }),
      );
      for (const o of page.Contents ?? []) total += Number(o.Size ?? 0);
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token !== undefined);
    return total;
  }

  async close(): Promise<void> {
    this.client.destroy();
  }
}

function isNotFound(err: unknown): boolean {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e.name === 'NotFound' || e.name === 'NoSuchKey' || e.$metadata?.httpStatusCode === 404;
}
