/**
 * msfs configuration (env prefix TT_MSFS). Two ports: the client port, where
 * TeamTalk clients upload pictures without credentials (so every limit below
 * applies to it), and the internal port, where db-proxies store voice messages
 * over mutual TLS (role db-proxy).
 */
import { join, relative } from 'node:path';
import { defineConfig, field, urlOrNull, type ConfigOf } from '../../lib/config';
import { ConfigError } from '../../lib/errors';
import { internalTlsSpec } from '../../lib/internal-tls';
import { projectRoot, runDir } from '../../lib/paths';

const run = relative(projectRoot, runDir) || '.';

const spec = {
  logLevel: field.logLevel(),
  listenHost: field.host('127.0.0.1', 'address of the client port (0.0.0.0 to serve remote clients)'),
  listenPort: field.port(8700, 'client port: uploads (POST) and downloads (GET) as TeamTalk clients do them; the login server\'s msfsUrl points here'),
  publicUrl: field.string('', 'base of the url in upload replies (e.g. "http://files.example.com:8700/"); empty: "http://<Host header>/" as the original (an invalid Host falls back to the listen address)'),
  internalHost: field.host('127.0.0.1', 'address of the internal port (keep it private)'),
  internalPort: field.port(8701, 'internal port, mutual TLS, db-proxies only: voice-message uploads and reads, without the per-address limits'),
  storage: field.oneOf(['disk', 's3'], 'disk', 'where files are kept: local disk (baseDir) or an S3-compatible bucket (s3* keys)'),
  baseDir: field.file(join(run, 'msfs', 'files'), 'storage folder of the disk backend (created if missing)'),
  filesPerDir: field.int(30_000, 'files per second-level folder (the original\'s FilesPerDir)', { min: 1 }),
  countFile: field.file(join(run, 'msfs', 'file-count'), 'where the count of stored files is kept (it picks the folder of the next file)'),
  s3Endpoint: field.string('', 'S3 endpoint URL (empty: AWS)'),
  s3Region: field.string('us-east-1', 'S3 region', { nonEmpty: true }),
  s3Bucket: field.string('', 'S3 bucket (must exist; required with storage "s3")'),
  s3KeyPrefix: field.string('', 'prefix of every object key in the bucket'),
  s3AccessKeyId: field.string('', 'S3 access key id (empty: the SDK\'s default credentials)', { aliases: ['AWS_ACCESS_KEY_ID'] }),
  s3SecretAccessKey: field.string('', 'S3 secret access key', { aliases: ['AWS_SECRET_ACCESS_KEY'] }),
  s3ForcePathStyle: field.bool(true, 'path-style bucket URLs (MinIO and most S3-compatible servers need it)'),
  s3TimeoutMs: field.int(10_000, 'an S3 request that takes longer fails', { min: 100 }),
  s3TempDir: field.file(join(run, 'msfs', 'incoming'), 'local folder where uploads are staged before they go to the bucket'),
  maxUploadBytes: field.int(10 * 1024 * 1024, 'largest upload (request body and file): more is refused with error_code 1 (the original: 10 MiB request)', { min: 1024 }),
  allowedTypes: field.stringList(
    ['jpg', 'jpeg', 'png', 'gif', 'bmp', 'webp', 'audio'],
    'file types (text after the last dot of the file name, any case) accepted; others get error_code 12',
  ),
  checkImageContent: field.bool(true, 'an upload named as an image must start like one (PNG, JPEG, GIF, BMP or WebP); others get error_code 12'),
  uploadsPerMinutePerAddress: field.int(60, 'uploads one client address may start per minute on the client port; more get error_code 13', { min: 1 }),
  concurrentUploadsPerAddress: field.int(4, 'uploads one client address may have in progress at once on the client port; more get error_code 13', { min: 1 }),
  maxConcurrentUploads: field.int(64, 'uploads in progress at once on both ports (bounds temporary space); more get error_code 13', { min: 1 }),
  maxTotalBytes: field.int(10 * 1024 ** 3, 'storage quota: bytes stored at most (0: no quota); uploads beyond get error_code 14', { min: 0 }),
  maxConnections: field.int(1000, 'client-port connections open at once; more are refused', { min: 1 }),
  idleTimeoutMs: field.int(30_000, 'a connection with no traffic either way for this long is closed (the original: 30 s without receiving)', { min: 100 }),
  requestTimeoutMs: field.int(120_000, 'a request (headers and body) must be received within this', { min: 100 }),
  headersTimeoutMs: field.int(10_000, 'request headers must be received within this', { min: 100 }),
  ...internalTlsSpec('msfs'),
};

export const msfsConfig = defineConfig('msfs', 'TT_MSFS', spec, [checkMsfsConfig]);
export type MsfsConfig = ConfigOf<typeof spec>;

/** Rules that span keys; throws ConfigError naming the key. */
export function checkMsfsConfig(config: MsfsConfig): void {
  if (config.storage === 's3' && config.s3Bucket === '') {
    throw new ConfigError('msfs config: key "s3Bucket" must be set when "storage" is "s3"');
  }
  if (config.publicUrl !== '') {
    const url = urlOrNull(config.publicUrl);
    if (url === null) throw new ConfigError(`msfs config: key "publicUrl" must be an http(s) URL, got ${JSON.stringify(config.publicUrl)}`);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ConfigError('msfs config: key "publicUrl" must be an http(s) URL');
  }
  for (const t of config.allowedTypes) {
    if (!/^[A-Za-z0-9]{1,15}$/.test(t)) throw new ConfigError(`msfs config: key "allowedTypes": "${t}" is not a file type (letters and digits, at most 15)`);
  }
  if (config.headersTimeoutMs > config.requestTimeoutMs) {
    throw new ConfigError('msfs config: key "headersTimeoutMs" must not exceed "requestTimeoutMs"');
  }
}
