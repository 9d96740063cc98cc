import assert from 'node:assert/strict';
import { describe, it } from '@jest/globals';
import pg from 'pg';
import { QueryFailedError } from 'typeorm';
import { POSTGRES, SQLITE } from './dialect.js';
import { NoDatabaseSession } from './postgres-driver.js';

const withCode = (code: string, message = 'failed') => Object.assign(new Error(message), { code });
/** What PostgreSQL itself answered, as node-postgres hands it on. */
const serverSaid = (code: string, message = 'failed') => Object.assign(new pg.DatabaseError(message, 0, 'error'), { code, severity: 'ERROR' });
/** Node's error for a socket's system call. */
const systemError = (code: string, syscall: string) => Object.assign(new Error(`${syscall} ${code}`), { code, syscall, errno: -1 });
/** As TypeORM hands a driver's error on: wrapped, the driver's kept as `driverError` (and its fields copied). */
const queryFailed = (driverError: Error) => new QueryFailedError('SELECT 1', [], driverError);

describe('SqlDialect.isUnavailable', () => {
  describe('postgres', () => {
    it('counts every failure to get a connection, whatever its cause', () => {
      const causes = [
        systemError('ECONNREFUSED', 'connect'),
        systemError('ENOTFOUND', 'getaddrinfo'),
        new Error('timeout exceeded when trying to connect'),
        new Error('Connection terminated due to connection timeout'),
        serverSaid('28P01', 'password authentication failed for user "x"'),
        serverSaid('55000', 'database "x" is not currently accepting connections'),
        serverSaid('53300', 'sorry, too many clients already'),
        serverSaid('57P03', 'the database system is starting up'),
        serverSaid('3D000', 'database "x" does not exist'),
        // Even one no rule below would know: the pool could not hand out a session.
        new Error('something new in a later node-postgres'),
      ];
      for (const cause of causes) {
        assert.equal(POSTGRES.isUnavailable(new NoDatabaseSession(cause)), true, cause.message);
        assert.equal(POSTGRES.isUnavailable(new Error('wrapped', { cause: new NoDatabaseSession(cause) })), true, cause.message);
      }
    });

    it('keeps the cause’s message and code', () => {
      const session = new NoDatabaseSession(serverSaid('55000', 'database "x" is not currently accepting connections'));
      assert.equal(session.message, 'database "x" is not currently accepting connections');
      assert.equal(session.code, '55000');
    });

    it('counts a statement that got no answer: the network failed, the connection ended, nothing came back in time', () => {
      const unanswered = [
        systemError('ECONNRESET', 'read'),
        systemError('EPIPE', 'write'),
        systemError('ETIMEDOUT', 'read'),
        new Error('Connection terminated unexpectedly'),
        new Error('Connection terminated'),
        new Error('Query read timeout'),
        new Error('Client has encountered a connection error and is not queryable'),
        new Error('Client was closed and is not queryable'),
      ];
      for (const error of unanswered) assert.equal(POSTGRES.isUnavailable(queryFailed(error)), true, error.message);
      // Node's errors are the network's wherever they surface.
      assert.equal(POSTGRES.isUnavailable(systemError('ECONNRESET', 'read')), true);
    });

    it('counts what the server answers when the session is the trouble, by SQLSTATE class', () => {
      const sessionStates = [
        ['08006', 'connection failure'],
        ['08P01', 'protocol violation'],
        ['28000', 'role "x" is not permitted to log in'],
        ['53100', 'could not extend file: No space left on device'],
        ['53200', 'out of memory'],
        ['57P01', 'terminating connection due to administrator command'],
        ['57P02', 'terminating connection due to crash of another server process'],
        ['57014', 'canceling statement due to statement timeout'],
        ['58030', 'could not write to file'],
        ['25006', 'cannot execute INSERT in a read-only transaction'],
        ['25P03', 'terminating connection due to idle-in-transaction timeout'],
        ['55P03', 'canceling statement due to lock timeout'],
        ['42P01', 'relation "schedules" does not exist'],
        ['3F000', 'schema "x" does not exist'],
      ];
      for (const [code, message] of sessionStates) {
        assert.equal(POSTGRES.isUnavailable(queryFailed(serverSaid(code, message))), true, code);
      }
    });

    it('does not count a statement the server refused, nor the service’s own bugs', () => {
      const refused = [
        queryFailed(serverSaid('23505', 'duplicate key value violates unique constraint')),
        queryFailed(serverSaid('23502', 'null value in column')),
        queryFailed(serverSaid('22P02', 'invalid input syntax')),
        queryFailed(serverSaid('40P01', 'deadlock detected')),
        queryFailed(serverSaid('42703', 'column "x" does not exist')),
        queryFailed(serverSaid('42601', 'syntax error at or near "x"')),
        queryFailed(serverSaid('55000', 'currval of sequence "x" is not yet defined in this session')),
        // A value node-postgres could not serialise: the service's bug, though it reached the driver.
        queryFailed(new TypeError('Do not know how to serialize a BigInt')),
        new Error('Schedule x changed while it was being updated'),
        withCode('SOMETHING', 'a coded error of the service'),
        new TypeError('cannot read properties of undefined'),
      ];
      for (const error of refused) assert.equal(POSTGRES.isUnavailable(error), false, error.message);
    });

    it('does not count what is not an error', () => {
      for (const value of [undefined, null, 'ECONNREFUSED', 57, {}]) assert.equal(POSTGRES.isUnavailable(value), false);
    });
  });

  describe('sqlite', () => {
    for (const code of ['SQLITE_BUSY', 'SQLITE_LOCKED', 'SQLITE_READONLY', 'SQLITE_FULL', 'SQLITE_IOERR', 'SQLITE_CANTOPEN', 'SQLITE_CORRUPT', 'SQLITE_NOTADB']) {
      it(`counts ${code} as unavailable`, () => {
        assert.equal(SQLITE.isUnavailable(queryFailed(withCode(code, `${code}: x`))), true);
      });
    }

    it('counts a missing table as unavailable, and other SQLITE_ERRORs not', () => {
      assert.equal(SQLITE.isUnavailable(queryFailed(withCode('SQLITE_ERROR', 'SQLITE_ERROR: no such table: schedules'))), true);
      assert.equal(SQLITE.isUnavailable(queryFailed(withCode('SQLITE_ERROR', 'SQLITE_ERROR: near "x": syntax error'))), false);
    });

    it('does not count a refused statement or a bug', () => {
      assert.equal(SQLITE.isUnavailable(queryFailed(withCode('SQLITE_CONSTRAINT', 'SQLITE_CONSTRAINT: UNIQUE constraint failed'))), false);
      assert.equal(SQLITE.isUnavailable(queryFailed(withCode('SQLITE_MISMATCH', 'SQLITE_MISMATCH: datatype mismatch'))), false);
      assert.equal(SQLITE.isUnavailable(new TypeError('x is undefined')), false);
    });
  });
});
