import { Logger, type OnApplicationShutdown } from '@nestjs/common';
import pg from 'pg';
import type { DataSource } from 'typeorm';
import { LogThrottle, suppressedSuffix } from '../../common/log-throttle.js';
import { DueNotifications, type DueListener, SingleProcessDueNotifications } from '../due-notifications.js';
import { dialectOfDriver } from './dialect.js';
import { POOL_CONNECT_TIMEOUT_MS } from './data-source-options.js';

/** The channel of PostgreSQL's LISTEN/NOTIFY the replicas tell each other's tickers on; the payload is an ISO instant. */
export const DUE_CHANNEL = 'schedule_due';

/** The wait before reconnecting a lost LISTEN connection; it doubles with each failure, up to the max. */
export const LISTEN_RETRY_FIRST_MS = 500;
export const LISTEN_RETRY_MAX_MS = 30_000;

/** DueNotifications for a storage on `dataSource`: across processes on PostgreSQL, none to tell otherwise. */
export function dueNotificationsFor(dataSource: DataSource, databaseUrl: string | undefined): DueNotifications {
  const dialect = dialectOfDriver(dataSource.options.type);
  if (dialect.name !== 'postgres' || !databaseUrl) return new SingleProcessDueNotifications();
  return new PostgresDueNotifications(dataSource, databaseUrl);
}

/**
 * DueNotifications through PostgreSQL's NOTIFY (sent on the pool, after the write committed) and
 * LISTEN, on one dedicated connection per process: a pooled one would go back to the pool and
 * stop hearing. The connection is opened with the first listener and closed with the last (or
 * on shutdown); if it drops, it is reopened with a growing back-off, and the listeners hear the
 * epoch once it is back, since anything sent meanwhile was missed.
 */
export class PostgresDueNotifications extends DueNotifications implements OnApplicationShutdown {
  private readonly logger = new Logger('DueNotifications');
  private readonly throttle = new LogThrottle();
  private readonly listeners = new Set<DueListener>();
  private client: pg.Client | null = null;
  private retryTimer: NodeJS.Timeout | undefined;
  private retryMs = LISTEN_RETRY_FIRST_MS;
  /** A connection was lost (or never made): the next one to succeed may have missed notifications. */
  private missed = false;
  private closed = false;

  constructor(
    private readonly dataSource: DataSource,
    private readonly databaseUrl: string,
  ) {
    super();
  }

  async publish(at: Date): Promise<void> {
    await this.dataSource.query('SELECT pg_notify($1, $2)', [DUE_CHANNEL, at.toISOString()]);
  }

  subscribe(listener: DueListener): () => void {
    this.listeners.add(listener);
    this.connect();
    return () => {
      this.listeners.delete(listener);
      if (this.listeners.size === 0) void this.disconnect();
    };
  }

  async onApplicationShutdown(): Promise<void> {
    this.closed = true;
    this.listeners.clear();
    await this.disconnect();
  }

  private connect(): void {
    if (this.closed || this.client || this.retryTimer || this.listeners.size === 0) return;
    const client = new pg.Client({ connectionString: this.databaseUrl, keepAlive: true, connectionTimeoutMillis: POOL_CONNECT_TIMEOUT_MS });
    this.client = client;
    client.on('error', (error) => this.lost(client, error));
    client.on('end', () => this.lost(client, new Error('the connection ended')));
    client.on('notification', ({ channel, payload }) => {
      if (channel !== DUE_CHANNEL || !payload) return;
      const at = new Date(payload);
      if (!Number.isNaN(at.getTime())) this.emit(at);
    });
    client
      .connect()
      .then(() => client.query(`LISTEN ${DUE_CHANNEL}`))
      .then(
        () => {
          if (this.client !== client) return;
          this.retryMs = LISTEN_RETRY_FIRST_MS;
          if (!this.missed) return;
          this.missed = false;
          this.throttle.reset('lost');
          this.logger.log('Listening for other replicas\' schedule changes again');
          this.emit(new Date(0));
        },
        (error: Error) => this.lost(client, error),
      );
  }

  private lost(client: pg.Client, error: Error): void {
    if (this.client !== client) return;
    this.client = null;
    client.end().catch(() => undefined);
    if (this.closed || this.listeners.size === 0) return;
    this.missed = true;
    const delay = this.retryMs;
    this.retryMs = Math.min(this.retryMs * 2, LISTEN_RETRY_MAX_MS);
    this.throttle.run('lost', (suppressed) =>
      this.logger.warn(
        `The connection that hears other replicas' schedule changes failed (${error.message}); retrying in ${delay} ms. ` +
          `Meanwhile this replica's ticker still looks for due schedules at least every SCHEDULER_INTERVAL_MS${suppressedSuffix(suppressed)}`,
      ),
    );
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.connect();
    }, delay);
  }

  private async disconnect(): Promise<void> {
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    const client = this.client;
    this.client = null;
    if (client) await client.end().catch(() => undefined);
  }

  private emit(at: Date): void {
    for (const listener of this.listeners) listener(at);
  }
}
