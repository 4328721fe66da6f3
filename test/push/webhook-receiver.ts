/** A local webhook for push tests: records every call, answers with a scripted status. */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Test } from 'tap';

export interface WebhookCall {
  headers: http.IncomingHttpHeaders;
  raw: string;
  body: Record<string, unknown>;
}

export interface WebhookReceiver {
  url: string;
  calls: WebhookCall[];
  /** Status of the next calls, in order; 200 once they run out. */
  script: number[];
}

export async function startWebhook(t: Test): Promise<WebhookReceiver> {
  const receiver: WebhookReceiver = { url: '', calls: [], script: [] };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      receiver.calls.push({ headers: req.headers, raw, body: JSON.parse(raw) as Record<string, unknown> });
      res.writeHead(receiver.script.shift() ?? 200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  receiver.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/push`;
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return receiver;
}
