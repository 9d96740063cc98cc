import 'reflect-metadata';
import { plainToInstance, Type } from 'class-transformer';
import {
  IsIn,
  IsInt,
  IsOptional,
  IsString,
  IsUrl,
  Matches,
  Max,
  Min,
  MinLength,
  ValidateIf,
  validateSync,
} from 'class-validator';

export const STORAGE_DRIVERS = ['memory', 'sqlite', 'postgres'] as const;
export type StorageDriver = (typeof STORAGE_DRIVERS)[number];

export interface StorageConfig {
  driver: StorageDriver;
  /** SQLite database file (sqlite driver). */
  sqlitePath: string;
  /** PostgreSQL connection string (postgres driver). */
  databaseUrl?: string;
  /** Start-up attempts to reach the database before giving up (waits 1 s, 2 s, 4 s … between them). */
  connectAttempts?: number;
  /**
   * Whether the service runs the migrations not yet applied as it starts; false where a deploy step
   * runs them (`node dist/src/migrate.js`), and readiness stays 503 until it has. Unset: true.
   */
  migrateOnStart?: boolean;
  /** Context messages a stateful session keeps; appending past it drops the oldest. Unset: DEFAULT_STORAGE_LIMITS'. */
  statefulSessionMaxMessages?: number;
  /**
   * Bytes of context messages (each one's JSON text, UTF-8) a stateful session keeps, about: appending
   * past it drops the oldest, the newest always kept. Unset: DEFAULT_STORAGE_LIMITS'.
   */
  statefulSessionMaxBytes?: number;
  /** PostgreSQL connections this process holds at most. Unset: DEFAULT_STORAGE_LIMITS'. */
  poolSize?: number;
  /** PostgreSQL cancels a statement running longer than this (`statement_timeout`). Unset: DEFAULT_STORAGE_LIMITS'. */
  statementTimeoutMs?: number;
  /** How long a query waits for a PostgreSQL connection (a free one of the pool, or a new one). Unset: DEFAULT_STORAGE_LIMITS'. */
  connectTimeoutMs?: number;
}

export const DEFAULT_STORAGE_LIMITS = {
  statefulSessionMaxMessages: 1000,
  statefulSessionMaxBytes: 1_048_576,
  poolSize: 10,
  statementTimeoutMs: 10_000,
  connectTimeoutMs: 5000,
} as const satisfies Required<
  Pick<StorageConfig, 'statefulSessionMaxMessages' | 'statefulSessionMaxBytes' | 'poolSize' | 'statementTimeoutMs' | 'connectTimeoutMs'>
>;

/** What one user may ask of the service; also the injection token for these settings. */
export class LimitsConfig {
  /** Schedules one user may have; creating one more is refused (409). */
  maxSchedulesPerUser: number;
  /** A cron expression that fires more often than this (seconds between two fires) is refused (422). */
  minFireIntervalSeconds: number;
}

export const DEFAULT_LIMITS: LimitsConfig = {
  maxSchedulesPerUser: 1000,
  minFireIntervalSeconds: 1,
};

/** The ticker that fires due schedules; also the injection token for its settings. */
export class SchedulerConfig {
  /** false on API-only replicas: they serve requests and never fire. */
  enabled: boolean;
  intervalMs: number;
  /** Schedules claimed per transaction. */
  batchSize: number;
  /**
   * Claims (transactions) one tick keeps in flight at once, while more is due; 2 unless set. On
   * PostgreSQL they take disjoint schedules (SKIP LOCKED) and overlap one's planning in Node with
   * another's writes in the database; SQLite's and memory's run one after another anyway.
   */
  claimsInFlight?: number;
}

/** How long the HTTP server waits for clients, and how many it holds at once. */
export interface HttpConfig {
  /** A request's headers must arrive within this. */
  headersTimeoutMs: number;
  /** A whole request (headers and body) must arrive within this; also the idle limit of a socket mid-request. */
  requestTimeoutMs: number;
  /** An idle keep-alive connection is closed after this. */
  keepAliveTimeoutMs: number;
  /** Connections past this are refused at once (per process). */
  maxConnections: number;
}

export const DEFAULT_HTTP_CONFIG: HttpConfig = {
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 5_000,
  maxConnections: 1024,
};

/**
 * Hand-off of fires to the agent runtime (README "Dispatch to an agent runtime"); also the injection token.
 * Absent (null in AppConfig) without DISPATCH_URL: the service records fires only.
 */
