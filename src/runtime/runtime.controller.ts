import { Body, Controller, HttpCode, HttpStatus, Param, Post, Put } from '@nestjs/common';
import {
  ApiConflictResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiParam,
  ApiTags,
  ApiUnprocessableEntityResponse,
} from '@nestjs/swagger';
import { ProblemDetails, RunTransitionProblem } from '../common/problem-details.js';
import { ApiStorageUnavailable, PROBLEM_EXAMPLES } from '../docs/problem-examples.js';
import { RunResponse, toRunResponse } from '../wire/run.response.js';
import { SessionResponse, toSessionResponse } from '../wire/session.response.js';
import { ReportRunStatusDto, toRunUsage } from './dto/report-run-status.dto.js';
import { SessionStateDto, toSessionState } from './dto/session-state.dto.js';
import { RuntimeAuth } from '../auth/runtime-auth.decorator.js';
import { RUNTIME_ROUTE } from '../auth/runtime-token.guard.js';
import { RuntimeService } from './runtime.service.js';

const Invalid = (example: ProblemDetails) =>
  ApiUnprocessableEntityResponse({
    description: 'A field is invalid; `errors[]` names each one. Nothing was written.',
    type: ProblemDetails,
    example,
  });

/** The agent runtime's side of dispatch: it reports what became of the runs it was handed. */
@ApiTags('runtime')
@RuntimeAuth()
@ApiStorageUnavailable()
@Controller(RUNTIME_ROUTE)
export class RuntimeController {
  constructor(private readonly runtime: RuntimeService) {}

  @Post('runs/:run_id/status')
  @HttpCode(HttpStatus.OK)
  @ApiOperation({
    summary: "Report a run's status",
    description:
      'The runtime reports `running`, then `succeeded` or `failed` (a run may skip `running`). Repeating the ' +
      'current status is a no-op (200), so reports may be retried. A final status ends the run and lets the ' +
      "schedule's waiting run (`buffer_one`) go.",
  })
  @ApiParam({ name: 'run_id', description: 'ID of the run: the `webhook-id` of its webhook.' })
  @ApiOkResponse({ type: RunResponse, description: 'The run as it is now.' })
  @ApiNotFoundResponse({ description: 'No run has this ID.', type: ProblemDetails, example: PROBLEM_EXAMPLES.runNotFound })
  @ApiConflictResponse({
    description: 'The run already has a final status; `current_status` names it. Nothing was written.',
    type: RunTransitionProblem,
    example: PROBLEM_EXAMPLES.runAlreadyFinal,
  })
  @Invalid(PROBLEM_EXAMPLES.invalidRunStatus)
  async reportRunStatus(@Param('run_id') runId: string, @Body() dto: ReportRunStatusDto): Promise<RunResponse> {
    return toRunResponse(await this.runtime.reportRunStatus(runId, dto.status, dto.error ?? null, dto.usage ? toRunUsage(dto.usage) : null));
  }

  @Put('sessions/:session_id/state')
  @ApiOperation({
    summary: "Write a session's state",
    description:
      "Replaces the session's `state` (the conversation, summary, tasks, permission and tool context) with the " +
      'one sent, as `GET /schedule/{schedule_id}/sessions` then shows it. For a stateful schedule this is its one ' +
      'shared session.',
  })
  @ApiParam({ name: 'session_id', description: 'ID of the session: `data.session.id` of the webhook.' })
  @ApiOkResponse({ type: SessionResponse, description: 'The session as it is now.' })
  @ApiNotFoundResponse({ description: 'No session has this ID.', type: ProblemDetails, example: PROBLEM_EXAMPLES.sessionNotFound })
  @Invalid(PROBLEM_EXAMPLES.invalidSessionState)
  async putSessionState(@Param('session_id') sessionId: string, @Body() dto: SessionStateDto): Promise<SessionResponse> {
    return toSessionResponse(await this.runtime.putSessionState(sessionId, toSessionState(dto)));
  }
}
