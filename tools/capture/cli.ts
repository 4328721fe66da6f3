/**
 * `npm run capture -- --listen HOST:PORT --target HOST:PORT --out FILE`
 *
 * Point clients at the listen address instead of the msg server; every PDU of
 * every connection goes to FILE (format: tools/capture/README.md) while traffic
 * passes through unchanged. Stop with Ctrl-C (SIGINT) or SIGTERM: open
 * connections are closed and recorded, and the file is flushed.
 */
import { createLogger } from '../../lib/log';
import { CaptureFileWriter } from './file-writer';
import { startCaptureProxy } from './proxy';
import { UsageError, parseCommandLine, parseHostPortOption, parseIntOption, runMain } from '../../lib/cli';

const USAGE = `usage: npm run capture -- --target HOST:PORT --out FILE [--listen [HOST:]PORT] [--force]

  --target HOST:PORT    the msg server to forward to
  --out FILE            capture file to write (JSON Lines; refuses to overwrite without --force)
  --listen [HOST:]PORT  where clients connect (default 127.0.0.1:8001; a bare port listens on 127.0.0.1)
  --max-pdu BYTES       largest PDU the recorder frames (default 64 MiB; traffic is forwarded regardless)
  --log-level LEVEL     pino level for the connection log on stdout (default info)`;

async function main(): Promise<number> {
  const { values, positionals } = parseCommandLine(process.argv.slice(2), {
    listen: { type: 'string' },
    target: { type: 'string' },
    out: { type: 'string' },
    force: { type: 'boolean' },
    'max-pdu': { type: 'string' },
    'log-level': { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) throw new UsageError('');
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  if (!values.target) throw new UsageError('--target is required');
  if (!values.out) throw new UsageError('--out is required');
  const target = parseHostPortOption('target', values.target);
  const listen = parseHostPortOption('listen', values.listen ?? '8001', { defaultHost: '127.0.0.1', allowZero: true });
  const maxPduLength = parseIntOption('max-pdu', values['max-pdu'], 16, 2 ** 31);
  const logger = createLogger('capture', values['log-level'] ?? 'info');

  const writer = await CaptureFileWriter.open(values.out, values.force === true);
  const proxy = await startCaptureProxy({ listen, target, maxPduLength, logger, onRecord: (r) => writer.write(r) });
  logger.info(
    { listen: `${proxy.address.host}:${proxy.address.port}`, target: `${target.host}:${target.port}`, out: values.out },
    'capture: relaying; Ctrl-C stops and flushes the file',
  );

  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await proxy.close();
  await writer.close();
  logger.info({ out: values.out, records: writer.records }, 'capture: stopped, file complete');
  return 0;
}

runMain('capture', USAGE, main);
