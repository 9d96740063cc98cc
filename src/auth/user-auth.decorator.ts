import { applyDecorators, createParamDecorator, type ExecutionContext, UseGuards } from '@nestjs/common';
import { ApiHeader, ApiUnauthorizedResponse } from '@nestjs/swagger';
import { ProblemDetails } from '../common/problem-details.js';
import { type RequestUser, USER_ID_HEADER, UserIdGuard } from './user-id.guard.js';

/** Guards a controller or route with UserIdGuard and documents the header and the 401. */
export function UserAuth(): ClassDecorator & MethodDecorator {
  return applyDecorators(
    UseGuards(UserIdGuard),
    ApiHeader({
      name: USER_ID_HEADER,
      required: true,
      description: "Caller's user ID. Temporary header-based identity; will be replaced by JWT auth.",
    }),
    ApiUnauthorizedResponse({ description: 'The x-user-id header is missing or empty.', type: ProblemDetails }),
  );
}

/** The id of the caller UserIdGuard authenticated. */
export const CurrentUser = createParamDecorator((_data: unknown, context: ExecutionContext): string => {
  return context.switchToHttp().getRequest<{ user: RequestUser }>().user.id;
});
