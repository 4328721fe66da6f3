/**
 * A stand-in for msfs, the TeamTalk file store (files.md §1), speaking exactly
 * the documented interface the web chat relies on: a multipart POST stores the
 * file and answers one line of JSON {error_code, error_msg, path, url} as
 * text/html; GET <path> serves it. Plus the one thing a file store must add for
 * browsers on another origin: Access-Control-Allow-Origin. (The project's own
 * msfs service replaces this once it exists; these tests then run against it.)
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Test } from 'tap';

export interface StoredFile {
  path: string;
  uploadName: string;
  bytes: Buffer;
}

export async function startFileStoreStandIn(t: Test): Promise<{ url: string; files: StoredFile[]; put(name: string, bytes: Buffer): string }> {
  const files: StoredFile[] = [];
  let counter = 0;
  const store = (uploadName: string, bytes: Buffer) => {
    // msfs keeps a "_<w>x<h>.<type>" size tag, else just the type (files.md §1.3).
    const suffix = /_\d+x\d+\.\w+$/.exec(uploadName)?.[0] ?? `.${uploadName.split('.').pop() ?? 'bin'}`;
    const path = `g0/000/000/${Date.now()}_${++counter}${suffix}`;
    files.push({ path, uploadName, bytes });
    return path;
  };
  const server = http.createServer((req, res) => {
    res.setHeader('Access-Control-Allow-Origin', '*');
    res.setHeader('Connection', 'close');
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        if (req.method === 'POST') {
          const form = await new Request('http://stand-in/', { method: 'POST', headers: req.headers as Record<string, string>, body: Buffer.concat(chunks) }).formData();
          const file = [...form.values()].find((v) => typeof v !== 'string') as { name: string; arrayBuffer(): Promise<ArrayBuffer> } | undefined;
          if (!file) {
            res.writeHead(200, { 'Content-Type': 'text/html;charset=utf-8' }).end('{"error_code":2,"error_msg": "格式错误","path":"","url":""}');
            return;
          }
          const path = store(file.name, Buffer.from(await file.arrayBuffer()));
          res
            .writeHead(200, { 'Content-Type': 'text/html;charset=utf-8' })
            .end(JSON.stringify({ error_code: 0, error_msg: '成功', path, url: `http://${req.headers.host}/${path}` }));
          return;
        }
        const found = files.find((f) => `/${f.path}` === req.url);
        if (!found) return res.writeHead(404).end();
        res.writeHead(200, { 'Content-Type': 'image/png', 'Content-Length': String(found.bytes.length) }).end(found.bytes);
      })();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  return { url, files, put: (name, bytes) => `${url}${store(name, bytes)}` };
}
