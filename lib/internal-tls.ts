/**
 * Mutual TLS for server-to-server links. Every internal port (route server,
 * db-proxy, login server's registration port, ...) accepts a peer only after a
 * TLS 1.3 handshake in which the peer presents a certificate signed by the
 * cluster CA (lib/pki.ts) whose role (SAN URI urn:teamtalk:role:<role>) is one
 * the port admits; the connecting side checks the same of the server. Until then
 * no PDU is read. Traffic is encrypted: it carries message text and password
 * digests.
 *
 * Identity is the role, not a host name: a certificate from the cluster CA is a
 * cluster member wherever it runs, and the role decides which ports it may use
 * (a msg-server certificate cannot pose as the db-proxy).
 *
 * Original C++ TeamTalk servers cannot do TLS. Addresses listed in
 * `plaintextPeers` talk plain TCP both ways (accepted without authentication,
 * connected to without TLS); the list is empty by default and logged at start.
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { connect as netConnect, isIP, type Socket } from 'node:net';
import { join, relative } from 'node:path';
import tls from 'node:tls';
import type { Duplex } from 'node:stream';
import { field } from './config';
import { ConfigError } from './errors';
import { LogThrottle } from './log-throttle';
import { projectRoot, runDir } from './paths';

/**
 * Roles a cluster certificate can carry. 'admin' is for operators' tools (the
 * web console, Prometheus, `npm run msg-server -- drain`): it may use the
 * services' admin endpoints and nothing else.
 */
export const SERVICE_ROLES = ['msg-server', 'route-server', 'db-proxy', 'login-server', 'file-server', 'push-server', 'msfs', 'admin'] as const;
export type ServiceRole = (typeof SERVICE_ROLES)[number];

const ROLE_URI_PREFIX = 'urn:teamtalk:role:';

export function roleUri(role: ServiceRole): string {
  return ROLE_URI_PREFIX + role;
}

/** The config keys every service with internal links has (see internalTlsFields in lib/config.ts). */
export interface InternalTlsSettings {
  tlsCaFile: string;
  tlsCertFile: string;
  tlsKeyFile: string;
  tlsHandshakeTimeoutMs: number;
  plaintextPeers: string[];
}

export interface PeerIdentity {
  role: ServiceRole;
  /** The certificate's common name (instance name), for logs. */
  name: string;
}

/** A failed authentication: the reason names what was wrong, for the one log line. */
export class AuthenticationError extends Error {
  readonly code = 'TT_ERR_PEER_NOT_AUTHENTICATED';
}

export class InternalTls {
  private readonly context: tls.SecureContext;
  private readonly caPem: string;
  private readonly ca: X509Certificate;
  private readonly certPem: string;
  private readonly keyPem: string;
  private readonly plaintext: ReadonlySet<string>;

  private constructor(
    readonly role: ServiceRole,
    readonly name: string,
    files: { caPem: string; certPem: string; keyPem: string },
    plaintextPeers: string[],
    readonly handshakeTimeoutMs: number,
  ) {
    this.caPem = files.caPem;
    this.certPem = files.certPem;
    this.keyPem = files.keyPem;
    this.ca = new X509Certificate(files.caPem);
    this.context = tls.createSecureContext({ ca: this.caPem, cert: this.certPem, key: this.keyPem, minVersion: 'TLSv1.3' });
    this.plaintext = new Set(plaintextPeers.map(normalizeAddress));
  }

  /**
   * Reads and checks this service's CA, certificate and key. Every problem is a
   * ConfigError naming the key, so a service refuses to start with a clear message.
   */
  static load(service: string, role: ServiceRole, settings: InternalTlsSettings): InternalTls {
    const read = (key: keyof InternalTlsSettings, file: string): string => {
      try {
        return readFileSync(file, 'utf8');
      } catch (err) {
        throw new ConfigError(
          `${service} config: key "${key}": cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); ` +
            '`npm start` creates the local cluster\'s certificates under .run/pki/, `npm run certs -- issue` makes them for other hosts',
        );
      }
    };
    const caPem = read('tlsCaFile', settings.tlsCaFile);
    const certPem = read('tlsCertFile', settings.tlsCertFile);
    const keyPem = read('tlsKeyFile', settings.tlsKeyFile);
    let ca: X509Certificate;
    let cert: X509Certificate;
    try {
      ca = new X509Certificate(caPem);
    } catch {
      throw new ConfigError(`${service} config: key "tlsCaFile": ${settings.tlsCaFile} is not a PEM certificate`);
    }
    try {
      cert = new X509Certificate(certPem);
    } catch {
      throw new ConfigError(`${service} config: key "tlsCertFile": ${settings.tlsCertFile} is not a PEM certificate`);
    }
    const problem = checkCertificate(cert, ca);
    if (problem !== null) throw new ConfigError(`${service} config: key "tlsCertFile": ${settings.tlsCertFile}: ${problem}`);
    const certRole = roleOf(cert);
    if (certRole !== role) {
      throw new ConfigError(
        `${service} config: key "tlsCertFile": ${settings.tlsCertFile} is a certificate for role ${certRole ?? '(none)'}, this service needs one for ${role}`,
      );
    }
    try {
      const identity = new InternalTls(role, commonName(cert), { caPem, certPem, keyPem }, settings.plaintextPeers, settings.tlsHandshakeTimeoutMs);
      return identity;
    } catch (err) {
      throw new ConfigError(`${service} config: key "tlsKeyFile": ${settings.tlsKeyFile} does not fit the certificate (${(err as Error).message})`);
    }
  }

