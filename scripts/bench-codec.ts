/**
 * `npm run bench:codec`: encode and decode throughput of a ~100-byte
 * CID_MSG_DATA PDU (protobuf body + 16-byte header), single core, in-memory.
 * Prints one JSON line.
 */
import { CID, IM, ServiceId } from '../pdu/commands';
import { FrameDecoder, encodeFrame } from '../pdu/frame';
import { UsageError, parseCommandLine, parseNumberOption, runMain } from '../lib/cli';

const BATCH = 10_000;

const message: IM.Message.IIMMsgData = {
  from_user_id: 100_001,
  to_session_id: 100_002,
  msg_id: 12_345,
  create_time: 1_795_346_758,
  msg_type: IM.BaseDefine.MsgType.MSG_TYPE_SINGLE_TEXT,
  msg_data: Buffer.from('x'.repeat(72)),
};

function encodeOne(seq: number): Buffer {
  return encodeFrame(ServiceId.MSG, CID.MSG_DATA, seq, IM.Message.IMMsgData.encode(message).finish());
}

function measure(label: string, seconds: number, run: () => number): { label: string; per_s: number } {
  run(); // warm up
  let done = 0;
  const start = process.hrtime.bigint();
  const until = start + BigInt(Math.round(seconds * 1e9));
  let now = start;
  while (now < until) {
    done += run();
    now = process.hrtime.bigint();
  }
  return { label, per_s: Math.round(done / (Number(now - start) / 1e9)) };
}

const USAGE = 'usage: npm run bench:codec [-- SECONDS]   (how long each measurement runs, 0.1 to 600 s; default 3)';

async function main(): Promise<number> {
  const { positionals } = parseCommandLine(process.argv.slice(2), {});
  if (positionals.length > 1) throw new UsageError(`one argument at most, got ${positionals.length}`);
  const seconds = parseNumberOption('SECONDS', positionals[0], 0.1, 600) ?? 3;
  const pduBytes = encodeOne(1).length;
  const stream = Buffer.concat(Array.from({ length: BATCH }, (_, i) => encodeOne(i)));
  // Real reads arrive in 64 KiB pieces, PDUs split across them.
  const chunks: Buffer[] = [];
  for (let off = 0; off < stream.length; off += 65_536) chunks.push(stream.subarray(off, off + 65_536));

  const encode = measure('encode', seconds, () => {
    for (let i = 0; i < BATCH; i++) encodeOne(i);
    return BATCH;
  });
  const decode = measure('decode', seconds, () => {
    const decoder = new FrameDecoder();
    let n = 0;
    for (const chunk of chunks) {
      decoder.push(chunk, (pdu) => {
        IM.Message.IMMsgData.decode(pdu.body);
        n++;
      });
    }
    return n;
  });
  const frameOnly = measure('frame-only', seconds, () => {
    const decoder = new FrameDecoder();
    let n = 0;
    for (const chunk of chunks) decoder.push(chunk, () => n++);
    return n;
  });
  process.stdout.write(
    JSON.stringify({
      pdu_bytes: pduBytes,
      encode_pdus_per_s: encode.per_s,
      decode_pdus_per_s: decode.per_s,
      frame_split_pdus_per_s: frameOnly.per_s,
      node: process.version,
    }) + '\n',
  );
  return 0;
}

runMain('bench-codec', USAGE, main);
