/**
 * The certificates of the cluster `npm start` runs: a CA under .run/pki/ made on
 * first run, and one certificate per service instance (re-issued when missing,
 * near expiry, or from another CA). Each child gets its files through its
 * config's TLS keys (env TT_<SERVICE>_TLS_CA_FILE / _CERT_FILE / _KEY_FILE).
 */
import { join } from 'node:path';
import { envName } from '../../lib/config';
import { InternalTls, type ServiceRole } from '../../lib/internal-tls';
import { runDir } from '../../lib/paths';
import { ensureCa, ensureCertificate, type Pki } from '../../lib/pki';

export const LOCAL_PKI_DIR = join(runDir, 'pki');

export function localPki(): Pki {
  return ensureCa(LOCAL_PKI_DIR);
}

/** The environment that gives service instance `name` (config env prefix `envPrefix`) its certificate. */
export function tlsEnv(pki: Pki, envPrefix: string, role: ServiceRole, name: string, hosts: string[]): Record<string, string> {
  const cert = ensureCertificate(pki, { role, name, hosts });
  return {
    [envName(envPrefix, 'tlsCaFile')]: pki.caFile,
    [envName(envPrefix, 'tlsCertFile')]: cert.certFile,
    [envName(envPrefix, 'tlsKeyFile')]: cert.keyFile,
  };
}

/** A TLS identity from the local CA (or `pki`) for a tool that talks to internal ports as `role` (benches, fuzzing). */
export function localIdentity(role: ServiceRole, name: string, pki: Pki = localPki()): InternalTls {
  const cert = ensureCertificate(pki, { role, name, hosts: ['127.0.0.1'] });
  return InternalTls.load(name, role, {
    tlsCaFile: pki.caFile,
    tlsCertFile: cert.certFile,
    tlsKeyFile: cert.keyFile,
    tlsHandshakeTimeoutMs: 5_000,
    plaintextPeers: [],
  });
}
