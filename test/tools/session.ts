/**
 * Shared by the capture / replay / pcap tests: a client session recorded
 * through the capture proxy (real TCP: test client -> proxy -> scripted server),
 * written to a capture file the way `npm run capture` writes it.
 */
import type { Test } from 'tap';
import net from 'node:net';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CID, IM, ServiceId } from '../../pdu/commands';
import { PduConnection } from '../../pdu/connection';
import { encodeFrame, type Pdu } from '../../pdu/frame';
import { clientPasswordDigest } from '../../lib/password';
import { CaptureFileWriter } from '../../tools/capture/file-writer';
import { parseCapture, type CaptureRecord, type ParsedCapture } from '../../tools/capture/format';
import { startCaptureProxy, type RunningCaptureProxy } from '../../tools/capture/proxy';
import { startScriptedServer, type ScriptedServer, type ScriptedUser } from './scripted-server';
import { waitFor } from '../helpers/wait';

export const ALICE: ScriptedUser = { id: 1, name: 'alice', password: 'alice-pw', nick: 'Alice' };
export const BOB: ScriptedUser = { id: 7, name: 'bob', password: 'bob-pw', nick: 'Bob' };

export function tempDir(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'tt-capture-test-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export async function startProxy(t: Test, targetPort: number, onRecord: (r: CaptureRecord) => void): Promise<RunningCaptureProxy> {
  const proxy = await startCaptureProxy({ listen: { port: 0 }, target: { host: '127.0.0.1', port: targetPort }, onRecord });
  t.teardown(() => proxy.close());
  return proxy;
}

export function connectClient(t: Test, port: number, pushes: Pdu[] = []): Promise<PduConnection> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('error', reject);
    socket.once('connect', () => {
      socket.off('error', reject);
      const conn = new PduConnection(socket, { onPdu: (_c, pdu) => pushes.push(pdu) });
      t.teardown(() => conn.destroy('test over'));
      resolve(conn);
    });
  });
}

/**
 * The scripted session, as a Windows client would run it: login (and the
 * offline-message push it triggers), a heartbeat, a time request, the unread
 * counts, logout (the server then closes).
 */
export async function runClientSession(
  t: Test,
  port: number,
  user = ALICE,
  /** Resolves once the heartbeat echo was seen (the client itself never sees it: PduConnection consumes heartbeats). */
  heartbeatEchoed: () => Promise<void> = () => Promise.resolve(),
): Promise<void> {
  const pushes: Pdu[] = [];
  const client = await connectClient(t, port, pushes);
  const login = await client.request(
    IM.Login.IMLoginReq,
    {
      user_name: user.name,
      password: clientPasswordDigest(user.password),
      online_status: IM.BaseDefine.UserStatType.USER_STATUS_ONLINE,
      client_type: IM.BaseDefine.ClientType.CLIENT_TYPE_WINDOWS,
      client_version: 'win_10086',
    },
    IM.Login.IMLoginRes,
  );
  t.equal(login.result_code, 0, 'scripted login accepted');
  await waitFor(() => pushes.some((p) => p.commandId === CID.MSG_DATA), 3000, 'offline message push');
  client.sendFrame(encodeFrame(ServiceId.OTHER, CID.OTHER_HEARTBEAT, 77, Buffer.alloc(0)));
  // Keeps the recorded order fixed: the echo before the next request.
  await heartbeatEchoed();
  await client.request(IM.Message.IMClientTimeReq, {}, IM.Message.IMClientTimeRsp);
  await client.request(IM.Message.IMUnreadMsgCntReq, { user_id: login.user_info?.user_id ?? 0 }, IM.Message.IMUnreadMsgCntRsp);
  await client.request(IM.Login.IMLogoutReq, {}, IM.Login.IMLogoutRsp);
}

export interface RecordedSession {
  file: string;
  capture: ParsedCapture;
  server: ScriptedServer;
}

/** Records one scripted session through the proxy into a capture file and parses it back. */
export async function recordSession(t: Test, options: { users?: ScriptedUser[]; user?: ScriptedUser } = {}): Promise<RecordedSession> {
  const server = await startScriptedServer(t, { users: options.users ?? [ALICE, BOB] });
  const file = join(tempDir(t), 'session.jsonl');
  const writer = await CaptureFileWriter.open(file);
  const records: CaptureRecord[] = [];
  const proxy = await startProxy(t, server.port, (r) => {
    records.push(r);
    writer.write(r);
  });
  await runClientSession(t, proxy.address.port, options.user ?? ALICE, () =>
    waitFor(() => records.some((r) => r.type === 'pdu' && r.dir === 's2c' && r.command === CID.OTHER_HEARTBEAT), 3000, 'heartbeat echo'),
  );
  await waitFor(() => records.some((r) => r.type === 'close'), 3000, 'the recorded close');
  await proxy.close();
  await writer.close();
  return { file, capture: parseCapture(readFileSync(file)), server };
}
