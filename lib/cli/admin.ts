/**
 * The admin routes of the broker's contract (docs/api.md), as the CLI calls them: SigV4 through the SDK's
 * transport when the URL is not loopback.
 */
import type { ProfileView } from '../profile.js';
import type { TokenResponse } from '../sdk/token-client.js';
import { BrokerTransport, type TransportOptions } from '../sdk/transport.js';

export interface AuthorizationStart {
  authorizationUrl: string;
  callbackUrl: string;
  expiresAt: string;
}

const profilePath = (id: string) => `/profiles/${encodeURIComponent(id)}`;

export class AdminClient {
  readonly transport: BrokerTransport;

  constructor(options: TransportOptions) {
    this.transport = new BrokerTransport(options);
  }

  get baseUrl(): URL {
    return this.transport.baseUrl;
  }

  async listProfiles(): Promise<{ profiles: ProfileView[] }> {
    return (await this.transport.json<{ profiles: ProfileView[] }>('GET', '/profiles')).body;
  }

  async getProfile(id: string): Promise<ProfileView> {
    return (await this.transport.json<ProfileView>('GET', profilePath(id))).body;
  }

  /** `PUT /profiles/{id}` with the JSON text as given; `created` from 201 vs 200. */
  async putProfile(id: string, json: string): Promise<{ created: boolean; view: ProfileView }> {
    const { status, body } = await this.transport.json<ProfileView>('PUT', profilePath(id), { body: json });
    return { created: status === 201, view: body };
  }

  async deleteProfile(id: string): Promise<void> {
    await this.transport.json<undefined>('DELETE', profilePath(id));
  }

  async authorizeUrl(id: string): Promise<AuthorizationStart> {
    return (await this.transport.json<AuthorizationStart>('GET', `${profilePath(id)}/authorize-url`)).body;
  }

  async token(id: string, minValiditySeconds?: number): Promise<TokenResponse> {
    return (await this.transport.json<TokenResponse>('GET', `${profilePath(id)}/token`, { query: { minValiditySeconds } })).body;
  }

  async refresh(id: string): Promise<ProfileView> {
    return (await this.transport.json<ProfileView>('POST', `${profilePath(id)}/refresh`)).body;
  }
}
