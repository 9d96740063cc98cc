import pg from 'pg';

/**
 * No database session could be had: the pool had none free in time, or a new connection was
 * refused or never answered (network, authentication, a server starting, stopping, in recovery or
 * not accepting connections, too many clients). Whatever the cause, the database is unavailable;
 * its message and code are the cause's, for the logs and start-up's report.
 */
export class NoDatabaseSession extends Error {
  readonly code: unknown;

  constructor(cause: unknown) {
    super(cause instanceof Error ? cause.message : String(cause), { cause });
    this.name = 'NoDatabaseSession';
    this.code = (cause as { code?: unknown } | null)?.code;
  }
}

/**
 * A statement's failure after which its connection is of no more use: no answer within the
 * client's `query_timeout` (node-postgres's message; the network went quiet, the server hangs), or
 * a write refused because the server is read-only (25006: a standby, after a failover that moved
 * the primary's name elsewhere; a new connection may reach the new primary).
 */
function spoilsConnection(error: unknown): boolean {
  const { message, code } = (error ?? {}) as { message?: unknown; code?: unknown };
  return message === 'Query read timeout' || code === '25006';
}

type PoolCallback = (error: Error | undefined, client: pg.PoolClient | undefined, done: (release?: unknown) => void) => void;

/**
 * node-postgres's client, with two guards:
 * - never without an 'error' listener. Between the pool handing a client out and TypeORM listening
 *   on it there is a moment; a server that ends the connection then (pg_terminate_backend,
 *   failover) would make the client emit 'error' with no listener, which ends the process. The
 *   error still reaches the query that was running, as its rejection.
 * - a statement whose failure spoils its connection closes it. node-postgres would keep it: after
 *   no answer, every later statement queued behind the one that never ends; after a read-only
 *   refusal, every later write refused alike. Closed, the transaction's ROLLBACK fails at once,
 *   the pool drops the connection and opens a new one when needed, and the server ends the
 *   transaction when it sees the connection go.
 */
export class GuardedClient extends pg.Client {
  constructor(config?: string | pg.ClientConfig) {
    super(config);
    this.on('error', () => undefined);
    const query = this.query.bind(this) as (...args: unknown[]) => unknown;
    Object.defineProperty(this, 'query', {
      value: (...args: unknown[]) => {
        const result = query(...args);
        if (result instanceof Promise) {
          result.catch((error: unknown) => {
            if (spoilsConnection(error)) this.connectionStream().destroy();
          });
        }
        return result;
      },
    });
  }

  private connectionStream(): { destroy(): void } {
    return (this as unknown as { connection: { stream: { destroy(): void } } }).connection.stream;
  }
}

/** node-postgres's pool, whose every failure to hand out a connection is a NoDatabaseSession. */
export class SessionPool extends pg.Pool {
  override connect(): Promise<pg.PoolClient>;
  override connect(callback: PoolCallback): void;
  // TypeORM asks with a callback; pg-pool's own query() asks the same way.
  override connect(callback?: PoolCallback): Promise<pg.PoolClient> | void {
    if (!callback) return super.connect().catch((error: unknown) => Promise.reject(new NoDatabaseSession(error)));
    super.connect((error, client, done) => callback(error ? new NoDatabaseSession(error) : undefined, client, done));
  }
}

/** node-postgres as TypeORM loads it (its `driver` option), with the pool above and everything else its own. */
export const POSTGRES_DRIVER: typeof pg = Object.create(pg, { Pool: { value: SessionPool } }) as typeof pg;
