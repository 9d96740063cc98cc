/** How many times a raw request carries a header (Node's rawHeaders alternates names and values). */
export function countHeader(rawHeaders: readonly string[], name: string): number {
  let count = 0;
  for (let i = 0; i < rawHeaders.length; i += 2) if (rawHeaders[i].toLowerCase() === name) count++;
  return count;
}

const BEARER = /^Bearer +([\x21-\x7e]+) *$/i;

/**
 * The token of a request's one `Authorization: Bearer` header: `missing` without the header, null
 * when it is sent more than once (Node joins repeats, so which was meant cannot be known) or is
 * not a bearer token.
 */
export function bearerToken(rawHeaders: readonly string[], authorization: string | undefined): string | null | 'missing' {
  const count = countHeader(rawHeaders, 'authorization');
  if (count === 0) return 'missing';
  if (count > 1 || authorization === undefined) return null;
  return BEARER.exec(authorization)?.[1] ?? null;
}
