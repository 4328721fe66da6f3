/**
 * Every rule of the client port tried and held: type allow-list, image content
 * check, size limit without Content-Length (chunked), per-address rate and
 * concurrency, storage quota, traversal in file names, other methods. And the
 * iOS / Windows / db_proxy upload shapes of files.md §2.1.
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import net from 'node:net';
import t from 'tap';
import { UploadError } from '../../services/msfs/replies';
import { PNG_1X1, androidUpload, parseReply, pngOfSize, rawHttp, startTestMsfs } from './msfs-fixture';

/** A POST with boundary "b" and exactly `body` (latin1), Content-Length right. */
function multipartRequest(host: string, body: string): Buffer {
  const bytes = Buffer.from(body, 'latin1');
  return Buffer.concat([
    Buffer.from(`POST / HTTP/1.1\r\nHost: ${host}\r\nContent-Type: multipart/form-data; boundary=b\r\nContent-Length: ${bytes.length}\r\n\r\n`, 'latin1'),
    bytes,
  ]);
}

async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string) => {
    for (const e of await readdir(d, { withFileTypes: true }).catch(() => [])) {
      if (e.name.startsWith('.')) continue;
      if (e.isDirectory()) await walk(join(d, e.name));
      else out.push(join(d, e.name));
    }
  };
  await walk(dir);
  return out;
}

t.test('each client upload shape is stored and comes back byte-identical', async (t) => {
  const { msfs } = await startTestMsfs(t);
  const host = `127.0.0.1:${msfs.port}`;
  const shapes: Array<{ who: string; request: Buffer; ext: RegExp }> = [];
  shapes.push({ who: 'Android', request: androidUpload('IMG_0001.jpg', PNG_1X1, host), ext: /\d\.jpg$/ });
  const iosBoundary = 'Boundary+0xAbCdEfGbOuNdArY';
  const iosBody = Buffer.concat([
    Buffer.from(`--${iosBoundary}\r\nContent-Disposition: form-data; name="type"\r\n\r\nim_image\r\n`),
    Buffer.from(`--${iosBoundary}\r\nContent-Disposition: form-data; name="image"; filename="image.png_750x1334.png"\r\nContent-Type: image/jpeg\r\n\r\n`),
    PNG_1X1,
    Buffer.from(`\r\n--${iosBoundary}--\r\n`),
  ]);
  shapes.push({
    who: 'iOS',
    request: Buffer.concat([
      Buffer.from(`POST / HTTP/1.1\r\nHost: ${host}\r\nContent-Type: multipart/form-data; boundary=${iosBoundary}\r\nContent-Length: ${iosBody.length}\r\n\r\n`),
      iosBody,
    ]),
    ext: /_750x1334\.png$/,
  });
  const winBoundary = '----WinBoundary';
  const winBody = Buffer.concat([
    Buffer.from(`--${winBoundary}\r\nContent-Disposition: form-data; name="image"; filename="a.png_800x600.png"\r\nContent-Type: image/.png\r\n\r\n`),
    PNG_1X1,
    Buffer.from(`\r\n--${winBoundary}--\r\n`),
  ]);
  shapes.push({
    who: 'Windows (POST /upload/)',
    request: Buffer.concat([
      Buffer.from(`POST /upload/ HTTP/1.1\r\nHost: ${host}\r\nContent-Type: multipart/form-data; boundary=${winBoundary}\r\nContent-Length: ${winBody.length}\r\n\r\n`),
      winBody,
    ]),
    ext: /_800x600\.png$/,
  });
  for (const s of shapes) {
    const reply = parseReply(await rawHttp(msfs.port, s.request));
    t.equal(reply.error_code, 0, `${s.who}: stored`);
    t.match(reply.path, s.ext, `${s.who}: stored name keeps the type and size tag`);
    const res = await fetch(reply.url as string);
    t.equal(res.status, 200);
    t.same(Buffer.from(await res.arrayBuffer()), PNG_1X1, `${s.who}: byte-identical by its URL`);
  }
});

