import { Body, Controller, Get, HttpCode, HttpStatus, Post, Query } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags, ApiUnprocessableEntityResponse } from '@nestjs/swagger';
import { CurrentUser, UserAuth } from '../auth/user-auth.decorator.js';
import { encodeCursor } from '../common/cursor.js';
import { pageRequestOf } from '../common/page-query.dto.js';
import { ProblemDetails } from '../common/problem-details.js';
import { ApiRateLimited, ApiStorageUnavailable, PROBLEM_EXAMPLES } from '../docs/problem-examples.js';
import { HistoryStorage } from '../storage/ports/history.storage.js';
import { RunListResponse, toRunResponse } from '../wire/run.response.js';
import { ListRunsQuery } from './dto/list-runs.query.js';
import { MAX_REDRIVE_RUNS, RedriveDto, RedriveResponse } from './dto/redrive.dto.js';
import { Clock } from '../common/clock.js';
import { DeliveryStorage } from '../storage/ports/delivery.storage.js';

/** A page of GET /runs when `limit` is not given: the list is across every schedule, so it is always paged. */
export const DEFAULT_RUNS_PAGE = 50;

/** The caller's runs across their schedules. */
@ApiTags('runs')
@UserAuth()
@ApiRateLimited()
@ApiStorageUnavailable()
@Controller('runs')
export class RunsController {
  constructor(
    private readonly history: HistoryStorage,
    private readonly delivery: DeliveryStorage,
    private readonly clock: Clock,
  ) {}

  @Post('redrive')
  @HttpCode(HttpStatus.OK)
  @ApiOperation({
    summary: 'Deliver again runs whose delivery gave up',
    description:
      `Each of the caller's runs that failed because its delivery gave up becomes \`pending\` again and is delivered anew, a fresh ` +
      `series of attempts on the same run (the same \`webhook-id\`); at most ${MAX_REDRIVE_RUNS} a call. The answer says which were taken, and why any were not.`,
  })
  @ApiOkResponse({ type: RedriveResponse })
  @ApiUnprocessableEntityResponse({ description: '`run_ids` is missing, empty or too long.', type: ProblemDetails, example: PROBLEM_EXAMPLES.invalidPage })
  async redrive(@CurrentUser() userId: string, @Body() dto: RedriveDto): Promise<RedriveResponse> {
    const outcomes = await this.delivery.redriveRuns(userId, dto.run_ids, this.clock.now());
    const taken: string[] = [];
    const refused: RedriveResponse['refused'] = [];
    for (const [runId, outcome] of outcomes) {
      if (outcome === 'taken') taken.push(runId);
      else refused.push({ run_id: runId, reason: outcome });
    }
    return { taken, refused };
  }

  @Get()
  @ApiOperation({
    summary: "List the caller's runs across schedules",
    description:
      `Newest first (by scheduled_for), filtered by \`schedule_id\`, \`status\`, \`trigger\` and \`since\`; always by page ` +
      `(\`limit\`, ${DEFAULT_RUNS_PAGE} when not given, and \`cursor\`): e.g. \`?status=failed&since=…\` for what failed lately.`,
  })
  @ApiOkResponse({ type: RunListResponse })
  @ApiUnprocessableEntityResponse({ description: 'A query parameter is invalid.', type: ProblemDetails, example: PROBLEM_EXAMPLES.invalidPage })
  async list(@CurrentUser() userId: string, @Query() query: ListRunsQuery): Promise<RunListResponse> {
    const page = pageRequestOf({ ...query, limit: query.limit ?? DEFAULT_RUNS_PAGE })!;
    const filter = { scheduleId: query.schedule_id, status: query.status, trigger: query.trigger, since: query.since ? new Date(query.since) : undefined };
    const { items, total, next } = await this.history.pageRunsOfUser(userId, filter, page);
    return { runs: items.map(toRunResponse), total, next_cursor: next && encodeCursor(next) };
  }
}
