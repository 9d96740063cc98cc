/**
 * Whether a client's string can be stored and compared the same way on every backend: no NUL
 * (PostgreSQL refuses it in text and jsonb) and no lone UTF-16 surrogate (not encodable as UTF-8).
 */
export function isStorableText(text: string): boolean {
  return text.isWellFormed() && !text.includes('\u0000');
}

/** An id from a path or cursor: 1–128 characters, storable, no control characters. */
export function isPlausibleId(id: string): boolean {
  // eslint-disable-next-line no-control-regex
  return id.length > 0 && id.length <= 128 && isStorableText(id) && !/[\u0000-\u001f\u007f]/.test(id);
}

/** What is wrong with a path parameter `name` that is not a plausible id (isPlausibleId). */
export function implausibleIdMessage(name: string): string {
  return `${name} must be 1 to 128 characters, without control characters`;
}
