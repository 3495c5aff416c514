import { describe, expect, it } from 'vitest';
import { endpointUrlProblem, isNonPublicAddress } from '../../lib/endpoint-policy.js';
import { parseProfileInput } from '../../lib/profile-input.js';
import { BrokerError } from '../../lib/errors.js';
import { itAnswers } from './support/predicate-cases.js';

describe('endpointUrlProblem in the cloud', () => {
  it.each([
    'http://127.0.0.1:9001/2018-06-01/runtime/invocation/next', // the Lambda runtime API
    'http://as.example/token',
    'https://127.0.0.1/token',
    'https://127.1.2.3/token',
    'https://2130706433/token', // 127.0.0.1 spelled as a number
    'https://0x7f.0.0.1/token',
    'https://0.0.0.0/token',
    'https://0/token',
    'https://10.1.2.3/token',
    'https://172.16.0.1/token',
    'https://172.31.255.255/token',
    'https://192.168.1.1/token',
    'https://169.254.169.254/latest/meta-data/',
    'https://100.64.0.1/token',
    'https://100.127.255.255/token',
    'https://[::1]/token',
    'https://[::]/token',
    'https://[::ffff:127.0.0.1]/token',
    'https://[::ffff:a9fe:a9fe]/token',
    'https://[fd12:3456::1]/token',
    'https://[fc00::1]/token',
    'https://[fe80::1]/token',
    'https://[64:ff9b::a9fe:a9fe]/token',
    'https://localhost/token',
    'https://localhost./token',
    'https://api.localhost/token',
    'file:///tmp/setup.exe',
    'javascript:alert(1)',
    'https://user:pass@as.example/token',
    'https://as.example/token#frag',
  ])('refuses %s', (url) => {
    expect(endpointUrlProblem(url, 'cloud')).toEqual(expect.any(String));
  });

  it.each(['https://as.example/token', 'https://8.8.8.8/token', 'https://100.128.0.1/token', 'https://172.32.0.1/token', 'https://[2001:db8::1]/token'])(
    'accepts %s',
    (url) => {
      expect(endpointUrlProblem(url, 'cloud')).toBeUndefined();
    },
  );
});

describe('endpointUrlProblem in local mode', () => {
  it.each(['http://127.0.0.1:9000/token', 'http://localhost:9000/token', 'http://[::1]:9000/token', 'https://10.0.0.5/token', 'https://as.example/token'])(
    'accepts %s (loopback http: and private addresses are fine on a laptop)',
    (url) => {
      expect(endpointUrlProblem(url, 'local')).toBeUndefined();
    },
  );

  it.each(['http://10.0.0.5/token', 'http://as.example/token', 'file:///etc/passwd', 'https://u:p@as.example/'])('refuses %s', (url) => {
    expect(endpointUrlProblem(url, 'local')).toEqual(expect.any(String));
  });
});

describe('isNonPublicAddress', () => {
  itAnswers(isNonPublicAddress, { true: ['127.0.0.1', '::ffff:7f00:1', '2002:a9fe:a9fe::1'], false: ['8.8.8.8', '2606:4700::1111'] });
});

describe('PUT bodies under the URL policy', () => {
  const body = (overrides: Record<string, unknown>) =>
    JSON.stringify({ authorizationUrl: 'https://as.example/authorize', tokenUrl: 'https://as.example/token', clientId: 'c', clientSecret: 's', ...overrides });

  function refusal(work: () => unknown): BrokerError {
    try {
      work();
    } catch (error) {
      return error as BrokerError;
    }
    throw new Error('expected a refusal');
  }

  it('refuses the Lambda runtime API as a token URL in the cloud, naming the field but not the value', () => {
    // Act
    const error = refusal(() => parseProfileInput(body({ tokenUrl: 'http://127.0.0.1:9001/runtime' }), 'cloud'));

    // Assess
    expect(error.code).toBe('invalid_request');
    expect(error.message).toMatch(/tokenUrl must use https:/);
    expect(error.message).not.toContain('9001');
  });

  it('accepts the same URL in local mode', () => {
    expect(parseProfileInput(body({ tokenUrl: 'http://127.0.0.1:9001/token' }), 'local').config.tokenUrl).toBe('http://127.0.0.1:9001/token');
  });

  it.each(['authorizationUrl', 'issuer', 'revocationUrl'])('applies to %s too', (field) => {
    const error = refusal(() => parseProfileInput(body({ [field]: 'https://169.254.169.254/' }), 'cloud'));
    expect(error.message).toMatch(new RegExp(`${field} must name a public host`));
  });

  it('names URL problems together with the other problems of the body', () => {
    const error = refusal(() => parseProfileInput(body({ tokenUrl: 'https://10.0.0.1/t', grantType: 'password' }), 'cloud'));
    expect(error.message).toMatch(/grantType/);
    expect(error.message).toMatch(/tokenUrl must name a public host/);
  });

  it('refuses a public client without PKCE, and nothing else about it', () => {
    // Act
    const error = refusal(() => parseProfileInput(body({ clientAuthMethod: 'none', clientSecret: undefined, usePkce: false })));

    // Assess
    expect(error.code).toBe('invalid_request');
    expect(error.message).toMatch(/usePkce must stay true when clientAuthMethod is "none"/);
    expect(parseProfileInput(body({ clientAuthMethod: 'none', clientSecret: undefined })).config.usePkce).toBe(true);
  });
});
