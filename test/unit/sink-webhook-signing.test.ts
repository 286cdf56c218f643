import { Webhook } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import { signWebhook, webhookHeaders } from '../../src/sinks/webhook.js';

// The Standard Webhooks test vector (libraries/javascript/src/webhook.test.ts; reference/sinks.md section 6).
const VECTOR = { secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', id: 'msg_p5jXN8AQM9LWM0D4loKWxJek', timestamp: 1614265330, body: '{"test": 2432232314}' };

describe('webhook signing', () => {
  it('matches the Standard Webhooks test vector', () => {
    expect(signWebhook(VECTOR.secret, VECTOR.id, VECTOR.timestamp, VECTOR.body)).toBe('v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=');
  });

  it('signs the same as the standardwebhooks library', () => {
    const at = new Date(1_764_000_000_000);
    expect(webhookHeaders(VECTOR.secret, 'run_1', at, '{"a":1}')['webhook-signature']).toBe(new Webhook(VECTOR.secret).sign('run_1', at, '{"a":1}'));
  });

  it('stamps the attempt in whole unix seconds', () => {
    expect(webhookHeaders(VECTOR.secret, 'run_1', new Date(1_764_000_000_999), '{}')['webhook-timestamp']).toBe('1764000000');
  });
});
