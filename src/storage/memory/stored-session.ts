import { type ContextBounds, jsonTextBytes } from '../../domain/fire.js';
import type { Session } from '../../domain/session.js';
import type { SessionJson } from '../ports/history.storage.js';
import { spliceContext, stateWithoutContext } from '../session-context.js';

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
  /** The bytes of `context`'s texts, kept as they change: an append measures one message, not all. */
  contextBytes: number;
  /**
   * The config's and the whole state's (spliceContext) text as UTF-8, kept from the first page read
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
    state: stateWithoutContext(session.state),
    ...contextOf(session.state.context.map((message) => JSON.stringify(message))),
    pageBytes: null,
  };
}

/** A context of these messages (JSON texts, oldest first), with its size. */
export function contextOf(messages: string[]): Pick<StoredSession, 'context' | 'contextBytes'> {
  return { context: messages, contextBytes: messages.reduce((sum, message) => sum + jsonTextBytes(message), 0) };
}

/**
 * Appends a message (JSON text) to the session's context, then drops its oldest messages while it
 * is over either bound, never the newest (keepNewestWithin's rule): what it costs does not depend
 * on how many messages the context holds.
 */
export function appendMessage(stored: StoredSession, message: string, bounds: ContextBounds): void {
  stored.context.push(message);
  stored.contextBytes += jsonTextBytes(message);
  trimContext(stored, bounds);
}

/** Drops the oldest messages while the context is over either bound, never the newest. */
export function trimContext(stored: StoredSession, bounds: ContextBounds): void {
  const { context } = stored;
  let dropped = 0;
  let bytes = stored.contextBytes;
  while (context.length - dropped > 1 && (context.length - dropped > bounds.maxMessages || bytes > bounds.maxBytes)) {
    bytes -= jsonTextBytes(context[dropped]);
    dropped++;
  }
  if (dropped === 0) return;
  context.splice(0, dropped);
  stored.contextBytes = bytes;
}

export function fromStored(stored: StoredSession): Session {
  const { context, contextBytes, pageBytes, ...session } = stored;
  const state = JSON.parse(stored.state);
  state.context = context.map((message) => JSON.parse(message));
  return { ...session, createdAt: new Date(stored.createdAt), updatedAt: new Date(stored.updatedAt), config: JSON.parse(stored.config), state };
}

export function toSessionJson(stored: StoredSession): SessionJson {
  stored.pageBytes ??= { config: Buffer.from(stored.config), state: Buffer.from(spliceContext(stored.state, stored.context)) };
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
