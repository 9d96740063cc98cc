import { Body, Controller, Delete, Get, Headers, HttpCode, HttpStatus, Param, Patch, Post, Put, Query, Res } from '@nestjs/common';
import {
  ApiAcceptedResponse,
  ApiBody,
  ApiConflictResponse,
  ApiCreatedResponse,
  ApiHeader,
  ApiNoContentResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiParam,
  ApiPreconditionFailedResponse,
  ApiTags,
  ApiUnprocessableEntityResponse,
} from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { CurrentUser, UserAuth } from '../auth/user-auth.decorator.js';
import { encodeCursor } from '../common/cursor.js';
import { PageQuery, pageRequestOf } from '../common/page-query.dto.js';
import { ProblemDetails, RunTransitionProblem, ScheduleConflictProblem } from '../common/problem-details.js';
import { ValidationFailed } from '../common/domain-errors.js';
import { SCHEDULE_KEY, type Schedule } from '../domain/schedule.js';
import { toLocalIso } from '../common/time.js';
import { RunDetailResponse, RunListResponse, RunResponse, toRunDetailResponse, toRunResponse } from '../wire/run.response.js';
import { scheduleSessionsJson } from '../sessions/dto/session-json.response.js';
import { ScheduleSessionsResponse } from '../wire/session.response.js';
import { Clock } from '../common/clock.js';
import { labelSelectorsOf, ListSchedulesQuery } from './dto/list-schedules.query.js';
import { SessionsService } from '../sessions/sessions.service.js';
import { CreateScheduleDto } from './dto/create-schedule.dto.js';
import { BulkActionDto, BulkActionResponse, MAX_BULK_SCHEDULES } from './dto/bulk-action.dto.js';
import {
  CreateScheduleResponse,
  RunScheduleResponse,
  ScheduleListResponse,
  ScheduleResponse,
  toScheduleResponse,
} from '../wire/schedule.response.js';
import { FireTimesPreviewResponse, NextRunResponse, NextRunsQuery, NextRunsResponse, SkipFireTimeDto } from './dto/next-runs.dto.js';
import { BackfillDto, BackfillResponse, MAX_BACKFILL_SLOTS } from './dto/backfill.dto.js';
import { UpdateScheduleDto } from './dto/update-schedule.dto.js';
import { ApiRateLimited, ApiStorageUnavailable, PROBLEM_EXAMPLES } from '../docs/problem-examples.js';
import { scheduleEtag, versionsIfMatch } from './schedule-etag.js';
import { SchedulesService } from './schedules.service.js';
import { RunOverridesDto, runOverridesOf } from '../wire/run-overrides.dto.js';
import { Idempotent } from '../idempotency/idempotency.interceptor.js';

const ScheduleIdParam = () => ApiParam({ name: 'schedule_id', description: 'ID of the schedule.' });
const NotFound = () =>
  ApiNotFoundResponse({
    description: 'The caller has no schedule with this ID.',
    type: ProblemDetails,
    example: PROBLEM_EXAMPLES.scheduleNotFound,
  });
const ETAG_HEADER = {
  ETag: {
    description: "The schedule's version as a strong entity tag; send it in `If-Match` to update only that version.",
    schema: { type: 'string', example: '"3"' },
  },
};
const WithEtag = () => ApiOkResponse({ type: ScheduleResponse, headers: ETAG_HEADER });
const Invalid = (example: ProblemDetails) =>
  ApiUnprocessableEntityResponse({ description: 'A field is invalid; `errors[]` names each one.', type: ProblemDetails, example });

@ApiTags('schedule')
@UserAuth()
@ApiRateLimited()
@ApiStorageUnavailable()
@Controller('schedule')
export class ScheduleController {
  constructor(
    private readonly schedules: SchedulesService,
    private readonly sessions: SessionsService,
    private readonly clock: Clock,
  ) {}

