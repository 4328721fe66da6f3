/**
 * pcap / pcapng import: captures written by the test (real file layouts, real
 * Ethernet / IP / TCP headers) import to exactly the PDUs the capture proxy
 * recorded for the same session, whatever the file format, byte order,
 * timestamp resolution, link layer and IP version, with segments split
 * mid-PDU, retransmitted, overlapping and out of order. Also: connections
 * already open when the capture started, lost bytes, RST, the golden PDUs of
 * the real C++ msg server, corrupt files, and the CLI.
 */
import t from 'tap';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseCapture, bodyOf, frameOf, serializeRecord, type CaptureRecord, type PduRecord } from '../../tools/capture/format';
import { importPacketCapture, streamPacketCapture } from '../../tools/capture/pcap-import';
import { FileSource } from '../../tools/capture/byte-source';
import { PcapFormatError } from '../../tools/capture/pcap';
import { LinkType } from '../../tools/capture/packets';
import { projectRoot } from '../../lib/paths';
import { recordSession, tempDir } from './session';
import { runCli } from './run-cli';
import { sessionFrames, tcpSession, writePcap, writePcapng, type Endpoints, type Sent } from './pcap-builder';

const V4: Endpoints = { clientIp: '192.168.7.20', clientPort: 52311, serverIp: '10.0.0.5', serverPort: 8000 };
const V6: Endpoints = { clientIp: '2001:db8::20', clientPort: 52311, serverIp: 'fd00::5', serverPort: 8000 };

function pdus(records: readonly CaptureRecord[]): PduRecord[] {
  return records.filter((r): r is PduRecord => r.type === 'pdu');
}

/** What must survive the trip: direction, every header field, the body. */
function essence(records: readonly CaptureRecord[]) {
  return pdus(records).map((p) => ({ conn: p.conn, dir: p.dir, length: p.length, version: p.version, flag: p.flag, service: p.service, command: p.command, name: p.name, seq: p.seq, reserved: p.reserved, body: p.body, decoded: p.decoded }));
}

function sentOf(records: readonly CaptureRecord[]): Sent[] {
  return pdus(records).map((p) => ({ dir: p.dir, bytes: frameOf(p, bodyOf(p)) }));
}

