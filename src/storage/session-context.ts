import type { SessionState } from '../domain/session.js';

// A stateful session's messages are kept apart from the rest of its state, one text each, so that
// a fire appends one without rewriting the others. The state is stored with an empty `context`
// holding their place; a read puts them back in, as text, without parsing either.

/** The state's text with its messages left out: `"context":[]` holds their place. */
export function stateWithoutContext(state: SessionState): string {
  return JSON.stringify({ ...state, context: [] });
}

/**
 * A stored state's text with `messages` (each a message's JSON text, oldest first, or already
 * joined by commas) put in the empty `context` array it keeps for them. The array is found among
 * the document's top-level keys, whatever the spacing (PostgreSQL's jsonb prints `"context": []`);
 * a nested `context`, or a string that reads like one, is skipped.
 */
export function spliceContext(state: string, messages: readonly string[] | string): string {
  const joined = typeof messages === 'string' ? messages : messages.join(',');
  let depth = 0;
  for (let i = 0; i < state.length; i++) {
    const c = state[i];
    if (c === '"') {
      const end = closingQuote(state, i);
      if (depth === 1 && state.slice(i, end + 1) === '"context"') {
        const open = skipSpace(state, skipSpace(state, end + 1) + 1);
        const close = skipSpace(state, open + 1);
        if (state[skipSpace(state, end + 1)] === ':' && state[open] === '[' && state[close] === ']') {
          return `${state.slice(0, open + 1)}${joined}${state.slice(close)}`;
        }
      }
      i = end;
    } else if (c === '{' || c === '[') depth++;
    else if (c === '}' || c === ']') depth--;
  }
  throw new Error('a stored session state without its context');
}

/** The index of the quote that closes the string opening at `open`: the next one not escaped by an odd run of backslashes. */
function closingQuote(text: string, open: number): number {
  for (let i = text.indexOf('"', open + 1); i >= 0; i = text.indexOf('"', i + 1)) {
    let backslashes = 0;
    while (text[i - 1 - backslashes] === '\\') backslashes++;
    if (backslashes % 2 === 0) return i;
  }
  throw new Error('a stored session state with an unclosed string');
}

function skipSpace(text: string, from: number): number {
  let i = from;
  while (i < text.length && (text[i] === ' ' || text[i] === '\n' || text[i] === '\t' || text[i] === '\r')) i++;
  return i;
}
