/**
 * `npm run bench:pcap-import [-- PDUS]`: how fast, and in how much memory,
 * `npm run pcap-import` turns a large tcpdump capture into a capture file.
 * Writes a libpcap file of one client <-> msg server session (PDUS message
 * PDUs with 600-byte bodies and their acks, 1400-byte TCP segments; built with
 * the tests' pcap writer) to a temporary directory, imports it with the real
 * CLI in a child process, and prints one JSON line: sizes, seconds, the
 * child's peak RSS. The temporary files are removed.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { IM } from '../pdu/commands';
import { encodePdu } from '../pdu/encode';
import { projectRoot } from '../lib/paths';
import { UsageError, parseCommandLine, parseIntOption, runMain } from '../lib/cli';
import { LinkType } from '../tools/capture/packets';
import { sessionFrames, tcpSession, writePcap, type Sent } from '../test/tools/pcap-builder';

function buildCapture(pdus: number): Buffer {
  const sent: Sent[] = [];
  for (let i = 1; i <= pdus / 2; i++) {
    const msg = { from_user_id: 1, to_session_id: 2, msg_id: 0, create_time: 1_795_346_758, msg_type: 1, msg_data: Buffer.alloc(600, 'x') };
    sent.push({ dir: 'c2s', bytes: encodePdu(IM.Message.IMMsgData, msg, i) });
    sent.push({ dir: 's2c', bytes: encodePdu(IM.Message.IMMsgDataAck, { user_id: 1, session_id: 2, msg_id: i, session_type: 1 }, i) });
  }
  const ends = { clientIp: '10.0.0.2', clientPort: 50000, serverIp: '10.0.0.5', serverPort: 8000 };
  return writePcap(sessionFrames(tcpSession(sent, { sizes: [1400] }), ends, LinkType.ETHERNET), { linkType: LinkType.ETHERNET });
}

/** Runs the pcap-import CLI; resolves with its wall time and peak RSS. */
function importWithCli(pcap: string, out: string): Promise<{ seconds: number; maxRssKb: number }> {
  const cli = join(projectRoot, 'dist/tools/capture/pcap-cli.js');
  // The child reports its own peak RSS on fd 3 as it exits: VmHWM, since Linux carries
  // getrusage's maxrss over from before exec, i.e. from this (large) process.
  const reportPeak = () => {
    const fs = require('node:fs') as typeof import('node:fs');
    const hwm = /VmHWM:\s+(\d+)/.exec(fs.readFileSync('/proc/self/status', 'utf8'))?.[1];
    fs.writeSync(3, hwm ?? String(process.resourceUsage().maxRSS));
  };
  const wrapper = `process.on('exit', ${reportPeak.toString()}); process.argv.splice(1, 0, 'pcap-import'); require(${JSON.stringify(cli)});`;
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn(process.execPath, ['-e', wrapper, pcap, '--port', '8000', '--out', out], { stdio: ['ignore', 'inherit', 'inherit', 'pipe'] });
    let rss = '';
    (child.stdio[3] as NodeJS.ReadableStream).on('data', (d: Buffer) => (rss += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`pcap-import exited with ${code}`));
      resolve({ seconds: Number(process.hrtime.bigint() - started) / 1e9, maxRssKb: Number(rss) });
    });
  });
}

const USAGE = 'usage: npm run bench:pcap-import [-- PDUS]   (PDUS in the capture, 2 to 100000000; default 400000)';

async function main(): Promise<number> {
  const { positionals } = parseCommandLine(process.argv.slice(2), {});
  if (positionals.length > 1) throw new UsageError(`one argument at most, got ${positionals.length}`);
  const pdus = parseIntOption('PDUS', positionals[0], 2, 100_000_000) ?? 400_000;
  const dir = mkdtempSync(join(tmpdir(), 'tt-bench-pcap-'));
  try {
    const pcap = join(dir, 'session.pcap');
    const out = join(dir, 'session.jsonl');
    writeFileSync(pcap, buildCapture(pdus));
    const { seconds, maxRssKb } = await importWithCli(pcap, out);
    process.stdout.write(
      JSON.stringify({
        pdus,
        pcap_bytes: statSync(pcap).size,
        capture_file_bytes: statSync(out).size,
        seconds: Math.round(seconds * 100) / 100,
        pdus_per_s: Math.round(pdus / seconds),
        peak_rss_kb: maxRssKb,
      }) + '\n',
    );
    return 0;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

runMain('bench-pcap-import', USAGE, main);
