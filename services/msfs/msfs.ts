/**
 * msfs: the picture and voice store TeamTalk clients and db-proxies use
 * (files.md §1-§2). Wiring: the storage backend, the quota and file counter,
 * the client port (anonymous, limited) and the internal port (mutual TLS,
 * db-proxies only).
 */
import http from 'node:http';
import { listenInternalHttp } from '../../lib/internal-http';
import { internalPort, startInternalTls } from '../../lib/internal-tls';
import { listenOn } from '../../lib/listen';
import type { Logger } from '../../lib/log';
import type { RunningService } from '../../lib/service';
import { checkMsfsConfig, type MsfsConfig } from './config';
import { FileCounter } from './file-counter';
import { fileRoutes, type FileRoutesOptions } from './http/file-routes';
import { DiskStore } from './stores/disk-store';
import type { FileStore } from './stores/file-store';
import { S3Store } from './stores/s3-store';
import { AddressLimits, StorageQuota } from './upload-limits';

export interface RunningMsfs extends RunningService {
  port: number;
  internalPort: number;
  quota: StorageQuota;
}

export function createStore(config: MsfsConfig): FileStore {
  if (config.storage === 'disk') return new DiskStore(config.baseDir);
  return new S3Store({
    endpoint: config.s3Endpoint,
    region: config.s3Region,
    bucket: config.s3Bucket,
    keyPrefix: config.s3KeyPrefix,
    accessKeyId: config.s3AccessKeyId,
    secretAccessKey: config.s3SecretAccessKey,
    forcePathStyle: config.s3ForcePathStyle,
    timeoutMs: config.s3TimeoutMs,
    tempDir: config.s3TempDir,
  });
}

export async function startMsfs(config: MsfsConfig, logger: Logger): Promise<RunningMsfs> {
  checkMsfsConfig(config);
  const tls = startInternalTls('msfs', 'msfs', config, logger);
  const store = createStore(config);
  await store.open();
  const quota = new StorageQuota(await store.usage(), config.maxTotalBytes);
  const counter = new FileCounter(config.countFile);
  await counter.load();
  const inFlight = { count: 0, max: config.maxConcurrentUploads };
  const common: Omit<FileRoutesOptions, 'port' | 'scheme' | 'clientChecks'> = {
    store,
    quota,
    counter,
    logger,
    maxUploadBytes: config.maxUploadBytes,
    filesPerDir: config.filesPerDir,
    publicUrl: config.publicUrl === '' ? null : config.publicUrl,
    inFlight,
  };
  const limitServer = (server: http.Server) => {
    server.maxRequestsPerSocket = 1;
    server.keepAliveTimeout = 0;
    server.requestTimeout = config.requestTimeoutMs;
    server.headersTimeout = config.headersTimeoutMs;
    server.timeout = config.idleTimeoutMs;
  };

  const client = http.createServer(
    fileRoutes({
      ...common,
      port: 'client port',
      scheme: 'http',
      clientChecks: {
        limits: new AddressLimits(config.uploadsPerMinutePerAddress, config.concurrentUploadsPerAddress),
        allowedTypes: new Set(config.allowedTypes.map((t) => t.toLowerCase())),
        checkImageContent: config.checkImageContent,
      },
    }),
  );
  limitServer(client);
  client.maxConnections = config.maxConnections;
  const internal = await listenInternalHttp(fileRoutes({ ...common, port: 'internal port', scheme: 'https', publicUrl: null, clientChecks: null }), {
    host: config.internalHost,
    port: config.internalPort,
    internal: internalPort(tls, ['db-proxy'], logger, 'msfs internal'),
    maxConnections: config.maxConnections,
    configure: limitServer,
  });
  const { port } = await listenOn(client, config.listenHost, config.listenPort);
  logger.info(
    { port, host: config.listenHost, internalPort: internal.port, storage: store.description, storedBytes: quota.used, quotaBytes: config.maxTotalBytes },
    'msfs listening',
  );
  return {
    port,
    internalPort: internal.port,
    quota,
    async stop(reason = 'msfs stopping') {
      client.closeAllConnections();
      await new Promise<void>((resolve) => client.close(() => resolve()));
      await internal.close();
      await counter.flush();
      await store.close();
      logger.info({ reason }, 'msfs stopped');
    },
  };
}
