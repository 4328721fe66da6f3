/**
 * `npm run bench:file-server`: file-relay throughput of the file server. Starts
 * it as its own process on free loopback ports (offline files in a temporary
 * folder, deleted afterwards); the bench is the msg server (mutual TLS, asks
 * for tasks) and both clients. Moves --megabytes online (the receiver pulls
 * --chunk bytes at a time, --window pulls in flight; the Windows client: 34 816
 * bytes, one at a time) and offline (upload in 32 768-byte blocks, then
 * download), and prints one JSON line:
 *   {"online":{"mb_per_s":..},"offline_upload":{"mb_per_s":..},"offline_download":{"mb_per_s":..},...}
 *
 *   --megabytes N   file size (default 200)
 *   --chunk BYTES   online pull size (default 34816)
 *   --window N      online pulls in flight (default 1)
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { IM } from '../pdu/commands';
import { PduConnection } from '../pdu/connection';
import { dialInternal } from '../lib/internal-tls';
import { FileTransferClient, WINDOWS_PULL_BYTES, bufferSource } from '../tools/client/file-transfer';
import { localIdentity } from './cluster/pki';
import { freeLoopbackPort } from './infra/system';
import { round, startServiceProcess } from './bench/service-process';

const { ClientFileRole, TransferFileType } = IM.BaseDefine;
const FROM = 1001;
const TO = 1002;

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { megabytes: { type: 'string' }, chunk: { type: 'string' }, window: { type: 'string' } }, strict: true });
  const megabytes = Number(values.megabytes ?? 200);
  const chunk = Number(values.chunk ?? WINDOWS_PULL_BYTES);
  const window = Number(values.window ?? 1);
  if (!(megabytes >= 1 && megabytes <= 2000)) throw new Error('--megabytes must be 1 to 2000');
  if (!(Number.isInteger(chunk) && chunk >= 1024 && chunk <= 65_536)) throw new Error('--chunk must be 1024 to 65536 (the server\'s maxChunkBytes)');
  if (!(Number.isInteger(window) && window >= 1 && window <= 32)) throw new Error('--window must be 1 to 32');
  const size = Math.floor(megabytes * 1024 * 1024);
  const dir = await mkdtemp(join(tmpdir(), 'tt-bench-file-'));
  const [clientPort, internalPort] = [await freeLoopbackPort(), await freeLoopbackPort()];
  const server = await startServiceProcess({
    script: 'dist/services/file-server/main.js',
    envPrefix: 'TT_FILE',
    role: 'file-server',
    env: {
      TT_FILE_CLIENT_LISTEN_PORT: String(clientPort),
      TT_FILE_INTERNAL_LISTEN_PORT: String(internalPort),
      TT_FILE_OFFLINE_DIR: join(dir, 'offline'),
      TT_FILE_MAX_FILE_BYTES: String(Math.max(size, 1024 ** 3)),
      TT_FILE_CLIENT_MAX_PDUS_PER_SECOND: '1000000',
      TT_FILE_LOG_LEVEL: 'warn',
    },
    waitFor: { host: '127.0.0.1', port: clientPort },
  });
  try {
    const msg = new PduConnection(await dialInternal(localIdentity('msg-server', 'bench-msg-server'), '127.0.0.1', internalPort, 'file-server'), { onPdu: () => {} });
    const task = async (mode: number) =>
      (await msg.request(IM.Server.IMFileTransferReq, { from_user_id: FROM, to_user_id: TO, file_name: 'bench.bin', file_size: size, trans_mode: mode }, IM.Server.IMFileTransferRsp)).task_id as string;
    const data = randomBytes(size);
    const mbps = (seconds: number) => ({ seconds: round(seconds, 2), mb_per_s: round(size / seconds / 1e6) });
    const timed = async (f: () => Promise<unknown>) => {
      const t0 = process.hrtime.bigint();
      await f();
      return Number(process.hrtime.bigint() - t0) / 1e9;
    };

    const online = await task(TransferFileType.FILE_TYPE_ONLINE);
    const sender = await FileTransferClient.connect('127.0.0.1', clientPort);
    await sender.login(FROM, online, ClientFileRole.CLIENT_REALTIME_SENDER);
    const served = sender.serve(FROM, online, bufferSource(data));
    const receiver = await FileTransferClient.connect('127.0.0.1', clientPort);
    await receiver.login(TO, online, ClientFileRole.CLIENT_REALTIME_RECVER);
    let received: Buffer = Buffer.alloc(0);
    const onlineSeconds = await timed(async () => {
      received = await receiver.receive(TO, online, size, { chunk, window });
      await served;
    });
    if (!received.equals(data)) throw new Error('online: the received file differs');

    const offline = await task(TransferFileType.FILE_TYPE_OFFLINE);
    const uploader = await FileTransferClient.connect('127.0.0.1', clientPort);
    await uploader.login(FROM, offline, ClientFileRole.CLIENT_OFFLINE_UPLOAD);
    const uploadSeconds = await timed(() => uploader.upload(FROM, offline, bufferSource(data)));
    const downloader = await FileTransferClient.connect('127.0.0.1', clientPort);
    await downloader.login(TO, offline, ClientFileRole.CLIENT_OFFLINE_DOWNLOAD);
    let downloaded: Buffer = Buffer.alloc(0);
    const downloadSeconds = await timed(async () => (downloaded = await downloader.download(TO, offline, size)));
    if (!downloaded.equals(data)) throw new Error('offline: the downloaded file differs');
    msg.destroy('bench over');
    process.stdout.write(
      JSON.stringify({
        bench: 'file-server',
        megabytes: round(size / 1024 / 1024),
        online: { ...mbps(onlineSeconds), chunk_bytes: chunk, pulls_in_flight: window },
        offline_upload: { ...mbps(uploadSeconds), block_bytes: 32_768 },
        offline_download: { ...mbps(downloadSeconds), block_bytes: 32_768 },
      }) + '\n',
    );
  } finally {
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  process.stderr.write(`bench:file-server failed: ${(err as Error).message}\n`);
  process.exit(1);
});
