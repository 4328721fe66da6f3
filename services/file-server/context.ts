/** What the file server's handlers share. */
import type { IM } from '../../pdu/commands';
import type { Logger } from '../../lib/log';
import type { FileServerConfig } from './config';
import type { OfflineFiles } from './offline-files';
import type { TaskRegistry } from './transfer-tasks';

export interface FileServerStats {
  tasksCreated: number;
  tasksRefused: number;
  onlineDone: number;
  uploadsDone: number;
  downloadsDone: number;
  relayedBytes: number;
  expiredTasks: number;
  expiredFiles: number;
}

export interface FileServerContext {
  readonly config: FileServerConfig;
  readonly logger: Logger;
  readonly tasks: TaskRegistry;
  readonly offline: OfflineFiles;
  readonly stats: FileServerStats;
  /** The client addresses told to msg servers (0x0734). */
  addresses(): IM.BaseDefine.IIpAddr[];
}