t.test('type allow-list and image content check', async (t) => {
  const { msfs } = await startTestMsfs(t);
  const host = `127.0.0.1:${msfs.port}`;
  const exe = parseReply(await rawHttp(msfs.port, androidUpload('setup.exe', Buffer.from('MZ...'), host)));
  t.equal(exe.error_code, UploadError.TYPE_NOT_ALLOWED, '.exe is not an allowed type');
  const html = parseReply(await rawHttp(msfs.port, androidUpload('x.html', Buffer.from('<script>'), host)));
  t.equal(html.error_code, UploadError.TYPE_NOT_ALLOWED, '.html is not an allowed type (nothing is ever served as a page)');
  const fake = parseReply(await rawHttp(msfs.port, androidUpload('cat.png', Buffer.from('<html>not a picture</html>'), host)));
  t.equal(fake.error_code, UploadError.TYPE_NOT_ALLOWED, 'a .png that does not start like an image is refused');
  const slash = parseReply(await rawHttp(msfs.port, androidUpload('a./b', PNG_1X1, host)));
  t.equal(slash.error_code, UploadError.NO_TYPE, 'a type with a slash (crashed the original) is a format error');
  const long = parseReply(await rawHttp(msfs.port, androidUpload(`${'n'.repeat(256)}.png`, PNG_1X1, host)));
  t.equal(long.error_code, UploadError.NAME_TOO_LONG);
  const longType = parseReply(await rawHttp(msfs.port, androidUpload(`a.${'p'.repeat(16)}`, PNG_1X1, host)));
  t.equal(longType.error_code, UploadError.TYPE_TOO_LONG);
  const traversal = parseReply(await rawHttp(msfs.port, androidUpload('../../../etc/cron.d/evil.png', PNG_1X1, host)));
  t.equal(traversal.error_code, 0, 'a path in the file name is ignored');
  t.match(traversal.path, /^g0\/\d{3}\/\d{3}\/\d{16}_\d{12}\.png$/, 'the stored name is made by the server');
  const upper = parseReply(await rawHttp(msfs.port, androidUpload('PIC.JPG', PNG_1X1, host)));
  t.equal(upper.error_code, 0, 'types match in any case');
  const noBoundary = parseReply(
    await rawHttp(msfs.port, `POST / HTTP/1.1\r\nHost: ${host}\r\nContent-Type: multipart/form-data\r\nContent-Length: 5\r\n\r\nhello`),
  );
  t.equal(noBoundary.error_code, UploadError.NO_BOUNDARY);
  const noFile = parseReply(await rawHttp(msfs.port, multipartRequest(host, '--b\r\nContent-Disposition: form-data; name="x"\r\n\r\nvalue\r\n--b--\r\n')));
  t.equal(noFile.error_code, UploadError.NO_FILE_NAME);
  const cut = parseReply(
    await rawHttp(msfs.port, multipartRequest(host, '--b\r\nContent-Disposition: form-data; name="f"; filename="a.png"\r\n\r\n\x89PNG\r\n\x1a\n...')),
  );
  t.equal(cut.error_code, UploadError.CUT_OFF, 'a body that ends before its closing boundary is refused');
  const noPart = parseReply(await rawHttp(msfs.port, multipartRequest(host, 'no boundary in here')));
  t.equal(noPart.error_code, UploadError.BOUNDARY_NOT_IN_BODY);
  const empty = parseReply(await rawHttp(msfs.port, multipartRequest(host, '')));
  t.equal(empty.error_code, UploadError.NO_FORM_PART, 'an empty body');
});

t.test('size limit: by Content-Length at once, and counted when the body is chunked', async (t) => {
  const { msfs, config } = await startTestMsfs(t, { maxUploadBytes: 64 * 1024 });
  const host = `127.0.0.1:${msfs.port}`;
  const declared = parseReply(await rawHttp(msfs.port, androidUpload('big.png', pngOfSize(70 * 1024), host)));
  t.equal(declared.error_code, UploadError.TOO_LARGE);
  const fits = parseReply(await rawHttp(msfs.port, androidUpload('fits.png', pngOfSize(60 * 1024), host)));
  t.equal(fits.error_code, 0, 'just below the limit is stored');
  // Chunked: no Content-Length to check up front.
  const body = androidUpload('chunked.png', pngOfSize(200 * 1024), host);
  const split = body.indexOf('\r\n\r\n') + 4;
  const payload = body.subarray(split);
  const head = body
    .subarray(0, split)
    .toString('latin1')
    .replace(/Content-Length: \d+\r\n/, 'Transfer-Encoding: chunked\r\n');
  const chunks: Buffer[] = [Buffer.from(head, 'latin1')];
  for (let i = 0; i < payload.length; i += 8192) {
    const part = payload.subarray(i, i + 8192);
    chunks.push(Buffer.from(`${part.length.toString(16)}\r\n`), part, Buffer.from('\r\n'));
  }
  chunks.push(Buffer.from('0\r\n\r\n'));
  const chunked = parseReply(await rawHttp(msfs.port, Buffer.concat(chunks)));
  t.equal(chunked.error_code, UploadError.TOO_LARGE, 'a chunked body over the limit is refused');
  const files = await filesUnder(config.baseDir);
  t.equal(files.length, 1, 'only the upload that fitted is stored; no partial file is left');
});

