/**
 * file-server configuration (env prefix TT_FILE). Two ports: the client port
 * (TeamTalk clients log in to a task and move its data: SID_FILE commands,
 * strangers welcome, so every limit below applies) and the internal port where
 * msg servers create tasks (mutual TLS, role msg-server).
 */
import { join, relative } from 'node:path';
import { defineConfig, field, heartbeatWithinTimeout, type ConfigOf } from '../../lib/config';
import { ConfigError } from '../../lib/errors';
import { internalTlsSpec } from '../../lib/internal-tls';
import { projectRoot, runDir } from '../../lib/paths';

const run = relative(projectRoot, runDir) || '.';

const spec = {
  logLevel: field.logLevel(),
  clientListenHost: field.host('127.0.0.1', 'address of the client port (0.0.0.0 to serve remote clients)'),
  clientListenPort: field.port(8600, 'client port: file login, pulls and data (SID_FILE)'),
  publicIps: field.hostList(['127.0.0.1'], 'addresses clients are told to connect to (0x0734 to msg servers, then 0x0507/0x0508/0x050a to clients); set this host\'s public address in production'),
  publicPort: field.port(0, 'port clients are told (0: the client port as bound)'),
  internalListenHost: field.host('127.0.0.1', 'address of the internal port msg servers connect to (keep it private)'),
  internalListenPort: field.port(8601, 'internal port, mutual TLS, msg servers only: task requests (0x0731) and address requests (0x0733)'),
  maxClientConnections: field.int(10_000, 'client connections open at once; more are refused', { min: 1 }),
  maxMsgServers: field.int(1000, 'msg-server connections accepted at most', { min: 1 }),
  clientMaxPduBytes: field.int(128 * 1024, 'largest PDU a client may send (a data chunk plus its header); more closes the connection', { min: 1024 }),
  maxChunkBytes: field.int(64 * 1024, 'largest chunk a receiver may pull in one request (Windows asks 34 816; offline chunks are always 32 768); more closes the connection', {
    min: 32 * 1024,
  }),
  clientMaxWriteQueueBytes: field.int(4 * 1024 * 1024, 'a client that lets this much relayed data pile up unread is disconnected', { min: 256 * 1024 }),
  clientLoginTimeoutMs: field.int(10_000, 'a client connection that has not logged in to a task by then is closed', { min: 100 }),
  clientIdleTimeoutMs: field.int(120_000, 'a client that sent nothing for this long is closed (the original: 120 s)', { min: 100 }),
  clientMaxPdusPerSecond: field.int(5_000, 'PDUs one client connection may send per second; more closes it (5 000 x 32 KiB is 160 MB/s)', { min: 10 }),
  maxFileBytes: field.int(1024 ** 3, 'largest file a task may carry; bigger requests get result 1', { min: 1, max: 0xffffffff }),
  maxTasksPerUser: field.int(10, 'unfinished tasks (online, or offline not yet uploaded) one sender may have at once; more get result 1', { min: 1 }),
  maxTasks: field.int(10_000, 'unfinished tasks in all; more get result 1', { min: 1 }),
  taskTimeoutMs: field.int(600_000, 'an unfinished task nothing happened to for this long is dropped (its connections closed, a partial upload deleted)', { min: 100 }),
  offlineDir: field.file(join(run, 'file-server', 'offline'), 'folder of offline files (offline_file/ of the original: XX/<task id>, 960-byte header + data)'),
  offlineFileTtlSec: field.int(7 * 86_400, 'an offline file is deleted this long after its upload finished, downloaded or not', { min: 1 }),
  maxOfflineBytes: field.int(20 * 1024 ** 3, 'offline storage quota (bytes of all offline files; 0: none); uploads beyond get result 1 at task creation or login', { min: 0 }),
  sweepIntervalMs: field.int(10_000, 'how often expired tasks and offline files are looked for', { min: 10 }),
  heartbeatIntervalMs: field.int(5_000, 'heartbeat to msg servers after this much silence', { min: 10 }),
  linkTimeoutMs: field.int(30_000, 'close a msg-server link after this long without data', { min: 50 }),
  msgServerMaxPduBytes: field.int(1024 * 1024, 'largest PDU a msg server may send on the internal port; a bigger one closes the link', { min: 64 * 1024 }),
  ...internalTlsSpec('file-server'),
};

export const fileServerConfig = defineConfig('file-server', 'TT_FILE', spec, [heartbeatWithinTimeout('file-server', 'heartbeatIntervalMs', 'linkTimeoutMs'), checkFileServerConfig]);
export type FileServerConfig = ConfigOf<typeof spec>;

export function checkFileServerConfig(config: FileServerConfig): void {
  if (config.publicIps.length === 0) throw new ConfigError('file-server config: key "publicIps" must list at least one address');
  if (config.clientMaxPduBytes < config.maxChunkBytes + 1024) {
    throw new ConfigError(`file-server config: key "clientMaxPduBytes" (${config.clientMaxPduBytes}) must exceed "maxChunkBytes" by at least 1024 (PDU header and fields)`);
  }
}
