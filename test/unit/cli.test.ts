/**
 * The shared command-line layer (lib/cli.ts, lib/host-port.ts): strict flags,
 * one host:port parser, range-checked numbers, and the CLIs built on them.
 */
import t from 'tap';
import {
  UsageError,
  configFileFromArgs,
  parseChoiceOption,
  parseCommandLine,
  parseHostPortOption,
  parseIntOption,
  parseNumberOption,
  parsePortOption,
} from '../../lib/cli';
import { parseHostPort } from '../../lib/host-port';
import { parseOptions } from '../../tools/client/chat/options';

t.test('host:port: IPv4, names, [IPv6], a bare port with a default host', async (t) => {
  t.same(parseHostPort('127.0.0.1:8000'), { host: '127.0.0.1', port: 8000 });
  t.same(parseHostPort(' msg-1.example:65535 '), { host: 'msg-1.example', port: 65535 });
  t.same(parseHostPort('[::1]:8000'), { host: '::1', port: 8000 });
  t.same(parseHostPort('8001', { defaultHost: '127.0.0.1' }), { host: '127.0.0.1', port: 8001 });
  t.same(parseHostPort('localhost:0', { allowZero: true }), { host: 'localhost', port: 0 });
});

t.test('host:port: out-of-range ports and malformed text are refused', async (t) => {
  for (const bad of ['host:0', 'host:65536', 'host:99999', 'host:', ':8000', 'host', '8000', 'a:b:8000', '::1:8000', 'host:80x', 'host:-1', 'ho st:80', '[::1]8000', '']) {
    t.equal(parseHostPort(bad), null, JSON.stringify(bad));
  }
  t.equal(parseHostPort('8000:x', { defaultHost: '127.0.0.1' }), null);
  t.equal(parseHostPort('65536', { defaultHost: '127.0.0.1' }), null);
});

t.test('host:port options name the option and the accepted ports', async (t) => {
  t.same(parseHostPortOption('target', '10.0.0.1:10600'), { host: '10.0.0.1', port: 10600 });
  t.throws(() => parseHostPortOption('target', 'db:70000'), new UsageError('--target must be HOST:PORT with a port from 1 to 65535, got "db:70000"'));
  t.throws(() => parseHostPortOption('listen', 'x', { defaultHost: '127.0.0.1', allowZero: true }), {
    message: '--listen must be HOST:PORT or PORT with a port from 0 to 65535, got "x"',
  });
});

t.test('unknown flags, missing values and unexpected words are usage errors', async (t) => {
  const options = { seconds: { type: 'string' }, verbose: { type: 'boolean' } } as const;
  t.same(parseCommandLine(['--seconds', '5', '--verbose'], options, { positionals: false }).values, { seconds: '5', verbose: true });
  t.same(parseCommandLine(['--seconds=5'], options).values, { seconds: '5' });
  t.throws(() => parseCommandLine(['--secnds', '5'], options), UsageError, 'a typo is not ignored');
  t.throws(() => parseCommandLine(['--seconds'], options), UsageError, 'a value is required');
  t.throws(() => parseCommandLine(['--verbose=yes'], options), UsageError, 'a boolean takes no value');
  t.throws(() => parseCommandLine(['extra'], options, { positionals: false }), UsageError);
  t.same(parseCommandLine(['start'], {}).positionals, ['start']);
});

t.test('numbers and ports are range-checked; absent stays absent', async (t) => {
  t.equal(parsePortOption('port', '8000'), 8000);
  t.equal(parsePortOption('port', undefined), undefined);
  t.equal(parsePortOption('ws-port', '0', 0), 0);
  t.throws(() => parsePortOption('port', '0'), { message: '--port must be a whole number from 1 to 65535, got "0"' });
  t.throws(() => parsePortOption('port', '65536'), UsageError);
  t.throws(() => parsePortOption('PORT', '80a'), { message: 'PORT must be a whole number from 1 to 65535, got "80a"' }, 'a positional is named as such');
  t.equal(parseIntOption('users', '10', 1, 100), 10);
  t.throws(() => parseIntOption('users', '1.5', 1, 100), UsageError);
  t.throws(() => parseIntOption('users', '-1', 1, 100), UsageError);
  t.equal(parseNumberOption('seconds', '0.5', 0.1, 60), 0.5);
  for (const bad of ['', ' ', 'abc', '0', '61', 'Infinity', 'NaN']) t.throws(() => parseNumberOption('seconds', bad, 0.1, 60), UsageError, JSON.stringify(bad));
  t.equal(parseChoiceOption('transport', 'ws', ['tcp', 'ws']), 'ws');
  t.throws(() => parseChoiceOption('transport', 'udp', ['tcp', 'ws']), { message: '--transport must be one of tcp, ws, got "udp"' });
});

t.test('services and npm start take --config FILE and nothing else', async (t) => {
  t.equal(configFileFromArgs([]), null);
  t.equal(configFileFromArgs(['--config', 'a.json']), 'a.json');
  t.equal(configFileFromArgs(['--config=b.json']), 'b.json');
  t.throws(() => configFileFromArgs(['--confg', 'a.json']), UsageError);
  t.throws(() => configFileFromArgs(['--config']), UsageError);
  t.throws(() => configFileFromArgs(['a.json']), UsageError);
});

t.test('the chat client: strict options, the shared host:port parser', async (t) => {
  const o = parseOptions(['--user', 'alice', '--server', '[::1]:8000', '--client-type', 'android'], {});
  t.match(o, { user: 'alice', server: { host: '::1', port: 8000 }, password: null });
  t.equal(parseOptions(['--user=bob'], { TT_PASSWORD: 'pw' }).password, 'pw');
  t.throws(() => parseOptions(['--user', 'alice', '--server', 'host:70000'], {}), { message: /--server must be HOST:PORT/ });
  t.throws(() => parseOptions(['--user', 'alice', '--sever', 'h:1'], {}), UsageError, 'unknown flag');
  t.throws(() => parseOptions(['--user', 'alice', 'extra'], {}), UsageError, 'a stray word');
  t.throws(() => parseOptions([], {}), { message: '--user is required' });
  t.throws(() => parseOptions(['--help'], {}), new UsageError(''));
});
