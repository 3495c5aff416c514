/**
 * Signals of the signing keys' rotation (docs/keys.md "Rotation"), in the manner of `lib/events.ts`: each
 * step (a key published, promoted to signing, withdrawn) is put on EventBridge as source `oauth-broker`,
 * detail-type `Signing Key Changed`; logged in local mode and tests. Best effort: a failed signal is
 * logged and never fails the step.
 */
import type { Log } from '../logger.js';
import { errorFields } from '../logger.js';
import { EVENT_SOURCE } from '../events.js';
import type { SigningAlgorithm } from './signer.js';

export const SIGNING_KEY_CHANGED_DETAIL_TYPE = 'Signing Key Changed';

export interface SigningKeyChange {
  /** `published`: in the JWKS, not signing yet; `promoted`: signs from now; `retiring`: published until `withdrawAt`; `withdrawn`: out of the JWKS. */
  step: 'published' | 'promoted' | 'retiring' | 'withdrawn';
  kid: string;
  alg: SigningAlgorithm;
  /** KMS key ARN, or `local`. */
  key: string;
  withdrawAt?: string;
}

export interface SigningKeyEvents {
  keyChanged(change: SigningKeyChange): Promise<void>;
}

export class EventBridgeSigningKeyEvents implements SigningKeyEvents {
  constructor(
    private readonly eventBusName: string,
    private readonly logger: Log,
    private readonly environment?: string,
  ) {}

  async keyChanged(change: SigningKeyChange): Promise<void> {
    try {
      // The same small module lib/events.ts loads: the EventBridge SDK only when a key changes.
      const { EventBridgeClient, PutEventsCommand } = await import('../adapters/eventbridge-client.js');
      const out = await new EventBridgeClient({}).send(
        new PutEventsCommand({
          Entries: [
            {
              Source: EVENT_SOURCE,
              DetailType: SIGNING_KEY_CHANGED_DETAIL_TYPE,
              EventBusName: this.eventBusName,
              Detail: JSON.stringify(this.environment ? { ...change, environment: this.environment } : change),
            },
          ],
        }),
      );
      if (out.FailedEntryCount) this.logger.warn('signing key event not accepted', { kid: change.kid, errorCode: out.Entries?.[0]?.ErrorCode });
    } catch (error) {
      this.logger.warn('signing key event failed', { kid: change.kid, ...errorFields(error) });
    }
  }
}

/** For local mode and tests: logged, and kept for assertions. */
export class LoggedSigningKeyEvents implements SigningKeyEvents {
  readonly changes: SigningKeyChange[] = [];
  constructor(private readonly logger?: Log) {}

  async keyChanged(change: SigningKeyChange): Promise<void> {
    this.changes.push(change);
    this.logger?.info('signing key changed', { ...change });
  }
}
