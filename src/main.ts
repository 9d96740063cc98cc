import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { AppModule } from './app.module.js';
import { configureApp, createHttpAdapter } from './app.setup.js';
import { type AppConfig, InvalidConfigError, loadConfig } from './config/app-config.js';

async function bootstrap(config: AppConfig): Promise<void> {
  // abortOnError false: a failing start-up throws here, to be told in one line, not as a stack trace.
  const app = await NestFactory.create<NestFastifyApplication>(AppModule.forRoot(config), createHttpAdapter(config.http), {
    abortOnError: false,
  });
  configureApp(app, config.http);
  try {
    await app.listen(config.port, config.host);
  } catch (error) {
    await app.close().catch(() => undefined);
    throw error;
  }
  new Logger('Bootstrap').log(
    `Listening on http://${config.host}:${config.port} (storage: ${config.storage.driver}); API docs at /docs`,
  );
}

/** Why the service could not start, naming the variable to change. */
export function startupFailure(error: unknown, config: AppConfig): string {
  const e = error as NodeJS.ErrnoException & { errno?: unknown };
  const message = e instanceof Error ? e.message : String(error);
  switch (e?.code) {
    case 'EADDRINUSE':
      return `PORT=${config.port}: the port is already in use on ${config.host}`;
    case 'EACCES':
      return `PORT=${config.port}: not allowed to listen on this port`;
    case 'EADDRNOTAVAIL':
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `HOST=${config.host}: not an address of this machine (${e.code})`;
    case 'SQLITE_CANTOPEN':
    case 'SQLITE_READONLY':
    case 'SQLITE_NOTADB':
    case 'SQLITE_IOERR':
      return `SQLITE_PATH=${config.storage.sqlitePath}: cannot be used as the SQLite database (${e.code}: ${message})`;
  }
  if (config.storage.driver === 'postgres' && /ECONNREFUSED|ENOTFOUND|ETIMEDOUT|EAI_AGAIN|timeout|password|does not exist|no pg_hba/i.test(message)) {
    return `DATABASE_URL: PostgreSQL could not be reached or refused the connection (${message})`;
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