  @Get()
  @ApiOperation({
    summary: "List the caller's schedules",
    description: 'Newest first; filtered by `status`, `agent_id` and `label`; whole, or by page with `limit` and `cursor`.',
  })
  @ApiOkResponse({ type: ScheduleListResponse })
  @Invalid(PROBLEM_EXAMPLES.invalidPage)
  async list(@CurrentUser() userId: string, @Query() query: ListSchedulesQuery): Promise<ScheduleListResponse> {
    const page = pageRequestOf(query);
    const filter = { status: query.status, agentId: query.agent_id, labels: labelSelectorsOf(query) };
    const { items, total, next } = await this.schedules.list(userId, filter, page);
    const now = this.clock.now();
    const schedules = items.map((s) => toScheduleResponse(s, now));
    return page ? { schedules, total, next_cursor: next && encodeCursor(next) } : { schedules, total };
  }

  @Post()
  @Idempotent()
  @ApiOperation({ summary: 'Create a schedule' })
  @ApiCreatedResponse({ type: CreateScheduleResponse })
  @ApiConflictResponse({
    description: 'The caller already has the most schedules one user may have (MAX_SCHEDULES_PER_USER).',
    type: ProblemDetails,
    example: PROBLEM_EXAMPLES.scheduleLimitReached,
  })
  @Invalid(PROBLEM_EXAMPLES.invalidSchedule)
  async create(@CurrentUser() userId: string, @Body() dto: CreateScheduleDto): Promise<CreateScheduleResponse> {
    const schedule = await this.schedules.create(userId, dto);
    return { schedule_id: schedule.id };
  }

  @Post('bulk')
  @HttpCode(HttpStatus.OK)
  @ApiOperation({
    summary: 'Pause, resume or delete many schedules',
    description:
      "Acts on each of the caller's schedules that every selector given matches (`ids`, `labels`, `agent_id`; at least one), " +
      `at most ${MAX_BULK_SCHEDULES} a call; each schedule changes on its own, atomically, as with its single route.`,
  })
  @ApiOkResponse({ type: BulkActionResponse })
  @Invalid(PROBLEM_EXAMPLES.invalidBulk)
  async bulk(@CurrentUser() userId: string, @Body() dto: BulkActionDto): Promise<BulkActionResponse> {
    return this.schedules.bulk(userId, dto);
  }

  @Post('preview')
  @HttpCode(HttpStatus.OK)
  @ApiOperation({
    summary: 'Preview when a schedule would fire',
    description:
      'Validates a create body exactly as `POST /schedule` does (the same 422 `errors[]`) and answers its first fire times from now, ' +
      'before jitter; nothing is written. For a form that shows its next fires while it is filled in.',
  })
  @ApiOkResponse({ type: FireTimesPreviewResponse })
  @Invalid(PROBLEM_EXAMPLES.invalidSchedule)
  preview(@CurrentUser() userId: string, @Body() dto: CreateScheduleDto, @Query() query: NextRunsQuery): FireTimesPreviewResponse {
    const { schedule, fires } = this.schedules.preview(userId, dto, query.count ?? 5);
    return { timezone: schedule.timezone, next_runs: toNextRuns(schedule, fires) };
  }

