/**
 * `npm run bench:route`: relay throughput and latency of the route server.
 * Two fake msg servers (our connection layer over loopback TCP) blast
 * CID_MSG_DATA PDUs (~100-byte bodies) through the route server to each other,
 * keeping a bounded number in flight, for a fixed time, then print one JSON line:
 *   {"relayed_per_s":..., "p50_ms":..., "p99_ms":..., "sent":..., "received":..., ...}
 *
 *   --seconds N      measured time (default 10), after a 1 s warm-up
 *   --window N       PDUs in flight per direction (default 1000, at most 30000)
 *   --one-way        only A -> B (default: both directions at once)
 *   --target H:P     use a running route server on this loopback address instead of starting one
 *   --plaintext      plain TCP links (the route server lists 127.0.0.1 in plaintextPeers), to measure what TLS costs
 *   --same-thread    run the in-process route server on the bench's own thread (default: its own worker thread,
 *                    i.e. its own core, as a separate process would have)
 *
 * Latency: each PDU's seq_num indexes the time it was handed to the socket; the
 * route server forwards the frame unchanged, so the receiver finds it again.
 */
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { IM, CID, ServiceId } from '../pdu/commands';
import { PduConnection } from '../pdu/connection';
import { encodeFrame, type Pdu } from '../pdu/frame';
import { isLoopbackHost } from '../lib/host-port';
import { parseCommandLine, parseHostPortOption } from '../lib/cli';
import { dialInternal, type InternalTls } from '../lib/internal-tls';
import { silentLogger } from '../lib/log';
import { ensureCertificate } from '../lib/pki';
import { localIdentity, localPki } from './cluster/pki';
import { routeServerConfig } from '../services/route-server/config';
import { startRouteServer } from '../services/route-server/route-server';

interface Options {
  seconds: number;
  warmupSeconds: number;
  window: number;
  duplex: boolean;
  target: { host: string; port: number } | null;
  sameThread: boolean;
  /** Plain TCP instead of mutual TLS between the fake msg servers and the route server (to measure what TLS costs). */
  plaintext: boolean;
}

function parseOptions(argv: string[]): Options {
  const { values } = parseCommandLine(
    argv,
    {
      seconds: { type: 'string' },
      window: { type: 'string' },
      'one-way': { type: 'boolean' },
      'same-thread': { type: 'boolean' },
      plaintext: { type: 'boolean' },
      target: { type: 'string' },
    },
    { positionals: false },
  );
  const target = values.target === undefined ? null : parseHostPortOption('target', values.target);
  const options: Options = {
    seconds: Number(values.seconds ?? 10),
    warmupSeconds: 1,
    window: Number(values.window ?? 1000),
    duplex: !values['one-way'],
    target,
    sameThread: values['same-thread'] === true,
    plaintext: values.plaintext === true,
  };
  if (!(options.seconds > 0 && options.seconds <= 600)) throw new Error('--seconds must be between 0 and 600');
  if (!(Number.isInteger(options.window) && options.window >= 1 && options.window <= 30_000)) {
    throw new Error('--window must be an integer from 1 to 30000 (seq_num is 16 bits)');
  }
  if (options.target && !isLoopbackHost(options.target.host)) {
    throw new Error('load tests only target loopback: --target must be 127.x.x.x, ::1 or localhost');
  }
  return options;
}

// ---- the route server under test ----

interface RouteHandle {
  host: string;
  port: number;
  stop(): Promise<void>;
}

function routeConfig(plaintext: boolean) {
  const pki = localPki();
  const cert = ensureCertificate(pki, { role: 'route-server', name: 'bench-route-server', hosts: ['127.0.0.1'] });
  return routeServerConfig.load({
    env: {},
    overrides: {
      listenHost: '127.0.0.1',
      listenPort: 0,
      adminPort: 0,
      logLevel: 'silent',
      tlsCaFile: pki.caFile,
      tlsCertFile: cert.certFile,
      tlsKeyFile: cert.keyFile,
      plaintextPeers: plaintext ? ['127.0.0.1'] : [],
    },
  });
}

async function startRouteInThisThread(plaintext: boolean): Promise<RouteHandle> {
  const route = await startRouteServer(routeConfig(plaintext), silentLogger());
  return { host: '127.0.0.1', port: route.port, stop: () => route.stop('bench over') };
}

function startRouteInWorker(plaintext: boolean): Promise<RouteHandle> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(__filename, { argv: ['--route-worker'], workerData: { plaintext } });
    worker.once('error', reject);
    worker.once('message', (port: number) =>
      resolve({
        host: '127.0.0.1',
        port,
        stop: () =>
          new Promise<void>((done) => {
            worker.once('exit', () => done());
            worker.postMessage('stop');
          }),
      }),
    );
  });
}

async function routeWorkerMain(): Promise<void> {
  const route = await startRouteServer(routeConfig((workerData as { plaintext: boolean }).plaintext), silentLogger());
  parentPort?.on('message', () => {
    void route.stop('bench over').then(() => process.exit(0));
  });
  parentPort?.postMessage(route.port);
}

// ---- the two fake msg servers ----

const SEQ_SPACE = 0x10000;

/** One direction of traffic: frames pre-built for every seq_num, send times indexed by seq_num. */
class Stream {
  sent = 0;
  received = 0;
  counting = false;
  countedSent = 0;
  countedReceived = 0;
  latencies = new Float64Array(1 << 20);
  latencyCount = 0;
  /** Relayed PDUs decoded and compared with what was sent. */
  checked = 0;
  private readonly frames: Buffer[] = [];
  private readonly sentAt = new Float64Array(SEQ_SPACE);
  private running = true;

