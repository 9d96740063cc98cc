import { api, ok, type Run } from './client.js';

/** A schedule's runs since an instant, as far as `pages` pages of 500 reach; `complete` says whether they reached. */
export interface RecentRuns {
  runs: Run[];
  complete: boolean;
}

export async function recentRuns(scheduleId: string, since: Date, pages: number): Promise<RecentRuns> {
  const runs: Run[] = [];
  let cursor: string | undefined;
  for (let page = 0; page < pages; page += 1) {
    const answer = await ok(api.GET('/runs', { params: { query: { schedule_id: scheduleId, since: since.toISOString(), limit: 500, cursor } } }));
    runs.push(...answer.runs);
    cursor = answer.next_cursor ?? undefined;
    if (!cursor) return { runs, complete: true };
  }
  return { runs, complete: false };
}
