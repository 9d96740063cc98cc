import { Controller, Get, Query } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags, ApiUnprocessableEntityResponse } from '@nestjs/swagger';
import { CurrentUser, UserAuth } from '../auth/user-auth.decorator.js';
import { encodeCursor } from '../common/cursor.js';
import { pageRequestOf } from '../common/page-query.dto.js';
import { ProblemDetails } from '../common/problem-details.js';
import { ApiRateLimited, ApiStorageUnavailable, PROBLEM_EXAMPLES } from '../docs/problem-examples.js';
import { HistoryStorage } from '../storage/ports/history.storage.js';
import { RunListResponse, toRunResponse } from '../wire/run.response.js';
import { ListRunsQuery } from './dto/list-runs.query.js';

/** A page of GET /runs when `limit` is not given: the list is across every schedule, so it is always paged. */
export const DEFAULT_RUNS_PAGE = 50;

/** The caller's runs across their schedules. */
@ApiTags('runs')
@UserAuth()
@ApiRateLimited()
@ApiStorageUnavailable()
@Controller('runs')
export class RunsController {
  constructor(private readonly history: HistoryStorage) {}

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
