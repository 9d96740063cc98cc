import 'reflect-metadata';
import type { AddressInfo } from 'node:net';
import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { AppModule } from './app.module.js';
import { configureApp, createHttpAdapter } from './app.setup.js';
import { type AppConfig, DEFAULT_OBSERVABILITY, InvalidConfigError, loadConfig } from './config/app-config.js';
import { createLogger } from './logging/logger.js';
import { NestPinoLogger } from './logging/nest-logger.js';

async function bootstrap(config: AppConfig): Promise<void> {
  // A failing start-up throws here, to be told in one line: Nest's own logs of it (with stack
  // traces) stay in the buffer, which is flushed only once the service listens.
  // Fastify's logger, and Nest's through it: one stream of JSON lines.
  const logger = createLogger(config.observability ?? DEFAULT_OBSERVABILITY);
  const app = await NestFactory.create<NestFastifyApplication>(AppModule.forRoot(config), createHttpAdapter(config.http, logger), {
    abortOnError: false,
    bufferLogs: true,
    autoFlushLogs: false,
  });
  app.useLogger(new NestPinoLogger(logger));
  await configureApp(app, config);
  try {
    await app.listen(config.port, config.host);
  } catch (error) {
    await app.close().catch(() => undefined);
    throw error;
  }
  app.flushLogs();
  // The bound port, which PORT=0 leaves to the system.
  const { port } = app.getHttpServer().address() as AddressInfo;
  new Logger('Bootstrap').log(`Listening on http://${config.host}:${port} (storage: ${config.storage.driver}); API docs at /docs`);
}

/** Why the service could not start, naming the variable to change. */
export function startupFailure(error: unknown, config: AppConfig): string {
  const e = error as NodeJS.ErrnoException & { errno?: unknown };
  const message = e instanceof Error ? e.message : String(error);
  if (e?.syscall === 'listen' || e?.syscall === 'getaddrinfo') {
    if (e.code === 'EADDRINUSE') return `PORT=${config.port}: the port is already in use on ${config.host}`;
    if (e.code === 'EACCES') return `PORT=${config.port}: not allowed to listen on this port`;
    return `HOST=${config.host}: cannot listen on this address (${e.code})`;
  }
  if (config.storage.driver === 'sqlite' && /^(SQLITE_|EACCES|ENOTDIR|EEXIST|EISDIR|EROFS|ENOENT)/.test(e?.code ?? '')) {
    // Node's own messages start with the code already (`ENOENT: no such file…`); SQLite's do not.
    const reason = message.startsWith(`${e.code}:`) ? message : `${e.code}: ${message}`;
    return `SQLITE_PATH=${config.storage.sqlitePath}: cannot be used as the SQLite database (${reason})`;
  }
  if (config.storage.driver === 'postgres') {
    return `DATABASE_URL: PostgreSQL could not be used (${message})`;
  }
  return `Start-up failed: ${message}`;
}

async function main(): Promise<void> {
  let config: AppConfig;
  try {
    config = loadConfig(process.env);
  } catch (error) {
    if (!(error instanceof InvalidConfigError)) throw error;
    console.error(error.message);
    process.exit(1);
  }
  try {
    await bootstrap(config);
  } catch (error) {
    console.error(startupFailure(error, config));
    process.exit(1);
  }
}

void main();
