// Build: protobuf code generation (only when a .proto changed), then tsc.
// Plain .mjs so it runs before anything is compiled.
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync, copyFileSync, rmSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tmpdir } from 'node:os';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const protoDir = join(root, 'pdu', 'proto');
const genDir = join(root, 'pdu', 'generated');
const bin = (name) => join(root, 'node_modules', '.bin', name);

function run(cmd, args) {
  try {
    execFileSync(cmd, args, { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] });
  } catch {
    console.error(`build failed: ${cmd.split('/').pop()} ${args.slice(0, 3).join(' ')} ...`);
    process.exit(1);
  }
}

if (!existsSync(bin('pbjs')) || !existsSync(bin('tsc'))) {
  console.error('build failed: the npm dependencies are not installed; run "npm ci" first (npm start and npm test do it themselves)');
  process.exit(1);
}

const protoFiles = readdirSync(protoDir).filter((f) => f.endsWith('.proto')).sort();
const hash = createHash('sha256');
for (const f of protoFiles) hash.update(f).update(readFileSync(join(protoDir, f)));
const digest = hash.digest('hex');
const stampFile = join(genDir, '.proto-hash');
const upToDate =
  existsSync(stampFile) &&
  readFileSync(stampFile, 'utf8') === digest &&
  existsSync(join(genDir, 'im.js')) &&
  existsSync(join(genDir, 'im.d.ts'));

if (!upToDate) {
  mkdirSync(genDir, { recursive: true });
  const inputs = protoFiles.map((f) => join(protoDir, f));
  const common = ['-t', 'static-module', '-w', 'commonjs', '--keep-case', '--no-delimited'];
  // pbts reads the JSDoc comments, so typings come from a commented build;
  // the runtime module is generated without comments (a fifth of the size).
  const commented = join(tmpdir(), `tt-im-${process.pid}.js`);
  run(bin('pbjs'), [...common, '-o', commented, ...inputs]);
  run(bin('pbts'), ['-o', join(genDir, 'im.d.ts'), commented]);
  rmSync(commented, { force: true });
  run(bin('pbjs'), [...common, '--no-comments', '-o', join(genDir, 'im.js'), ...inputs]);
  writeFileSync(stampFile, digest);
}

// TT_BUILD_ALLOW_TYPE_ERRORS=1 keeps going past type errors (tsc still emits JS):
// handy while several parts of the tree are being edited at once; never in CI.
if (process.env.TT_BUILD_ALLOW_TYPE_ERRORS === '1') {
  try {
    execFileSync(bin('tsc'), ['-p', join(root, 'tsconfig.json')], { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] });
  } catch {
    console.error('build: type errors above (ignored because TT_BUILD_ALLOW_TYPE_ERRORS=1)');
  }
} else {
  run(bin('tsc'), ['-p', join(root, 'tsconfig.json')]);
}

mkdirSync(join(root, 'dist', 'pdu', 'generated'), { recursive: true });
copyFileSync(join(genDir, 'im.js'), join(root, 'dist', 'pdu', 'generated', 'im.js'));
