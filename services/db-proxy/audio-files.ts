/**
 * Voice messages in the msfs file store, as the original db_proxy keeps them
 * (behaviour.md §6.2, files.md §2.3): the audio bytes are uploaded as a form
 * (part "file", filename 1.audio) and IMAudio.path holds the returned url; a
 * history read downloads them again and checks the length against IMAudio.size.
 *
 * The upload goes to the msfs internal port over mutual TLS (this db-proxy's
 * certificate, role db-proxy; msfs must present role msfs). A plain http://
 * URL is only used for a host in plaintextPeers (an original msfs).
 *
 * Reads resolve the stored url's key against the configured msfsUrl, so rows
 * stay readable when the store moves, and rows written by an original db_proxy
 * (url with the msfs's client address) are read the same way.
 */
import type { InternalTls } from '../../lib/internal-tls';
import { internalHttpRequest } from '../../lib/internal-http';

const BOUNDARY = 'WebKitFormBoundary8riBH6S4ZsoT69so';
/** Reads of one history page run this many downloads at once. */
const READ_CONCURRENCY = 8;

export class AudioUploadError extends Error {
  readonly code = 'TT_ERR_AUDIO_UPLOAD';
}

export class AudioFiles {
  private readonly base: URL;

  constructor(
    private readonly identity: InternalTls,
    msfsUrl: string,
    private readonly timeoutMs: number,
    private readonly maxBytes: number,
  ) {
    this.base = new URL(msfsUrl.endsWith('/') ? msfsUrl : `${msfsUrl}/`);
  }

  /** Stores the audio bytes; resolves with the url msfs answered. Throws AudioUploadError. */
  async upload(audio: Buffer): Promise<string> {
    const body = Buffer.concat([
      Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="1.audio"\r\nContent-Type: image/jpg\r\n\r\n`),
      audio,
      Buffer.from(`\r\n--${BOUNDARY}--\r\n`),
    ]);
    let text: string;
    try {
      const res = await internalHttpRequest(this.identity, this.base, {
        method: 'POST',
        headers: { 'content-type': `multipart/form-data; boundary=${BOUNDARY}`, host: this.base.host },
        body,
        timeoutMs: this.timeoutMs,
        expectRole: 'msfs',
        maxResponseBytes: 4096,
      });
      text = res.body.toString('utf8');
    } catch (err) {
      throw new AudioUploadError(`voice message not stored in msfs: ${(err as Error).message}`);
    }
    let reply: { error_code?: unknown; url?: unknown };
    try {
      reply = JSON.parse(text.split('\n', 1)[0]) as typeof reply;
    } catch {
      throw new AudioUploadError(`msfs answered something that is not its JSON reply: ${JSON.stringify(text.slice(0, 100))}`);
    }
    if (reply.error_code !== 0 || typeof reply.url !== 'string' || reply.url === '') {
      throw new AudioUploadError(`msfs refused the voice message (error_code ${String(reply.error_code)})`);
    }
    return reply.url;
  }

  /** The audio bytes of a stored url, or null when msfs does not have exactly `size` bytes for it. */
  async download(storedUrl: string, size: number): Promise<Buffer | null> {
    let key: string;
    try {
      key = new URL(storedUrl).pathname.replace(/^\/+/, '');
    } catch {
      key = storedUrl.replace(/^\/+/, '');
    }
    if (key === '' || key.includes('..')) return null;
    try {
      const res = await internalHttpRequest(this.identity, new URL(key, this.base), {
        method: 'GET',
        timeoutMs: this.timeoutMs,
        expectRole: 'msfs',
        maxResponseBytes: this.maxBytes,
      });
      return res.status === 200 && res.body.length === size ? res.body : null;
    } catch {
      return null;
    }
  }

  /** download() for many rows, a few at a time; the result is in the order given. */
  async downloadAll(items: ReadonlyArray<{ url: string; size: number }>): Promise<Array<Buffer | null>> {
    const out: Array<Buffer | null> = new Array(items.length).fill(null);
    let next = 0;
    const worker = async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await this.download(items[i].url, items[i].size);
      }
    };
    await Promise.all(Array.from({ length: Math.min(READ_CONCURRENCY, items.length) }, worker));
    return out;
  }
}
