/**
 * files.md §5.1 byte for byte: the Android-style upload of cat_640x480.png with
 * body ABCD, its one-line reply and headers, the file on disk, the download,
 * and the original's answers for a missing type, an oversized Content-Length,
 * a missing file, ".." and "GET /".
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { parseReply, rawHttp, startTestMsfs } from './msfs-fixture';

const VECTOR_BODY =
  '-----------7d4a6d158c9\r\n' +
  'Content-Disposition: form-data;name="file0";filename="cat_640x480.png"\r\n' +
  'Content-Type:application/octet-stream\r\n' +
  '\r\n' +
  'ABCD\r\n' +
  '-----------7d4a6d158c9--\r\n';

function vectorRequest(host: string, body = VECTOR_BODY, contentLength = Buffer.byteLength(body)): string {
  return `POST / HTTP/1.1\r\nHost: ${host}\r\nContent-Type: multipart/form-data; boundary=---------7d4a6d158c9\r\nContent-Length: ${contentLength}\r\n\r\n${body}`;
}

t.test('the upload vector: reply, headers, file on disk, then the download vector', async (t) => {
  // ABCD does not look like a PNG: the vector is about the format, so the content check is off here.
  const { msfs, config } = await startTestMsfs(t, { checkImageContent: false });
  t.equal(Buffer.byteLength(VECTOR_BODY), 169, 'the vector body is 169 bytes');
  const host = `127.0.0.1:${msfs.port}`;
  const answer = await rawHttp(msfs.port, vectorRequest(host));
  t.equal(answer.headerLines[0], 'HTTP/1.1 200 OK');
  t.equal(answer.headers.get('connection'), 'close');
  t.equal(answer.headers.get('content-type'), 'text/html;charset=utf-8');
  t.equal(Number(answer.headers.get('content-length')), answer.body.length, 'Content-Length is the body length');
  t.notOk(answer.body.includes('\n'), 'one line, no newline');
  const reply = parseReply(answer);
  t.equal(reply.error_code, 0);
  t.equal(reply.error_msg, '成功');
  t.match(reply.path, /^g0\/\d{3}\/\d{3}\/\d{16}_\d{1,12}_640x480\.png$/);
  t.match(reply.path, /^g0\/000\/000\//, 'the first file goes to 000/000');
  t.equal(reply.url, `http://${host}/${reply.path}`);
  // 183 bytes with the vector's Host 127.0.0.1:8700 and a 12-digit second part; our port may have more digits.
  t.equal(answer.body.length, 183 + host.length - '127.0.0.1:8700'.length, 'the vector reply length (183 bytes for its Host)');
  t.match(answer.body.toString('utf8'), /^\{"error_code":0,"error_msg": "成功","path":"g0\/[^"]+","url":"http:\/\/[^"]+"\}$/, 'the original\'s exact text');
  const onDisk = join(config.baseDir, (reply.path as string).slice('g0/'.length));
  t.equal((await readFile(onDisk)).toString(), 'ABCD', 'BaseDir/000/000/<name> holds ABCD');

  const download = await rawHttp(msfs.port, `GET /${reply.path} HTTP/1.1\r\nHost: ${host}\r\n\r\n`);
  t.equal(download.headerLines[0], 'HTTP/1.1 200 OK');
  t.equal(download.headers.get('connection'), 'close');
  t.equal(download.headers.get('content-length'), '4');
  t.equal(download.headers.get('content-type'), 'image/png');
  t.equal(download.body.toString(), 'ABCD');

  // Any group name works, as in the original.
  const otherGroup = await rawHttp(msfs.port, `GET /${(reply.path as string).replace(/^g0/, 'g1')} HTTP/1.1\r\nHost: ${host}\r\n\r\n`);
  t.equal(otherGroup.body.toString(), 'ABCD');
});

t.test('the negative vectors', async (t) => {
  const { msfs } = await startTestMsfs(t, { checkImageContent: false });
  const host = `127.0.0.1:${msfs.port}`;

  const noext = await rawHttp(msfs.port, vectorRequest(host, VECTOR_BODY.replace('cat_640x480.png', 'noext')));
  t.equal(noext.headerLines[0], 'HTTP/1.1 200 OK', 'errors are 200 too');
  t.equal(noext.body.toString('utf8'), '{"error_code":10,"error_msg": "格式错误","path":"","url":""}');
  t.equal(noext.body.length, 64);

  const tooLarge = await rawHttp(msfs.port, vectorRequest(host, VECTOR_BODY, 10_485_761));
  t.equal(tooLarge.body.toString('utf8'), '{"error_code":1,"error_msg": "上传文件过大","url":""}');
  t.equal(tooLarge.body.length, 59);

  const missing = await rawHttp(msfs.port, `GET /g0/000/000/1700000000123456_140234567890_640x480.png HTTP/1.1\r\nHost: ${host}\r\n\r\n`);
  t.equal(missing.status, 404);

  const traversal = await rawHttp(msfs.port, `GET /g0/../x HTTP/1.1\r\nHost: ${host}\r\n\r\n`);
  t.equal(traversal.raw.length, 0, '".." gets no answer: the connection is closed');

  const root = await rawHttp(msfs.port, `GET / HTTP/1.1\r\nHost: ${host}\r\n\r\n`);
  t.equal(root.status, 500, 'GET / is 500 as the original');
  t.equal(root.headers.get('content-length'), '0', 'a well-formed reply (the original wrote a NUL into it)');
});