t.test('the proxy-recorded session, as pcap and pcapng in every supported layout, imports to the same PDUs', async (t) => {
  const { capture } = await recordSession(t);
  const sent = sentOf(capture.records);
  const expected = essence(capture.records);
  t.equal(expected.length, 11);

  const variants: Array<{ name: string; file: () => Buffer; ep: Endpoints }> = [];
  const segments = tcpSession(sent, { retransmit: true, reorder: true, overlap: true });
  variants.push({
    name: 'libpcap little-endian µs, Ethernet, IPv4, retransmission + reordering + overlap',
    ep: V4,
    file: () => writePcap(sessionFrames(segments, V4, LinkType.ETHERNET), { linkType: LinkType.ETHERNET }),
  });
  variants.push({
    name: 'libpcap big-endian ns, Linux SLL, IPv4',
    ep: V4,
    file: () => writePcap(sessionFrames(segments, V4, LinkType.LINUX_SLL), { linkType: LinkType.LINUX_SLL, littleEndian: false, nanos: true }),
  });
  variants.push({
    name: 'pcapng little-endian ns resolution, Ethernet, IPv6, with a name resolution block',
    ep: V6,
    file: () =>
      writePcapng(sessionFrames(tcpSession(sent, { reorder: true, retransmit: true }), V6, LinkType.ETHERNET), {
        linkType: LinkType.ETHERNET,
        tsresol: 9,
        withNameBlock: true,
      }),
  });
  variants.push({
    name: 'pcapng big-endian 2^-20 s resolution, Linux SLL2, IPv4',
    ep: V4,
    file: () => writePcapng(sessionFrames(segments, V4, LinkType.LINUX_SLL2), { linkType: LinkType.LINUX_SLL2, littleEndian: false, tsresol: 0x80 | 20 }),
  });
  variants.push({
    name: 'libpcap raw IP, IPv6',
    ep: V6,
    file: () => writePcap(sessionFrames(segments, V6, LinkType.RAW), { linkType: LinkType.RAW }),
  });
  variants.push({
    name: 'libpcap BSD loopback, IPv4',
    ep: V4,
    file: () => writePcap(sessionFrames(segments, V4, LinkType.NULL), { linkType: LinkType.NULL }),
  });
  variants.push({
    name: 'pcapng BSD loopback, IPv6',
    ep: V6,
    file: () => writePcapng(sessionFrames(segments, V6, LinkType.NULL), { linkType: LinkType.NULL }),
  });

  for (const v of variants) {
    const result = importPacketCapture(v.file(), { serverPort: 8000, file: 'x.pcap' });
    t.same(essence(result.records), expected, `${v.name}: same PDUs`);
    t.same(result.warnings, [], `${v.name}: no warnings`);
    const clientAddr = v.ep.clientIp.includes(':') ? `[${v.ep.clientIp}]:${v.ep.clientPort}` : `${v.ep.clientIp}:${v.ep.clientPort}`;
    const serverAddr = v.ep.serverIp.includes(':') ? `[${v.ep.serverIp}]:${v.ep.serverPort}` : `${v.ep.serverIp}:${v.ep.serverPort}`;
    t.match(result.records[0], { type: 'capture', source: 'pcap', file: 'x.pcap', serverPort: 8000 });
    t.same(result.records[1], { type: 'open', conn: 1, time: '2026-11-22T11:25:55.123Z', t: 0, client: clientAddr, server: serverAddr }, `${v.name}: open`);
    t.match(result.records[result.records.length - 1], { type: 'close', conn: 1, by: 'client', reason: 'client closed the connection (FIN)' });
    // Round trip through the file format.
    const text = result.records.map((r) => JSON.stringify(r)).join('\n') + '\n';
    t.same(essence(parseCapture(text).records), expected, `${v.name}: parses back`);
  }

  const first = importPacketCapture(variants[0].file(), { serverPort: 8000 });
  t.ok(first.stats.retransmitted >= 2, 'retransmitted and overlapping segments were seen');
  t.ok(first.stats.outOfOrder >= 1, 'an out-of-order segment was seen');
  t.equal(first.stats.connections, 1);
  t.equal(first.stats.gaps, 0);
  // Timestamps: packet k is 1.25 ms after the first; a PDU is stamped with the packet that completed it.
  for (const p of pdus(first.records)) t.equal(Math.round(p.t * 1000) % 250, 0, 'offsets are whole multiples of the packet spacing');
  const ns = importPacketCapture(variants[1].file(), { serverPort: 8000 });
  t.same(
    pdus(ns.records).map((p) => p.t),
    pdus(first.records).map((p) => p.t),
    'nanosecond and microsecond files give the same offsets',
  );
});

t.test('several connections, port reuse, and other traffic in one capture', async (t) => {
  const { capture } = await recordSession(t);
  const sent = sentOf(capture.records);
  const a = sessionFrames(tcpSession(sent), V4, LinkType.ETHERNET, 1_700_000_000_000);
  const b = sessionFrames(tcpSession(sent, { clientIsn: 77, sizes: [5, 9] }), { ...V4, clientPort: 40000 }, LinkType.ETHERNET, 1_700_000_000_000.5);
  // The same 4-tuple again after the first one closed.
  const c = sessionFrames(tcpSession(sent, { clientIsn: 12345 }), V4, LinkType.ETHERNET, 1_700_000_001_000);
  // Interleave a and b packet by packet; add traffic on another port.
  const other = sessionFrames(tcpSession([{ dir: 'c2s', bytes: Buffer.from('not teamtalk') }]), { ...V4, serverPort: 3306 }, LinkType.ETHERNET, 1_700_000_000_000.2);
  const frames = [];
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    if (a[i]) frames.push(a[i]);
    if (b[i]) frames.push(b[i]);
    if (other[i]) frames.push(other[i]);
  }
  frames.push(...c);
  const result = importPacketCapture(writePcap(frames, { linkType: LinkType.ETHERNET }), { serverPort: 8000 });
  t.equal(result.stats.connections, 3);
  const expected = essence(capture.records).map((p) => ({ ...p, conn: 0 }));
  for (const conn of [1, 2, 3]) {
    t.same(
      essence(result.records)
        .filter((p) => p.conn === conn)
        .map((p) => ({ ...p, conn: 0 })),
      expected,
      `connection ${conn} has the whole session`,
    );
  }
  const opens = result.records.filter((r) => r.type === 'open');
  t.same(
    opens.map((o) => (o.type === 'open' ? o.client : '')),
    ['192.168.7.20:52311', '192.168.7.20:40000', '192.168.7.20:52311'],
  );
  t.ok(result.stats.ignored > 0, 'traffic on other ports is ignored');
});