  /** Whether `address` (an IP or a host name as configured) talks plain TCP, without authentication. */
  isPlaintextPeer(address: string | undefined): boolean {
    return address !== undefined && this.plaintext.size > 0 && this.plaintext.has(normalizeAddress(address));
  }

  get plaintextPeers(): string[] {
    return [...this.plaintext];
  }

  /**
   * Server side: runs the handshake on an accepted socket and checks the peer's
   * certificate. Resolves with the encrypted stream and who the peer is; rejects
   * with AuthenticationError (the socket is destroyed) on any failure or timeout.
   */
  accept(socket: Socket, allowedRoles: readonly ServiceRole[]): Promise<{ stream: Duplex; peer: PeerIdentity }> {
    return new Promise((resolve, reject) => {
      const secure = new tls.TLSSocket(socket, {
        isServer: true,
        secureContext: this.context,
        requestCert: true,
        // Checked below with the CA's public key: a raw server-side TLSSocket does
        // not compute `authorized`, so the check is ours (OpenSSL has already
        // verified that the peer holds the key of the certificate it sent).
        rejectUnauthorized: false,
      });
      let settled = false;
      const fail = (reason: string) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        secure.destroy();
        socket.destroy();
        reject(new AuthenticationError(reason));
      };
      const timer = setTimeout(() => fail(`no TLS handshake within ${this.handshakeTimeoutMs} ms`), this.handshakeTimeoutMs);
      secure.once('error', (err: NodeJS.ErrnoException) => fail(`TLS handshake failed: ${describeTlsError(err)}`));
      secure.once('close', () => fail('closed during the TLS handshake'));
      secure.once('secure', () => {
        const cert = secure.getPeerX509Certificate();
        if (cert === undefined) return fail('no client certificate');
        const problem = checkCertificate(cert, this.ca);
        if (problem !== null) return fail(problem);
        const role = roleOf(cert);
        if (role === null || !allowedRoles.includes(role)) {
          return fail(`certificate role ${role ?? '(none)'} may not use this port (allowed: ${allowedRoles.join(', ')})`);
        }
        settled = true;
        clearTimeout(timer);
        secure.removeAllListeners('error');
        secure.removeAllListeners('close');
        resolve({ stream: secure, peer: { role, name: commonName(cert) } });
      });
    });
  }

  /**
   * Client side: a TLS connection to a server that must present a cluster
   * certificate of `expectRole`. Emits 'secureConnect' when authenticated.
   */
  connect(host: string, port: number, expectRole: ServiceRole): tls.TLSSocket {
    return tls.connect({ host, port, ...this.clientOptions(host, expectRole) });
  }

  /**
   * The TLS options of a client connection to a server of `expectRole` (also
   * what node:https.request takes for an internal HTTPS call, see lib/internal-http.ts).
   */
  clientOptions(host: string, expectRole: ServiceRole): tls.ConnectionOptions {
    return {
      // SNI only takes host names.
      servername: isIP(host) === 0 ? host : undefined,
      ca: this.caPem,
      cert: this.certPem,
      key: this.keyPem,
      minVersion: 'TLSv1.3',
      rejectUnauthorized: true,
      checkServerIdentity: (_host, peer) => {
        const role = roleFromAltNames(peer.subjectaltname ?? '');
        return role === expectRole
          ? undefined
          : new AuthenticationError(`server certificate has role ${role ?? '(none)'}, expected ${expectRole}`);
      },
    };
  }

  /**
   * The TLS options of an HTTPS server (admin endpoints): this identity, and a
   * client certificate signed by the cluster CA required before any request is
   * read. Which roles may stay is checked per connection with peerOf().
   */
  serverOptions(): tls.TlsOptions {
    return {
      ca: this.caPem,
      cert: this.certPem,
      key: this.keyPem,
      minVersion: 'TLSv1.3',
      requestCert: true,
      rejectUnauthorized: true,
      handshakeTimeout: this.handshakeTimeoutMs,
    };
  }

  /** Who is on the other end of an authenticated TLS socket (null: no valid cluster certificate). */
  peerOf(socket: tls.TLSSocket): PeerIdentity | null {
    const cert = socket.getPeerX509Certificate();
    if (cert === undefined || checkCertificate(cert, this.ca) !== null) return null;
    const role = roleOf(cert);
    return role === null ? null : { role, name: commonName(cert) };
  }
}

/**
 * A connected, authenticated stream to an internal port (tools, benches, tests):
 * TLS with `identity`, or plain TCP when `identity` is null.
 */
