import { hostname } from 'node:os';
import { pino, type Logger, type LoggerOptions } from 'pino';
import pinoPretty from 'pino-pretty';
import type { ObservabilityConfig } from '../config/app-config.js';

export const SERVICE_NAME = 'schedule-service';

/**
 * Fields no log line may carry, wherever a caller put them. Nothing here logs headers or bodies
 * on purpose; this is the net under a mistake.
 */
const REDACTED_PATHS = [
  'authorization',
  'cookie',
  'token',
  'secret',
  'password',
  '*.authorization',
  '*.cookie',
  '*.token',
  '*.secret',
  '*.password',
  '*.headers.authorization',
  '*.headers.cookie',
  '*.headers["set-cookie"]',
  'req.headers',
  'req.body',
  'req.query',
  'body',
];

/** The path of a request target, without its query string (it may hold cursors). */
export function pathOf(url: string | undefined): string | undefined {
  return url?.split('?')[0].slice(0, 1024);
}

/**
 * The service's one logger: Fastify's, and Nest's through NestPinoLogger. JSON lines (level as a
 * name, ISO time, `service`) on `destination`, stdout by default; LOG_FORMAT=pretty makes them
 * readable in a terminal, in this process (no worker thread), so it works wherever the service runs.
 */
export function createLogger(observability: ObservabilityConfig, destination?: NodeJS.WritableStream): Logger {
  const options: LoggerOptions = {
    level: observability.logLevel,
    base: { service: SERVICE_NAME, pid: process.pid, hostname: hostname() },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    // Replace Fastify's request serializer, which writes the URL with its query string.
    serializers: {
      req: (req: { method?: string; url?: string }) => ({ method: req.method, path: pathOf(req.url) }),
      res: (reply: { statusCode?: number }) => ({ status: reply.statusCode }),
      err: pino.stdSerializers.err,
    },
  };
  if (observability.logFormat === 'pretty') {
    const pretty = pinoPretty({
      destination: destination ?? 1,
      sync: true,
      translateTime: 'SYS:HH:MM:ss.l',
      ignore: 'pid,hostname,service,context,method,path,status,duration_ms',
      messageFormat: prettyMessage,
    });
    return pino(options, pretty);
  }
  return destination ? pino(options, destination) : pino(options);
}

/** A pretty line's message: Nest's context first, a request's method, path, status and duration after. */
function prettyMessage(log: Record<string, unknown>, messageKey: string): string {
  const context = log.context ? `[${String(log.context)}] ` : '';
  const request = log.status !== undefined ? ` ${String(log.method)} ${String(log.path)} ${String(log.status)} ${String(log.duration_ms)} ms` : '';
  return `${context}${String(log[messageKey] ?? '')}${request}`;
}
