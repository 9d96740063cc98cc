import { ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsInt, IsOptional, IsString, Max, MaxLength, Min } from 'class-validator';
import type { PageRequest } from './page.js';
import { decodeCursor } from './cursor.js';
import { ValidationFailed } from './domain-errors.js';

export const MAX_PAGE_SIZE = 500;

/**
 * A query-string integer written in plain decimal digits becomes a number; anything else
 * (`0x10`, `1e2`, ` 5`, `+5`) stays a string, for @IsInt to refuse.
 */
export const DecimalInteger = (): PropertyDecorator =>
  Transform(({ value }) => (typeof value === 'string' && /^\d{1,9}$/.test(value) ? Number(value) : value));

/** Keyset pagination of a newest-first list. Without `limit`, the whole list. */
export class PageQuery {
  @ApiPropertyOptional({
    description: `Page size (1–${MAX_PAGE_SIZE}). Without it the response holds every item and no \`next_cursor\`.`,
    minimum: 1,
    maximum: MAX_PAGE_SIZE,
  })
  @IsOptional()
  @DecimalInteger()
  @IsInt()
  @Min(1)
  @Max(MAX_PAGE_SIZE)
  readonly limit?: number;

  @ApiPropertyOptional({ description: 'The `next_cursor` of the previous page; needs `limit`.' })
  @IsOptional()
  @IsString()
  @MaxLength(512)
  readonly cursor?: string;
}

/** The page the query asks for, or null for the whole list. */
export function pageRequestOf(query: PageQuery): PageRequest | null {
  if (query.limit === undefined) {
    if (query.cursor !== undefined) throw new ValidationFailed([{ field: 'cursor', message: 'cursor needs limit' }]);
    return null;
  }
  return { limit: query.limit, after: query.cursor === undefined ? undefined : decodeCursor(query.cursor) };
}

/** Documents the `next_cursor` of a paged list response. */
export const ApiNextCursor = (): PropertyDecorator =>
  ApiPropertyOptional({
    type: String,
    nullable: true,
    description: 'Only with `limit`: pass it as `cursor` for the next page; null on the last page.',
  });
