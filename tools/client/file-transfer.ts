/**
 * The file-server side of a TeamTalk client (files.md §3.3-§3.5), for the chat
 * client, the tests and the file-relay benchmark: log in to a task with a role,
 * then send (answer the receiver's pulls), receive (pull chunk after chunk),
 * upload (answer the server's block requests) or download (pull blocks).
 */
import net from 'node:net';
import { IM } from '../../pdu/commands';
import { PduConnection } from '../../pdu/connection';
import type { Pdu } from '../../pdu/frame';
import { TTError } from '../../lib/errors';

const { ClientFileState, TransferFileType } = IM.BaseDefine;

/** What the Windows client asks for per online pull. */
export const WINDOWS_PULL_BYTES = 34_816;

export interface FileSource {
  size: number;
  read(offset: number, length: number): Buffer | Promise<Buffer>;
}

export function bufferSource(data: Buffer): FileSource {
  return { size: data.length, read: (offset, length) => data.subarray(offset, offset + length) };
}

type Listener = (pdu: Pdu) => void;

export class FileTransferClient {
  readonly conn: PduConnection;
  private listener: Listener | null = null;
  /** PDUs that arrived while nobody listened (e.g. PEER_READY right behind the login reply). */
  private early: Pdu[] = [];
  private closed: string | null = null;
  private onClosed: Array<(reason: string) => void> = [];

  private constructor(socket: net.Socket) {
    this.conn = new PduConnection(
      socket,
      {
        onPdu: (_c, pdu) => {
          if (this.listener !== null) this.listener(pdu);
          else if (this.early.length < 64) this.early.push(pdu);
        },
        onClose: (_c, reason) => {
          this.closed = reason;
          for (const f of this.onClosed.splice(0)) f(reason);
        },
      },
      { heartbeatIntervalMs: 5_000, requestTimeoutMs: 15_000, maxPduLength: 1024 * 1024, maxWriteQueueBytes: 16 * 1024 * 1024 },
    );
  }