  @Get(':schedule_id')
  @ApiOperation({ summary: 'Get a schedule' })
  @ScheduleIdParam()
  @WithEtag()
  @NotFound()
  async get(
    @CurrentUser() userId: string,
    @Param('schedule_id') scheduleId: string,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<ScheduleResponse> {
    const schedule = await this.schedules.get(userId, scheduleId);
    void reply.header('etag', scheduleEtag(schedule));
    return toScheduleResponse(schedule, this.clock.now());
  }

  @Patch(':schedule_id')
  @ApiOperation({
    summary: 'Update a schedule',
    description:
      'Partial update: omitted fields keep their value, whatever other updates do meanwhile. ' +
      'With `If-Match`, only if the schedule is still at that version (optimistic concurrency).',
  })
  @ScheduleIdParam()
  @ApiHeader({
    name: 'If-Match',
    required: false,
    description:
      'The `ETag` of the version read (e.g. `"3"`), or `*`: the update applies only to that version. ' +
      'Any other value (a stale version, a weak or malformed tag) fails the precondition (412).',
  })
  @WithEtag()
  @NotFound()
  @ApiPreconditionFailedResponse({
    description: '`If-Match` does not name the current version: the schedule changed since it was read; nothing was written.',
    type: ProblemDetails,
    example: PROBLEM_EXAMPLES.versionMismatch,
  })
  @Invalid(PROBLEM_EXAMPLES.invalidSchedule)
  async update(
    @CurrentUser() userId: string,
    @Param('schedule_id') scheduleId: string,
    @Headers('if-match') ifMatch: string | undefined,
    @Body() dto: UpdateScheduleDto,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<ScheduleResponse> {
    const schedule = await this.schedules.update(userId, scheduleId, dto, versionsIfMatch(ifMatch));
    void reply.header('etag', scheduleEtag(schedule));
    return toScheduleResponse(schedule, this.clock.now());
  }

  @Put('by-key/:key')
  @ApiOperation({
    summary: 'Create or replace a schedule by its key',
    description:
      'Declarative: the body is the whole schedule (as on create; omitted fields take their defaults). Creates the ' +
      "caller's schedule with this key (201), or replaces the one there is (200), keeping what the service keeps " +
      '(id, stats, history). A body that changes nothing writes nothing (the ETag stays). The key is shown as `data.key`. ' +
      'Concurrent PUTs of one key leave one schedule. With `If-Match`, only over that version (and never a creation).',
  })
  @ApiParam({ name: 'key', description: 'The schedule\'s key: 1–128 characters of `A-Za-z0-9._:-`, unique per user.', example: 'support-digest' })
  @ApiHeader({ name: 'If-Match', required: false, description: 'The `ETag` of the version read, or `*`: replace only that version (412 otherwise).' })
  @ApiCreatedResponse({ type: ScheduleResponse, description: 'Created.', headers: ETAG_HEADER })
  @WithEtag()
  @ApiConflictResponse({ description: 'A new schedule, and the caller already has MAX_SCHEDULES_PER_USER.', type: ProblemDetails, example: PROBLEM_EXAMPLES.scheduleLimitReached })
  @ApiPreconditionFailedResponse({ description: '`If-Match` does not name the current version (or there is none): nothing was written.', type: ProblemDetails, example: PROBLEM_EXAMPLES.versionMismatch })
  @Invalid(PROBLEM_EXAMPLES.invalidSchedule)
  async put(
    @CurrentUser() userId: string,
    @Param('key') key: string,
    @Headers('if-match') ifMatch: string | undefined,
    @Body() dto: CreateScheduleDto,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<ScheduleResponse> {
    if (!SCHEDULE_KEY.test(key)) throw new ValidationFailed([{ field: 'key', message: 'key must be 1 to 128 characters of A-Za-z0-9._:-' }]);
    const { schedule, created } = await this.schedules.put(userId, key, dto, versionsIfMatch(ifMatch));
    void reply.status(created ? HttpStatus.CREATED : HttpStatus.OK).header('etag', scheduleEtag(schedule));
    return toScheduleResponse(schedule, this.clock.now());
  }

  @Delete(':schedule_id')
  @HttpCode(HttpStatus.NO_CONTENT)
  @ApiOperation({ summary: 'Delete a schedule', description: 'Deletes the schedule and every session it triggered.' })
  @ScheduleIdParam()
  @ApiNoContentResponse({ description: 'Deleted.' })
  @NotFound()
  async delete(@CurrentUser() userId: string, @Param('schedule_id') scheduleId: string): Promise<void> {
    await this.schedules.delete(userId, scheduleId);
  }

  @Get(':schedule_id/sessions')
  @ApiOperation({
    summary: 'List execution sessions for a schedule',
    description:
      'Return all sessions triggered by a given schedule, ordered by creation time (newest first). ' +
      'With `limit`, one page of them and a `next_cursor` for the next page.',
  })
  @ScheduleIdParam()
  @ApiOkResponse({ type: ScheduleSessionsResponse })
  @ApiNotFoundResponse({
    description: 'The schedule does not exist.',
    type: ProblemDetails,
    example: PROBLEM_EXAMPLES.scheduleNotFound,
  })
  @ApiUnprocessableEntityResponse({
    description: 'A bad `limit` or `cursor`.',
    type: ProblemDetails,
    example: PROBLEM_EXAMPLES.invalidPage,
  })
  async listSessions(
    @CurrentUser() userId: string,
    @Param('schedule_id') scheduleId: string,
    @Query() query: PageQuery,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<Buffer> {
    const page = pageRequestOf(query);
    const sessions = await this.sessions.listBySchedule(userId, scheduleId, page);
    // A ScheduleSessionsResponse already written as JSON (see scheduleSessionsJson): sent as it is.
    reply.type('application/json; charset=utf-8');
    return scheduleSessionsJson(sessions, page !== null);
  }

  @Post(':schedule_id/run')
  @HttpCode(HttpStatus.ACCEPTED)
  @Idempotent()
  @ApiOperation({
    summary: 'Fire a schedule once now',
    description:
      'Creates the execution session (or appends to the stateful one) whatever the cron says, and its run; with ' +
      'dispatch, hands it to the agent runtime, subject to the overlap policy.',
  })
  @ScheduleIdParam()
  @ApiAcceptedResponse({ type: RunScheduleResponse })
  @NotFound()
  @ApiConflictResponse({
    description:
      'The schedule is disabled; or a run of it is still active and its `overlap_policy` refuses another now ' +
      '(`skip`, or `buffer_one` with a run already waiting): the problem names that run in `detail` and in ' +
      '`active_run_id`, and nothing was written.',
    type: ScheduleConflictProblem,
    examples: {
      schedule_busy: { summary: 'A run of the schedule is still active', value: PROBLEM_EXAMPLES.scheduleBusy },
      schedule_disabled: { summary: 'The schedule is disabled', value: PROBLEM_EXAMPLES.scheduleDisabled },
      budget_exhausted: { summary: "The schedule's budget is used up for this period", value: PROBLEM_EXAMPLES.budgetExhausted },
    },
  })
  @ApiBody({
    type: RunOverridesDto,
    required: false,
    description: 'Optional: what this run fires differently (its task, model, permission mode); the schedule does not change.',
  })
  @Invalid(PROBLEM_EXAMPLES.invalidSchedule)
  async run(
    @CurrentUser() userId: string,
    @Param('schedule_id') scheduleId: string,
    // Not `| undefined`: the union would leave Nest no class to validate against (a run without a body still arrives).
    @Body() body: RunOverridesDto,
  ): Promise<RunScheduleResponse> {
    const { sessionId, run } = await this.schedules.runNow(userId, scheduleId, runOverridesOf(body));
    return { session_id: sessionId, run: toRunResponse(run) };
  }

  @Post(':schedule_id/backfill')
  @HttpCode(HttpStatus.OK)
  @ApiOperation({
    summary: 'Backfill past fire times',
    description:
      "Fires each of the schedule's fire times in [`from`, `to`] that lies in the past and has no run yet, oldest first, as runs with " +
      '`trigger: "backfill"` and `scheduled_for` the fire time; the overlap policy is ignored (they are explicit), the budget is not. At most ' +
      `${MAX_BACKFILL_SLOTS} a call (422 naming how many). \`dry_run\` lists them and writes nothing. Called again, it fires nothing twice.`,
  })
  @ScheduleIdParam()
  @ApiOkResponse({ type: BackfillResponse })
  @NotFound()
  @Invalid(PROBLEM_EXAMPLES.invalidSchedule)
  async backfill(@CurrentUser() userId: string, @Param('schedule_id') scheduleId: string, @Body() dto: BackfillDto): Promise<BackfillResponse> {
    return this.schedules.backfill(userId, scheduleId, new Date(dto.from), new Date(dto.to), dto.dry_run ?? false);
  }

  @Post(':schedule_id/runs/:run_id/cancel')
  @HttpCode(HttpStatus.OK)
  @ApiOperation({
    summary: 'Cancel a run',
    description:
      'A run not yet delivered becomes `cancelled` and is never delivered; a `dispatched` or `running` one becomes `cancelled` and the ' +
      'agent runtime gets a signed `run.cancelled` webhook (through the outbox, retried like fires); a later status report for it is 409.',
  })
  @ScheduleIdParam()
  @ApiParam({ name: 'run_id', description: 'ID of the run to cancel.' })
  @ApiOkResponse({ type: RunResponse, description: 'The run, cancelled.' })
  @ApiNotFoundResponse({ description: 'The caller has no such schedule, or it has no such run.', type: ProblemDetails, example: PROBLEM_EXAMPLES.runNotFound })
  @ApiConflictResponse({ description: 'The run has a final status already (`current_status`).', type: RunTransitionProblem, example: PROBLEM_EXAMPLES.runAlreadyFinal })
  async cancel(@CurrentUser() userId: string, @Param('schedule_id') scheduleId: string, @Param('run_id') runId: string): Promise<RunResponse> {
    return toRunResponse(await this.schedules.cancelRun(userId, scheduleId, runId));
  }

  @Post(':schedule_id/runs/:run_id/replay')
  @HttpCode(HttpStatus.ACCEPTED)
  @ApiOperation({
    summary: 'Replay a run',
    description:
      'Fires again what that run fired (its overrides, on the schedule as it is now), as a new run with `trigger: "replay"` and ' +
      '`replay_of` naming it; the overlap policy and the budget apply as for `POST /run`.',
  })
  @ScheduleIdParam()
  @ApiParam({ name: 'run_id', description: 'ID of the run to fire again.' })
  @ApiAcceptedResponse({ type: RunScheduleResponse })
  @ApiNotFoundResponse({ description: 'The caller has no such schedule, or it has no such run.', type: ProblemDetails, example: PROBLEM_EXAMPLES.runNotFound })
  @ApiConflictResponse({
    description: 'The schedule is disabled, a run of it is still active (`active_run_id`), or its budget is exhausted (`resets_at`).',
    type: ScheduleConflictProblem,
    example: PROBLEM_EXAMPLES.scheduleBusy,
  })
  async replay(@CurrentUser() userId: string, @Param('schedule_id') scheduleId: string, @Param('run_id') runId: string): Promise<RunScheduleResponse> {
    const { sessionId, run } = await this.schedules.replay(userId, scheduleId, runId);
    return { session_id: sessionId, run: toRunResponse(run) };
  }

  @Get(':schedule_id/runs')
  @ApiOperation({ summary: "List a schedule's runs", description: 'Every fire (cron, catch-up or manual) and every missed fire time, newest first.' })
  @ScheduleIdParam()
  @ApiOkResponse({ type: RunListResponse })
  @NotFound()
  @Invalid(PROBLEM_EXAMPLES.invalidPage)
  async listRuns(
    @CurrentUser() userId: string,
    @Param('schedule_id') scheduleId: string,
    @Query() query: PageQuery,
  ): Promise<RunListResponse> {
    const page = pageRequestOf(query);
    const { items, total, next } = await this.schedules.listRuns(userId, scheduleId, page);
    const runs = items.map(toRunResponse);
    return page ? { runs, total, next_cursor: next && encodeCursor(next) } : { runs, total };
  }

  @Get(':schedule_id/runs/:run_id')
  @ApiOperation({ summary: 'Get one run', description: 'The run and every attempt at delivering its webhook to the agent runtime.' })
  @ScheduleIdParam()
  @ApiParam({ name: 'run_id', description: 'ID of the run.' })
  @ApiOkResponse({ type: RunDetailResponse })
  @ApiNotFoundResponse({
    description: 'The caller has no such run of this schedule.',
    type: ProblemDetails,
    example: PROBLEM_EXAMPLES.runNotFound,
  })
  async getRun(
    @CurrentUser() userId: string,
    @Param('schedule_id') scheduleId: string,
    @Param('run_id') runId: string,
  ): Promise<RunDetailResponse> {
    return toRunDetailResponse(await this.schedules.getRun(userId, scheduleId, runId));
  }

  @Get(':schedule_id/next-runs')
  @ApiOperation({ summary: 'Upcoming fire times', description: "In UTC and in the schedule's time zone." })
  @ScheduleIdParam()
  @ApiOkResponse({ type: NextRunsResponse })
  @NotFound()
  @Invalid(PROBLEM_EXAMPLES.invalidCount)
  async nextRuns(
    @CurrentUser() userId: string,
    @Param('schedule_id') scheduleId: string,
    @Query() query: NextRunsQuery,
  ): Promise<NextRunsResponse> {
    const { schedule, fires } = await this.schedules.nextRuns(userId, scheduleId, query.count ?? 5);
    return {
      schedule_id: schedule.id,
      timezone: schedule.timezone,
      next_runs: toNextRuns(schedule, fires),
    };
  }

  @Post(':schedule_id/skip')
  @HttpCode(HttpStatus.OK)
  @ApiOperation({
    summary: 'Skip one upcoming fire time',
    description:
      'The fire time (one of the next 100 that `next-runs` lists) becomes a `skipped` run with `skip_reason: "user"` instead of firing; ' +
      '`next-runs` shows it as skipped. At most 100 pending per schedule. A change to when the schedule fires drops them.',
  })
  @ScheduleIdParam()
  @WithEtag()
  @NotFound()
  @Invalid(PROBLEM_EXAMPLES.invalidSchedule)
  async skip(@CurrentUser() userId: string, @Param('schedule_id') scheduleId: string, @Body() dto: SkipFireTimeDto, @Res({ passthrough: true }) reply: FastifyReply): Promise<ScheduleResponse> {
    const schedule = await this.schedules.skip(userId, scheduleId, new Date(dto.scheduled_for), true);
    void reply.header('etag', scheduleEtag(schedule));
    return toScheduleResponse(schedule, this.clock.now());
  }

  @Delete(':schedule_id/skip')
  @ApiOperation({ summary: 'Take a skip back', description: 'The fire time fires again as planned (nothing happens when it was not skipped).' })
  @ScheduleIdParam()
  @WithEtag()
  @NotFound()
  @Invalid(PROBLEM_EXAMPLES.invalidSchedule)
  async unskip(@CurrentUser() userId: string, @Param('schedule_id') scheduleId: string, @Body() dto: SkipFireTimeDto, @Res({ passthrough: true }) reply: FastifyReply): Promise<ScheduleResponse> {
    const schedule = await this.schedules.skip(userId, scheduleId, new Date(dto.scheduled_for), false);
    void reply.header('etag', scheduleEtag(schedule));
    return toScheduleResponse(schedule, this.clock.now());
  }
}

/** Fire times as next-runs lists them: in UTC, in the schedule's zone, and whether the user skipped each. */
function toNextRuns(schedule: Schedule, fires: readonly Date[]): NextRunResponse[] {
  return fires.map((at) => ({
    utc: at.toISOString(),
    local: toLocalIso(at, schedule.timezone),
    skipped: schedule.skippedFireTimes.some((d) => d.getTime() === at.getTime()),
  }));
}
