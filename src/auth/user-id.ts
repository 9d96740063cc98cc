import { isStorableText } from '../common/text.js';

/** The header that carries the caller's user id in header mode. */
export const USER_ID_HEADER = 'x-user-id';
export const MAX_USER_ID_LENGTH = 256;
// eslint-disable-next-line no-control-regex
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f]/;

/**
 * Whether `id` can name a user, in either mode: 1 to 256 characters, no control characters, no
 * surrounding whitespace (a header-mode id is trimmed, so a JWT claim that is not could never
 * name the same user), and storable alike on every backend (a lone surrogate would be stored as
 * U+FFFD, so two such ids would share one user's schedules).
 */
export function isUsableUserId(id: string): boolean {
  return (
    id.length > 0 &&
    id.length <= MAX_USER_ID_LENGTH &&
    id === id.trim() &&
    !CONTROL_CHARACTERS.test(id) &&
    isStorableText(id)
  );
}
