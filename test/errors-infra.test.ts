import { describe, expect, it } from 'vitest';
import {
  CriticalError,
  errorClassOf,
  isCallFailure,
  isDatabaseUnavailable,
  RetryableError,
} from '../src/errors.ts';

const pgError = (code: string, message = 'x') => Object.assign(new Error(message), { code });

describe('database outages are infrastructure, never results', () => {
  it.each([
    pgError('57P01', 'terminating connection due to administrator command'),
    pgError('57P03', 'the database system is starting up'),
    pgError('08006'),
    pgError('53300', 'sorry, too many clients already'),
    pgError('40P01', 'deadlock detected'),
    pgError('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:5432'),
    new Error('Connection terminated unexpectedly'),
    new Error('wrapped', { cause: pgError('57P01') }),
  ])('%s', (err) => {
    expect(isDatabaseUnavailable(err)).toBe(true);
    expect(errorClassOf(err)).toBe('infrastructure');
    expect(isCallFailure(err, true)).toBe(false);
  });

  it('other errors keep their class: a constraint violation is a bug, a 5xx is retryable', () => {
    expect(errorClassOf(pgError('23505', 'duplicate key'))).toBe('critical');
    expect(errorClassOf(new CriticalError('the database system is shutting down'))).toBe('critical');
    expect(isCallFailure(new RetryableError('502'), false)).toBe(false);
    expect(isCallFailure(new RetryableError('502'), true)).toBe(true);
  });
});
