import { type CanActivate, type ExecutionContext, Injectable } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { DuplicateIdentityHeader, MissingUserId } from '../common/domain-errors.js';

export const USER_ID_HEADER = 'x-user-id';
const MAX_USER_ID_LENGTH = 256;
// eslint-disable-next-line no-control-regex
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f]/;

/** How many times the raw request carries a header (rawHeaders alternates names and values). */
function countHeader(rawHeaders: string[], name: string): number {
  let count = 0;
  for (let i = 0; i < rawHeaders.length; i += 2) if (rawHeaders[i].toLowerCase() === name) count++;
  return count;
}

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
    const request = context.switchToHttp().getRequest<FastifyRequest & { user?: RequestUser }>();
    // Node joins a repeated header into "a, a": which identity was meant cannot be known.
    if (countHeader(request.raw.rawHeaders, USER_ID_HEADER) > 1) throw new DuplicateIdentityHeader();
    const header = request.headers[USER_ID_HEADER];
    const userId = typeof header === 'string' ? header.trim() : '';
    if (userId === '' || userId.length > MAX_USER_ID_LENGTH || CONTROL_CHARACTERS.test(userId)) throw new MissingUserId();
    request.user = { id: userId };
    return true;
  }
}
