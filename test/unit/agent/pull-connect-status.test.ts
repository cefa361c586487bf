/** The agent's CONNECT proxy answers each pull failure with a status that says why. */
import { describe, expect, it } from '@jest/globals';
import { connectStatus } from '../../../src/agent/pull/index.js';
import { PullError, type PullErrorCode } from '../../../src/transport/pull-errors.js';

describe('CONNECT status of a pull failure', () => {
  it.each([
    ['ERR_PULL_BAD_ADDRESS', 400],
    ['ERR_PULL_NOT_ALLOWED', 403],
    ['ERR_PULL_TOO_MANY', 429],
    ['ERR_PULL_UNAVAILABLE', 503],
    ['ERR_PULL_SHUTTING_DOWN', 503],
    ['ERR_PULL_DIAL_TIMEOUT', 504],
    ['ERR_PULL_DIAL', 502],
    ['ERR_PULL_NOT_CONFIGURED', 502],
    ['ERR_PULL_REFUSED', 502],
  ] as [PullErrorCode, number][])('%s → %i', (code, status) => {
    expect(connectStatus(new PullError(code, 'norm', 'x'))[0]).toBe(status);
  });

  it('502 for anything that is not a PullError', () => {
    expect(connectStatus(new Error('boom'))).toEqual([502, 'Bad Gateway']);
  });
});
