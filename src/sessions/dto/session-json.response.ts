import { encodeCursor } from '../../common/cursor.js';
import type { Page } from '../../common/page.js';
import type { SessionJson } from '../../storage/ports/history.storage.js';

// ScheduleSessionsResponse written as JSON directly: the sessions' config and state are spliced
// in as the storage holds them, never parsed into objects and serialised back (on a page of 4 KB
// sessions that round trip was most of a request). The keys and their order are those of
// toSessionResponse under JSON.stringify. The spliced texts cannot break out of their slots:
// each is a whole JSON document this service itself wrote (JSON.stringify of validated input, or
// PostgreSQL's own text of its jsonb), and every other value goes through JSON.stringify.
//
// The body is assembled into one Buffer rather than one string: V8 builds a string of a
// quarter of a megabyte from parts slower than JSON.stringify writes one, and the socket would
// encode it to UTF-8 once more. Written part by part, each text is encoded exactly once, and
// texts the storage holds as UTF-8 bytes already (memory) are only copied.

function sessionParts(s: SessionJson, first: boolean): Array<string | Buffer> {
  return [
    `${first ? '' : ','}{"user_id":${JSON.stringify(s.userId)},"agent_id":${JSON.stringify(s.agentId)},"config":`,
    s.configJson,
    `,"id":${JSON.stringify(s.id)},"updated_at":"${s.updatedAt.toISOString()}","created_at":"${s.createdAt.toISOString()}"` +
      `,"source":${JSON.stringify(s.source)},"source_schedule_id":${JSON.stringify(s.sourceScheduleId)}` +
      `,"team_id":${JSON.stringify(s.teamId)},"state":`,
    s.stateJson,
    '}',
  ];
}

/** The body of GET /schedule/{id}/sessions, UTF-8: with `next_cursor` when it was asked for a page. */
export function scheduleSessionsJson({ items, total, next }: Page<SessionJson>, paged: boolean): Buffer {
  const parts: Array<string | Buffer> = ['{"sessions":['];
  items.forEach((s, i) => parts.push(...sessionParts(s, i === 0)));
  parts.push(`],"total":${total}${paged ? `,"next_cursor":${JSON.stringify(next && encodeCursor(next))}` : ''}}`);
  let length = 0;
  for (const part of parts) length += typeof part === 'string' ? Buffer.byteLength(part) : part.length;
  const body = Buffer.allocUnsafe(length);
  let at = 0;
  for (const part of parts) at += typeof part === 'string' ? body.write(part, at) : part.copy(body, at);
  return body;
}
