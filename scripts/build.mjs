// Build: protobuf code generation (only when a .proto changed), then tsc, then
// the browser chat client (web/chat -> dist/web/chat: its own tsc, static files,
// vendor scripts from node_modules, and the protocol as data for the page).
// Plain .mjs so it runs before anything is compiled.
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync, copyFileSync, rmSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tmpdir } from 'node:os';
import { createRequire } from 'node:module';

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
  existsSync(join(genDir, 'im.d.ts')) &&
  existsSync(join(genDir, 'im.browser.js'));

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
  // For the browser: the messages clients use, as static code on the global protobufjs
  // runtime (no reflection: it would need eval, which the page's security policy forbids).
  const clientProtos = ['base_define', 'login', 'buddy', 'message', 'group', 'other'].map((n) => join(protoDir, `${n}.proto`));
  run(bin('pbjs'), [
    '-t', 'static-module', '-w', 'closure', '--keep-case', '--no-delimited', '--no-comments', '--no-convert', '--no-verify', '--no-typeurl', '--no-beautify',
    '-o', join(genDir, 'im.browser.js'), ...clientProtos,
  ]);
  writeFileSync(stampFile, digest);
}

// TT_BUILD_ALLOW_TYPE_ERRORS=1 keeps going past type errors (tsc still emits JS):
// handy while several parts of the tree are being edited at once; never in CI.
function typescript(project) {
  if (process.env.TT_BUILD_ALLOW_TYPE_ERRORS === '1') {
    try {
      execFileSync(bin('tsc'), ['-p', project], { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] });
    } catch {
      console.error('build: type errors above (ignored because TT_BUILD_ALLOW_TYPE_ERRORS=1)');
    }
  } else {
    run(bin('tsc'), ['-p', project]);
  }
}

typescript(join(root, 'tsconfig.json'));
mkdirSync(join(root, 'dist', 'pdu', 'generated'), { recursive: true });
copyFileSync(join(genDir, 'im.js'), join(root, 'dist', 'pdu', 'generated', 'im.js'));

// ---- the web chat
const webSrc = join(root, 'web', 'chat');
const webOut = join(root, 'dist', 'web', 'chat');
rmSync(webOut, { recursive: true, force: true });
mkdirSync(join(webOut, 'vendor'), { recursive: true });
typescript(join(root, 'web', 'tsconfig.json'));
for (const file of ['index.html', 'style.css']) copyFileSync(join(webSrc, file), join(webOut, file));
copyFileSync(join(genDir, 'im.browser.js'), join(webOut, 'vendor', 'im.js'));
const vendor = {
  'protobuf.min.js': join('protobufjs', 'dist', 'minimal', 'protobuf.min.js'),
  'aes.js': join('aes-js', 'index.js'),
  'md5.min.js': join('blueimp-md5', 'js', 'md5.min.js'),
};
for (const [name, from] of Object.entries(vendor)) copyFileSync(join(root, 'node_modules', from), join(webOut, 'vendor', name));
// The command table as the servers have it (pdu/commands.ts), with each body's type name.
const { COMMANDS } = createRequire(import.meta.url)(join(root, 'dist', 'pdu', 'commands.js'));
const commands = COMMANDS.map((c) => ({
  serviceId: c.serviceId,
  commandId: c.commandId,
  name: c.name,
  type: c.type.getTypeUrl('').replace(/^\//, ''),
}));
writeFileSync(
  join(webOut, 'js', 'commands.js'),
  `// Generated by scripts/build.mjs from pdu/commands.ts.\nexport const COMMANDS = ${JSON.stringify(commands)};\n`,
);
