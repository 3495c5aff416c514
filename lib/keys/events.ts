/**
 * Signals of the signing keys' rotation (docs/keys.md "Rotation"), in the manner of `lib/events.ts`: each
 * step (a key published, promoted to signing, withdrawn) is put on EventBridge as source `oauth-broker`,
 * detail-type `Signing Key Changed`; logged in local mode and tests. Best effort: a failed signal is
 * logged and never fails the step.
 */
import type { Log } from '../logger.js';
import { SIGNING_KEY_CHANGED_DETAIL_TYPE } from '../event-names.js';
import { LoggedEvents, defaultEventBridgeClient, putBrokerEvent } from '../events.js';
import type { SigningAlgorithm } from './signer.js';

export { SIGNING_KEY_CHANGED_DETAIL_TYPE };

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
    readonly eventBusName: string,
    readonly logger: Log,
    readonly environment?: string,
  ) {}

  async keyChanged(change: SigningKeyChange): Promise<void> {
    // The container's client, as status events use it: the EventBridge SDK is loaded when a key changes.
    await putBrokerEvent(defaultEventBridgeClient, this, { detailType: SIGNING_KEY_CHANGED_DETAIL_TYPE, detail: change, what: 'signing key event', subject: { kid: change.kid } });
  }
}

/** For local mode and tests: logged, and kept for assertions. */
export class LoggedSigningKeyEvents extends LoggedEvents<SigningKeyChange> implements SigningKeyEvents {
  constructor(logger?: Log) {
    super('signing key changed', logger);
  }

  keyChanged(change: SigningKeyChange): Promise<void> {
    return this.record(change);
  }
}
