/**
 * The internal port (mutual TLS, role db-proxy: how voice messages are stored,
 * files.md §2.3) and the S3 backend against a local S3-compatible server
 * (s3rver) started here.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import t from 'tap';
import S3rver from 's3rver';
import { internalHttpRequest } from '../../lib/internal-http';
import { testIdentity } from '../helpers/tls';
import { PNG_1X1, androidUpload, parseReply, rawHttp, startTestMsfs } from './msfs-fixture';

/** The db_proxy's own upload body (files.md §2.1): part "file", filename 1.audio, part type image/jpg. */
function dbProxyAudioBody(audio: Buffer): { body: Buffer; contentType: string } {
  const boundary = 'WebKitFormBoundary8riBH6S4ZsoT69so';
  const body = Buffer.concat([
    Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="1.audio"\r\nContent-Type: image/jpg\r\n\r\n`),
    audio,
    Buffer.from(`\r\n--${boundary}--\r\n`),
  ]);
  return { body, contentType: `multipart/form-data; boundary=${boundary}` };
}

t.test('internal port: a db-proxy certificate uploads and reads; others are refused before HTTP', async (t) => {
  const { msfs } = await startTestMsfs(t);
  const audio = Buffer.from([0x02, 0x23, 0x21, 0x41, 0x4d, 0x52, 0x0a, 1, 2, 3, 4, 5]);
  const { body, contentType } = dbProxyAudioBody(audio);
  const url = new URL(`https://127.0.0.1:${msfs.internalPort}/`);
  const res = await internalHttpRequest(testIdentity('db-proxy'), url, {
    method: 'POST',
    headers: { 'content-type': contentType, host: `127.0.0.1:${msfs.internalPort}` },
    body,
    timeoutMs: 5000,
    expectRole: 'msfs',
    maxResponseBytes: 4096,
  });
  const reply = JSON.parse(res.body.toString('utf8')) as { error_code: number; path: string; url: string };
  t.equal(reply.error_code, 0);
  t.match(reply.path, /^g0\/\d{3}\/\d{3}\/\d{16}_\d{12}\.audio$/, 'stored as <unique>.audio');
  t.equal(reply.url, `https://127.0.0.1:${msfs.internalPort}/${reply.path}`);
  const back = await internalHttpRequest(testIdentity('db-proxy'), new URL(reply.url), { method: 'GET', timeoutMs: 5000, expectRole: 'msfs', maxResponseBytes: 1 << 20 });
  t.equal(back.status, 200);
  t.same(back.body, audio, 'the voice bytes come back');
  t.equal(back.headers['content-type'], 'application/octet-stream', 'unknown types are octet-stream (files.md M9)');
  const viaClientPort = await fetch(`http://127.0.0.1:${msfs.port}/${reply.path}`);
  t.same(Buffer.from(await viaClientPort.arrayBuffer()), audio, 'the same file is on the client port');

  // Another role, another CA, or no TLS at all: no HTTP is ever answered.
  for (const [what, identity] of [
    ['a msg-server certificate', testIdentity('msg-server')],
    ['a certificate from another CA', testIdentity('db-proxy', 'rogue')],
  ] as const) {
    await t.rejects(
      internalHttpRequest(identity, url, { method: 'GET', timeoutMs: 3000, expectRole: 'msfs', maxResponseBytes: 4096 }),
      `${what} is refused`,
    );
  }
  const plain = await rawHttp(msfs.internalPort, 'GET /g0/000/000/x.png HTTP/1.1\r\nHost: x\r\n\r\n');
  t.equal(plain.raw.length, 0, 'plain HTTP on the internal port gets no answer');
  const noCert = await new Promise<string>((resolve) => {
    const s = tls.connect({ host: '127.0.0.1', port: msfs.internalPort, rejectUnauthorized: false }, () => s.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
    let got = '';
    s.on('data', (d) => (got += d.toString()));
    s.on('error', () => {});
    s.on('close', () => resolve(got));
  });
  t.equal(noCert, '', 'TLS without a client certificate gets no answer');
});

t.test('S3 backend: upload, byte-identical download, usage counted at start', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'tt-s3rver-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const s3 = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory: dir, configureBuckets: [{ name: 'teamtalk-files', configs: [] }] });
  const { port: s3Port } = await s3.run();
  t.teardown(() => s3.close());
  const s3Settings = {
    storage: 's3' as const,
    s3Endpoint: `http://127.0.0.1:${s3Port}`,
    s3Bucket: 'teamtalk-files',
    s3KeyPrefix: 'im/',
    s3AccessKeyId: 'S3RVER',
    s3SecretAccessKey: 'S3RVER',
  };
  const first = await startTestMsfs(t, s3Settings);
  const host = `127.0.0.1:${first.msfs.port}`;
  const reply = parseReply(await rawHttp(first.msfs.port, androidUpload('cat_640x480.png', PNG_1X1, host)));
  t.equal(reply.error_code, 0);
  const res = await fetch(reply.url as string);
  t.equal(res.status, 200);
  t.equal(res.headers.get('content-type'), 'image/png');
  t.same(Buffer.from(await res.arrayBuffer()), PNG_1X1, 'byte-identical through the bucket');
  t.equal((await fetch(`http://${host}/g0/000/000/1700000000123456_140234567890.png`)).status, 404, 'missing object: 404');

  // A second msfs on the same bucket (another host in production) serves the file and counts the bucket's bytes.
  const second = await startTestMsfs(t, { ...s3Settings, maxTotalBytes: PNG_1X1.length + 10 });
  t.equal(second.msfs.quota.used, PNG_1X1.length, 'usage listed from the bucket at start');
  const other = await fetch(`http://127.0.0.1:${second.msfs.port}/${reply.path}`);
  t.same(Buffer.from(await other.arrayBuffer()), PNG_1X1, 'another instance serves it');
  const over = parseReply(await rawHttp(second.msfs.port, androidUpload('b.png', PNG_1X1, 'x')));
  t.equal(over.error_code, 14, 'the quota covers the whole bucket');
});
