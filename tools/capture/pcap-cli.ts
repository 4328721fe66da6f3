/**
 * `npm run pcap-import -- FILE.pcap|FILE.pcapng --port 8000 --out capture.jsonl`
 *
 * Turns a tcpdump / Wireshark capture of client <-> msg server traffic into the
 * capture format the proxy writes, so it can be read, diffed and replayed.
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { CaptureFileWriter } from './file-writer';
import { importPacketCapture } from './pcap-import';
import { UsageError, parseCommandLine, parseIntOption, runMain } from './cli-support';

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

  let data: Buffer;
  try {
    data = readFileSync(file);
  } catch (err) {
    throw new Error(`cannot read ${file}: ${(err as Error).message}`);
  }
  let result;
  try {
    result = importPacketCapture(data, { serverPort, file: basename(file) });
  } catch (err) {
    throw new Error(`${file}: ${(err as Error).message}`);
  }
  for (const warning of result.warnings) process.stderr.write(`pcap-import: warning: ${warning}\n`);
  const writer = await CaptureFileWriter.open(values.out, values.force === true);
  for (const record of result.records) writer.write(record);
  await writer.close();
  const s = result.stats;
  process.stderr.write(
    `pcap-import: ${file} (${result.format}) -> ${values.out}: packets ${s.packets}, connections ${s.connections}, PDUs ${s.pdus}, ` +
      `retransmitted segments ${s.retransmitted}, out-of-order segments ${s.outOfOrder}, gaps ${s.gaps}\n`,
  );
  return 0;
}

runMain('pcap-import', USAGE, main);
