/**
 * Transfer tasks (files.md §3.2-§3.6). A msg server creates one per file
 * request (0x0731); its random UUID is handed only to the sender (0x0507) and
 * the addressed receiver (0x0508 / 0x050a), and a client logs in to it with its
 * user id and the task id: only the task's sender can send or upload, only its
 * receiver can pull or download.
 *
 *   online:  Ready -> (sender and receiver logged in) Transferring -> gone
 *            (done, refused, cancelled, or either side left)
 *   offline: Ready -> (uploader logged in) Uploading -> file on disk, task gone
 *            (an uploader that leaves puts the task back to Ready)
 *
 * Unfinished tasks expire (taskTimeoutMs since anything happened); the original
 * kept them until restart.
 */
import { randomUUID } from 'node:crypto';
import { PduConnection } from '../../pdu/connection';
import type { OfflineDownload, OfflineUpload } from './offline-files';

export const TransferMode = { ONLINE: 1, OFFLINE: 2 } as const;
export const FileRole = { SENDER: 1, RECEIVER: 2, UPLOADER: 3, DOWNLOADER: 4 } as const;

export type TaskState = 'ready' | 'transferring' | 'uploading';

/** A receiver's pull waiting for the sender's data (online). */
export interface PendingPull {
  seq: number;
  offset: number;
  size: number;
}

export class TransferTask {
  readonly id = randomUUID();
  state: TaskState = 'ready';
  touchedAt = Date.now();
  // online
  sender: FileClientConn | null = null;
  receiver: FileClientConn | null = null;
  readonly pulls: PendingPull[] = [];
  relayedBytes = 0;
  // offline
  uploader: FileClientConn | null = null;
  upload: OfflineUpload | null = null;
  uploadedBlocks = 0;

  constructor(
    readonly fromUserId: number,
    readonly toUserId: number,
    readonly fileName: string,
    readonly fileSize: number,
    readonly mode: number,
  ) {}

  touch(): void {
    this.touchedAt = Date.now();
  }
}

/** A client connection of the file server: the PDU connection plus its login. */
export class FileClientConn extends PduConnection {
  userId = 0;
  role = 0;
  taskId = '';
  task: TransferTask | null = null;
  /** Offline download: the open file and the next offset the client must ask for. */
  download: OfflineDownload | null = null;
  nextOffset = 0;
  /** File work of this connection runs one step at a time, in order. */
  work: Promise<void> = Promise.resolve();
  /** Budget: PDUs received in the current one-second window. */
  window = 0;
  pdusInWindow = 0;
}

export class TaskRegistry {
  private readonly tasks = new Map<string, TransferTask>();
  private readonly perSender = new Map<number, number>();

  constructor(
    private readonly maxTasks: number,
    private readonly maxPerUser: number,
  ) {}

  get size(): number {
    return this.tasks.size;
  }

  get(id: string): TransferTask | undefined {
    return this.tasks.get(id);
  }

  /** Null with the reason when a limit does not allow another task. */
  create(from: number, to: number, fileName: string, fileSize: number, mode: number): TransferTask | string {
    if (this.tasks.size >= this.maxTasks) return `${this.maxTasks} unfinished tasks already`;
    const mine = this.perSender.get(from) ?? 0;
    if (mine >= this.maxPerUser) return `user ${from} has ${mine} unfinished tasks (maxTasksPerUser)`;
    const task = new TransferTask(from, to, fileName, fileSize, mode);
    this.tasks.set(task.id, task);
    this.perSender.set(from, mine + 1);
    return task;
  }

  remove(task: TransferTask): void {
    if (!this.tasks.delete(task.id)) return;
    const left = (this.perSender.get(task.fromUserId) ?? 1) - 1;
    if (left <= 0) this.perSender.delete(task.fromUserId);
    else this.perSender.set(task.fromUserId, left);
  }

  /** Tasks untouched since before `olderThan` (ms). */
  stale(olderThan: number): TransferTask[] {
    return [...this.tasks.values()].filter((t) => t.touchedAt < olderThan);
  }

  all(): IterableIterator<TransferTask> {
    return this.tasks.values();
  }
}
