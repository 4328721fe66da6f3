/**
 * The msfs HTTP surface, the same on both ports: POST (any path) uploads one
 * file, GET <key> downloads it, any other method is 403 (files.md §1.2-§1.4).
 * One request per connection, as the original. The client port adds the
 * per-address limits and the type checks; the internal port (db-proxies, mutual
 * TLS) skips them.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { unlink } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import express from 'express';
import type { Logger } from '../../../lib/log';
import type { FileCounter } from '../file-counter';
import { IMAGE_TYPES, KEY_PATTERN, contentTypeOf, keyFor, keyOfTarget, looksLikeImage, storedNameOf, uniqueName } from '../file-names';
import { UploadError, errorBody, replyHeaders, successBody } from '../replies';
import type { FileStore } from '../stores/file-store';
import { receiveUpload } from '../upload-form';
import type { AddressLimits, StorageQuota } from '../upload-limits';

export interface FileRoutesOptions {
  /** "client port" or "internal port", for logs. */
  port: string;
  store: FileStore;
  quota: StorageQuota;
  counter: FileCounter;
  logger: Logger;
  maxUploadBytes: number;
  filesPerDir: number;
  /** Base of reply urls; null = scheme + Host header. */
  publicUrl: string | null;
  scheme: 'http' | 'https';
  /** Uploads in progress on both ports, against maxConcurrent. */
  inFlight: { count: number; max: number };
  /** Client port only: per-address limits and type checks. */
  clientChecks: { limits: AddressLimits; allowedTypes: Set<string>; checkImageContent: boolean } | null;
}

/** How long a refused upload's body is still read (so the client sees the reply instead of a reset). */
const DRAIN_MS = 2_000;
const NAME_ATTEMPTS = 5;

export function fileRoutes(o: FileRoutesOptions): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  app.use((req, res) => {
    if (req.method === 'POST') return void upload(o, req, res);
    if (req.method === 'GET') return void download(o, req, res);
    res.writeHead(403, { Connection: 'close', 'Content-Length': '0' }).end();
  });
  return app;
}

function peerOf(req: IncomingMessage): string {
  const a = req.socket.remoteAddress ?? 'unknown';
  return a.startsWith('::ffff:') ? a.slice(7) : a;
}

/**
 * Sends the one-line reply at once; if the request body is still coming, it is
 * read and dropped for a moment before the connection closes (a close with
 * unread data would reset the connection and lose the reply).
 */
function reply(req: IncomingMessage, res: ServerResponse, body: string): void {
  res.writeHead(200, replyHeaders(body));
  if (req.complete) {
    res.end(body);
    return;
  }
  res.write(body);
  const done = () => {
    clearTimeout(timer);
    if (!res.writableEnded) res.end();
  };
  const timer = setTimeout(() => {
    done();
    req.socket.destroy();
  }, DRAIN_MS);
  req.once('end', done);
  req.once('close', done);
  req.resume();
}

async function upload(o: FileRoutesOptions, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const peer = peerOf(req);
  const refuse = (code: number, why: string) => {
    o.logger.info({ peer, port: o.port, errorCode: code, why }, 'upload refused');
    reply(req, res, errorBody(code));
  };
  const declared = Number(req.headers['content-length'] ?? NaN);
  if (Number.isFinite(declared) && declared > o.maxUploadBytes) return refuse(UploadError.TOO_LARGE, `Content-Length ${declared} over ${o.maxUploadBytes}`);
  if (!o.quota.fits(1)) return refuse(UploadError.QUOTA_FULL, 'storage quota reached');
  const limitReason = o.clientChecks?.limits.tryStart(peer) ?? null;
  if (limitReason !== null) return refuse(UploadError.TOO_MANY_UPLOADS, limitReason);
  if (o.inFlight.count >= o.inFlight.max) {
    o.clientChecks?.limits.finish(peer);
    return refuse(UploadError.TOO_MANY_UPLOADS, `${o.inFlight.max} uploads already in progress`);
  }
  o.inFlight.count++;
  let outcome: Outcome;
  try {
    outcome = await receiveAndStore(o, req);
  } finally {
    // Released before the reply goes out: a client that got its answer may upload again at once.
    o.inFlight.count--;
    o.clientChecks?.limits.finish(peer);
  }
  if ('code' in outcome) return refuse(outcome.code, outcome.why);
  o.logger.info({ peer, port: o.port, key: outcome.key, bytes: outcome.bytes, name: outcome.name }, 'file stored');
  reply(req, res, successBody(outcome.key, `${baseUrl(o, req)}${outcome.key}`));
}

