import assert from 'node:assert/strict';
import { describe, it } from '@jest/globals';
import { QueryFailedError } from 'typeorm';
import { POSTGRES, SQLITE } from './dialect.js';

const withCode = (code: string, message = 'failed') => Object.assign(new Error(message), { code });
/** As TypeORM hands a driver's error on: wrapped, the driver's kept as `driverError` (and its fields copied). */
const queryFailed = (driverError: Error) => new QueryFailedError('SELECT 1', [], driverError);

describe('SqlDialect.isUnavailable', () => {
  describe('postgres', () => {
    const unavailable = [
      withCode('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:5432'),
      withCode('ECONNRESET', 'read ECONNRESET'),
      withCode('ETIMEDOUT'),
      withCode('EHOSTUNREACH'),
      withCode('ENOTFOUND', 'getaddrinfo ENOTFOUND db'),
      new Error('Connection terminated unexpectedly'),
      new Error('timeout exceeded when trying to connect'),
      new Error('Client has encountered a connection error and is not queryable'),
      withCode('57P01', 'terminating connection due to administrator command'),
      withCode('57P02', 'terminating connection due to crash of another server process'),
      withCode('57P03', 'the database system is starting up'),
      withCode('57014', 'canceling statement due to statement timeout'),
      withCode('08006', 'connection failure'),
      withCode('08001'),
      withCode('08P01'),
      withCode('53300', 'sorry, too many clients already'),
      withCode('3D000', 'database "x" does not exist'),
      withCode('42P01', 'relation "schedules" does not exist'),
    ];
    for (const error of unavailable) {
      it(`counts ${(error as { code?: string }).code ?? error.message} as unavailable, bare or wrapped`, () => {
        assert.equal(POSTGRES.isUnavailable(error), true);
        assert.equal(POSTGRES.isUnavailable(queryFailed(error)), true);
        assert.equal(POSTGRES.isUnavailable(new Error('wrapped', { cause: error })), true);
      });
    }

    const refused = [
      withCode('23505', 'duplicate key value violates unique constraint'),
      withCode('23502', 'null value in column'),
      withCode('22P02', 'invalid input syntax'),
      withCode('40P01', 'deadlock detected'),
      withCode('42703', 'column "x" does not exist'),
      new Error('Schedule x changed while it was being updated'),
      new TypeError('cannot read properties of undefined'),
    ];
    for (const error of refused) {
      it(`does not count ${(error as { code?: string }).code ?? error.message} as unavailable`, () => {
        assert.equal(POSTGRES.isUnavailable(error), false);
        assert.equal(POSTGRES.isUnavailable(queryFailed(error)), false);
      });
    }

    it('does not count what is not an error', () => {
      for (const value of [undefined, null, 'ECONNREFUSED', 57, {}]) assert.equal(POSTGRES.isUnavailable(value), false);
    });
  });

  describe('sqlite', () => {
    for (const code of ['SQLITE_BUSY', 'SQLITE_LOCKED', 'SQLITE_CANTOPEN', 'SQLITE_IOERR', 'SQLITE_FULL', 'SQLITE_READONLY']) {
      it(`counts ${code} as unavailable`, () => {
        assert.equal(SQLITE.isUnavailable(queryFailed(withCode(code, `${code}: x`))), true);
      });
    }

    it('counts a missing table as unavailable, and other SQLITE_ERRORs not', () => {
      assert.equal(SQLITE.isUnavailable(queryFailed(withCode('SQLITE_ERROR', 'SQLITE_ERROR: no such table: schedules'))), true);
      assert.equal(SQLITE.isUnavailable(queryFailed(withCode('SQLITE_ERROR', 'SQLITE_ERROR: near "x": syntax error'))), false);
    });

    it('does not count a refused statement', () => {
      assert.equal(SQLITE.isUnavailable(queryFailed(withCode('SQLITE_CONSTRAINT', 'SQLITE_CONSTRAINT: UNIQUE constraint failed'))), false);
    });
  });
});
