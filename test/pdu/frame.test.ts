import t, { type Test } from 'tap';
import { FrameDecoder, HEADER_LENGTH, encodeFrame, readFrame, type Pdu } from '../../pdu/frame';
import type { FrameError } from '../../lib/errors';

function header(length: number, cmd = 0x0301, seq = 7): Buffer {
  const b = Buffer.alloc(16);
  b.writeUInt32BE(length, 0);
  b.writeUInt16BE(1, 4);
  b.writeUInt16BE(3, 8);
  b.writeUInt16BE(cmd, 10);
  b.writeUInt16BE(seq, 12);
  return b;
}

function decodeAll(decoder: FrameDecoder, chunks: Buffer[]): { frames: Pdu[]; error: FrameError | null } {
  const frames: Pdu[] = [];
  let error: FrameError | null = null;
  for (const chunk of chunks) {
    error = decoder.push(chunk, (pdu) => frames.push({ ...pdu, body: Buffer.from(pdu.body), frame: Buffer.from(pdu.frame) }));
    if (error) break;
  }
  return { frames, error };
}

t.test('encodeFrame writes the 16-byte big-endian header', async (t) => {
  const frame = encodeFrame(0x0003, 0x0301, 0x1234, Buffer.from([0xaa, 0xbb]));
  t.same([...frame], [0, 0, 0, 18, 0, 1, 0, 0, 0, 3, 3, 1, 0x12, 0x34, 0, 0, 0xaa, 0xbb]);
  const pdu = readFrame(frame, 0, frame.length);
  t.match(pdu, { version: 1, flag: 0, serviceId: 3, commandId: 0x0301, seqNum: 0x1234, reserved: 0 });
  t.same([...pdu.body], [0xaa, 0xbb]);
});

t.test('an empty body gives an exactly 16-byte PDU', async (t) => {
  t.equal(encodeFrame(7, 0x0701, 0, Buffer.alloc(0)).length, HEADER_LENGTH);
});

t.test('header fields the original ignores are preserved on read', async (t) => {
  const b = header(16, 0x0701, 9);
  b.writeUInt16BE(6, 4); // Android writes version 6
  b.writeUInt16BE(0x0030, 14); // and reserved '0'
  const { frames } = decodeAll(new FrameDecoder(), [b]);
  t.equal(frames.length, 1);
  t.equal(frames[0].version, 6);
  t.equal(frames[0].reserved, 0x30);
});

const stream = Buffer.concat([
  encodeFrame(3, 0x0301, 1, Buffer.from('first body')),
  encodeFrame(7, 0x0701, 0, Buffer.alloc(0)),
  encodeFrame(1, 0x0103, 65535, Buffer.alloc(300, 0x41)),
  encodeFrame(2, 0x0208, 3, Buffer.from([8, 1, 16, 0])),
]);

function expectStream(t: Test, frames: Pdu[]) {
  t.equal(frames.length, 4);
  t.same(frames.map((f) => f.commandId), [0x0301, 0x0701, 0x0103, 0x0208]);
  t.same(frames.map((f) => f.seqNum), [1, 0, 65535, 3]);
  t.equal(frames[0].body.toString(), 'first body');
  t.equal(frames[1].body.length, 0);
  t.equal(frames[2].body.length, 300);
  t.ok(Buffer.concat(frames.map((f) => f.frame)).equals(stream), 'frames reassemble to the original bytes');
}

t.test('many PDUs in one chunk', async (t) => {
  const { frames, error } = decodeAll(new FrameDecoder(), [stream]);
  t.equal(error, null);
  expectStream(t, frames);
});

t.test('one byte at a time', async (t) => {
  const decoder = new FrameDecoder();
  const chunks = [...stream].map((b) => Buffer.from([b]));
  const { frames, error } = decodeAll(decoder, chunks);
  t.equal(error, null);
  expectStream(t, frames);
  t.equal(decoder.bufferedBytes, 0);
});

