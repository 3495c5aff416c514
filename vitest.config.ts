import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Integration tests start real servers (dynalite, oidc-provider, Chromium) on loopback.
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    restoreMocks: true,
    // On a Node older than 22 (.ci/run uses 24, the Lambda runtime) every worker and child process would
    // print the AWS SDK's notice that its 2027 releases need Node 22: noise in every test report.
    env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
  },
});
