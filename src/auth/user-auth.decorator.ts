import { applyDecorators, createParamDecorator, type ExecutionContext, UseGuards } from '@nestjs/common';
import { ApiSecurity, ApiUnauthorizedResponse } from '@nestjs/swagger';
import { ProblemDetails } from '../common/problem-details.js';
import { IdentityGuard, type RequestUser } from './identity.guard.js';

/**
 * The security scheme of users' routes. One name for both modes: setupSwagger defines it as the
 * `x-user-id` API key in header mode and as a bearer JWT in jwt mode, so Swagger UI's Authorize
 * asks for whichever identity the service takes, once for every route.
 */
export const USER_AUTH_SCHEME = 'user';

/** The seed contract's description of the `x-user-id` header, word for word. */
export const USER_ID_HEADER_DESCRIPTION = "Caller's user ID. Temporary header-based identity; will be replaced by JWT auth.";

/**
 * Documents a user route's identity and its 401 (setupSwagger writes in the active mode's wording
 * and example). The identity is a security requirement, not a header parameter: a required
 * `x-user-id` parameter would make Swagger UI ask for it in every operation on top of Authorize.
 */
export const ApiUserAuth = (): ClassDecorator & MethodDecorator =>
  applyDecorators(
    ApiSecurity(USER_AUTH_SCHEME),
    ApiUnauthorizedResponse({ description: 'No valid caller identity.', type: ProblemDetails }),
  );

/** Guards a controller or route with IdentityGuard and documents the identity and the 401. */
export function UserAuth(): ClassDecorator & MethodDecorator {
  return applyDecorators(UseGuards(IdentityGuard), ApiUserAuth());
}

/** The id of the caller IdentityGuard authenticated. */
export const CurrentUser = createParamDecorator((_data: unknown, context: ExecutionContext): string => {
  return context.switchToHttp().getRequest<{ user: RequestUser }>().user.id;
});
