import { ValidationFailed } from './domain-errors.js';
import type { KeysetPosition } from './page.js';
import { isPlausibleId } from './text.js';

const BASE64URL = /^[A-Za-z0-9_-]+$/;
/** The form `Date#toISOString` gives for years 0000–9999: the only one encodeCursor writes. */
const ISO_INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/** An opaque page cursor: base64url of the position, so clients cannot come to depend on its shape. */
export function encodeCursor(position: KeysetPosition): string {
  return Buffer.from(JSON.stringify([position.at.toISOString(), position.id])).toString('base64url');
}

/**
 * The position a cursor stands for; ValidationFailed (422, field `cursor`) for anything
 * encodeCursor would not have written, so no forged value reaches the database.
 */
export function decodeCursor(cursor: string): KeysetPosition {
  if (BASE64URL.test(cursor)) {
    try {
      const decoded: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
      if (Array.isArray(decoded) && decoded.length === 2) {
        const [at, id] = decoded as unknown[];
        if (typeof at === 'string' && ISO_INSTANT.test(at) && typeof id === 'string' && isPlausibleId(id)) {
          const date = new Date(at);
          // Round-trips only when the calendar date exists (no 2026-02-30 rolling into March).
          if (!Number.isNaN(date.getTime()) && date.toISOString() === at) return { at: date, id };
        }
      }
    } catch {
      // falls through to the validation error
    }
  }
  throw new ValidationFailed([{ field: 'cursor', message: 'cursor is not a cursor this service issued' }]);
}
