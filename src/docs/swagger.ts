import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import {
  DocumentBuilder,
  type OpenAPIObject,
  type ResponseObject,
  type SecuritySchemeObject,
  SwaggerModule,
} from '@nestjs/swagger';
import { PROBLEM_CONTENT_TYPE } from '../common/problem-details.js';
import { BEARER_CHALLENGE, INVALID_TOKEN_CHALLENGE } from '../auth/identity.guard.js';
import { MAX_USER_ID_LENGTH, USER_ID_HEADER } from '../auth/user-id.js';
import type { AppConfig, AuthConfig } from '../config/app-config.js';
import { RUNTIME_BEARER_AUTH } from '../auth/runtime-auth.decorator.js';
import { examplePath } from './examples.js';
import { PROBLEM_EXAMPLES } from './problem-examples.js';
import { USER_AUTH_SCHEME, USER_ID_HEADER_DESCRIPTION } from '../auth/user-auth.decorator.js';

const PROBLEM_SCHEMA_REF = '#/components/schemas/ProblemDetails';

/** Serves the OpenAPI document of the routes the app has as Swagger UI at /docs and JSON at /docs-json. */
export function setupSwagger(app: NestFastifyApplication, config: AppConfig): void {
  SwaggerModule.setup('docs', app, buildOpenApiDocument(app, config), { jsonDocumentUrl: 'docs-json' });
}

/**
 * The document for this configuration: the Authorize button of the active auth mode, the runtime's
 * bearer scheme only when its routes exist, 429s only with a rate limit, and error examples as the
 * service answers them (docs/openapi.json is this document for the contract's configuration).
 */
export function buildOpenApiDocument(app: NestFastifyApplication, config: AppConfig): OpenAPIObject {
  const auth = config.auth ?? { mode: 'header', jwt: null };
  const document = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle('Schedule service')
      .setDescription(
        'Cron schedules for AI agents. Each fire creates an execution session that an agent runtime picks up. ' +
          'Errors are RFC 9457 problem details (application/problem+json). ' +
          (auth.mode === 'jwt'
            ? 'Authorize once with a bearer token (a JWT); every request then sends it.'
            : 'Authorize once with your user ID; every request then sends it as the `x-user-id` header.'),
      )
      .setVersion('0.1.0')
      .addSecurity(USER_AUTH_SCHEME, userAuthScheme(auth))
      .addBearerAuth(
        // An opaque shared secret, not the JWT addBearerAuth assumes.
        {
          type: 'http',
          scheme: 'bearer',
          bearerFormat: undefined,
          description: "The agent runtime's credential on /runtime routes: RUNTIME_TOKEN.",
        },
        RUNTIME_BEARER_AUTH,
      )
      .build(),
  );
  // The runtime routes exist only with a RUNTIME_TOKEN: without them, no Authorize button for it.
  if (!Object.keys(document.paths).some((path) => path.startsWith('/runtime/'))) {
    delete document.components?.securitySchemes?.[RUNTIME_BEARER_AUTH];
  }
  const rateLimited = (config.rateLimit?.perMinute ?? 0) > 0;
  for (const [path, operations] of Object.entries(document.paths)) {
    for (const operation of Object.values(operations) as Array<{ responses?: Record<string, ResponseObject>; security?: object[] }>) {
      // Nest shares a controller's class-level response objects between its operations.
      const responses = structuredClone(operation.responses ?? {});
      operation.responses = responses;
      if (!rateLimited) delete responses['429'];
      const schemes = (operation.security ?? []).flatMap((requirement) => Object.keys(requirement));
      if (responses['401'] && schemes.includes(USER_AUTH_SCHEME)) describeUserUnauthorized(responses['401'], auth);
      const runtimeMedia = schemes.includes(RUNTIME_BEARER_AUTH) ? responses['401']?.content?.['application/json'] : undefined;
      if (runtimeMedia) runtimeMedia.example = PROBLEM_EXAMPLES.missingRuntimeToken;
      for (const response of Object.values(responses)) asProblemJson(response, examplePath(path));
    }
  }
  return document;
}

/** The scheme Swagger UI's Authorize asks for: the `x-user-id` key (the seed's header) or a bearer JWT. */
function userAuthScheme(auth: AuthConfig): SecuritySchemeObject {
  if (auth.mode === 'jwt' && auth.jwt) {
    return {
      type: 'http',
      scheme: 'bearer',
      bearerFormat: 'JWT',
      description:
        `A JWT issued by \`${auth.jwt.issuer}\` for \`${auth.jwt.audience}\`; the caller is its ` +
        `\`${auth.jwt.userClaim}\` claim. The x-user-id header is ignored.`,
    };
  }
  return { type: 'apiKey', in: 'header', name: USER_ID_HEADER, description: USER_ID_HEADER_DESCRIPTION };
}

/** A user route's 401 in the active mode's words, with the bodies and challenges the guard answers. */
function describeUserUnauthorized(response: ResponseObject, auth: AuthConfig): void {
  const media = response.content?.['application/json'];
  if (auth.mode === 'jwt') {
    response.description =
      'The bearer token is missing, or not valid (signature, algorithm, issuer, audience, expiry or user claim); ' +
      '`WWW-Authenticate` says which of the two.';
    response.headers = {
      'WWW-Authenticate': {
        description: `\`${BEARER_CHALLENGE}\` without a token, \`${INVALID_TOKEN_CHALLENGE}\` for a bad one (RFC 6750).`,
        schema: { type: 'string', example: INVALID_TOKEN_CHALLENGE },
      },
    };
    if (media) {
      media.examples = {
        invalid_token: { summary: 'A token that fails verification', value: PROBLEM_EXAMPLES.invalidToken },
        missing_token: { summary: 'No Authorization: Bearer header', value: PROBLEM_EXAMPLES.missingBearerToken },
      };
    }
  } else {
    response.description = `The \`x-user-id\` header is missing, empty, longer than ${MAX_USER_ID_LENGTH} characters or holds control characters.`;
    if (media) media.example = PROBLEM_EXAMPLES.missingUserId;
  }
}

/**
 * Error bodies are `application/problem+json`, as the service sends them (Nest documents every
 * response as application/json); their examples get the operation's own path as `instance`.
 */
function asProblemJson(response: ResponseObject, instance: string): void {
  const media = response.content?.['application/json'];
  if (!media || (media.schema as { $ref?: string } | undefined)?.$ref !== PROBLEM_SCHEMA_REF) return;
  const withInstance = (value: unknown) =>
    value && typeof value === 'object' && 'instance' in value ? { ...value, instance } : value;
  if (media.example !== undefined) media.example = withInstance(media.example);
  for (const example of Object.values(media.examples ?? {}) as Array<{ value?: unknown }>) example.value = withInstance(example.value);
  response.content = { [PROBLEM_CONTENT_TYPE]: media };
}