t.test('connections already open when the capture started', async (t) => {
  const { capture } = await recordSession(t);
  const sent = sentOf(capture.records);
  const expected = essence(capture.records);

  // Joined at a PDU boundary: nothing lost, flagged midstream.
  const clean = importPacketCapture(writePcap(sessionFrames(tcpSession(sent, { handshake: false }), V4, LinkType.ETHERNET), { linkType: LinkType.ETHERNET }), {
    serverPort: 8000,
  });
  t.same(essence(clean.records), expected);
  t.match(clean.records[1], { type: 'open', midstream: true });
  t.notOk(clean.records.some((r) => r.type === 'resync'), 'nothing dropped');

  // Joined in the middle of the first PDUs: the importer moves on to the next header it can trust.
  const segments = tcpSession(sent, { handshake: false, sizes: [10, 30, 200] });
  const firstServerData = segments.findIndex((s) => s.dir === 's2c');
  const joined = segments.filter((_, i) => i !== 0 && i !== firstServerData);
  const result = importPacketCapture(writePcap(sessionFrames(joined, V4, LinkType.ETHERNET), { linkType: LinkType.ETHERNET }), { serverPort: 8000 });
  const resyncs = result.records.filter((r) => r.type === 'resync');
  t.same(
    resyncs.map((r) => (r.type === 'resync' ? [r.dir, r.dropped > 0] : [])).sort(),
    [
      ['c2s', true],
      ['s2c', true],
    ],
  );
  const got = essence(result.records);
  const c2s = expected.filter((p) => p.dir === 'c2s');
  const s2c = expected.filter((p) => p.dir === 's2c');
  t.same(got.filter((p) => p.dir === 'c2s'), c2s.slice(1), 'every client PDU after the cut one');
  t.same(got.filter((p) => p.dir === 's2c'), s2c.slice(1), 'every server PDU after the cut one');
});

t.test('bytes the capture missed: recorded as a gap, the stream picks up again', async (t) => {
  const { capture } = await recordSession(t);
  const sent = sentOf(capture.records);
  const expected = essence(capture.records);
  const segments = tcpSession(sent, { sizes: [40] });
  // Drop one client data segment in the middle for good.
  const dataIndexes = segments.map((s, i) => (s.dir === 'c2s' && s.payload.length > 0 ? i : -1)).filter((i) => i >= 0);
  const dropped = dataIndexes[2];
  const result = importPacketCapture(
    writePcap(sessionFrames(segments.filter((_, i) => i !== dropped), V4, LinkType.ETHERNET), { linkType: LinkType.ETHERNET }),
    { serverPort: 8000 },
  );
  const gap = result.records.find((r) => r.type === 'error');
  t.match(gap, {
    dir: 'c2s',
    code: 'TT_ERR_CAPTURE_GAP',
    message: new RegExp(`^${segments[dropped].payload.length} bytes of the c2s stream were never captured`),
  });
  t.equal(result.stats.gaps, 1);
  t.same(essence(result.records).filter((p) => p.dir === 's2c'), expected.filter((p) => p.dir === 's2c'), 'the other direction is whole');
  const c2s = essence(result.records).filter((p) => p.dir === 'c2s');
  t.ok(c2s.length >= 2 && c2s.length < expected.filter((p) => p.dir === 'c2s').length, 'client PDUs around the gap survive');
  t.same(c2s[c2s.length - 1], expected.filter((p) => p.dir === 'c2s').pop(), 'the last client PDU is back in sync');
});

