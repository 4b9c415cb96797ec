// ESLint (flat config) with typescript-eslint's recommended rules over every workspace.
import js from "@eslint/js"
import tseslint from "typescript-eslint"

const focusedOrSkipped = ["describe", "it", "test"].flatMap((object) =>
  ["only", "skip"].map((property) => ({ object, property, message: "no focused or skipped tests in the tree" }))
)

export default tseslint.config(
  { ignores: ["**/node_modules/**", ".totes-cdc/**", "coverage/**", ".tmp/**", "infra/cdk.out/**"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: "readonly", console: "readonly", URL: "readonly" } },
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "@typescript-eslint/no-explicit-any": "error",
      "no-restricted-properties": ["error", ...focusedOrSkipped],
      "no-constant-condition": ["error", { checkLoops: false }]
    }
  },
  {
    // The dashboard's page: plain browser JavaScript (Chart.js loaded by a script tag).
    files: ["ops/src/dashboard/page/**/*.js"],
    languageOptions: {
      sourceType: "script",
      globals: { window: "readonly", document: "readonly", fetch: "readonly", setTimeout: "readonly", Chart: "readonly" }
    }
  },
  {
    // CommonJS tool configs (.dependency-cruiser.cjs).
    files: ["**/*.cjs"],
    languageOptions: { sourceType: "commonjs", globals: { require: "readonly", module: "writable", __dirname: "readonly" } },
    rules: { "@typescript-eslint/no-require-imports": "off" }
  }
)