  constructor(
    private readonly from: PduConnection,
    private readonly window: number,
    private readonly fromUser: number,
    toUser: number,
  ) {
    const body = IM.Message.IMMsgData.encode({
      from_user_id: fromUser,
      to_session_id: toUser,
      msg_id: 1,
      create_time: Math.floor(Date.now() / 1000),
      msg_type: IM.BaseDefine.MsgType.MSG_TYPE_SINGLE_TEXT,
      msg_data: Buffer.alloc(80, 0x61),
    }).finish();
    // A frame is reused only after it came back, so queued frames are never overwritten.
    for (let seq = 0; seq < SEQ_SPACE; seq++) this.frames.push(encodeFrame(ServiceId.MSG, CID.MSG_DATA, seq, body));
  }

  get pduBytes(): number {
    return this.frames[0].length;
  }

  topUp(): void {
    if (!this.running) return;
    const now = performance.now();
    while (this.sent - this.received < this.window) {
      const seq = this.sent % SEQ_SPACE;
      this.sentAt[seq] = now;
      this.from.sendFrame(this.frames[seq]);
      this.sent++;
      if (this.counting) this.countedSent++;
    }
  }

  onReceived(pdu: Pdu): void {
    this.received++;
    if ((this.received & 0xffff) === 1) this.check(pdu);
    if (this.counting) {
      this.countedReceived++;
      if (this.latencyCount === this.latencies.length) {
        const bigger = new Float64Array(this.latencies.length * 2);
        bigger.set(this.latencies);
        this.latencies = bigger;
      }
      this.latencies[this.latencyCount++] = performance.now() - this.sentAt[pdu.seqNum];
    }
    // Refill once per batch of arrivals rather than per PDU: writes are coalesced per turn anyway.
    if (this.sent - this.received <= this.window / 2) this.topUp();
  }

  stop(): void {
    this.running = false;
  }

  /** Now and then: is this really our message, intact, from the other side? */
  private check(pdu: Pdu): void {
    const message = IM.Message.IMMsgData.decode(pdu.body);
    if (pdu.commandId !== CID.MSG_DATA || message.from_user_id !== this.fromUser || message.msg_data.length !== 80) {
      throw new Error(`relayed PDU ${pdu.seqNum} is not the one sent`);
    }
    this.checked++;
  }
}

async function connect(identity: InternalTls | null, host: string, port: number, onPdu: (pdu: Pdu) => void): Promise<PduConnection> {
  const socket = await dialInternal(identity, host, port, 'route-server');
  return new PduConnection(socket, { onPdu: (_conn, pdu) => onPdu(pdu) }, { heartbeatIntervalMs: 5000, maxWriteQueueBytes: 64 * 1024 * 1024 });
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

const round = (x: number, digits = 3) => Math.round(x * 10 ** digits) / 10 ** digits;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const route: RouteHandle | null = options.target
    ? null
    : options.sameThread
      ? await startRouteInThisThread(options.plaintext)
      : await startRouteInWorker(options.plaintext);
  const host = options.target?.host ?? route!.host;
  const port = options.target?.port ?? route!.port;

  const streams: Stream[] = [];
  const toA: Array<(pdu: Pdu) => void> = [];
  const toB: Array<(pdu: Pdu) => void> = [];
  const identity = options.plaintext ? null : localIdentity('msg-server', 'bench-msg-server');
  const a = await connect(identity, host, port, (pdu) => toA.forEach((f) => f(pdu)));
  const b = await connect(identity, host, port, (pdu) => toB.forEach((f) => f(pdu)));
  // Let the route server register both links before traffic starts.
  await sleep(100);
  const aToB = new Stream(a, options.window, 100_001, 100_002);
  streams.push(aToB);
  toB.push((pdu) => aToB.onReceived(pdu));
  if (options.duplex) {
    const bToA = new Stream(b, options.window, 100_002, 100_001);
    streams.push(bToA);
    toA.push((pdu) => bToA.onReceived(pdu));
  }

  for (const s of streams) s.topUp();
  await sleep(options.warmupSeconds * 1000);
  for (const s of streams) s.counting = true;
  const start = performance.now();
  await sleep(options.seconds * 1000);
  for (const s of streams) s.counting = false;
  const elapsedS = (performance.now() - start) / 1000;
  for (const s of streams) s.stop();

  const received = streams.reduce((n, s) => n + s.countedReceived, 0);
  const sent = streams.reduce((n, s) => n + s.countedSent, 0);
  const all = new Float64Array(streams.reduce((n, s) => n + s.latencyCount, 0));
  let offset = 0;
  for (const s of streams) {
    all.set(s.latencies.subarray(0, s.latencyCount), offset);
    offset += s.latencyCount;
  }
  all.sort();

  a.destroy('bench over');
  b.destroy('bench over');
  await route?.stop();

  process.stdout.write(
    `${JSON.stringify({
      relayed_per_s: Math.round(received / elapsedS),
      p50_ms: round(percentile(all, 50)),
      p99_ms: round(percentile(all, 99)),
      sent,
      received,
      seconds: round(elapsedS, 2),
      window: options.window,
      directions: streams.length,
      pdu_bytes: aToB.pduBytes,
      verified_pdus: streams.reduce((n, s) => n + s.checked, 0),
      route: options.target ? `${host}:${port}` : options.sameThread ? 'in-process, same thread' : 'in-process, worker thread',
      links: options.plaintext ? 'plain TCP' : 'mutual TLS',
    })}\n`,
  );
}

if (isMainThread) {
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      process.stderr.write(`bench-route: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(1);
    },
  );
} else {
  void routeWorkerMain();
}