t.test('split at every boundary into two chunks', async (t) => {
  for (let cut = 1; cut < stream.length; cut++) {
    const { frames, error } = decodeAll(new FrameDecoder(), [stream.subarray(0, cut), stream.subarray(cut)]);
    if (error || frames.length !== 4 || !Buffer.concat(frames.map((f) => f.frame)).equals(stream)) {
      t.fail(`split at ${cut} failed`);
      return;
    }
  }
  t.pass('every two-chunk split decodes the same four PDUs');
});

t.test('split into three chunks at every pair of boundaries around the big PDU', async (t) => {
  let ok = 0;
  for (let a = 1; a < 60; a++) {
    for (let b = a + 1; b < stream.length; b += 7) {
      const { frames } = decodeAll(new FrameDecoder(), [stream.subarray(0, a), stream.subarray(a, b), stream.subarray(b)]);
      if (frames.length === 4 && Buffer.concat(frames.map((f) => f.frame)).equals(stream)) ok++;
      else t.fail(`split at ${a},${b}`);
    }
  }
  t.ok(ok > 1000);
});

t.test('length 0 is a protocol error', async (t) => {
  const { frames, error } = decodeAll(new FrameDecoder(), [header(0)]);
  t.equal(frames.length, 0);
  t.match(error, { code: 'TT_ERR_PDU_LENGTH_TOO_SMALL', message: /below the 16-byte header/ });
});

t.test('length between 1 and 15 is a protocol error (the original under-flows here)', async (t) => {
  for (let len = 1; len < 16; len++) {
    const { error } = decodeAll(new FrameDecoder(), [header(len)]);
    t.equal((error as { code?: string } | null)?.code, 'TT_ERR_PDU_LENGTH_TOO_SMALL', `length ${len}`);
  }
});

t.test('length above the maximum is refused before buffering the body', async (t) => {
  const decoder = new FrameDecoder(1024);
  const { error } = decodeAll(decoder, [header(1025)]);
  t.match(error, { code: 'TT_ERR_PDU_LENGTH_TOO_LARGE', message: /exceeds the limit of 1024 bytes/ });
  t.equal(decoder.bufferedBytes, 0);
  const huge = decodeAll(new FrameDecoder(), [header(0xffffffff)]);
  t.match(huge.error, { code: 'TT_ERR_PDU_LENGTH_TOO_LARGE' });
});

t.test('exactly the maximum is accepted', async (t) => {
  const body = Buffer.alloc(1024 - 16, 1);
  const { frames, error } = decodeAll(new FrameDecoder(1024), [encodeFrame(3, 0x0301, 1, body)]);
  t.equal(error, null);
  t.equal(frames.length, 1);
});

t.test('a bad header after good PDUs: the good ones are delivered, then the error', async (t) => {
  const { frames, error } = decodeAll(new FrameDecoder(), [Buffer.concat([stream, header(3)])]);
  t.equal(frames.length, 4);
  t.equal(error?.code, 'TT_ERR_PDU_LENGTH_TOO_SMALL');
});

t.test('the bad header split across chunks is still caught', async (t) => {
  const bad = header(5);
  const { error } = decodeAll(new FrameDecoder(), [bad.subarray(0, 2), bad.subarray(2, 9), bad.subarray(9)]);
  t.equal(error?.code, 'TT_ERR_PDU_LENGTH_TOO_SMALL');
});

t.test('after an error the decoder stays failed', async (t) => {
  const decoder = new FrameDecoder();
  decodeAll(decoder, [header(2)]);
  const again = decodeAll(decoder, [stream]);
  t.equal(again.frames.length, 0);
  t.equal(again.error?.code, 'TT_ERR_PDU_LENGTH_TOO_SMALL', 'the first error again');
});

t.test('a partial PDU never holds more than its own length', async (t) => {
  const decoder = new FrameDecoder();
  const frame = encodeFrame(3, 0x0301, 1, Buffer.alloc(5000));
  decoder.push(frame.subarray(0, 100), () => {});
  t.equal(decoder.bufferedBytes, 100);
  decoder.push(frame.subarray(100, 4000), () => {});
  t.equal(decoder.bufferedBytes, 4000);
  let got = 0;
  decoder.push(frame.subarray(4000), () => got++);
  t.equal(got, 1);
  t.equal(decoder.bufferedBytes, 0);
});
