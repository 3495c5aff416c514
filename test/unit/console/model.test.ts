/**
 * The console's pure logic (console/src/model.ts): form values to the contract's body and back, extra
 * parameters as lines or JSON, and the contract's messages sorted to the fields they name.
 */
import { describe, expect, it } from 'vitest';
import { POLL_INTERVAL_MS, bodyFromValues, emptyValues, errorsByField, formatParams, parseParams, statusText, valuesFromView, type ProfileView } from '../../../console/src/model.js';

const VIEW: ProfileView = {
  id: 'erp',
  grantType: 'authorization_code',
  authorizationUrl: 'https://as.example/authorize',
  tokenUrl: 'https://as.example/token',
  issuer: null,
  clientId: 'mes',
  hasClientSecret: true,
  clientAuthMethod: 'client_secret_post',
  scope: 'openid offline_access',
  authorizationParams: { prompt: 'consent', audience: 'https://api.example' },
  tokenParams: {},
  usePkce: true,
  defaultTokenLifetimeSeconds: 1800,
  revocationUrl: null,
  callbackUrl: 'https://broker.example/callback',
  status: {
    state: 'ready',
    accessTokenExpiresAt: null,
    hasRefreshToken: true,
    lastRefreshAt: null,
    lastAuthorizedAt: null,
    lastError: null,
    consecutiveFailures: 0,
    nextRefreshAt: null,
  },
  createdAt: '2026-11-28T08:00:00.000Z',
  updatedAt: '2026-11-28T08:00:00.000Z',
};

describe('the form and the profile body', () => {
  it('fills the form from a view without a secret, and saves it back unchanged but for the kept secret', () => {
    const values = valuesFromView(VIEW);
    expect(values.clientSecret).toBe('');
    expect(values.authorizationParams).toBe('prompt=consent\naudience=https://api.example');
    const built = bodyFromValues(values);
    expect(built).toEqual({
      body: {
        grantType: 'authorization_code',
        clientAuthMethod: 'client_secret_post',
        authorizationUrl: 'https://as.example/authorize',
        tokenUrl: 'https://as.example/token',
        scope: 'openid offline_access',
        clientId: 'mes',
        usePkce: true,
        defaultTokenLifetimeSeconds: 1800,
        authorizationParams: { prompt: 'consent', audience: 'https://api.example' },
      },
    });
  });

  it('sends a typed secret as typed, leaves empty optional fields out, and passes a bad lifetime on for the API to name', () => {
    const values = { ...emptyValues(), id: 'x', tokenUrl: ' https://as.example/token ', clientId: 'c', clientSecret: ' s3cret ', defaultTokenLifetimeSeconds: 'soon' };
    const built = bodyFromValues(values);
    expect('body' in built && built.body).toEqual({
      grantType: 'authorization_code',
      clientAuthMethod: 'client_secret_basic',
      tokenUrl: 'https://as.example/token',
      clientId: 'c',
      clientSecret: ' s3cret ',
      usePkce: true,
      defaultTokenLifetimeSeconds: 'soon',
    });
  });

  it('leaves the authorization URL out of a client_credentials profile', () => {
    const built = bodyFromValues({ ...emptyValues(), grantType: 'client_credentials', authorizationUrl: 'https://as.example/authorize', clientId: 'c' });
    expect((built as { body: Record<string, unknown> }).body).not.toHaveProperty('authorizationUrl');
  });

  it('reads extra parameters as key=value lines or a JSON object, and says what is wrong otherwise', () => {
    expect(parseParams(' resource = https://api.example/?a=b \n\n prompt=consent')).toEqual({ params: { resource: 'https://api.example/?a=b', prompt: 'consent' } });
    expect(parseParams('{"audience": "x"}')).toEqual({ params: { audience: 'x' } });
    expect(parseParams('')).toEqual({ params: {} });
    expect(parseParams('audience')).toEqual({ problem: 'Line 1 is not key=value.' });
    expect(parseParams('a=1\na=2')).toEqual({ problem: '"a" is given twice.' });
    expect(parseParams('{"a": ')).toEqual({ problem: 'This is not valid JSON: write a JSON object, or one key=value per line.' });
    expect(parseParams('["a"]')).toEqual({ problem: 'Write a JSON object, or one key=value per line.' });
    expect(bodyFromValues({ ...emptyValues(), tokenParams: 'oops' })).toEqual({ errors: { tokenParams: 'Line 1 is not key=value.' } });
    expect(formatParams({ a: '1', b: 'x=y' })).toBe('a=1\nb=x=y');
  });
});

describe('errors by field', () => {
  it('splits the contract\'s invalid-profile message into problems at the fields they name first', () => {
    const { fields, other } = errorsByField(
      'The profile is invalid: tokenUrl must be an https: URL; clientId: Too small: expected string to have >=1 characters; unknown field "foo".',
    );
    expect(fields).toEqual({ tokenUrl: 'tokenUrl must be an https: URL.', clientId: 'clientId: Too small: expected string to have >=1 characters.' });
    expect(other).toEqual(['unknown field "foo".']);
  });

  it('puts a sentence naming several fields at the first one, and the profile id at Profile ID', () => {
    expect(errorsByField('clientSecret is required: the profile uses client_secret_basic and no client secret is stored yet.').fields).toEqual({
      clientSecret: 'clientSecret is required: the profile uses client_secret_basic and no client secret is stored yet.',
    });
    expect(errorsByField('authorizationUrl is required for authorization_code profiles unless issuer is given').fields).toHaveProperty('authorizationUrl');
    expect(errorsByField('The profile id must be 1 to 64 characters of lower-case letters.').fields).toHaveProperty('id');
    // tokenParams is not tokenUrl: whole words only.
    expect(Object.keys(errorsByField('The profile is invalid: tokenParams may not set "code": the broker sets it itself.').fields)).toEqual(['tokenParams']);
    expect(errorsByField('Profile "x" is being deleted.')).toEqual({ fields: {}, other: ['Profile "x" is being deleted.'] });
  });
});

describe('the status cell', () => {
  it('is ✓ for ready and ✗ with the state otherwise', () => {
    expect(statusText('ready')).toBe('✓');
    expect(statusText('refresh_failing')).toBe('✗ refresh_failing');
  });
});

describe('polling', () => {
  it('re-reads the list often enough that a status change shows within docs/api.md\'s 5 seconds, request included', () => {
    expect(POLL_INTERVAL_MS).toBeGreaterThan(0);
    expect(POLL_INTERVAL_MS + 1000).toBeLessThanOrEqual(5000);
  });
});
