import { ValidationFailed } from './domain-errors.js';
import type { KeysetPosition } from './page.js';

/** An opaque page cursor: base64url of the position, so clients cannot come to depend on its shape. */
export function encodeCursor(position: KeysetPosition): string {
  return Buffer.from(JSON.stringify([position.at.toISOString(), position.id])).toString('base64url');
}

/** The position a cursor stands for; ValidationFailed (422, field `cursor`) when it is not one this service issued. */
export function decodeCursor(cursor: string): KeysetPosition {
  try {
    const [at, id] = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown[];
    if (typeof at === 'string' && typeof id === 'string' && id.length > 0 && id.length <= 128 && !Number.isNaN(Date.parse(at))) {
      return { at: new Date(at), id };
    }
  } catch {
    // falls through to the validation error
  }
  throw new ValidationFailed([{ field: 'cursor', message: 'cursor is not a cursor this service issued' }]);
}