type Outcome = { code: number; why: string } | { key: string; bytes: number; name: string };

async function receiveAndStore(o: FileRoutesOptions, req: IncomingMessage): Promise<Outcome> {
  const received = await receiveUpload(req, { maxBytes: o.maxUploadBytes, temp: o.store.tempPath() });
  if (!received.ok) return received;
  try {
    return await checkAndStore(o, received);
  } finally {
    await unlink(received.temp).catch(() => {});
  }
}

async function checkAndStore(o: FileRoutesOptions, received: { clientName: string; temp: string; size: number; head: Buffer }): Promise<Outcome> {
  const name = storedNameOf(received.clientName);
  if (name === 'name-too-long') return { code: UploadError.NAME_TOO_LONG, why: 'file name over 255 bytes' };
  if (name === 'no-dot' || name === 'bad-type') return { code: UploadError.NO_TYPE, why: `no usable type in file name ${JSON.stringify(received.clientName)}` };
  if (name === 'type-too-long') return { code: UploadError.TYPE_TOO_LONG, why: 'type over 15 characters' };
  const type = name.type.toLowerCase();
  const checks = o.clientChecks;
  if (checks !== null) {
    if (!checks.allowedTypes.has(type)) return { code: UploadError.TYPE_NOT_ALLOWED, why: `type "${name.type}" is not in allowedTypes` };
    if (checks.checkImageContent && IMAGE_TYPES.has(type) && !looksLikeImage(received.head)) {
      return { code: UploadError.TYPE_NOT_ALLOWED, why: `"${received.clientName}" does not start like an image` };
    }
  }
  if (!o.quota.reserve(received.size)) return { code: UploadError.QUOTA_FULL, why: 'storage quota reached' };
  try {
    for (let attempt = 0; attempt < NAME_ATTEMPTS; attempt++) {
      const key = keyFor(o.counter.take(), o.filesPerDir, uniqueName() + name.ext);
      if (await o.store.put(key, received.temp, received.size, contentTypeOf(key))) return { key, bytes: received.size, name: received.clientName };
    }
  } catch (err) {
    o.quota.release(received.size);
    o.logger.error({ err, port: o.port }, 'upload could not be stored');
    return { code: UploadError.STORAGE_FAILED, why: 'storage failed' };
  }
  o.quota.release(received.size);
  return { code: UploadError.STORAGE_FAILED, why: 'name collision' };
}

/** publicUrl, or scheme://<Host>/ when the Host header is a plain host[:port] (else the address we were reached at). */
function baseUrl(o: FileRoutesOptions, req: IncomingMessage): string {
  if (o.publicUrl !== null) return o.publicUrl.endsWith('/') ? o.publicUrl : `${o.publicUrl}/`;
  const host = req.headers.host ?? '';
  if (/^(?:[A-Za-z0-9.-]{1,253}|\[[0-9A-Fa-f:.]{2,45}\])(?::\d{1,5})?$/.test(host)) return `${o.scheme}://${host}/`;
  const local = req.socket.localAddress ?? '127.0.0.1';
  const shown = local.includes(':') && !local.startsWith('::ffff:') ? `[${local}]` : local.replace(/^::ffff:/, '');
  return `${o.scheme}://${shown}:${req.socket.localPort}/`;
}

async function download(o: FileRoutesOptions, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const key = keyOfTarget(req.url ?? '/');
  if (key === 'traversal') {
    // As the original: no answer at all.
    o.logger.warn({ peer: peerOf(req), port: o.port, target: (req.url ?? '').slice(0, 200) }, 'download with ".." refused: connection closed');
    req.socket.destroy();
    return;
  }
  if (!key.includes('/')) return void res.writeHead(500, { Connection: 'close', 'Content-Length': '0' }).end();
  const file = KEY_PATTERN.test(key) ? await o.store.get(key).catch(() => null) : null;
  if (file === null) return void res.writeHead(404, { Connection: 'close', 'Content-Length': '0' }).end();
  const type = contentTypeOf(key);
  res.writeHead(200, {
    Connection: 'close',
    'Content-Length': String(file.size),
    'Content-Type': type,
    'X-Content-Type-Options': 'nosniff',
    // Keys are never reused: a stored file never changes.
    'Cache-Control': 'public, max-age=31536000, immutable',
    ...(type.startsWith('image/') ? {} : { 'Content-Disposition': 'attachment' }),
  });
  try {
    await pipeline(file.stream(), res);
  } catch (err) {
    o.logger.warn({ key, port: o.port, err: (err as Error).message }, 'download cut off');
    res.destroy();
  }
}
