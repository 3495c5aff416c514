/**
 * The CDK app (cdk.json: `npx tsx cdk/app.ts`). Deploy one environment of cdk/environments.ts with
 * `npx cdk deploy -c env=<name>`.
 */
import { App } from 'aws-cdk-lib';
import { addBrokerStack, deploymentTarget, enableNag } from './broker-app.js';

// No CDKMetadata resource: its condition lists every region by name, the only region literals an
// environment-agnostic template would otherwise hold.
const app = new App({ analyticsReporting: false });
try {
  addBrokerStack(app, app.node.tryGetContext('env'), deploymentTarget(process.env));
} catch (error) {
  console.error(error instanceof Error ? error.message : String(error));
  process.exit(1);
}
enableNag(app);