export class DispatchConfig {
  /** Where every fire's webhook is POSTed: deployment configuration, never a user's field. */
  url: string;
  /** Where schedule events (ScheduleEvent) are POSTed, signed with the same secret; omitted: `url`. */
  eventsUrl?: string;
  /** The Standard Webhooks signing secret, `whsec_` + base64. */
  secret: string;
  /** Whether this process delivers (fires write outbox entries either way; another replica may deliver them). */
  enabled: boolean;
  /** Webhooks in flight at once, per process (each over a kept-alive connection of its own). */
  concurrency: number;
  /** One attempt's limit, connecting to the last byte of the answer. */
  timeoutMs: number;
  /** Attempts per run, the first included, before its delivery gives up and the run fails. */
  maxAttempts: number;
  /**
   * How often the dispatcher looks for due entries on its own, the safety net: fires wake it (see
   * DispatchHandOff), and retries as they come due.
   */
  pollIntervalMs: number;
}

export const DISPATCH_DEFAULTS = {
  concurrency: 128,
  timeoutMs: 10_000,
  maxAttempts: 8,
  pollIntervalMs: 500,
} as const satisfies Partial<DispatchConfig>;

/** The agent runtime's credential on /runtime routes; also the injection token. */
export class RuntimeConfig {
  /** `Authorization: Bearer <token>`; null: the /runtime routes answer 404. */
  token: string | null;
}

export const AUTH_MODES = ['header', 'jwt'] as const;
export type AuthMode = (typeof AUTH_MODES)[number];

/** Algorithms a JWT may be signed with: asymmetric ones for JWKS and PEM keys, HS256 for a shared secret. Never `none`. */
export const JWT_ASYMMETRIC_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'] as const;
export const JWT_SYMMETRIC_ALGORITHMS = ['HS256', 'HS384', 'HS512'] as const;

/** Where users' identity comes from (README "Identity"); also the injection token. */
export class AuthConfig {
  mode: AuthMode;
  /** Set in jwt mode only. */
  jwt: JwtConfig | null;
}

export interface JwtConfig {
  /** Exactly one of jwksUrl, publicKey (PEM) and secret (HS*) is set. */
  jwksUrl: string | null;
  publicKey: string | null;
  secret: string | null;
  /** The algorithms a token may use (JWT_ALGORITHMS, else every one the key kind allows). */
  algorithms: string[];
  issuer: string;
  audience: string;
  /** The claim that holds the user id. */
  userClaim: string;
  /** Seconds of skew allowed on exp and nbf. */
  clockToleranceSeconds: number;
}

