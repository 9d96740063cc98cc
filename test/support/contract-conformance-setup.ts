import { afterEach } from '@jest/globals';
import { takeContractViolations } from './contract-conformance.js';

// Jest runs this beside every test file (setupFilesAfterEnv): a test whose app sent a response
// that breaks the published contract fails, naming each.
afterEach(() => {
  const violations = takeContractViolations();
  if (violations.length > 0) throw new Error(`Responses that break docs/openapi.json:\n${violations.join('\n')}`);
});