export function dialInternal(identity: InternalTls | null, host: string, port: number, expectRole: ServiceRole, timeoutMs = 5_000): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket: Socket = identity === null ? netConnect({ host, port }) : identity.connect(host, port, expectRole);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`${host}:${port}: not connected within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    socket.once(identity === null ? 'connect' : 'secureConnect', () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      socket.setNoDelay(true);
      resolve(socket);
    });
  });
}

/** Null when `cert` is a currently valid certificate signed by `ca`, else what is wrong. */
function checkCertificate(cert: X509Certificate, ca: X509Certificate): string | null {
  if (!cert.checkIssued(ca) || !cert.verify(ca.publicKey)) return 'certificate is not signed by the cluster CA';
  const now = Date.now();
  if (new Date(cert.validFrom).getTime() > now) return `certificate is not valid before ${cert.validFrom}`;
  if (new Date(cert.validTo).getTime() < now) return `certificate expired on ${cert.validTo}`;
  return null;
}

function roleOf(cert: X509Certificate): ServiceRole | null {
  return roleFromAltNames(cert.subjectAltName ?? '');
}

function roleFromAltNames(altNames: string): ServiceRole | null {
  for (const entry of altNames.split(/,\s*/)) {
    if (!entry.startsWith(`URI:${ROLE_URI_PREFIX}`)) continue;
    const role = entry.slice(`URI:${ROLE_URI_PREFIX}`.length);
    if ((SERVICE_ROLES as readonly string[]).includes(role)) return role as ServiceRole;
  }
  return null;
}

function commonName(cert: X509Certificate): string {
  return /(?:^|\n)CN=([^\n]*)/.exec(cert.subject)?.[1] ?? '?';
}

function describeTlsError(err: NodeJS.ErrnoException): string {
  if (err.code === 'ERR_SSL_WRONG_VERSION_NUMBER' || err.code === 'ERR_SSL_HTTP_REQUEST') return 'the peer does not speak TLS (a plain TeamTalk peer needs plaintextPeers)';
  return err.code ?? err.message;
}

/** "::ffff:10.0.0.1" and "10.0.0.1" are one address; host names compare as written (lower case). */
function normalizeAddress(address: string): string {
  const a = address.trim().toLowerCase();
  return a.startsWith('::ffff:') && isIP(a.slice(7)) === 4 ? a.slice(7) : a;
}

/**
 * The config keys of a service with internal links. `certName` is the default
 * certificate file name under .run/pki/ (npm start issues one per instance and
 * passes its paths explicitly).
 */
export function internalTlsSpec(certName: string) {
  const pki = relative(projectRoot, join(runDir, 'pki')) || '.';
  return {
    tlsCaFile: field.file(join(pki, 'ca.crt'), 'cluster CA certificate: internal peers must present a certificate it signed'),
    tlsCertFile: field.file(join(pki, `${certName}.crt`), 'this service\'s certificate for internal links (its role is written in it)'),
    tlsKeyFile: field.file(join(pki, `${certName}.key`), 'private key of tlsCertFile (keep it mode 600)'),
    tlsHandshakeTimeoutMs: field.int(5_000, 'an internal peer that has not completed the TLS handshake by then is disconnected', { min: 100 }),
    plaintextPeers: field.stringList(
      [],
      'addresses that talk plain TCP without authentication, both ways (original C++ TeamTalk servers only; logged at start)',
    ),
  };
}

/** What a service needs to log about its internal links. */
interface TlsLogger {
  warn(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
}

/**
 * Loads a service's TLS identity from its config (a ConfigError names the bad
 * key) and logs, once, which plaintext peers skip authentication.
 */
export function startInternalTls(service: string, role: ServiceRole, settings: InternalTlsSettings, logger: TlsLogger): InternalTls {
  const identity = InternalTls.load(service, role, settings);
  if (identity.plaintextPeers.length > 0) {
    logger.warn(
      { plaintextPeers: identity.plaintextPeers },
      'internal links: these peers talk plain TCP WITHOUT authentication or encryption (plaintextPeers); keep them on a private network',
    );
  }
  logger.info({ role, certificate: identity.name }, 'internal links use mutual TLS');
  return identity;
}

/**
 * The `internal` option of a PduServer for one internal port: who may connect,
 * and one log line per refused peer naming its address (repeats of the same
 * address and reason within 10 s are counted into the next line instead), so a
 * scanner cannot flood the log.
 */
export function internalPort(
  identity: InternalTls,
  allowedRoles: readonly ServiceRole[],
  logger: TlsLogger,
  portName: string,
): { tls: InternalTls; allowedRoles: readonly ServiceRole[]; onAuthFailure(peer: string, reason: string): void } {
  const throttle = new LogThrottle();
  return {
    tls: identity,
    allowedRoles,
    onAuthFailure(peer, reason) {
      const address = peer.replace(/:\d+$/, '');
      throttle.run(`${address} ${reason}`, (suppressed) =>
        logger.warn({ peer, reason, port: portName, similarNotLogged: suppressed }, 'internal peer did not authenticate; disconnected without an answer'),
      );
    },
  };
}
