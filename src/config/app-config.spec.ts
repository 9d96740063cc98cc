import assert from 'node:assert/strict';
import { describe, it } from '@jest/globals';
import { InvalidConfigError, loadConfig } from './app-config.js';

/** A Standard Webhooks secret: whsec_ and 32 random bytes in base64. */
const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw/IQkmK0Vnxo=';

const PEM = '-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n-----END PUBLIC KEY-----\n';

describe('loadConfig', () => {
  it('defaults to SQLite under ./data, port 3000 on all interfaces', () => {
    assert.deepEqual(loadConfig({}), {
      host: '0.0.0.0',
      port: 3000,
      http: { headersTimeoutMs: 10_000, requestTimeoutMs: 30_000, keepAliveTimeoutMs: 5_000, maxConnections: 1024 },
      storage: {
        driver: 'sqlite',
        sqlitePath: 'data/schedules.sqlite',
        databaseUrl: undefined,
        connectAttempts: 5,
        migrateOnStart: true,
        statefulSessionMaxMessages: 1000,
        statefulSessionMaxBytes: 1_048_576,
        poolSize: 10,
        statementTimeoutMs: 10_000,
        connectTimeoutMs: 5000,
      },
      scheduler: { enabled: true, intervalMs: 1000, batchSize: 500, claimsInFlight: 2 },
      limits: { maxSchedulesPerUser: 1000, minFireIntervalSeconds: 1 },
      dispatch: null,
      runtime: { token: null },
      auth: { mode: 'header', jwt: null },
      rateLimit: { perMinute: 600, redisUrl: null },
      observability: { logLevel: 'info', logFormat: 'json', metricsEnabled: true },
      corsOrigins: [],
      shutdownTimeoutMs: 10_000,
      consoleEnabled: true,
    });
  });

  it('reads every variable', () => {
    const config = loadConfig({
      STORAGE_DRIVER: 'postgres',
      DATABASE_URL: 'postgres://u@h/db',
      SQLITE_PATH: '/tmp/x.sqlite',
      PORT: '8080',
      HOST: '127.0.0.1',
      SCHEDULER_ENABLED: 'false',
      SCHEDULER_INTERVAL_MS: '250',
      SCHEDULER_BATCH_SIZE: '200',
      SCHEDULER_CLAIMS_IN_FLIGHT: '3',
      HTTP_HEADERS_TIMEOUT_MS: '2000',
      HTTP_REQUEST_TIMEOUT_MS: '4000',
      HTTP_KEEP_ALIVE_TIMEOUT_MS: '3000',
      HTTP_MAX_CONNECTIONS: '50',
      DATABASE_CONNECT_ATTEMPTS: '2',
      DATABASE_MIGRATE_ON_START: 'false',
      STATEFUL_SESSION_MAX_MESSAGES: '50',
      STATEFUL_SESSION_MAX_BYTES: '200000',
      DATABASE_POOL_SIZE: '20',
      DATABASE_STATEMENT_TIMEOUT_MS: '3000',
      DATABASE_CONNECT_TIMEOUT_MS: '1500',
      MAX_SCHEDULES_PER_USER: '25',
      MIN_FIRE_INTERVAL_SECONDS: '60',
      DISPATCH_URL: 'https://runtime.internal:8443/hooks/fired',
      DISPATCH_SECRET: SECRET,
      DISPATCH_ENABLED: 'false',
      DISPATCH_CONCURRENCY: '4',
      DISPATCH_TIMEOUT_MS: '2500',
      DISPATCH_MAX_ATTEMPTS: '3',
      RUNTIME_TOKEN: 'runtime-token-0123456789',
      AUTH_MODE: 'jwt',
      JWT_JWKS_URL: 'https://issuer.example.com/.well-known/jwks.json',
      JWT_ALGORITHMS: 'RS256,ES256',
      JWT_ISSUER: 'https://issuer.example.com/',
      JWT_AUDIENCE: 'schedule-service',
      JWT_USER_CLAIM: 'uid',
      RATE_LIMIT_PER_MINUTE: '0',
      REDIS_URL: 'redis://127.0.0.1:6379/0',
      METRICS_ENABLED: 'false',
      CONSOLE_ENABLED: 'false',
      LOG_LEVEL: 'debug',
      LOG_FORMAT: 'pretty',
      CORS_ORIGINS: 'https://app.example.com,http://localhost:5173',
      SHUTDOWN_TIMEOUT_MS: '2500',
    });
    assert.deepEqual(config, {
      host: '127.0.0.1',
      port: 8080,
      http: { headersTimeoutMs: 2000, requestTimeoutMs: 4000, keepAliveTimeoutMs: 3000, maxConnections: 50 },
      storage: {
        driver: 'postgres',
        sqlitePath: '/tmp/x.sqlite',
        databaseUrl: 'postgres://u@h/db',
        connectAttempts: 2,
        migrateOnStart: false,
        statefulSessionMaxMessages: 50,
        statefulSessionMaxBytes: 200_000,
        poolSize: 20,
        statementTimeoutMs: 3000,
        connectTimeoutMs: 1500,
      },
      scheduler: { enabled: false, intervalMs: 250, batchSize: 200, claimsInFlight: 3 },
      limits: { maxSchedulesPerUser: 25, minFireIntervalSeconds: 60 },
      dispatch: {
        url: 'https://runtime.internal:8443/hooks/fired',
        eventsUrl: 'https://runtime.internal:8443/hooks/fired',
        secret: SECRET,
        enabled: false,
        concurrency: 4,
        timeoutMs: 2500,
        maxAttempts: 3,
        pollIntervalMs: 500,
      },
      runtime: { token: 'runtime-token-0123456789' },
      auth: {
        mode: 'jwt',
        jwt: {
          jwksUrl: 'https://issuer.example.com/.well-known/jwks.json',
          publicKey: null,
          secret: null,
          algorithms: ['RS256', 'ES256'],
          issuer: 'https://issuer.example.com/',
          audience: 'schedule-service',
          userClaim: 'uid',
          clockToleranceSeconds: 30,
        },
      },
      rateLimit: { perMinute: 0, redisUrl: 'redis://127.0.0.1:6379/0' },
      observability: { logLevel: 'debug', logFormat: 'pretty', metricsEnabled: false },
      corsOrigins: ['https://app.example.com', 'http://localhost:5173'],
      shutdownTimeoutMs: 2500,
      consoleEnabled: false,
    });
  });

  it('names every missing or contradictory JWT variable', () => {
    const refused: Array<[Record<string, string>, string[]]> = [
      [{ AUTH_MODE: 'jwt' }, ['JWT_JWKS_URL', 'JWT_ISSUER', 'JWT_AUDIENCE']],
      [{ AUTH_MODE: 'jwt', JWT_SECRET: 'x'.repeat(32), JWT_PUBLIC_KEY: PEM, JWT_ISSUER: 'i', JWT_AUDIENCE: 'a' }, ['JWT_SECRET']],
      [{ AUTH_MODE: 'jwt', JWT_SECRET: 'x'.repeat(32), JWT_ALGORITHMS: 'RS256', JWT_ISSUER: 'i', JWT_AUDIENCE: 'a' }, ['JWT_ALGORITHMS']],
      [{ AUTH_MODE: 'jwt', JWT_SECRET: 'short', JWT_ISSUER: 'i', JWT_AUDIENCE: 'a' }, ['JWT_SECRET']],
      [{ AUTH_MODE: 'jwt', JWT_SECRET: 'x'.repeat(32), JWT_ALGORITHMS: 'none', JWT_ISSUER: 'i', JWT_AUDIENCE: 'a' }, ['JWT_ALGORITHMS']],
      [{ JWT_SECRET: 'x'.repeat(32), JWT_ISSUER: 'i' }, ['JWT_SECRET', 'JWT_ISSUER']],
      [{ AUTH_MODE: 'oauth' }, ['AUTH_MODE']],
    ];
    for (const [env, names] of refused) {
      assert.throws(() => loadConfig(env), (error: unknown) => {
        assert.ok(error instanceof InvalidConfigError);
        assert.deepEqual(error.problems.map((p) => p.split(/[=:]/)[0]).sort(), [...names].sort(), JSON.stringify(env));
        return true;
      });
    }
    const hs = loadConfig({ AUTH_MODE: 'jwt', JWT_SECRET: 'x'.repeat(32), JWT_ISSUER: 'i', JWT_AUDIENCE: 'a' });
    assert.deepEqual(hs.auth?.jwt?.algorithms, ['HS256']);
    assert.equal(hs.auth?.jwt?.userClaim, 'sub');
    const pem = loadConfig({ AUTH_MODE: 'jwt', JWT_PUBLIC_KEY: PEM, JWT_ISSUER: 'i', JWT_AUDIENCE: 'a' });
    assert.ok(pem.auth?.jwt?.algorithms.includes('RS256') && !pem.auth.jwt.algorithms.includes('HS256'));
  });

  it('dispatches with the defaults once DISPATCH_URL and DISPATCH_SECRET are set', () => {
    assert.deepEqual(loadConfig({ DISPATCH_URL: 'http://127.0.0.1:4000/hook', DISPATCH_SECRET: SECRET }).dispatch, {
      url: 'http://127.0.0.1:4000/hook',
      eventsUrl: 'http://127.0.0.1:4000/hook',
      secret: SECRET,
      enabled: true,
      concurrency: 128,
      timeoutMs: 10_000,
      maxAttempts: 8,
      pollIntervalMs: 500,
    });
  });

  it('sends schedule events to EVENTS_URL, which needs DISPATCH_URL and must be a URL without credentials', () => {
    const dispatch = { DISPATCH_URL: 'http://127.0.0.1:4000/hook', DISPATCH_SECRET: SECRET };
    assert.equal(loadConfig({ ...dispatch, EVENTS_URL: 'https://ops.example.com/schedule-events' }).dispatch?.eventsUrl, 'https://ops.example.com/schedule-events');
    for (const [env, message] of [
      [{ EVENTS_URL: 'https://ops.example.com/events' }, /EVENTS_URL: set without DISPATCH_URL/],
      [{ ...dispatch, EVENTS_URL: 'ops.example.com/events' }, /EVENTS_URL=.*http:\/\/ or https:\/\//],
      [{ ...dispatch, EVENTS_URL: 'https://u:p@ops.example.com/events' }, /EVENTS_URL=.*must not carry credentials/],
    ] as const) {
      assert.throws(() => loadConfig(env), (error: unknown) => error instanceof InvalidConfigError && message.test(error.message));
    }
  });

  it('refuses a dispatch configuration it could not use, naming the variable', () => {
    const refused: Array<[Record<string, string>, string, RegExp]> = [
      [{ DISPATCH_URL: 'http://127.0.0.1:4000/hook' }, 'DISPATCH_SECRET', /required with DISPATCH_URL/],
      [{ DISPATCH_SECRET: SECRET }, 'DISPATCH_URL', /required with DISPATCH_SECRET/],
      [{ DISPATCH_URL: 'ftp://runtime/hook', DISPATCH_SECRET: SECRET }, 'DISPATCH_URL', /http:\/\/ or https:\/\//],
      [{ DISPATCH_URL: 'runtime:4000/hook', DISPATCH_SECRET: SECRET }, 'DISPATCH_URL', /http:\/\/ or https:\/\//],
      [{ DISPATCH_URL: 'https://user:pw@runtime/hook', DISPATCH_SECRET: SECRET }, 'DISPATCH_URL', /must not carry credentials/],
      [{ DISPATCH_URL: 'http://runtime/hook', DISPATCH_SECRET: 'not-a-secret' }, 'DISPATCH_SECRET', /whsec_/],
      [{ DISPATCH_URL: 'http://runtime/hook', DISPATCH_SECRET: 'whsec_c2hvcnQ=' }, 'DISPATCH_SECRET', /at least 24 bytes/],
      [{ DISPATCH_URL: 'http://runtime/hook', DISPATCH_SECRET: `${SECRET}A` }, 'DISPATCH_SECRET', /base64/],
      [{ DISPATCH_URL: 'http://runtime/hook', DISPATCH_SECRET: SECRET, DISPATCH_MAX_ATTEMPTS: '0' }, 'DISPATCH_MAX_ATTEMPTS', /./],
      [{ RUNTIME_TOKEN: 'short' }, 'RUNTIME_TOKEN', /16 to 512 printable/],
      [{ RUNTIME_TOKEN: 'has a space in it, sixteen+' }, 'RUNTIME_TOKEN', /16 to 512 printable/],
    ];
    for (const [env, name, message] of refused) {
      assert.throws(() => loadConfig(env), (error: unknown) => {
        assert.ok(error instanceof InvalidConfigError);
        assert.deepEqual(error.problems.map((p) => p.split('=')[0]), [name], JSON.stringify(env));
        assert.match(error.message, message);
        return true;
      });
    }
  });

  it('names every bad variable in one error', () => {
    assert.throws(
      () => loadConfig({ STORAGE_DRIVER: 'mongo', PORT: 'eighty', HOST: '', SCHEDULER_ENABLED: 'yes' }),
      (error: unknown) => {
        assert.ok(error instanceof InvalidConfigError);
        assert.deepEqual(
          error.problems.map((p) => p.split('=')[0]),
          ['STORAGE_DRIVER', 'PORT', 'SCHEDULER_ENABLED'],
        );
        assert.match(error.message, /STORAGE_DRIVER="mongo"/);
        assert.match(error.message, /PORT="eighty"/);
        return true;
      },
    );
  });

  it('migrates at start unless DATABASE_MIGRATE_ON_START says false, and names any other value', () => {
    assert.equal(loadConfig({}).storage.migrateOnStart, true);
    assert.equal(loadConfig({ DATABASE_MIGRATE_ON_START: '' }).storage.migrateOnStart, true);
    assert.equal(loadConfig({ DATABASE_MIGRATE_ON_START: 'true' }).storage.migrateOnStart, true);
    assert.equal(loadConfig({ DATABASE_MIGRATE_ON_START: '1' }).storage.migrateOnStart, true);
    assert.equal(loadConfig({ DATABASE_MIGRATE_ON_START: 'false' }).storage.migrateOnStart, false);
    assert.equal(loadConfig({ DATABASE_MIGRATE_ON_START: '0' }).storage.migrateOnStart, false);
    for (const value of ['no', 'FALSE', 'off']) {
      assert.throws(() => loadConfig({ DATABASE_MIGRATE_ON_START: value }), (error: unknown) => {
        assert.ok(error instanceof InvalidConfigError);
        assert.deepEqual(error.problems.map((p) => p.split('=')[0]), ['DATABASE_MIGRATE_ON_START'], value);
        assert.match(error.message, new RegExp(`DATABASE_MIGRATE_ON_START="${value}"`));
        return true;
      });
    }
  });

  it('requires DATABASE_URL for PostgreSQL', () => {
    assert.throws(() => loadConfig({ STORAGE_DRIVER: 'postgres' }), /DATABASE_URL is required when STORAGE_DRIVER=postgres/);
  });

  it('requires DATABASE_URL to be a postgres:// URL', () => {
    for (const url of ['localhost:5432/db', 'mysql://u@h/db', 'postgres://', 'not a url']) {
      assert.throws(() => loadConfig({ STORAGE_DRIVER: 'postgres', DATABASE_URL: url }), /DATABASE_URL=.*must be a postgres:\/\/ URL/, url);
    }
    assert.equal(loadConfig({ STORAGE_DRIVER: 'postgres', DATABASE_URL: 'postgresql://u:p@h:5433/db?sslmode=require' }).storage.driver, 'postgres');
  });

  it('rejects a port out of range', () => {
    assert.throws(() => loadConfig({ PORT: '70000' }), /PORT="70000"/);
  });

  it('bounds the limits and the database settings', () => {
    const bad: Record<string, string[]> = {
      STATEFUL_SESSION_MAX_MESSAGES: ['0', '100001', '1.5', 'many'],
      STATEFUL_SESSION_MAX_BYTES: ['65535', '67108865', '65536.5', 'lots'],
      DATABASE_POOL_SIZE: ['0', '1001'],
      DATABASE_STATEMENT_TIMEOUT_MS: ['99', '600001'],
      DATABASE_CONNECT_TIMEOUT_MS: ['99', '600001', 'soon'],
      MAX_SCHEDULES_PER_USER: ['0', '1000001', '-1'],
      MIN_FIRE_INTERVAL_SECONDS: ['0', '86401', '0.5'],
    };
    for (const [name, values] of Object.entries(bad)) {
      for (const value of values) {
        assert.throws(() => loadConfig({ [name]: value }), (error: unknown) => {
          assert.ok(error instanceof InvalidConfigError);
          assert.deepEqual(error.problems.map((p) => p.split('=')[0]), [name], `${name}=${value}`);
          return true;
        });
      }
    }
    const edges = loadConfig({
      STATEFUL_SESSION_MAX_MESSAGES: '1',
      STATEFUL_SESSION_MAX_BYTES: '65536',
      DATABASE_POOL_SIZE: '1',
      DATABASE_STATEMENT_TIMEOUT_MS: '100',
      DATABASE_CONNECT_TIMEOUT_MS: '100',
      MAX_SCHEDULES_PER_USER: '1',
      MIN_FIRE_INTERVAL_SECONDS: '86400',
    });
    assert.deepEqual(
      [
        edges.storage.statefulSessionMaxMessages,
        edges.storage.statefulSessionMaxBytes,
        edges.storage.poolSize,
        edges.storage.statementTimeoutMs,
        edges.storage.connectTimeoutMs,
      ],
      [1, 65_536, 1, 100, 100],
    );
    assert.equal(loadConfig({ STATEFUL_SESSION_MAX_BYTES: '67108864' }).storage.statefulSessionMaxBytes, 67_108_864);
    assert.deepEqual(edges.limits, { maxSchedulesPerUser: 1, minFireIntervalSeconds: 86400 });
  });
});