t.test('per-address rate and concurrency limits', async (t) => {
  const { msfs } = await startTestMsfs(t, { uploadsPerMinutePerAddress: 3, concurrentUploadsPerAddress: 1 });
  const host = `127.0.0.1:${msfs.port}`;
  // One upload held open (headers sent, body still coming) occupies the address's only slot.
  const held = net.connect({ host: '127.0.0.1', port: msfs.port });
  await new Promise((r) => held.once('connect', r));
  const full = androidUpload('held.png', PNG_1X1, host);
  held.write(full.subarray(0, full.length - 10));
  await new Promise((r) => setTimeout(r, 200));
  const concurrent = parseReply(await rawHttp(msfs.port, androidUpload('second.png', PNG_1X1, host)));
  t.equal(concurrent.error_code, UploadError.TOO_MANY_UPLOADS, 'a second upload while one is in progress is refused');
  const heldReply = new Promise<Buffer>((resolve) => {
    const got: Buffer[] = [];
    held.on('data', (d) => got.push(d));
    held.once('close', () => resolve(Buffer.concat(got)));
  });
  held.write(full.subarray(full.length - 10));
  t.match((await heldReply).toString('utf8'), /"error_code":0/, 'the held upload completes');
  const second = parseReply(await rawHttp(msfs.port, androidUpload('b.png', PNG_1X1, host)));
  t.equal(second.error_code, 0);
  const third = parseReply(await rawHttp(msfs.port, androidUpload('c.png', PNG_1X1, host)));
  t.equal(third.error_code, 0, 'the third upload this minute');
  const fourth = parseReply(await rawHttp(msfs.port, androidUpload('d.png', PNG_1X1, host)));
  t.equal(fourth.error_code, UploadError.TOO_MANY_UPLOADS, 'the 4th upload started this minute is refused (3 per minute)');
  // Downloads are not limited.
  const res = await fetch(`http://${host}/g0/000/000/none.png`);
  t.equal(res.status, 404);
});

t.test('storage quota: existing files count at start, uploads beyond it are refused', async (t) => {
  const first = await startTestMsfs(t, { maxTotalBytes: 1000 });
  const host = `127.0.0.1:${first.msfs.port}`;
  t.equal(parseReply(await rawHttp(first.msfs.port, androidUpload('a.png', pngOfSize(600), host))).error_code, 0);
  t.equal(parseReply(await rawHttp(first.msfs.port, androidUpload('b.png', pngOfSize(600), host))).error_code, UploadError.QUOTA_FULL);
  await first.msfs.stop();
  // A restart on the same folder counts what is there.
  const again = await startTestMsfs(t, { maxTotalBytes: 1000, baseDir: first.config.baseDir, countFile: first.config.countFile });
  t.equal(again.msfs.quota.used, 600, 'usage read from disk at start');
  const h2 = `127.0.0.1:${again.msfs.port}`;
  const c = parseReply(await rawHttp(again.msfs.port, androidUpload('c.png', pngOfSize(300), h2)));
  t.equal(c.error_code, 0);
  t.match(c.path, /^g0\/000\/000\//);
  t.equal(parseReply(await rawHttp(again.msfs.port, androidUpload('d.png', pngOfSize(300), h2))).error_code, UploadError.QUOTA_FULL);
});

t.test('methods other than GET and POST are 403; a bad Host header does not reach the reply', async (t) => {
  const { msfs } = await startTestMsfs(t);
  for (const method of ['PUT', 'DELETE', 'HEAD']) {
    const res = await rawHttp(msfs.port, `${method} / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n`);
    t.equal(res.status, 403, method);
  }
  const reply = parseReply(await rawHttp(msfs.port, androidUpload('a.png', PNG_1X1, 'evil.com","url":"http://phish')));
  t.equal(reply.error_code, 0);
  t.equal(reply.url, `http://127.0.0.1:${msfs.port}/${reply.path}`, 'an invalid Host is replaced by the address we were reached at');
  const named = await startTestMsfs(t, { publicUrl: 'http://files.example.com:8700' });
  const r2 = parseReply(await rawHttp(named.msfs.port, androidUpload('a.png', PNG_1X1, 'whatever')));
  t.equal(r2.url, `http://files.example.com:8700/${r2.path}`, 'publicUrl wins over the Host header');
});

t.test('connections: at most maxConnections open, and an idle one is closed', async (t) => {
  const { msfs } = await startTestMsfs(t, { maxConnections: 2, idleTimeoutMs: 300 });
  const open = () =>
    new Promise<net.Socket>((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port: msfs.port }, () => resolve(s));
      s.on('error', () => {});
    });
  const closed = (s: net.Socket) => new Promise<number>((resolve) => {
    const t0 = Date.now();
    s.once('close', () => resolve(Date.now() - t0));
  });
  const a = await open();
  const b = await open();
  a.write('POST / HTTP/1.1\r\n');
  const third = await open();
  third.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
  const got: Buffer[] = [];
  third.on('data', (d: Buffer) => got.push(d));
  await closed(third);
  t.equal(Buffer.concat(got).length, 0, 'a third connection is dropped unanswered');
  const waited = await closed(a);
  t.ok(waited < 5000, 'a connection that stopped sending mid-request is closed (idleTimeoutMs)');
  b.destroy();
});
