// typescript-eslint for tether: the strict, type-checked set, with the few rules that do not fit this
// code turned off or tuned below, each with its reason. Run from the repository root by scripts/lint.sh.
// tools/lint is a package of its own: typescript-eslint needs the JS TypeScript 5 API, while the project
// compiles with TypeScript 7 (native, no JS API).
import path from "node:path";
import { fileURLToPath } from "node:url";
import tseslint from "typescript-eslint";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

export default tseslint.config(
  { ignores: ["build/**", "dist/**", "node_modules/**", "tools/**", "deploy/**", "**/*.mjs", "**/*.js", "**/*.cjs"] },
  {
    files: ["src/**/*.ts", "test/**/*.ts", "scripts/**/*.ts"],
    extends: [...tseslint.configs.strictTypeChecked],
    languageOptions: {
      parserOptions: { project: path.join(root, "tsconfig.json"), tsconfigRootDir: root },
    },
    linterOptions: { reportUnusedDisableDirectives: "error" },
    rules: {
      // node:test's test()/describe() return promises the runner itself awaits.
      "@typescript-eslint/no-floating-promises": [
        "error",
        { allowForKnownSafeCalls: [{ from: "package", package: "node:test", name: ["test", "describe", "it", "suite", "before", "after", "beforeEach", "afterEach"] }] },
      ],
      // Numbers and booleans print well in messages; objects and undefined still do not pass.
      "@typescript-eslint/restrict-template-expressions": ["error", { allowNumber: true, allowBoolean: true }],
      // noUncheckedIndexedAccess is on: `x[i]!` after a bounds check is the idiom it asks for.
      "@typescript-eslint/no-non-null-assertion": "off",
      // Handlers written `return res.end(...)` / `() => f()` end a branch; they return nothing either way.
      "@typescript-eslint/no-confusing-void-expression": "off",
      // Ports return promises; some implementations have nothing to await.
      "@typescript-eslint/require-await": "off",
      // Parsed input (JSON, kernel replies, env) is checked at run time even where its type says it is set.
      "@typescript-eslint/no-unnecessary-condition": "off",
      // Lint type-checks with TypeScript 5.9, the build with 7: their inference differs, and an assertion
      // one of them needs the other may call unnecessary.
      "@typescript-eslint/no-unnecessary-type-assertion": "off",
      // `_`-prefixed names mark parameters and destructured parts left unused on purpose.
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_", destructuredArrayIgnorePattern: "^_" }],
    },
  },
  {
    files: ["src/**/*.ts"],
    rules: {
      // Lazy loading goes through src/util/lazy.ts: a require() only as `lazy(() => require("x") as T)`.
      "@typescript-eslint/no-require-imports": "off",
      "no-restricted-syntax": [
        "error",
        {
          selector: "CallExpression[callee.name='require']:not(CallExpression[callee.name='lazy'] > ArrowFunctionExpression > TSAsExpression > CallExpression)",
          message: "load modules lazily through lazy() (src/util/lazy.ts), or import them",
        },
        {
          // The bundle turns `import * as x from "node:y"` into __toESM(require(...)), which copies every
          // property of the built-in (node:fs: 108, about 49 KiB of young-generation memory per import,
          // 16 per ADD). `import x = require("node:y")` hands over the module as it is.
          selector: "ImportDeclaration[source.value=/^node:/]:has(ImportNamespaceSpecifier, ImportDefaultSpecifier)",
          message: "import a Node built-in as `import x = require(\"node:y\")` or by name: a namespace or default import copies all its properties in the bundle",
        },
      ],
    },
  },
  {
    // Tests read JSON outputs field by field; asserting is their type check.
    files: ["test/**/*.ts"],
    rules: {
      "@typescript-eslint/no-unsafe-member-access": "off",
      "@typescript-eslint/no-unsafe-assignment": "off",
      "@typescript-eslint/no-unsafe-argument": "off",
      "@typescript-eslint/no-unsafe-call": "off",
      "@typescript-eslint/no-unsafe-return": "off",
      "@typescript-eslint/no-explicit-any": "off",
      // Helpers such as `parse<T>(stdout)` name the shape the test expects.
      "@typescript-eslint/no-unnecessary-type-parameters": "off",
      // Tests build env records and drop variables from them.
      "@typescript-eslint/no-dynamic-delete": "off",
      // Tests load built files and generated models by computed path.
      "@typescript-eslint/no-require-imports": "off",
    },
  },
);
