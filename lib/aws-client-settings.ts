/**
 * The AWS SDK clients' settings, and the longest an AWS call can take under them. The SDK waits forever
 * by default, and a call that hangs inside a refresh lease could outlive it (or the function) after the
 * authorization server has rotated a refresh token; the refresh path's time budget is derived from these.
 */
export const AWS_CLIENT_SETTINGS = {
  maxAttempts: 2,
  requestHandler: { connectionTimeout: 1000, requestTimeout: 1500 },
} as const;

/** The SDK's pause before its retry, at most (standard retry strategy: 500 ms base for throttling errors). */
const SDK_RETRY_PAUSE_MS = 500;

/** Every attempt timing out, with the SDK's pauses between them. */
export function longestAwsCallMs(settings: { maxAttempts: number; requestHandler: { connectionTimeout: number; requestTimeout: number } } = AWS_CLIENT_SETTINGS): number {
  const { maxAttempts, requestHandler } = settings;
  return maxAttempts * (requestHandler.connectionTimeout + requestHandler.requestTimeout) + (maxAttempts - 1) * SDK_RETRY_PAUSE_MS;
}
