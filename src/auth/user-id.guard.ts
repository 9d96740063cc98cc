import { type CanActivate, type ExecutionContext, Injectable } from '@nestjs/common';
import { MissingUserId } from '../common/domain-errors.js';

export const USER_ID_HEADER = 'x-user-id';
const MAX_USER_ID_LENGTH = 256;

/** The authenticated caller, set on the request by UserIdGuard. */
export interface RequestUser {
  id: string;
}

/**
 * The one place identity comes from: today the `x-user-id` header; a JWT mode replaces the body
 * of canActivate, and nothing else changes.
 */
@Injectable()
export class UserIdGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    const request = context.switchToHttp().getRequest<{ headers: Record<string, unknown>; user?: RequestUser }>();
    const header = request.headers[USER_ID_HEADER];
    const userId = typeof header === 'string' ? header.trim() : '';
    if (userId === '' || userId.length > MAX_USER_ID_LENGTH) throw new MissingUserId();
    request.user = { id: userId };
    return true;
  }
}
