import { Logger, type OnApplicationShutdown } from '@nestjs/common';
import pg from 'pg';
import type { DataSource } from 'typeorm';
import { LogThrottle, suppressedSuffix } from '../../common/log-throttle.js';
import { DEFAULT_STORAGE_LIMITS, type StorageConfig } from '../../config/app-config.js';
import type { DispatchHandOff } from '../dispatch-hand-off.js';
import {
  DueNotifications,
  type DueListener,
  type OutboxListener,
  OutboxNotifications,
  SingleProcessDueNotifications,
  SingleProcessOutboxNotifications,
} from '../due-notifications.js';
import { dialectOfDriver } from './dialect.js';
import { OUTBOX_READY_CHANNEL } from './typeorm-context.js';

/** The channel of PostgreSQL's LISTEN/NOTIFY the replicas tell each other's tickers on; the payload is an ISO instant. */
export const DUE_CHANNEL = 'schedule_due';

/** The wait before reconnecting a lost LISTEN connection; it doubles with each failure, up to the max. */
export const LISTEN_RETRY_FIRST_MS = 500;
export const LISTEN_RETRY_MAX_MS = 30_000;

/** What a channel's listener hears: each payload, and that notifications may have been missed. */
interface ChannelListener {
  heard(payload: string): void;
  missed(): void;
}

/**
 * The notifications of a TypeORM storage (bound by StorageModule): across processes through one
 * LISTEN connection on PostgreSQL, closed at shutdown; none to hear on SQLite.
 */
export class TypeOrmNotifications implements OnApplicationShutdown {
  readonly due: DueNotifications;
  readonly outbox: OutboxNotifications;
  private readonly listener: PostgresListener | null;

  constructor(dataSource: DataSource, config: Pick<StorageConfig, 'databaseUrl' | 'connectTimeoutMs'>, handOff: DispatchHandOff) {
    const { databaseUrl, connectTimeoutMs = DEFAULT_STORAGE_LIMITS.connectTimeoutMs } = config;
    const shared = dialectOfDriver(dataSource.options.type).name === 'postgres' && databaseUrl;
    this.listener = shared ? new PostgresListener(databaseUrl, connectTimeoutMs) : null;
    this.due = this.listener ? new PostgresDueNotifications(dataSource, this.listener) : new SingleProcessDueNotifications();
    this.outbox = this.listener ? new PostgresOutboxNotifications(this.listener, handOff.instanceId) : new SingleProcessOutboxNotifications();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.listener?.close();
  }
}

/** DueNotifications through PostgreSQL: NOTIFY on the pool, after the write committed; LISTEN on the shared connection. */
export class PostgresDueNotifications extends DueNotifications {
  constructor(
    private readonly dataSource: DataSource,
    private readonly listener: PostgresListener,
  ) {
    super();
  }

  async publish(at: Date): Promise<void> {
    await this.dataSource.query('SELECT pg_notify($1, $2)', [DUE_CHANNEL, at.toISOString()]);
  }

  subscribe(listener: DueListener): () => void {
    return this.listener.listen(DUE_CHANNEL, {
      heard: (payload) => {
        const at = new Date(payload);
        if (!Number.isNaN(at.getTime())) listener(at);
      },
      missed: () => listener(new Date(0)),
    });
  }
}

/**
 * OutboxNotifications through PostgreSQL: the writing transactions NOTIFY with their process's
 * instance id (TypeOrmContext.transaction), which this process ignores in its own (its dispatcher
 * was told directly).
 */
export class PostgresOutboxNotifications extends OutboxNotifications {
  constructor(
    private readonly listener: PostgresListener,
    private readonly instanceId: string,
  ) {
    super();
  }

  subscribe(listener: OutboxListener): () => void {
    return this.listener.listen(OUTBOX_READY_CHANNEL, {
      heard: (payload) => {
        if (payload !== this.instanceId) listener();
      },
      missed: listener,
    });
  }
}

/**
 * LISTEN on one dedicated connection per process, for every channel a listener asks for (a
 * pooled connection would go back to the pool and stop hearing). The connection is opened with
 * the first listener and closed with the last (or on shutdown); if it drops, it is reopened with a
 * growing back-off, and the listeners hear that they missed what was sent meanwhile once it is back.
 */
export class PostgresListener {
  private readonly logger = new Logger('DueNotifications');
  private readonly throttle = new LogThrottle();
  private readonly listeners = new Map<string, Set<ChannelListener>>();
  private client: pg.Client | null = null;
  /** The channels the current connection LISTENs to, and its LISTEN statements so far. */
  private listening = new Set<string>();
  private listenedSoFar: Promise<unknown> = Promise.resolve();
  private retryTimer: NodeJS.Timeout | undefined;
  private retryMs = LISTEN_RETRY_FIRST_MS;
  /** A connection was lost (or never made): the next one to succeed may have missed notifications. */
  private missed = false;
  private closed = false;

  constructor(
    private readonly databaseUrl: string,
    private readonly connectTimeoutMs: number = DEFAULT_STORAGE_LIMITS.connectTimeoutMs,
  ) {}

  listen(channel: string, listener: ChannelListener): () => void {
    const set = this.listeners.get(channel) ?? new Set();
    set.add(listener);
    this.listeners.set(channel, set);
    if (this.client && !this.listening.has(channel)) void this.addChannels(this.client, [channel]).catch(() => undefined);
    this.connect();
    return () => {
      set.delete(listener);
      if (set.size === 0) this.listeners.delete(channel);
      if (this.listeners.size === 0) void this.disconnect();
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    this.listeners.clear();
    await this.disconnect();
  }

  private connect(): void {
    if (this.closed || this.client || this.retryTimer || this.listeners.size === 0) return;
    const client = new pg.Client({ connectionString: this.databaseUrl, keepAlive: true, connectionTimeoutMillis: this.connectTimeoutMs });
    this.client = client;
    this.listening = new Set();
    this.listenedSoFar = Promise.resolve();
    client.on('error', (error) => this.lost(client, error));
    client.on('end', () => this.lost(client, new Error('the connection ended')));
    client.on('notification', ({ channel, payload }) => {
      for (const listener of this.listeners.get(channel) ?? []) listener.heard(payload ?? '');
    });
    client
      .connect()
      .then(() => this.addChannels(client, [...this.listeners.keys()]))
      .then(
        () => {
          if (this.client !== client) return;
          this.retryMs = LISTEN_RETRY_FIRST_MS;
          if (!this.missed) return;
          this.missed = false;
          this.throttle.reset('lost');
          this.logger.log("Listening for other replicas' changes again");
          for (const set of this.listeners.values()) for (const listener of set) listener.missed();
        },
        (error: Error) => this.lost(client, error),
      );
  }

  /** LISTENs to the channels not listened to yet, in one statement after the ones before it (a client runs one at a time). */
  private addChannels(client: pg.Client, channels: string[]): Promise<unknown> {
    const fresh = channels.filter((channel) => !this.listening.has(channel));
    for (const channel of fresh) this.listening.add(channel);
    if (fresh.length === 0) return this.listenedSoFar;
    this.listenedSoFar = this.listenedSoFar.catch(() => undefined).then(() => client.query(fresh.map((channel) => `LISTEN ${channel}`).join('; ')));
    return this.listenedSoFar;
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
        `The connection that hears other replicas' changes failed (${error.message}); retrying in ${delay} ms. ` +
          `Meanwhile this replica's ticker and dispatcher still look for due work on their own timers${suppressedSuffix(suppressed)}`,
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
}
