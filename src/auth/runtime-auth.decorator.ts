import { applyDecorators, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiUnauthorizedResponse } from '@nestjs/swagger';
import { ProblemDetails } from '../common/problem-details.js';
import { RuntimeTokenGuard } from './runtime-token.guard.js';

/** The Swagger security scheme of the runtime's bearer token (see configureApp). */
export const RUNTIME_BEARER_AUTH = 'runtime-token';

/** Guards a controller or route with RuntimeTokenGuard and documents the bearer token and the 401. */
export function RuntimeAuth(): ClassDecorator & MethodDecorator {
  return applyDecorators(
    UseGuards(RuntimeTokenGuard),
    ApiBearerAuth(RUNTIME_BEARER_AUTH),
    ApiUnauthorizedResponse({
      description: 'The `Authorization: Bearer` token is missing or is not the runtime token (`WWW-Authenticate: Bearer`).',
      type: ProblemDetails,
      headers: { 'WWW-Authenticate': { description: 'The bearer challenge (RFC 6750).', schema: { type: 'string', example: 'Bearer realm="runtime"' } } },
    }),
  );
}
