/**
 * `npm run pcap-import -- FILE.pcap|FILE.pcapng --port 8000 --out capture.jsonl`
 *
 * Turns a tcpdump / Wireshark capture of client <-> msg server traffic into the
 * capture format the proxy writes, so it can be read, diffed and replayed.
 */
import { rmSync } from 'node:fs';
import { basename } from 'node:path';
import { FileSource } from './byte-source';
import { SyncCaptureFileWriter } from './file-writer';
import { streamPacketCapture } from './pcap-import';
import { UsageError, parseCommandLine, parseIntOption, runMain } from '../../lib/cli';

const USAGE = `usage: npm run pcap-import -- FILE.pcap|FILE.pcapng --out FILE [--port PORT] [--force]

  FILE         libpcap (tcpdump -w) or pcapng (Wireshark) capture
  --port PORT  the msg server's client port: traffic to it is client -> server (default 8000)
  --out FILE   capture file to write (JSON Lines; refuses to overwrite without --force)`;

async function main(): Promise<number> {
  const { values, positionals } = parseCommandLine(process.argv.slice(2), {
    port: { type: 'string' },
    out: { type: 'string' },
    force: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) throw new UsageError('');
  if (positionals.length !== 1) throw new UsageError(positionals.length === 0 ? 'which capture file?' : 'one capture file at a time');
  if (!values.out) throw new UsageError('--out is required');
  const serverPort = parseIntOption('port', values.port ?? '8000', 1, 65535) as number;
  const file = positionals[0];

  let source: FileSource;
  try {
    source = FileSource.open(file);
  } catch (err) {
    throw new Error(`cannot read ${file}: ${(err as Error).message}`);
  }
  const writer = SyncCaptureFileWriter.open(values.out, values.force === true);
  let result;
  try {
    result = streamPacketCapture(source, { serverPort, file: basename(file) }, (record) => writer.write(record));
  } catch (err) {
    writer.close();
    if (writer.records === 0) {
      rmSync(values.out, { force: true });
      throw new Error(`${file}: ${(err as Error).message}`);
    }
    // What was imported up to the broken spot is kept: it is often what the QA engineer needs.
    throw new Error(`${file}: ${(err as Error).message} (the ${writer.records} records before it are in ${values.out})`);
  } finally {
    source.close();
  }
  writer.close();
  for (const warning of result.warnings) process.stderr.write(`pcap-import: warning: ${warning}\n`);
  const s = result.stats;
  process.stderr.write(
    `pcap-import: ${file} (${result.format}) -> ${values.out}: packets ${s.packets}, connections ${s.connections}, PDUs ${s.pdus}, ` +
      `retransmitted segments ${s.retransmitted}, out-of-order segments ${s.outOfOrder}, gaps ${s.gaps}\n`,
  );
  return 0;
}

runMain('pcap-import', USAGE, main);
