/**
 * Files in the chat client, as the Windows client moves them (files.md §3):
 * /send-file asks the msg server for a task and then sends (online: the
 * receiver pulls through the file server) or uploads (offline: the file waits
 * on the file server, then 0x050b tells the receiver); offers that arrive
 * (0x0508) and offline files (0x0509) are numbered, and /get-file N fetches one
 * into the download folder.
 */
import { existsSync } from 'node:fs';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import { IM } from '../../../pdu/commands';
import { errorMessage } from '../../../lib/errors';
import { FileTransferClient, bufferSource } from '../file-transfer';
import type { ImClient } from '../im-client';
import type { Directory } from './directory';
import { table, type Style } from './render';
import type { Output } from './terminal';

const { TransferFileType, ClientFileRole, ClientFileState } = IM.BaseDefine;

/** The protocol's file_size is a uint32. */
const MAX_FILE_BYTES = 0xffffffff;

interface Offer {
  fromUserId: number;
  fileName: string;
  fileSize: number;
  taskId: string;
  mode: number;
  addresses: IM.BaseDefine.IIpAddr[];
}

export function sizeText(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

export class FileTransfers {
  private readonly offers: Offer[] = [];

  constructor(
    private readonly client: Pick<ImClient, 'request' | 'send' | 'userId'>,
    private readonly directory: Directory,
    private readonly out: Output,
    private readonly style: Style,
    private readonly downloadDir: string,
  ) {}

  /** A 0x0508 for us: announced and kept as a numbered offer. */
  onNotify(n: IM.File.IMFileNotify): void {
    if (n.to_user_id !== this.client.userId) return;
    const who = this.directory.userName(n.from_user_id);
    const offline = n.trans_mode === TransferFileType.FILE_TYPE_OFFLINE;
    if (offline && n.offline_ready === 0) {
      this.out.line(this.style.notice(`* ${who} is uploading ${n.file_name} (${sizeText(n.file_size)}) for you`));
      return;
    }
    const number = this.remember({ fromUserId: n.from_user_id, fileName: n.file_name, fileSize: n.file_size, taskId: n.task_id, mode: n.trans_mode, addresses: n.ip_addr_list });
    this.out.line(
      this.style.notice(`* ${who} ${offline ? 'left you' : 'wants to send you'} ${n.file_name} (${sizeText(n.file_size)}): /get-file ${number}`),
    );
  }

  private remember(offer: Offer): number {
    const known = this.offers.findIndex((o) => o.taskId === offer.taskId);
    if (known >= 0) {
      this.offers[known] = offer;
      return known + 1;
    }
    this.offers.push(offer);
    return this.offers.length;
  }

  /** Sends a file to `name`: online when they are at a computer, else left on the file server. */
  async send(name: string, path: string): Promise<void> {
    const user = await this.directory.findUser(name);
    if (!user) throw new Error(`no user named "${name}" (see /users)`);
    if (user.user_id === this.client.userId) throw new Error('you cannot send a file to yourself');
    const info = await stat(path).catch(() => null);
    if (info === null || !info.isFile()) throw new Error(`no file ${path}`);
    if (info.size === 0 || info.size > MAX_FILE_BYTES) throw new Error('the file must have 1 byte to 4 GB');
    const data = await readFile(path);
    const fileName = basename(path);
    const rsp = await this.client.request(
      IM.File.IMFileReq,
      { from_user_id: this.client.userId, to_user_id: user.user_id, file_name: fileName, file_size: data.length, trans_mode: TransferFileType.FILE_TYPE_ONLINE },
      IM.File.IMFileRsp,
    );
    if (rsp.result_code !== 0 || rsp.ip_addr_list.length === 0) throw new Error('the server refused the transfer (no file server, or the file is too big)');
    const server = rsp.ip_addr_list[0];
    const fs = await FileTransferClient.connect(server.ip, server.port);
    const me = this.client.userId;
    if (rsp.trans_mode === TransferFileType.FILE_TYPE_ONLINE) {
      if (!(await fs.login(me, rsp.task_id, ClientFileRole.CLIENT_REALTIME_SENDER))) throw new Error('the file server refused the task');
      this.out.line(this.style.dim(`offering ${fileName} (${sizeText(data.length)}) to ${user.user_real_name}; it goes once they /get-file it`));
      // In the background: the receiver takes its time.
      void fs.serve(me, rsp.task_id, bufferSource(data)).then(
        (state) => this.out.line(state === ClientFileState.CLIENT_FILE_DONE ? `sent ${fileName} to ${user.user_real_name}` : `${user.user_real_name} did not take ${fileName}`),
        (err: unknown) => this.out.line(this.style.error(`sending ${fileName} failed: ${errorMessage(err)}`)),
      );
      return;
    }
    if (!(await fs.login(me, rsp.task_id, ClientFileRole.CLIENT_OFFLINE_UPLOAD))) throw new Error('the file server refused the upload');
    await fs.upload(me, rsp.task_id, bufferSource(data));
    this.client.send(IM.File.IMFileAddOfflineReq, { from_user_id: me, to_user_id: user.user_id, task_id: rsp.task_id, file_name: fileName, file_size: data.length });
    this.out.line(`uploaded ${fileName} (${sizeText(data.length)}): ${user.user_real_name} is not at a computer and can fetch it later with /get-file`);
  }

  /** Without a number: the offers and offline files waiting; with one: fetches it. */
  async get(arg: string): Promise<void> {
    const list = await this.client.request(IM.File.IMFileHasOfflineReq, { user_id: this.client.userId }, IM.File.IMFileHasOfflineRsp);
    for (const f of list.offline_file_list) {
      this.remember({ fromUserId: f.from_user_id, fileName: f.file_name, fileSize: f.file_size, taskId: f.task_id, mode: TransferFileType.FILE_TYPE_OFFLINE, addresses: list.ip_addr_list });
    }
    if (arg === '') {
      if (this.offers.length === 0) {
        this.out.line('no files for you');
        return;
      }
      const rows = this.offers.map((o, i) => [`${i + 1}`, o.fileName, sizeText(o.fileSize), `from ${this.directory.userName(o.fromUserId)}`, o.mode === TransferFileType.FILE_TYPE_ONLINE ? 'online' : 'offline']);
      for (const line of table(rows)) this.out.line(line);
      return;
    }
    const n = Number(arg);
    const offer = Number.isInteger(n) ? this.offers[n - 1] : undefined;
    if (offer === undefined) throw new Error(`no file ${arg} (see /get-file)`);
    const server = offer.addresses[0];
    if (server === undefined) throw new Error('no file server address for this file');
    const fs = await FileTransferClient.connect(server.ip, server.port);
    const me = this.client.userId;
    const online = offer.mode === TransferFileType.FILE_TYPE_ONLINE;
    if (!(await fs.login(me, offer.taskId, online ? ClientFileRole.CLIENT_REALTIME_RECVER : ClientFileRole.CLIENT_OFFLINE_DOWNLOAD))) {
      throw new Error(online ? 'the sender is gone or the offer expired' : 'the file is not on the file server (any more)');
    }
    const data = online ? await fs.receive(me, offer.taskId, offer.fileSize) : await fs.download(me, offer.taskId, offer.fileSize);
    const path = freePath(this.downloadDir, offer.fileName);
    await writeFile(path, data);
    this.offers.splice(this.offers.indexOf(offer), 1);
    if (!online) this.client.send(IM.File.IMFileDelOfflineReq, { from_user_id: offer.fromUserId, to_user_id: me, task_id: offer.taskId });
    this.out.line(`saved ${offer.fileName} (${sizeText(data.length)}) from ${this.directory.userName(offer.fromUserId)} as ${path}`);
  }
}

/** A path in `dir` for a file the sender named (only its last part, never over an existing file). */
function freePath(dir: string, senderName: string): string {
  const plain = (senderName.split(/[/\\]/).pop() ?? '').replace(/[\x00-\x1f]/g, '').replace(/^\.+/, '') || 'file';
  const ext = extname(plain);
  const stem = plain.slice(0, plain.length - ext.length);
  let candidate = join(dir, plain);
  for (let i = 1; existsSync(candidate); i++) candidate = join(dir, `${stem} (${i})${ext}`);
  return candidate;
}
