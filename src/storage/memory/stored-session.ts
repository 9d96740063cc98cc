import type { Session } from '../../domain/session.js';
import type { SessionJson } from '../ports/history.storage.js';

/**
 * A session as the memory storage keeps it: its documents (config, state) as JSON text, as a
 * database would (reading one back is a JSON.parse, several times cheaper than a structured clone
 * of a few kilobytes). `state` is the state without its messages (`context: []` holds their
 * place); `context` the messages, one text each, so that a stateful fire appends in place.
 */
export type StoredSession = Omit<Session, 'config' | 'state'> & {
  config: string;
  state: string;
  context: string[];
  /**
   * The config's and the whole state's (withContext) text as UTF-8, kept from the first page read
   * after the last change (null since): a page reads every session's documents, far more often
   * than fires change one, and copies these bytes without encoding them again.
   */
  pageBytes: { config: Buffer; state: Buffer } | null;
};

export function toStored(session: Session): StoredSession {
  return {
    ...session,
    createdAt: new Date(session.createdAt),
    updatedAt: new Date(session.updatedAt),
    config: JSON.stringify(session.config),
    state: JSON.stringify({ ...session.state, context: [] }),
    context: session.state.context.map((message) => JSON.stringify(message)),
    pageBytes: null,
  };
}

export function fromStored(stored: StoredSession): Session {
  const { context, pageBytes, ...session } = stored;
  const state = JSON.parse(stored.state);
  state.context = context.map((message) => JSON.parse(message));
  return { ...session, createdAt: new Date(stored.createdAt), updatedAt: new Date(stored.updatedAt), config: JSON.parse(stored.config), state };
}

export function toSessionJson(stored: StoredSession): SessionJson {
  stored.pageBytes ??= { config: Buffer.from(stored.config), state: Buffer.from(withContext(stored.state, stored.context)) };
  return {
    id: stored.id,
    userId: stored.userId,
    agentId: stored.agentId,
    source: stored.source,
    sourceScheduleId: stored.sourceScheduleId,
    teamId: stored.teamId,
    createdAt: new Date(stored.createdAt),
    updatedAt: new Date(stored.updatedAt),
    configJson: stored.pageBytes.config,
    stateJson: stored.pageBytes.state,
  };
}

const CONTEXT_SLOT = '"context":[]';

/**
 * A stored state's text with its messages put in the `"context":[]` it keeps for them, found
 * among the document's top-level keys (a nested `context` or a string that reads like one is
 * skipped): the text of what fromStored's `state` is, without parsing any of it.
 */
function withContext(state: string, context: string[]): string {
  let depth = 0;
  for (let i = 0; i < state.length; i++) {
    const c = state[i];
    if (c === '"') {
      if (depth === 1 && state.startsWith(CONTEXT_SLOT, i)) {
        const at = i + CONTEXT_SLOT.length - 1;
        return `${state.slice(0, at)}${context.join(',')}${state.slice(at)}`;
      }
      // To the string's closing quote: the next one not escaped by an odd run of backslashes.
      for (;;) {
        i = state.indexOf('"', i + 1);
        let backslashes = 0;
        while (state[i - 1 - backslashes] === '\\') backslashes++;
        if (backslashes % 2 === 0) break;
      }
    } else if (c === '{' || c === '[') depth++;
    else if (c === '}' || c === ']') depth--;
  }
  throw new Error('a stored session state without its context');
}