t.test('RST ends a connection; a cut-off packet (snaplen) is a warning and a gap', async (t) => {
  const { capture } = await recordSession(t);
  const sent = sentOf(capture.records);
  const reset = importPacketCapture(writePcap(sessionFrames(tcpSession(sent, { close: 'rst' }), V4, LinkType.ETHERNET), { linkType: LinkType.ETHERNET }), {
    serverPort: 8000,
  });
  t.match(reset.records[reset.records.length - 1], { type: 'close', by: 'client', reason: 'client reset the connection (RST)' });
  t.same(essence(reset.records), essence(capture.records));

  const open = importPacketCapture(writePcap(sessionFrames(tcpSession(sent, { close: 'none' }), V4, LinkType.ETHERNET), { linkType: LinkType.ETHERNET }), {
    serverPort: 8000,
  });
  t.match(open.records[open.records.length - 1], { type: 'close', by: 'capture-end', reason: /capture ended while the connection was open/ });

  const frames = sessionFrames(tcpSession(sent, { sizes: [100] }), V4, LinkType.ETHERNET);
  const big = frames.findIndex((f) => f.data.length > 14 + 20 + 32 + 60);
  const cutLength = frames[big].data.length;
  frames[big] = { ...frames[big], data: frames[big].data.subarray(0, 14 + 20 + 32 + 20), originalLength: cutLength };
  const cut = importPacketCapture(writePcap(frames, { linkType: LinkType.ETHERNET, snaplen: 262144 }), { serverPort: 8000 });
  t.match(cut.warnings.join('\n'), new RegExp(`packet #${big + 1} at byte offset \\d+: only 20 of \\d+ TCP payload bytes were captured \\(snaplen\\)`));
  t.match(cut.records.find((r) => r.type === 'error'), { code: 'TT_ERR_CAPTURE_GAP', message: /not captured \(snaplen too small/ });
});

t.test('the golden PDUs of the real C++ msg server survive a pcap round trip byte for byte', async (t) => {
  const golden = readFileSync(join(projectRoot, 'test/fixtures/golden-pdus.jsonl'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { link: string; dir: 'c2s' | 's2c'; name: string; seq: number; hex: string; decoded: unknown })
    .filter((g) => g.link.startsWith('client <-> msg_server'));
  t.ok(golden.length >= 10, `${golden.length} client <-> msg_server PDUs`);
  const sent = golden.map((g) => ({ dir: g.dir, bytes: Buffer.from(g.hex, 'hex') }));
  const file = writePcap(sessionFrames(tcpSession(sent, { reorder: true, retransmit: true }), V4, LinkType.ETHERNET), { linkType: LinkType.ETHERNET });
  const imported = pdus(importPacketCapture(file, { serverPort: 8000 }).records);
  t.equal(imported.length, golden.length);
  imported.forEach((p, i) => {
    const g = golden[i];
    t.equal(frameOf(p, bodyOf(p)).toString('hex'), g.hex, `${g.name}: same bytes`);
    t.equal(p.dir, g.dir);
    t.equal(p.name, g.name);
    t.equal(p.seq, g.seq);
    t.same(p.decoded, g.decoded, `${g.name}: decoded like the golden file`);
  });
});

t.test('format v1 stays stable: the checked-in golden session capture is reproduced byte for byte', async (t) => {
  const fixture = readFileSync(join(projectRoot, 'test/fixtures/golden-session.capture.jsonl'));
  const golden = readFileSync(join(projectRoot, 'test/fixtures/golden-pdus.jsonl'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { link: string; dir: 'c2s' | 's2c'; hex: string })
    .filter((g) => g.link.startsWith('client <-> msg_server'));
  const file = writePcap(sessionFrames(tcpSession(golden.map((g) => ({ dir: g.dir, bytes: Buffer.from(g.hex, 'hex') }))), V4, LinkType.ETHERNET), {
    linkType: LinkType.ETHERNET,
  });
  const imported = importPacketCapture(file, { serverPort: 8000, file: 'golden-session.pcap' });
  t.equal(imported.records.map(serializeRecord).join(''), fixture.toString('utf8'), 'same file as the fixture');
  const parsed = parseCapture(fixture);
  t.equal(parsed.records.filter((r) => r.type === 'pdu').length, golden.length);
});

t.test('corrupt and truncated files: a clear error naming the byte offset', async (t) => {
  const { capture } = await recordSession(t);
  const frames = sessionFrames(tcpSession(sentOf(capture.records)), V4, LinkType.ETHERNET);
  const pcap = writePcap(frames, { linkType: LinkType.ETHERNET });
  const pcapng = writePcapng(frames, { linkType: LinkType.ETHERNET });
  const fails = (buf: Buffer, pattern: RegExp, what: string) => {
    try {
      importPacketCapture(buf, { serverPort: 8000 });
      t.fail(`${what}: should have failed`);
    } catch (err) {
      t.type(err, PcapFormatError, what);
      t.match((err as Error).message, pattern, what);
    }
  };
  fails(Buffer.from('hello world, not a capture'), /not a pcap or pcapng file .* \(at byte offset 0\)/, 'bad magic');
  fails(pcap.subarray(0, 20), /truncated file: the pcap global header needs 24 bytes but only 20 remain .*\(at byte offset 0\)/, 'short header');
  // Cut inside the 3rd packet's data.
  const third = 24 + 16 + frames[0].data.length + 16 + frames[1].data.length;
  fails(pcap.subarray(0, third + 16 + 5), new RegExp(`packet #3 \\(${frames[2].data.length} captured bytes\\).*\\(at byte offset ${third + 16}\\)`), 'cut packet');
  fails(pcap.subarray(0, third + 7), new RegExp(`the header of packet #3 needs 16 bytes but only 7 remain.*\\(at byte offset ${third}\\)`), 'cut record header');
  const corrupt = Buffer.from(pcap);
  corrupt.writeUInt32LE(0x7fffffff, third + 8);
  fails(corrupt, new RegExp(`packet #3: captured length 2147483647 exceeds the snaplen.*\\(at byte offset ${third + 8}\\)`), 'absurd length');

  fails(pcapng.subarray(0, pcapng.length - 6), /truncated file: a pcapng block of \d+ bytes .*\(at byte offset \d+\)/, 'cut pcapng');
  const badTrailer = Buffer.from(pcapng);
  const shbLength = badTrailer.readUInt32LE(4);
  const idbLength = badTrailer.readUInt32LE(shbLength + 4);
  const epb = shbLength + idbLength;
  const epbLength = badTrailer.readUInt32LE(epb + 4);
  badTrailer.writeUInt32LE(epbLength + 4, epb + epbLength - 4);
  fails(badTrailer, new RegExp(`pcapng block at byte ${epb} ends with length ${epbLength + 4}, not ${epbLength}`), 'bad trailer');
  const badLength = Buffer.from(pcapng);
  badLength.writeUInt32LE(13, epb + 4);
  fails(badLength, new RegExp(`invalid total length 13 \\(at byte offset ${epb + 4}\\)`), 'bad block length');
  const noInterface = Buffer.from(pcapng);
  noInterface.writeUInt32LE(3, epb + 8);
  fails(noInterface, /refers to interface 3, which no interface description block defined/, 'unknown interface');
  fails(writePcap(frames, { linkType: 105 }), /packet #1 uses link type 105, which is not supported .*\(at byte offset 24\)/, 'wifi link type');
});

t.test('read from the file a window at a time, a capture gives the same records as read whole', async (t) => {
  const { capture } = await recordSession(t);
  const dir = tempDir(t);
  const frames = sessionFrames(tcpSession(sentOf(capture.records), { reorder: true }), V4, LinkType.ETHERNET);
  const files: Array<[string, Buffer]> = [
    ['session.pcap', writePcap(frames, { linkType: LinkType.ETHERNET })],
    ['session.pcapng', writePcapng(frames, { linkType: LinkType.ETHERNET })],
  ];
  for (const [name, bytes] of files) {
    const path = join(dir, name);
    writeFileSync(path, bytes);
    const whole = importPacketCapture(bytes, { serverPort: 8000 });
    // Windows smaller than one record, cutting records anywhere, and larger than the file.
    for (const windowBytes of [5, 64, 1000, 1 << 20]) {
      const source = FileSource.open(path, windowBytes);
      const records: CaptureRecord[] = [];
      const summary = streamPacketCapture(source, { serverPort: 8000 }, (r) => records.push(r));
      source.close();
      t.equal(records.map(serializeRecord).join(''), whole.records.map(serializeRecord).join(''), `${name}, ${windowBytes}-byte windows`);
      t.same(summary.stats, whole.stats);
    }
  }
});

t.test('the pcap-import CLI', async (t) => {
  const { capture } = await recordSession(t);
  const dir = tempDir(t);
  const pcapFile = join(dir, 'session.pcapng');
  writeFileSync(pcapFile, writePcapng(sessionFrames(tcpSession(sentOf(capture.records), { reorder: true }), V4, LinkType.ETHERNET), { linkType: LinkType.ETHERNET }));
  const out = join(dir, 'imported.jsonl');
  const ok = await runCli('tools/capture/pcap-cli.js', [pcapFile, '--port', '8000', '--out', out]);
  t.equal(ok.code, 0, ok.stderr);
  t.match(ok.stderr, /session\.pcapng \(pcapng\) -> .*imported\.jsonl: packets \d+, connections 1, PDUs 11, retransmitted segments 0, out-of-order segments 1, gaps 0/);
  t.same(essence(parseCapture(readFileSync(out)).records), essence(capture.records));

  const again = await runCli('tools/capture/pcap-cli.js', [pcapFile, '--out', out]);
  t.equal(again.code, 1);
  t.match(again.stderr, /already exists \(pass --force to overwrite it\)/);
  const forced = await runCli('tools/capture/pcap-cli.js', [pcapFile, '--out', out, '--force']);
  t.equal(forced.code, 0, forced.stderr);

  const broken = join(dir, 'broken.pcap');
  writeFileSync(broken, readFileSync(pcapFile).subarray(0, 100));
  const bad = await runCli('tools/capture/pcap-cli.js', [broken, '--out', join(dir, 'never.jsonl')]);
  t.equal(bad.code, 1);
  t.match(bad.stderr, /broken\.pcap: truncated file: .*\(at byte offset \d+\)/);
  t.notOk(existsSync(join(dir, 'never.jsonl')), 'nothing imported: no output file left behind');
  // tcpdump killed mid-write: the records before the cut are kept, and the error says so.
  const cutOff = join(dir, 'cut-off.pcapng');
  const whole = readFileSync(pcapFile);
  writeFileSync(cutOff, whole.subarray(0, whole.length - 10));
  const partialOut = join(dir, 'partial.jsonl');
  const partial = await runCli('tools/capture/pcap-cli.js', [cutOff, '--out', partialOut]);
  t.equal(partial.code, 1);
  t.match(partial.stderr, /cut-off\.pcapng: truncated file: .*\(the \d+ records before it are in .*partial\.jsonl\)/);
  t.ok(pdus(parseCapture(readFileSync(partialOut)).records).length > 0, 'the partial capture parses and holds the PDUs before the cut');
  const wrongPort = await runCli('tools/capture/pcap-cli.js', [pcapFile, '--port', '9000', '--out', join(dir, 'empty.jsonl')]);
  t.equal(wrongPort.code, 0);
  t.match(wrongPort.stderr, /warning: no TCP connection to or from port 9000 was found/);
  const usage = await runCli('tools/capture/pcap-cli.js', [pcapFile, '--port', 'eighty', '--out', out]);
  t.equal(usage.code, 2);
  t.match(usage.stderr, /--port must be a whole number from 1 to 65535/);
});
