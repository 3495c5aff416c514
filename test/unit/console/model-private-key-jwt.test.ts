/**
 * The console saving a private_key_jwt profile (docs/keys.md): the form has no field for the assertion
 * settings, so a save sends them back as stored instead of letting PUT reset them to their defaults.
 */
import { describe, expect, it } from 'vitest';
import { bodyFromValues, emptyValues } from '../../../console/src/model.js';

const values = (method: string) => ({ ...emptyValues(), id: 'entra', clientId: 'app', tokenUrl: 'https://login.example/token', clientAuthMethod: method });

describe('bodyFromValues for private_key_jwt', () => {
  it('keeps the stored algorithm and audience', () => {
    const built = bodyFromValues(values('private_key_jwt'), { clientAssertionAlgorithm: 'RS256', clientAssertionAudience: 'token_endpoint' });
    expect(built).toEqual({ body: expect.objectContaining({ clientAuthMethod: 'private_key_jwt', clientAssertionAlgorithm: 'RS256', clientAssertionAudience: 'token_endpoint' }) });
  });

  it('sends neither for a new profile, nor for another method (the API would refuse them)', () => {
    expect(bodyFromValues(values('private_key_jwt'))).toEqual({ body: expect.not.objectContaining({ clientAssertionAlgorithm: expect.anything() }) });
    const other = bodyFromValues(values('client_secret_basic'), { clientAssertionAlgorithm: 'RS256', clientAssertionAudience: 'issuer' });
    expect('body' in other && Object.keys(other.body)).not.toContain('clientAssertionAlgorithm');
    expect('body' in other && Object.keys(other.body)).not.toContain('clientAssertionAudience');
  });
});
