import { v7 as uuidv7 } from 'uuid';
import type { Schedule } from '../src/domain/schedule.js';
import { fireWrite } from '../src/domain/fire.js';
import type { Session } from '../src/domain/session.js';

const words = 'the agent reads the ticket queue summarises open incidents and drafts replies for review'.split(' ');
const prose = (n: number, seed: number) => Array.from({ length: n }, (_, i) => words[(i + seed) % words.length]).join(' ');

/**
 * A session as a busy agent leaves it, about 4 KB of JSON: a few context messages, tasks, and
 * a read-file cache.
 */
export function realisticSession(schedule: Schedule, at: Date): Session {
  const { session } = fireWrite(schedule, at, 'cron', at);
  const iso = at.toISOString();
  for (let i = 0; i < 4; i++) {
    session.state.context.push({
      name: i % 2 ? 'user' : 'assistant',
      content: [{ type: 'text', text: prose(40, i), id: uuidv7() }],
      id: uuidv7(),
      metadata: { step: i },
      created_at: iso,
      finished_at: iso,
      usage: { input_tokens: 812 + i, output_tokens: 164 + i },
    });
  }
  for (let i = 0; i < 3; i++) {
    session.state.tasks_context.tasks.push({
      subject: `Follow up ${i}`,
      description: prose(20, i),
      metadata: {},
      created_at: iso,
      state: 'pending',
      id: uuidv7(),
      owner: schedule.agentId,
      blocks: [],
      blocked_by: [],
    });
  }
  session.state.tool_context.read_file_cache.push({
    lines: Array.from({ length: 12 }, (_, i) => `line ${i}: ${prose(6, i)}`),
    updated_at: at.getTime(),
    bytes: 600,
    file_path: '/workspace/notes/incidents.md',
  });
  return session;
}
