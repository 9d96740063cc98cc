import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type * as ResponseValidatorModule from 'openapi-response-validator';
import type { OpenAPIV3 } from 'openapi-types';
import { OPENAPI_CONTRACT_PATH } from './openapi-contract.js';

/*
 * Every response a test app sends is checked against the published contract (docs/openapi.json)
 * by an OpenAPI validator: its status is documented for the operation, its content type is the
 * documented one, and its body matches the schema. A response that does not is recorded, and
 * the test that received it fails when it ends (test/support/contract-conformance-setup.ts).
 */

const contract = JSON.parse(readFileSync(OPENAPI_CONTRACT_PATH, 'utf8')) as OpenAPIV3.Document;
const PROBLEM_SCHEMA: OpenAPIV3.ReferenceObject = { $ref: '#/components/schemas/ProblemDetails' };

/** RFC 3339 date-times, as the service writes them (the validator knows no formats of its own). */
const DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;
const customFormats = { 'date-time': (value: string) => DATE_TIME.test(value) && !Number.isNaN(Date.parse(value)) };

/** Routes that are not the API: the documentation itself, and the console's static files. */
const OUTSIDE_THE_CONTRACT = /^\/(docs(-json|\/|$)|console(\/|$))/;

// A CommonJS module whose class is its `default` export, which an ES module's default import does not unwrap.
const OpenAPIResponseValidator = (createRequire(import.meta.url)('openapi-response-validator') as typeof ResponseValidatorModule.default).default;
type OpenAPIResponseValidator = InstanceType<typeof OpenAPIResponseValidator>;

const violations: string[] = [];

/** The violations recorded since the last call, forgotten. */
export function takeContractViolations(): string[] {
  return violations.splice(0);
}

const validators = new Map<string, OpenAPIResponseValidator>();

function validatorFor(key: string, responses: OpenAPIV3.ResponsesObject): OpenAPIResponseValidator {
  let validator = validators.get(key);
  if (!validator) {
    validator = new OpenAPIResponseValidator({
      // Its type wants OpenAPI 2's `schema`; it reads OpenAPI 3's `content` as well.
      responses: responses as unknown as ConstructorParameters<typeof OpenAPIResponseValidator>[0]['responses'],
      components: contract.components,
      customFormats,
    });
    validators.set(key, validator);
  }
  return validator;
}

/** `/schedule/:schedule_id` (Fastify's route) as `/schedule/{schedule_id}` (OpenAPI's path). */
function openApiPath(route: string): string {
  return route.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
}

/** The operation a request reached, or undefined where the contract has none (an unknown path). */
function operationOf(method: string, route: string | undefined): OpenAPIV3.OperationObject | undefined {
  if (!route) return undefined;
  const item = contract.paths[openApiPath(route)] as Record<string, OpenAPIV3.OperationObject> | undefined;
  return item?.[method.toLowerCase()];
}

/** What is wrong with one response, or null: its status, content type and body against the contract. */
export function contractViolation(response: {
  method: string;
  route: string | undefined;
  url: string;
  statusCode: number;
  contentType: string | undefined;
  body: string;
}): string | null {
  const { method, route, url, statusCode, body } = response;
  const operation = operationOf(method, route);
  // Answers to what the contract has no operation for (a path no route has) are problems all the same.
  const responses: OpenAPIV3.ResponsesObject = operation?.responses ?? {
    [statusCode]: { description: 'unknown path', content: { 'application/problem+json': { schema: PROBLEM_SCHEMA } } },
  };
  const where = `${method} ${url} → ${statusCode}`;
  const documented = (responses[statusCode] ?? responses[`${String(statusCode)[0]}XX`] ?? responses.default) as
    | OpenAPIV3.ResponseObject
    | undefined;
  if (!documented) return `${where}: status not documented for ${method} ${route} (documented: ${Object.keys(responses).join(', ')})`;
  // Media types compared without their parameters (`; charset=utf-8`, `; version=0.0.4`).
  const withoutParameters = (type: string) => type.split(';')[0].trim().toLowerCase();
  const mediaType = response.contentType === undefined ? undefined : withoutParameters(response.contentType);
  const mediaTypes = Object.keys(documented.content ?? {}).map(withoutParameters);
  if (mediaTypes.length === 0) {
    return body === '' ? null : `${where}: a body where the contract documents none`;
  }
  if (!mediaType || !mediaTypes.includes(mediaType)) {
    return `${where}: content type ${mediaType ?? '(none)'}, documented ${mediaTypes.join(', ')}`;
  }
  if (!/json$/.test(mediaType)) return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return `${where}: not JSON: ${body.slice(0, 200)}`;
  }
  const key = operation ? `${method} ${route}` : `unknown ${statusCode}`;
  const failed = validatorFor(key, responses).validateResponse(statusCode, parsed);
  if (!failed) return null;
  const errors = (failed.errors as Array<{ path?: string; message: string }>).map((e) => `${e.path ?? ''} ${e.message}`.trim());
  const shown = errors.slice(0, 5).join('; ') + (errors.length > 5 ? `; and ${errors.length - 5} more` : '');
  return `${where}: body does not match the contract: ${shown}; body: ${body.slice(0, 300)}`;
}

/** Checks each response the app sends (Fastify's onSend: the payload as it leaves), recording violations. */
export function checkResponsesAgainstContract(fastify: FastifyInstance): void {
  fastify.addHook('onSend', async (request: FastifyRequest, reply: FastifyReply, payload: unknown) => {
    const url = request.url;
    // HEAD and CORS preflights are Fastify's and the CORS plugin's, not operations of the contract.
    if (request.method === 'HEAD' || request.method === 'OPTIONS' || OUTSIDE_THE_CONTRACT.test(url)) return payload;
    if (payload !== null && payload !== undefined && typeof payload !== 'string' && !Buffer.isBuffer(payload)) return payload;
    const violation = contractViolation({
      method: request.method,
      route: request.routeOptions.url,
      url,
      statusCode: reply.statusCode,
      contentType: reply.getHeader('content-type') as string | undefined,
      body: payload === null || payload === undefined ? '' : payload.toString(),
    });
    if (violation) violations.push(violation);
    return payload;
  });
}
