/**
 * The CDK app (`npx cdk synth`, `npx cdk deploy` in infra/, cdk.json "app"): one
 * TotesCdcStack configured by context (infra/README.md "Context"). A wrong or missing
 * context key stops the synth with one line naming it.
 */
import { App } from "aws-cdk-lib"
import { readSettings, SettingsError } from "../src/Settings.ts"
import { TotesCdcStack } from "../src/TotesCdcStack.ts"

const app = new App()
try {
  const settings = readSettings((key) => app.node.tryGetContext(key))
  new TotesCdcStack(app, settings.stackName, {
    settings,
    env: { ...(settings.account === undefined ? {} : { account: settings.account }), ...(settings.region === undefined ? {} : { region: settings.region }) },
    description: "totes-cdc: totesys → logical replication → Kinesis → Parquet in S3 → warehouse"
  })
} catch (error) {
  if (!(error instanceof SettingsError)) throw error
  process.stderr.write(`totes-cdc infra: ${error.message}\n`)
  process.exit(2)
}