/** Requests per caller per minute; also the injection token. */
export class RateLimitConfig {
  /** 0: no limit. */
  perMinute: number;
  /** Counters shared by every replica in this Redis; null: per process. */
  redisUrl: string | null;
}

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export const LOG_FORMATS = ['json', 'pretty'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

/** What the service tells operators: logs and metrics. */
export interface ObservabilityConfig {
  logLevel: LogLevel;
  /** JSON lines in production; `pretty` for a developer's terminal. */
  logFormat: LogFormat;
  /** GET /metrics (Prometheus). */
  metricsEnabled: boolean;
}

export const DEFAULT_OBSERVABILITY: ObservabilityConfig = { logLevel: 'info', logFormat: 'json', metricsEnabled: true };

export interface AppConfig {
  host: string;
  port: number;
  http: HttpConfig;
  storage: StorageConfig;
  scheduler: SchedulerConfig;
  /** Unset: DEFAULT_LIMITS. */
  limits?: LimitsConfig;
  /** Unset or null: record-only mode. */
  dispatch?: DispatchConfig | null;
  /** Unset: no runtime token (the /runtime routes answer 404). */
  runtime?: RuntimeConfig;
  /** Unset: header mode. */
  auth?: AuthConfig;
  /** Unset: no rate limit. */
  rateLimit?: RateLimitConfig;
  /** Unset: DEFAULT_OBSERVABILITY. */
  observability?: ObservabilityConfig;
  /** Origins allowed by CORS; empty: CORS off. */
  corsOrigins?: string[];
  /** On SIGTERM, in-flight requests get this long to finish before the process stops. */
  shutdownTimeoutMs?: number;
  /** The web console at /console (CONSOLE_ENABLED); unset: on. */
  consoleEnabled?: boolean;
}

export const DEFAULT_SHUTDOWN_TIMEOUT_MS = 10_000;

/** The environment the service reads, validated once at start-up. */
class EnvironmentVariables {
  @IsOptional()
  @IsIn(STORAGE_DRIVERS)
  STORAGE_DRIVER?: StorageDriver;

  @IsOptional()
  @IsString()
  @MinLength(1)
  SQLITE_PATH?: string;

  @ValidateIf((env: EnvironmentVariables) => env.STORAGE_DRIVER === 'postgres' || env.DATABASE_URL !== undefined)
  @IsString({ message: 'DATABASE_URL is required when STORAGE_DRIVER=postgres' })
  @MinLength(1, { message: 'DATABASE_URL is required when STORAGE_DRIVER=postgres' })
  @Matches(/^postgres(ql)?:\/\/[^/\s]+(\/[^\s]*)?$/, {
    message: 'DATABASE_URL must be a postgres:// URL, e.g. postgres://user:password@host:5432/database',
  })
  DATABASE_URL?: string;

  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(20)
  DATABASE_CONNECT_ATTEMPTS?: number;

  @IsOptional()
  @IsIn(['true', 'false', '1', '0'])
  DATABASE_MIGRATE_ON_START?: string;

  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(0)
  @Max(65535)
  PORT?: number;

  @IsOptional()
  @IsString()
  @MinLength(1)
  HOST?: string;

  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1000)
  @Max(600_000)
  HTTP_HEADERS_TIMEOUT_MS?: number;

  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1000)
  @Max(600_000)
  HTTP_REQUEST_TIMEOUT_MS?: number;

  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1000)
  @Max(600_000)
  HTTP_KEEP_ALIVE_TIMEOUT_MS?: number;

  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(1_000_000)
  HTTP_MAX_CONNECTIONS?: number;

  @IsOptional()
  @IsIn(['true', 'false', '1', '0'])
  SCHEDULER_ENABLED?: string;

  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(10)
  @Max(3_600_000)
  SCHEDULER_INTERVAL_MS?: number;

  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(10_000)
  SCHEDULER_BATCH_SIZE?: number;

  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(16)
  SCHEDULER_CLAIMS_IN_FLIGHT?: number;

  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(100_000)
  STATEFUL_SESSION_MAX_MESSAGES?: number;

  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(65_536)
  @Max(67_108_864)
  STATEFUL_SESSION_MAX_BYTES?: number;

  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(1000)
  DATABASE_POOL_SIZE?: number;

  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(100)
  @Max(600_000)
  DATABASE_STATEMENT_TIMEOUT_MS?: number;

  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(100)
  @Max(600_000)
  DATABASE_CONNECT_TIMEOUT_MS?: number;

  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(1_000_000)
  MAX_SCHEDULES_PER_USER?: number;

  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(86_400)
  MIN_FIRE_INTERVAL_SECONDS?: number;

  @ValidateIf((env: EnvironmentVariables) => env.DISPATCH_URL !== undefined || env.DISPATCH_SECRET !== undefined)
  @IsString({ message: 'DISPATCH_URL is required with DISPATCH_SECRET' })
  @IsUrl(
    { protocols: ['http', 'https'], require_protocol: true, require_tld: false, require_valid_protocol: true },
    { message: 'DISPATCH_URL must be an http:// or https:// URL' },
  )
  // fetch refuses credentials in a URL, and they would end up in logs: the secret signs instead.
  @Matches(/^https?:\/\/[^/?#@\s]+([/?#]|$)/i, { message: 'DISPATCH_URL must not carry credentials (user:password@); requests are signed with DISPATCH_SECRET' })
  DISPATCH_URL?: string;

  // Where schedule events go: the same checks as DISPATCH_URL (which it needs: see contradictions).
  @IsOptional()
  @IsUrl(
    { protocols: ['http', 'https'], require_protocol: true, require_tld: false, require_valid_protocol: true },
    { message: 'EVENTS_URL must be an http:// or https:// URL' },
  )
  @Matches(/^https?:\/\/[^/?#@\s]+([/?#]|$)/i, { message: 'EVENTS_URL must not carry credentials (user:password@); events are signed with DISPATCH_SECRET' })
  EVENTS_URL?: string;

  @ValidateIf((env: EnvironmentVariables) => env.DISPATCH_URL !== undefined || env.DISPATCH_SECRET !== undefined)
  @IsString({ message: 'DISPATCH_SECRET is required with DISPATCH_URL' })
  @Matches(/^whsec_(?:[A-Za-z0-9+/]{4}){8,}(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/, {
    message: 'DISPATCH_SECRET must be whsec_ followed by at least 24 bytes in base64 (e.g. whsec_ + `openssl rand -base64 32`)',
  })
  DISPATCH_SECRET?: string;

  @IsOptional()
  @IsIn(['true', 'false', '1', '0'])
  DISPATCH_ENABLED?: string;

  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(1000)
  DISPATCH_CONCURRENCY?: number;

  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(100)
  @Max(600_000)
  DISPATCH_TIMEOUT_MS?: number;

  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(50)
  DISPATCH_MAX_ATTEMPTS?: number;

  @IsOptional()
  @IsString()
  @Matches(/^[\x21-\x7e]{16,512}$/, { message: 'RUNTIME_TOKEN must be 16 to 512 printable ASCII characters without spaces' })
  RUNTIME_TOKEN?: string;

  @IsOptional()
  @IsIn(AUTH_MODES)
  AUTH_MODE?: AuthMode;

  @IsOptional()
  @IsUrl({ protocols: ['http', 'https'], require_protocol: true, require_tld: false }, { message: 'JWT_JWKS_URL must be an http:// or https:// URL' })
  JWT_JWKS_URL?: string;

  @IsOptional()
  @Matches(/^-----BEGIN PUBLIC KEY-----[\s\S]+-----END PUBLIC KEY-----\s*$/, {
    message: 'JWT_PUBLIC_KEY must be a PEM public key (-----BEGIN PUBLIC KEY----- … -----END PUBLIC KEY-----)',
  })
  JWT_PUBLIC_KEY?: string;

  @IsOptional()
  @IsString()
  @MinLength(32, { message: 'JWT_SECRET must be at least 32 characters (HS256 wants 256 bits)' })
  JWT_SECRET?: string;

  @IsOptional()
  @Matches(new RegExp(`^(${[...JWT_ASYMMETRIC_ALGORITHMS, ...JWT_SYMMETRIC_ALGORITHMS].join('|')})(,(${[...JWT_ASYMMETRIC_ALGORITHMS, ...JWT_SYMMETRIC_ALGORITHMS].join('|')}))*$`), {
    message: `JWT_ALGORITHMS must be a comma-separated list of ${[...JWT_ASYMMETRIC_ALGORITHMS, ...JWT_SYMMETRIC_ALGORITHMS].join(', ')} (never none)`,
  })
  JWT_ALGORITHMS?: string;

  @IsOptional()
  @IsString()
  @MinLength(1)
  JWT_ISSUER?: string;

  @IsOptional()
  @IsString()
  @MinLength(1)
  JWT_AUDIENCE?: string;

  @IsOptional()
  @Matches(/^[A-Za-z0-9_:.\/-]{1,128}$/, { message: 'JWT_USER_CLAIM must be a claim name' })
  JWT_USER_CLAIM?: string;

  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(0)
  @Max(1_000_000)
  RATE_LIMIT_PER_MINUTE?: number;

  @IsOptional()
  @Matches(/^rediss?:\/\/[^\s]+$/, { message: 'REDIS_URL must be a redis:// or rediss:// URL' })
  REDIS_URL?: string;

  @IsOptional()
  @IsIn(['true', 'false', '1', '0'])
  METRICS_ENABLED?: string;

  @IsOptional()
  @IsIn(['true', 'false', '1', '0'])
  CONSOLE_ENABLED?: string;

  @IsOptional()
  @IsIn(LOG_LEVELS)
  LOG_LEVEL?: LogLevel;

  @IsOptional()
  @IsIn(LOG_FORMATS)
  LOG_FORMAT?: LogFormat;

  @IsOptional()
  @Matches(/^https?:\/\/[^\s,/]+(,https?:\/\/[^\s,/]+)*$/, {
    message: 'CORS_ORIGINS must be a comma-separated list of origins (https://app.example.com,http://localhost:5173)',
  })
  CORS_ORIGINS?: string;

  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(0)
  @Max(600_000)
  SHUTDOWN_TIMEOUT_MS?: number;
}

/** What the variables say together that none says alone: the JWT settings of jwt mode. */
function contradictions(vars: EnvironmentVariables): string[] {
  const problems: string[] = [];
  if (vars.EVENTS_URL !== undefined && vars.DISPATCH_URL === undefined) {
    problems.push('EVENTS_URL: set without DISPATCH_URL and DISPATCH_SECRET; events are delivered and signed as fires are (set both, or unset EVENTS_URL)');
  }
  const keys = (['JWT_JWKS_URL', 'JWT_PUBLIC_KEY', 'JWT_SECRET'] as const).filter((name) => vars[name] !== undefined);
  const jwtVars = (['JWT_JWKS_URL', 'JWT_PUBLIC_KEY', 'JWT_SECRET', 'JWT_ALGORITHMS', 'JWT_ISSUER', 'JWT_AUDIENCE', 'JWT_USER_CLAIM'] as const).filter(
    (name) => vars[name] !== undefined,
  );
  if (vars.AUTH_MODE !== 'jwt') {
    for (const name of jwtVars) problems.push(`${name}: set, but AUTH_MODE is not jwt (set AUTH_MODE=jwt, or unset ${name})`);
    return problems;
  }
  if (keys.length === 0) problems.push('JWT_JWKS_URL: AUTH_MODE=jwt needs one of JWT_JWKS_URL, JWT_PUBLIC_KEY or JWT_SECRET');
  if (keys.length > 1) problems.push(`${keys[1]}: only one of ${keys.join(', ')} may be set`);
  if (vars.JWT_ISSUER === undefined) problems.push('JWT_ISSUER: required when AUTH_MODE=jwt');
  if (vars.JWT_AUDIENCE === undefined) problems.push('JWT_AUDIENCE: required when AUTH_MODE=jwt');
  if (vars.JWT_ALGORITHMS !== undefined && keys.length === 1) {
    const allowed: readonly string[] = keys[0] === 'JWT_SECRET' ? JWT_SYMMETRIC_ALGORITHMS : JWT_ASYMMETRIC_ALGORITHMS;
    const wrong = vars.JWT_ALGORITHMS.split(',').filter((a) => !allowed.includes(a));
    if (wrong.length > 0) problems.push(`JWT_ALGORITHMS: ${wrong.join(', ')} cannot be used with ${keys[0]}`);
  }
  return problems;
}

function jwtConfig(vars: EnvironmentVariables): JwtConfig | null {
  if (vars.AUTH_MODE !== 'jwt') return null;
  const secret = vars.JWT_SECRET ?? null;
  const defaults: readonly string[] = secret ? ['HS256'] : JWT_ASYMMETRIC_ALGORITHMS;
  return {
    jwksUrl: vars.JWT_JWKS_URL ?? null,
    publicKey: vars.JWT_PUBLIC_KEY ?? null,
    secret,
    algorithms: vars.JWT_ALGORITHMS?.split(',') ?? [...defaults],
    issuer: vars.JWT_ISSUER!,
    audience: vars.JWT_AUDIENCE!,
    userClaim: vars.JWT_USER_CLAIM ?? 'sub',
    clockToleranceSeconds: 30,
  };
}

export class InvalidConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'InvalidConfigError';
  }
}

/** Validates the environment and returns the typed configuration; throws one error naming every bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): AppConfig {
  // Empty variables count as unset, as in most shells' `VAR= cmd`.
  const present = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== undefined && value !== ''));
  const vars = plainToInstance(EnvironmentVariables, present, { excludeExtraneousValues: false });
  const errors = validateSync(vars, { whitelist: false });
  const problems = errors.map((e) => `${e.property}=${JSON.stringify(present[e.property] ?? '')}: ${Object.values(e.constraints ?? {}).join('; ')}`);
  const named = new Set(errors.map((e) => e.property));
  problems.push(...contradictions(vars).filter((problem) => !named.has(problem.split(':')[0])));
  if (problems.length > 0) throw new InvalidConfigError(problems);
  return {
    host: vars.HOST ?? '0.0.0.0',
    port: vars.PORT ?? 3000,
    http: {
      headersTimeoutMs: vars.HTTP_HEADERS_TIMEOUT_MS ?? DEFAULT_HTTP_CONFIG.headersTimeoutMs,
      requestTimeoutMs: vars.HTTP_REQUEST_TIMEOUT_MS ?? DEFAULT_HTTP_CONFIG.requestTimeoutMs,
      keepAliveTimeoutMs: vars.HTTP_KEEP_ALIVE_TIMEOUT_MS ?? DEFAULT_HTTP_CONFIG.keepAliveTimeoutMs,
      maxConnections: vars.HTTP_MAX_CONNECTIONS ?? DEFAULT_HTTP_CONFIG.maxConnections,
    },
    storage: {
      driver: vars.STORAGE_DRIVER ?? 'sqlite',
      sqlitePath: vars.SQLITE_PATH ?? 'data/schedules.sqlite',
      databaseUrl: vars.DATABASE_URL,
      connectAttempts: vars.DATABASE_CONNECT_ATTEMPTS ?? 5,
      migrateOnStart: vars.DATABASE_MIGRATE_ON_START === undefined || ['true', '1'].includes(vars.DATABASE_MIGRATE_ON_START),
      statefulSessionMaxMessages: vars.STATEFUL_SESSION_MAX_MESSAGES ?? DEFAULT_STORAGE_LIMITS.statefulSessionMaxMessages,
      statefulSessionMaxBytes: vars.STATEFUL_SESSION_MAX_BYTES ?? DEFAULT_STORAGE_LIMITS.statefulSessionMaxBytes,
      poolSize: vars.DATABASE_POOL_SIZE ?? DEFAULT_STORAGE_LIMITS.poolSize,
      statementTimeoutMs: vars.DATABASE_STATEMENT_TIMEOUT_MS ?? DEFAULT_STORAGE_LIMITS.statementTimeoutMs,
      connectTimeoutMs: vars.DATABASE_CONNECT_TIMEOUT_MS ?? DEFAULT_STORAGE_LIMITS.connectTimeoutMs,
    },
    scheduler: {
      enabled: vars.SCHEDULER_ENABLED === undefined || ['true', '1'].includes(vars.SCHEDULER_ENABLED),
      intervalMs: vars.SCHEDULER_INTERVAL_MS ?? 1000,
      batchSize: vars.SCHEDULER_BATCH_SIZE ?? 500,
      claimsInFlight: vars.SCHEDULER_CLAIMS_IN_FLIGHT ?? 2,
    },
    limits: {
      maxSchedulesPerUser: vars.MAX_SCHEDULES_PER_USER ?? DEFAULT_LIMITS.maxSchedulesPerUser,
      minFireIntervalSeconds: vars.MIN_FIRE_INTERVAL_SECONDS ?? DEFAULT_LIMITS.minFireIntervalSeconds,
    },
    dispatch: vars.DISPATCH_URL
      ? {
          url: vars.DISPATCH_URL,
          eventsUrl: vars.EVENTS_URL ?? vars.DISPATCH_URL,
          secret: vars.DISPATCH_SECRET!,
          enabled: vars.DISPATCH_ENABLED === undefined || ['true', '1'].includes(vars.DISPATCH_ENABLED),
          concurrency: vars.DISPATCH_CONCURRENCY ?? DISPATCH_DEFAULTS.concurrency,
          timeoutMs: vars.DISPATCH_TIMEOUT_MS ?? DISPATCH_DEFAULTS.timeoutMs,
          maxAttempts: vars.DISPATCH_MAX_ATTEMPTS ?? DISPATCH_DEFAULTS.maxAttempts,
          pollIntervalMs: DISPATCH_DEFAULTS.pollIntervalMs,
        }
      : null,
    runtime: { token: vars.RUNTIME_TOKEN ?? null },
    auth: { mode: vars.AUTH_MODE ?? 'header', jwt: jwtConfig(vars) },
    rateLimit: { perMinute: vars.RATE_LIMIT_PER_MINUTE ?? 600, redisUrl: vars.REDIS_URL ?? null },
    observability: {
      logLevel: vars.LOG_LEVEL ?? DEFAULT_OBSERVABILITY.logLevel,
      logFormat: vars.LOG_FORMAT ?? DEFAULT_OBSERVABILITY.logFormat,
      metricsEnabled: vars.METRICS_ENABLED === undefined || ['true', '1'].includes(vars.METRICS_ENABLED),
    },
    corsOrigins: vars.CORS_ORIGINS?.split(',') ?? [],
    shutdownTimeoutMs: vars.SHUTDOWN_TIMEOUT_MS ?? DEFAULT_SHUTDOWN_TIMEOUT_MS,
    consoleEnabled: vars.CONSOLE_ENABLED === undefined || ['true', '1'].includes(vars.CONSOLE_ENABLED),
  };
}
