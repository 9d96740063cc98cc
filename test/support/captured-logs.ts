import { afterEach, beforeEach } from '@jest/globals';
import { Logger, type LoggerService } from '@nestjs/common';

export type LogLevel = 'log' | 'warn' | 'error';

/** The messages written at one level in the current test; `capture()` captures again after something took Nest's logger over. */
export interface CapturedLogs {
  (level: LogLevel): string[];
  capture(): void;
}

/**
 * Captures what Nest's Logger writes during each test of the calling file; returns `of(level)`,
 * the messages written at that level in the current test. An app built in a test replaces Nest's
 * logger (the test apps log nothing): call `of.capture()` after building it.
 */
export function captureNestLogs(): CapturedLogs {
  let lines: Array<{ level: LogLevel; message: string }> = [];
  const record = (level: LogLevel) => (message: unknown) => void lines.push({ level, message: String(message) });
  const logger: LoggerService = { log: record('log'), warn: record('warn'), error: record('error') };
  beforeEach(() => {
    lines = [];
    Logger.overrideLogger(logger);
  });
  afterEach(() => Logger.overrideLogger(false));
  const of = (level: LogLevel) => lines.filter((l) => l.level === level).map((l) => l.message);
  return Object.assign(of, { capture: () => Logger.overrideLogger(logger) });
}
