/**
 * A schedule's stats (see ScheduleStats, stored as JSON text) counted from its kept runs, as a
 * correlated subquery both engines run: the counts by final status. Its last success and failure
 * are left unknown (null): the stats keep them from the migration on.
 */
export const STATS_FROM_RUNS = `(SELECT '{"succeeded":' || count(CASE WHEN r.status = 'succeeded' THEN 1 END)
    || ',"failed":' || count(CASE WHEN r.status = 'failed' THEN 1 END)
    || ',"timedOut":' || count(CASE WHEN r.status = 'timed_out' THEN 1 END)
    || ',"skipped":' || count(CASE WHEN r.status = 'skipped' THEN 1 END)
    || ',"missed":' || count(CASE WHEN r.status = 'missed' THEN 1 END) || '}'
  FROM runs r WHERE r.schedule_id = schedules.id)`;