  static connect(host: string, port: number, timeoutMs = 10_000): Promise<FileTransferClient> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host, port, noDelay: true });
      const timer = setTimeout(() => socket.destroy(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      socket.once('error', (err) => {
        clearTimeout(timer);
        reject(new TTError('TT_ERR_CONNECT', `cannot connect to the file server ${host}:${port}: ${err.message}`));
      });
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.removeAllListeners('error');
        resolve(new FileTransferClient(socket));
      });
    });
  }

  /** Logs in to `taskId` as `userId` in `role`; resolves false when the server refuses (it then closes). */
  async login(userId: number, taskId: string, role: number): Promise<boolean> {
    const rsp = await this.conn.request(IM.File.IMFileLoginReq, { user_id: userId, task_id: taskId, file_role: role }, IM.File.IMFileLoginRsp);
    return rsp.result_code === 0;
  }

  close(): void {
    this.conn.destroy('client closed');
  }

  /** Resolves with the close reason once the server closed the connection. */
  whenClosed(): Promise<string> {
    if (this.closed !== null) return Promise.resolve(this.closed);
    return new Promise((resolve) => this.onClosed.push(resolve));
  }

  private until<T>(handle: (pdu: Pdu, done: (v: T) => void, fail: (e: Error) => void) => void): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let settled = false;
      const finish = (f: () => void) => {
        if (settled) return;
        settled = true;
        if (this.listener === listener) this.listener = null;
        f();
      };
      const listener: Listener = (pdu) => {
        try {
          handle(pdu, (v) => finish(() => resolve(v)), (e) => finish(() => reject(e)));
        } catch (err) {
          finish(() => reject(err as Error));
        }
      };
      this.listener = listener;
      for (const pdu of this.early.splice(0)) if (this.listener === listener) listener(pdu);
      this.onClosed.push((reason) => finish(() => reject(new TTError('TT_ERR_FILE_CLOSED', `file server closed the connection: ${reason}`))));
    });
  }

  /**
   * Online sender (role 1 already logged in): answers every pull from `source`
   * until the receiver's state (done / refuse / cancel) arrives; resolves with it.
   */
  serve(userId: number, taskId: string, source: FileSource): Promise<number> {
    return this.until<number>((pdu, done) => {
      if (pdu.commandId === 0x0504) {
        const pull = IM.File.IMFilePullDataReq.decode(pdu.body);
        void Promise.resolve(source.read(pull.offset, pull.data_size)).then((data) =>
          this.conn.send(IM.File.IMFilePullDataRsp, { result_code: 0, task_id: taskId, user_id: userId, offset: pull.offset, file_data: data }, pdu.seqNum),
        );
      } else if (pdu.commandId === 0x0503) {
        done(IM.File.IMFileState.decode(pdu.body).state);
      }
    });
  }

  /** Online receiver (role 2 logged in): waits for PEER_READY, pulls everything, sends DONE. */
  async receive(userId: number, taskId: string, size: number, options: { chunk?: number; window?: number } = {}): Promise<Buffer> {
    const chunk = options.chunk ?? WINDOWS_PULL_BYTES;
    const window = options.window ?? 1;
    await this.until<void>((pdu, done, fail) => {
      if (pdu.commandId !== 0x0503) return;
      const state = IM.File.IMFileState.decode(pdu.body);
      if (state.state === ClientFileState.CLIENT_FILE_PEER_READY) done();
      else fail(new TTError('TT_ERR_FILE_STATE', `sender ended the transfer (state ${state.state})`));
    });
    const out = Buffer.alloc(size);
    let next = 0;
    const pullOne = async (): Promise<void> => {
      while (next < size) {
        const offset = next;
        const length = Math.min(chunk, size - offset);
        next += length;
        const rsp = await this.conn.request(
          IM.File.IMFilePullDataReq,
          { task_id: taskId, user_id: userId, trans_mode: TransferFileType.FILE_TYPE_ONLINE, offset, data_size: length },
          IM.File.IMFilePullDataRsp,
        );
        if (rsp.offset !== offset || rsp.file_data.length !== length) throw new TTError('TT_ERR_FILE_DATA', `got ${rsp.file_data.length} bytes at ${rsp.offset}, asked ${length} at ${offset}`);
        out.set(rsp.file_data, offset);
      }
    };
    await Promise.all(Array.from({ length: window }, pullOne));
    this.conn.send(IM.File.IMFileState, { state: ClientFileState.CLIENT_FILE_DONE, task_id: taskId, user_id: userId });
    return out;
  }

  /** Offline uploader (role 3 logged in): answers the server's block requests until it says DONE. */
  upload(userId: number, taskId: string, source: FileSource): Promise<void> {
    return this.until<void>((pdu, done, fail) => {
      if (pdu.commandId === 0x0504) {
        const ask = IM.File.IMFilePullDataReq.decode(pdu.body);
        void Promise.resolve(source.read(ask.offset, ask.data_size)).then((data) =>
          this.conn.send(IM.File.IMFilePullDataRsp, { result_code: 0, task_id: taskId, user_id: userId, offset: ask.offset, file_data: data }),
        );
      } else if (pdu.commandId === 0x0503) {
        const state = IM.File.IMFileState.decode(pdu.body);
        if (state.state === ClientFileState.CLIENT_FILE_DONE) done();
        else fail(new TTError('TT_ERR_FILE_STATE', `upload ended with state ${state.state}`));
      }
    });
  }

  /** Offline receiver (role 4 logged in): pulls block after block (the server decides their size). */
  async download(userId: number, taskId: string, size: number): Promise<Buffer> {
    const done = this.until<number>((pdu, finish) => {
      if (pdu.commandId === 0x0503) finish(IM.File.IMFileState.decode(pdu.body).state);
    });
    done.catch(() => {});
    const parts: Buffer[] = [];
    let offset = 0;
    while (offset < size) {
      const rsp = await this.conn.request(
        IM.File.IMFilePullDataReq,
        { task_id: taskId, user_id: userId, trans_mode: TransferFileType.FILE_TYPE_OFFLINE, offset, data_size: WINDOWS_PULL_BYTES },
        IM.File.IMFilePullDataRsp,
      );
      if (rsp.offset !== offset || rsp.file_data.length === 0) throw new TTError('TT_ERR_FILE_DATA', `bad block at ${offset}`);
      parts.push(Buffer.from(rsp.file_data));
      offset += rsp.file_data.length;
    }
    const state = await done;
    if (state !== ClientFileState.CLIENT_FILE_DONE) throw new TTError('TT_ERR_FILE_STATE', `download ended with state ${state}`);
    return Buffer.concat(parts);
  }
}

