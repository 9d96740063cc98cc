import { applyDecorators, createParamDecorator, type ExecutionContext, UseGuards } from '@nestjs/common';
import { ApiUserAuth } from '../docs/user-auth.docs.js';
import { IdentityGuard, type RequestUser } from './identity.guard.js';

/** Guards a controller or route with IdentityGuard and documents the identity and the 401. */
export function UserAuth(): ClassDecorator & MethodDecorator {
  return applyDecorators(UseGuards(IdentityGuard), ApiUserAuth());
}

/** The id of the caller IdentityGuard authenticated. */
export const CurrentUser = createParamDecorator((_data: unknown, context: ExecutionContext): string => {
  return context.switchToHttp().getRequest<{ user: RequestUser }>().user.id;
});
