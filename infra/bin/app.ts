/**
 * The CDK app (`npx cdk synth`, `npx cdk deploy` in infra/, cdk.json "app"): the data
 * stack `<stackName>-Data` and the pipeline stack `<stackName>`, configured by context
 * (infra/README.md "Context"). A wrong or missing context key stops the synth with one
 * line naming it.
 */
import { App } from "aws-cdk-lib"
import { readSettings, SettingsError } from "../src/Settings.ts"
import { addStacks } from "../src/TotesCdcStack.ts"

const app = new App()
try {
  addStacks(app, readSettings((key) => app.node.tryGetContext(key)))
} catch (error) {
  if (!(error instanceof SettingsError)) throw error
  process.stderr.write(`totes-cdc infra: ${error.message}\n`)
  process.exit(2)
}
