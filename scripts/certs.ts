/**
 * `npm run certs`: the cluster's certificate authority (lib/pki.ts).
 *
 *   npm run certs -- init                         the CA under .run/pki/ (npm start does this on first run)
 *   npm run certs -- issue --role ROLE --name NAME [--host H]... [--out DIR]
 *                                                 a certificate for a service on another host
 *   npm run certs -- list                         what .run/pki/ holds
 *
 * Copy ca.crt, NAME.crt and NAME.key (mode 600) to the other host and point the
 * service's tlsCaFile / tlsCertFile / tlsKeyFile at them. Keep ca.key on one
 * trusted machine: whoever holds it can mint cluster members.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { errorMessage } from '../lib/errors';
import { SERVICE_ROLES, type ServiceRole } from '../lib/internal-tls';
import { issueCertificate } from '../lib/pki';
import { LOCAL_PKI_DIR, localPki } from './cluster/pki';

const USAGE = `usage:
  npm run certs -- init
  npm run certs -- issue --role ${SERVICE_ROLES.join('|')} --name NAME [--host HOST_OR_IP]... [--out DIR]
  npm run certs -- list`;

function main(): void {
  const { values, positionals } = parseArgs({
    options: {
      role: { type: 'string' },
      name: { type: 'string' },
      host: { type: 'string', multiple: true },
      out: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
    allowPositionals: true,
  });
  const [command, ...rest] = positionals;
  if (values.help || command === undefined || rest.length > 0) {
    process.stdout.write(USAGE + '\n');
    process.exitCode = values.help ? 0 : 2;
    return;
  }
  switch (command) {
    case 'init': {
      const pki = localPki();
      process.stdout.write(`CA: ${pki.caFile} (key ${pki.caKeyFile}, mode 600)\n`);
      return;
    }
    case 'issue': {
      if (!values.role || !(SERVICE_ROLES as readonly string[]).includes(values.role)) throw new Error(`--role must be one of ${SERVICE_ROLES.join(', ')}`);
      if (!values.name) throw new Error('--name is required (the instance name, e.g. msg-server-host2)');
      const paths = issueCertificate(localPki(), { role: values.role as ServiceRole, name: values.name, hosts: values.host ?? [], outDir: values.out });
      process.stdout.write(
        `issued ${values.role} certificate "${values.name}":\n  certificate ${paths.certFile}\n  key         ${paths.keyFile} (mode 600)\n  CA          ${join(LOCAL_PKI_DIR, 'ca.crt')}\n`,
      );
      return;
    }
    case 'list': {
      localPki();
      for (const file of readdirSync(LOCAL_PKI_DIR).filter((f) => f.endsWith('.crt')).sort()) {
        const cert = new X509Certificate(readFileSync(join(LOCAL_PKI_DIR, file)));
        const role = /urn:teamtalk:role:([a-z-]+)/.exec(cert.subjectAltName ?? '')?.[1] ?? (cert.ca ? 'CA' : '?');
        process.stdout.write(`${file.padEnd(28)} ${role.padEnd(14)} valid until ${cert.validTo}\n`);
      }
      return;
    }
    default:
      throw new Error(`unknown command "${command}"\n${USAGE}`);
  }
}

try {
  main();
} catch (err) {
  process.stderr.write(`certs: ${errorMessage(err)}\n`);
  process.exit(2);
}
