/** db-proxy configuration: defaults, environment (prefixed and shared names), validation naming the key. */
import t from 'tap';
import { ConfigError } from '../../lib/errors';
import { checkDbProxyConfig, dbProxyConfig } from '../../services/db-proxy/config';

t.test('defaults, TT_DB_PROXY_* and the shared MYSQL_URL / REDIS_URL', async (t) => {
  const defaults = dbProxyConfig.load({ env: {} });
  t.match(defaults, {
    listenHost: '127.0.0.1',
    listenPort: 10600,
    redisKeyPrefix: '',
    messageTableCount: 8,
    loginMaxFailures: 10,
    loginFailureWindowSec: 1800,
    heartbeatIntervalMs: 5000,
    linkTimeoutMs: 30000,
    aesKey: '12345678901234567890123456789012',
  });
  const fromEnv = dbProxyConfig.load({
    env: {
      MYSQL_URL: 'mysql://u@db.example:3306/tt',
      REDIS_URL: 'redis://cache.example:6379/2',
      TT_DB_PROXY_MYSQL_POOL_SIZE: '20',
      TT_DB_PROXY_MAX_QUEUED_PER_CONNECTION: '100',
    },
  });
  t.match(fromEnv, { mysqlUrl: 'mysql://u@db.example:3306/tt', redisUrl: 'redis://cache.example:6379/2', mysqlPoolSize: 20, maxQueuedPerConnection: 100 });
  const prefixedWins = dbProxyConfig.load({ env: { MYSQL_URL: 'mysql://a@h/x', TT_DB_PROXY_MYSQL_URL: 'mysql://b@h/y' } });
  t.equal(prefixedWins.mysqlUrl, 'mysql://b@h/y');
  t.doesNotThrow(() => checkDbProxyConfig(defaults));
});

t.test('bad values are refused with the key named', async (t) => {
  t.throws(() => dbProxyConfig.load({ env: { TT_DB_PROXY_MYSQL_URL: 'postgres://x' } }), { message: /"mysqlUrl"/ });
  t.throws(() => dbProxyConfig.load({ env: { TT_DB_PROXY_MESSAGE_TABLE_COUNT: '0' } }), { message: /"messageTableCount"/ });
  t.throws(() => dbProxyConfig.load({ env: { TT_DB_PROXY_MAX_QUEUED_REQUESTS: 'lots' } }), { message: /"maxQueuedRequests"/ });
  const base = dbProxyConfig.load({ env: {} });
  t.throws(() => checkDbProxyConfig({ ...base, aesKey: 'too short' }), ConfigError);
  t.throws(() => checkDbProxyConfig({ ...base, maxQueuedPerConnection: base.maxQueuedRequests + 1 }), { message: /maxQueuedPerConnection/ });
  t.throws(() => checkDbProxyConfig({ ...base, storeBatchConcurrency: base.mysqlPoolSize }), { message: /storeBatchConcurrency/ });
});
