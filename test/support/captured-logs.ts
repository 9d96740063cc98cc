import { afterEach, beforeEach } from '@jest/globals';
import { Logger, type LoggerService } from '@nestjs/common';

export type LogLevel = 'log' | 'warn' | 'error';

/**
 * Captures what Nest's Logger writes during each test of the calling file; returns `of(level)`,
 * the messages written at that level in the current test.
 */
export function captureNestLogs(): (level: LogLevel) => string[] {
  let lines: Array<{ level: LogLevel; message: string }> = [];
  beforeEach(() => {
    lines = [];
    const capture = (level: LogLevel) => (message: unknown) => void lines.push({ level, message: String(message) });
    const logger: LoggerService = { log: capture('log'), warn: capture('warn'), error: capture('error') };
    Logger.overrideLogger(logger);
  });
  afterEach(() => Logger.overrideLogger(false));
  return (level) => lines.filter((l) => l.level === level).map((l) => l.message);
}
