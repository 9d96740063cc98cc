import assert from 'node:assert/strict';
import { describe, it } from '@jest/globals';
import { MissingUserId } from '../common/domain-errors.js';
import { isExemptRoute, rateLimitKey } from './rate-limit.js';

describe('isExemptRoute', () => {
  it('exempts the probes, the scrape and the runtime routes, by route template', () => {
    for (const url of ['/health', '/health/live', '/health/ready', '/metrics', '/runtime/runs/:run_id/status', '/runtime/sessions/:session_id/state']) {
      assert.equal(isExemptRoute(url), true, url);
    }
  });

  it('limits every other route, and a request that matched none', () => {
    for (const url of ['/schedule', '/schedule/:id', '/schedule/:id/run', '/docs', '/healthz', '/health/ready/x', '/runtime', '/metrics/x', undefined]) {
      assert.equal(isExemptRoute(url), false, String(url));
    }
  });
});

describe('rateLimitKey', () => {
  it("is the user's when the identity hook found one", () => {
    assert.equal(rateLimitKey({ identity: { userId: 'alice' }, ip: '10.0.0.1' }), 'user:alice');
  });

  it("is the IP's without an identity, and when the identity failed", () => {
    assert.equal(rateLimitKey({ identity: undefined, ip: '10.0.0.1' }), 'ip:10.0.0.1');
    assert.equal(rateLimitKey({ identity: { error: new MissingUserId() }, ip: '10.0.0.1' }), 'ip:10.0.0.1');
  });

  it('counts an IPv6 client by its /64, and an IPv4-mapped address as IPv4', () => {
    const a = rateLimitKey({ ip: '2001:db8:1:2:aaaa::1' });
    const b = rateLimitKey({ ip: '2001:db8:1:2:bbbb::2' });
    assert.equal(a, b);
    assert.notEqual(a, rateLimitKey({ ip: '2001:db8:1:3::1' }));
    assert.equal(rateLimitKey({ ip: '::ffff:10.0.0.1' }), 'ip:10.0.0.1');
  });
});
