/**
 * Certificates for tests: one cluster CA with a certificate per role, created
 * once under .run/test-pki/ (scripts/test.ts makes it before tap starts; a test
 * run directly creates it on first use), plus a "rogue" CA whose certificates
 * must be refused everywhere.
 */
import { join } from 'node:path';
import { InternalTls, SERVICE_ROLES, type InternalTlsSettings, type ServiceRole } from '../../lib/internal-tls';
import { runDir } from '../../lib/paths';
import { ensureCa, ensureCertificate, type Pki } from '../../lib/pki';

export const TEST_PKI_DIR = process.env.TT_TEST_PKI_DIR ?? join(runDir, 'test-pki');

function clusterPki(): Pki {
  return ensureCa(join(TEST_PKI_DIR, 'cluster'), 'TeamTalk test CA');
}

function roguePki(): Pki {
  return ensureCa(join(TEST_PKI_DIR, 'rogue'), 'Someone else\'s CA');
}

/** Creates every test certificate (scripts/test.ts calls this once before the run). */
export function prepareTestPki(): void {
  const pki = clusterPki();
  for (const role of SERVICE_ROLES) ensureCertificate(pki, { role, name: role, hosts: ['127.0.0.1', 'localhost'] });
  const rogue = roguePki();
  for (const role of SERVICE_ROLES) ensureCertificate(rogue, { role, name: role, hosts: ['127.0.0.1'] });
}

/** The TLS config keys of a service of `role` in the test cluster. */
export function tlsSettings(role: ServiceRole, pki: 'cluster' | 'rogue' = 'cluster'): Pick<InternalTlsSettings, 'tlsCaFile' | 'tlsCertFile' | 'tlsKeyFile'> {
  const ca = pki === 'cluster' ? clusterPki() : roguePki();
  const cert = ensureCertificate(ca, { role, name: role, hosts: ['127.0.0.1', 'localhost'] });
  return { tlsCaFile: ca.caFile, tlsCertFile: cert.certFile, tlsKeyFile: cert.keyFile };
}

/** A TLS identity for a test peer (a fake msg server, a tool) of `role`. */
export function testIdentity(role: ServiceRole = 'msg-server', pki: 'cluster' | 'rogue' = 'cluster'): InternalTls {
  return InternalTls.load(`test ${role}`, role, { ...tlsSettings(role, pki), tlsHandshakeTimeoutMs: 5000, plaintextPeers: [] });
}
