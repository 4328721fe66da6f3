/**
 * Reading one upload: the multipart/form-data body a TeamTalk client sends
 * (files.md §2.1: Android, iOS, Mac, Windows, PHP, db_proxy all differ a little),
 * parsed by busboy. The first part with a file name is the file, whatever its
 * field name (the original never checks names); it is streamed to a temporary
 * file while the request is counted against the size limit. Other parts are
 * skipped. The result is the file, or the original's error code for what is wrong.
 */
import type { IncomingMessage } from 'node:http';
import { createWriteStream } from 'node:fs';
import { unlink } from 'node:fs/promises';
import busboy from 'busboy';
import { UploadError } from './replies';

export type ReceivedUpload =
  | { ok: true; clientName: string; temp: string; size: number; head: Buffer }
  | { ok: false; code: number; why: string };

const HEAD_BYTES = 16;

export function receiveUpload(req: IncomingMessage, options: { maxBytes: number; temp: string }): Promise<ReceivedUpload> {
  return new Promise((resolve) => {
    let parser: busboy.Busboy;
    try {
      parser = busboy({
        headers: req.headers,
        limits: { fileSize: options.maxBytes, files: 1, fields: 16, fieldSize: 4096, parts: 32, headerPairs: 16 },
      });
    } catch {
      resolve({ ok: false, code: UploadError.NO_BOUNDARY, why: 'Content-Type is not multipart/form-data with a boundary' });
      return;
    }
    let settled = false;
    let received = 0;
    let sawPart = false;
    let file: { name: string; size: number; head: Buffer; out: NodeJS.WritableStream & { destroy(): void }; written: Promise<void> } | null = null;
    let tooLarge = false;
    const finish = async (result: ReceivedUpload) => {
      if (settled) return;
      settled = true;
      req.unpipe(parser);
      if (!result.ok && file !== null) {
        file.out.destroy();
        await file.written.catch(() => {});
        await unlink(options.temp).catch(() => {});
      }
      resolve(result);
    };
    const fail = (code: number, why: string) => void finish({ ok: false, code, why });

    req.on('data', (chunk: Buffer) => {
      received += chunk.length;
      if (received > options.maxBytes && !tooLarge) {
        tooLarge = true;
        fail(UploadError.TOO_LARGE, `request body over ${options.maxBytes} bytes`);
      }
    });
    req.once('aborted', () => fail(UploadError.CUT_OFF, 'client went away during the upload'));

    parser.on('field', () => {
      sawPart = true;
    });
    parser.on('file', (_field, stream, info) => {
      sawPart = true;
      if (file !== null || settled) {
        stream.resume();
        return;
      }
      const out = createWriteStream(options.temp, { flags: 'wx', mode: 0o600 });
      const current = {
        name: info.filename ?? '',
        size: 0,
        head: Buffer.alloc(0),
        out,
        written: new Promise<void>((done, failed) => {
          out.once('close', done);
          out.once('error', failed);
        }),
      };
      file = current;
      stream.on('data', (chunk: Buffer) => {
        if (current.head.length < HEAD_BYTES) current.head = Buffer.concat([current.head, chunk.subarray(0, HEAD_BYTES - current.head.length)]);
        current.size += chunk.length;
      });
      stream.once('limit', () => fail(UploadError.TOO_LARGE, `file over ${options.maxBytes} bytes`));
      stream.once('error', () => out.destroy());
      stream.pipe(out);
    });
    parser.once('error', (err: Error) => {
      if (/Malformed part header/i.test(err.message)) return fail(UploadError.BAD_PART_HEADER, err.message);
      if (!sawPart) {
        return received === 0
          ? fail(UploadError.NO_FORM_PART, 'empty body')
          : fail(UploadError.BOUNDARY_NOT_IN_BODY, 'the boundary does not occur in the body');
      }
      fail(UploadError.CUT_OFF, `body ends before the closing boundary (${err.message})`);
    });
    parser.once('close', () => {
      void (async () => {
        if (settled) return;
        if (file === null) {
          return fail(sawPart ? UploadError.NO_FILE_NAME : UploadError.NO_FORM_PART, sawPart ? 'no part has a file name' : 'no form part');
        }
        try {
          await file.written;
        } catch (err) {
          return fail(UploadError.STORAGE_FAILED, `temporary file: ${(err as Error).message}`);
        }
        if (file.name === undefined || file.name === '') return fail(UploadError.NO_FILE_NAME, 'empty file name');
        void finish({ ok: true, clientName: file.name, temp: options.temp, size: file.size, head: file.head });
      })();
    });
    req.pipe(parser);
  });
}
