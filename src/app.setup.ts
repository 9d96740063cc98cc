import { type ValidationError, ValidationPipe } from '@nestjs/common';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import { type FieldError, ValidationFailed } from './common/domain-errors.js';
import { ProblemDetailsFilter } from './common/problem-details.filter.js';

export const BODY_LIMIT_BYTES = 1024 * 1024;

/** The HTTP adapter: Fastify, answering 413 past a 1 MiB body. */
export function createHttpAdapter(): FastifyAdapter {
  return new FastifyAdapter({ bodyLimit: BODY_LIMIT_BYTES });
}

/** Everything main.ts and the e2e tests both need: validation, problem details, Swagger, shutdown hooks. */
export function configureApp(app: NestFastifyApplication): void {
  app.useGlobalPipes(
    new ValidationPipe({
      whitelist: true,
      forbidNonWhitelisted: true,
      transform: true,
      exceptionFactory: (errors) => new ValidationFailed(flattenValidationErrors(errors)),
    }),
  );
  // Also sees the errors Fastify raises before routing (malformed JSON, body too large): Nest
  // installs Fastify's error handler and passes them through the global filters.
  app.useGlobalFilters(new ProblemDetailsFilter());

  const document = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle('Schedule service')
      .setDescription(
        'Cron schedules for AI agents. Each fire creates an execution session that an agent runtime picks up. ' +
          'Errors are RFC 9457 problem details (application/problem+json).',
      )
      .setVersion('0.1.0')
      .build(),
  );
  SwaggerModule.setup('docs', app, document, { jsonDocumentUrl: 'docs-json' });
  app.enableShutdownHooks();
}

/** One entry per bad field, named by its dotted path (`chat_model_config.model`). */
export function flattenValidationErrors(errors: ValidationError[], parent = ''): FieldError[] {
  return errors.flatMap((error) => {
    const field = parent ? `${parent}.${error.property}` : error.property;
    const own = Object.values(error.constraints ?? {}).map((message) => ({ field, message }));
    return [...own, ...flattenValidationErrors(error.children ?? [], field)];
  });
}
