/**
 * The names of the broker's EventBridge events: their source and detail types. No imports: the function
 * table (lib/functions.ts), which the CLI and the CDK app read, grants `events:PutEvents` on exactly these.
 */
export const EVENT_SOURCE = 'oauth-broker';
export const STATUS_CHANGED_DETAIL_TYPE = 'Profile Status Changed';
export const SIGNING_KEY_CHANGED_DETAIL_TYPE = 'Signing Key Changed';
