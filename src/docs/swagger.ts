import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import {
  DocumentBuilder,
  type OpenAPIObject,
  type OperationObject,
  type ParameterObject,
  type ReferenceObject,
  type ResponseObject,
  type SchemaObject,
  type SecuritySchemeObject,
  SwaggerModule,
} from '@nestjs/swagger';
import { PROBLEM_CONTENT_TYPE, ProblemDetails, RunTransitionProblem, ScheduleConflictProblem } from '../common/problem-details.js';
import { BEARER_CHALLENGE, INVALID_TOKEN_CHALLENGE } from '../auth/identity.guard.js';
import { MAX_USER_ID_LENGTH, USER_ID_HEADER } from '../auth/user-id.js';
import type { AppConfig, AuthConfig } from '../config/app-config.js';
import { RUNTIME_BEARER_AUTH } from '../auth/runtime-auth.decorator.js';
import { examplePath } from './examples.js';
import { invalidPathParameterProblem, PROBLEM_EXAMPLES } from './problem-examples.js';
import { USER_AUTH_SCHEME, USER_ID_HEADER_DESCRIPTION } from '../auth/user-auth.decorator.js';

/** The problem schemas: ProblemDetails, and those of problems with extension members. */
const PROBLEM_SCHEMA_REFS = new Set(
  [ProblemDetails, ScheduleConflictProblem, RunTransitionProblem].map((problem) => `#/components/schemas/${problem.name}`),
);

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
      // Relative: the API is where the document is served from, wherever that is deployed.
      .addServer('/', 'This service: the origin that serves this document')
      .setLicense('UNLICENSED (proprietary)', undefined as unknown as string)
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
      addCommonAnswers(operation as OperationObject, responses, auth.mode === 'header' && schemes.includes(USER_AUTH_SCHEME));
      if (responses['401'] && schemes.includes(USER_AUTH_SCHEME)) describeUserUnauthorized(responses['401'], auth);
      const runtimeMedia = schemes.includes(RUNTIME_BEARER_AUTH) ? responses['401']?.content?.['application/json'] : undefined;
      if (runtimeMedia) runtimeMedia.example = PROBLEM_EXAMPLES.missingRuntimeToken;
      for (const response of Object.values(responses)) asProblemJson(response, examplePath(path));
      // No scheme named: public (health, metrics), said explicitly rather than left to a global default.
      operation.security ??= [];
    }
  }
  inlineNullableReferences(document);
  return document;
}

type Schema = SchemaObject | ReferenceObject;

const problemResponse = (description: string, examples: Record<string, { summary: string; value: ProblemDetails }>): ResponseObject => ({
  description,
  content: { 'application/json': { schema: { $ref: `#/components/schemas/${ProblemDetails.name}` }, examples } },
});

/**
 * The answers an operation gives whatever its handler does, by what it takes: a body (400 not
 * JSON text, 413 too large, 415 not JSON), the x-user-id header (400 sent twice), path parameters
 * (422 one no record can have as its id). Said once here rather than on every route.
 */
function addCommonAnswers(operation: OperationObject, responses: Record<string, ResponseObject>, userIdHeader: boolean): void {
  const badRequest: Record<string, { summary: string; value: ProblemDetails }> = {};
  if (operation.requestBody) {
    badRequest.malformed_json = { summary: 'The body is not JSON text', value: PROBLEM_EXAMPLES.malformedJson };
    responses['413'] ??= problemResponse('The body is over the limit for this route.', {
      body_too_large: { summary: 'The body is too large', value: PROBLEM_EXAMPLES.bodyTooLarge },
    });
    responses['415'] ??= problemResponse('The body is not `application/json` in UTF-8.', {
      not_json: { summary: 'Another content type', value: PROBLEM_EXAMPLES.notJson },
    });
  }
  if (userIdHeader) badRequest.duplicate_user_id = { summary: 'The identity sent twice', value: PROBLEM_EXAMPLES.duplicateUserId };
  const reasons = [
    ...(operation.requestBody ? ['the body is not JSON text (or not UTF-8)'] : []),
    ...(userIdHeader ? ['the `x-user-id` header was sent more than once'] : []),
  ];
  if (reasons.length > 0) responses['400'] ??= problemResponse(`A malformed request: ${reasons.join('; or ')}.`, badRequest);
  const pathParameter = (operation.parameters ?? []).find((p): p is ParameterObject => 'in' in p && p.in === 'path');
  if (!pathParameter) return;
  const invalidId = {
    summary: `${pathParameter.name} is not a possible id`,
    value: invalidPathParameterProblem(pathParameter.name),
  };
  const invalid = responses['422'];
  const media = invalid?.content?.['application/json'];
  if (!invalid || !media) {
    responses['422'] = problemResponse(
      'A path parameter is not a possible id: empty, over 128 characters, or holding a control character.',
      { invalid_path_parameter: invalidId },
    );
    return;
  }
  invalid.description += ' Or a path parameter is not a possible id: empty, over 128 characters, or holding a control character.';
  media.examples = { ...(media.example ? { invalid_field: { summary: 'A field is invalid', value: media.example } } : media.examples), invalid_path_parameter: invalidId };
  delete media.example;
}

/**
 * A nullable property whose type is another schema: Nest writes `nullable` beside `allOf: [$ref]`,
 * which OpenAPI 3.0 tools read as not nullable (`nullable` qualifies the schema's own `type` only;
 * a validator rejects the `null` the service sends). The referenced schema is written in its
 * place, nullable, its own description kept unless the property has one.
 */
function inlineNullableReferences(document: OpenAPIObject): void {
  const schemas = document.components?.schemas ?? {};
  const inlined = new Set<string>();
  for (const schema of Object.values(schemas) as SchemaObject[]) {
    for (const [name, property] of Object.entries(schema.properties ?? {}) as Array<[string, Schema]>) {
      const ref = 'allOf' in property && property.nullable && property.allOf?.length === 1 ? (property.allOf[0] as ReferenceObject).$ref : undefined;
      if (!ref) continue;
      const { allOf: _allOf, ...rest } = property as SchemaObject;
      const referenced = ref.split('/').pop()!;
      schema.properties![name] = { ...(schemas[referenced] as SchemaObject), ...rest, nullable: true };
      inlined.add(referenced);
    }
  }
  // A schema now written only in place is no longer a component of its own.
  const text = JSON.stringify(document);
  for (const name of inlined) if (!text.includes(`"#/components/schemas/${name}"`)) delete schemas[name];
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
  const ref = (media?.schema as { $ref?: string } | undefined)?.$ref;
  if (!media || !ref || !PROBLEM_SCHEMA_REFS.has(ref)) return;
  const withInstance = (value: unknown) =>
    value && typeof value === 'object' && 'instance' in value ? { ...value, instance } : value;
  if (media.example !== undefined) media.example = withInstance(media.example);
  for (const example of Object.values(media.examples ?? {}) as Array<{ value?: unknown }>) example.value = withInstance(example.value);
  response.content = { [PROBLEM_CONTENT_TYPE]: media };
}
