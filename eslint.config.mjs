// ESLint for the extension's TypeScript (run by `cargo xtask test`): the recommended rules of
// ESLint and typescript-eslint, with the type checker's view, so a floating promise or an
// unsafe `any` is caught before review. Formatting is Prettier's job (.prettierrc.json).

import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  {
    ignores: [
      "extension/dist/**",
      "page-library/dist/**",
      "wasm/pkg/**",
      "node_modules/**",
      "target/**",
      "tests/**",
      "installers/**",
      "docs/**",
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    files: ["extension/**/*.ts"],
    languageOptions: {
      parserOptions: { project: ["extension/tsconfig.test.json"], tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // Handled promises must be awaited or marked `void` on purpose.
      "@typescript-eslint/no-floating-promises": "error",
      "@typescript-eslint/consistent-type-imports": "error",
      eqeqeq: "error",
    },
  },
  {
    files: ["page-library/src/**/*.ts"],
    languageOptions: {
      parserOptions: { project: ["page-library/tsconfig.json"], tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      "@typescript-eslint/no-floating-promises": "error",
      "@typescript-eslint/consistent-type-imports": "error",
      eqeqeq: "error",
    },
  },
  {
    // The unit tests: node:test's `test()` promises are awaited by the runner, and the fakes
    // take the loosely-typed bodies a real portal would.
    files: ["extension/test/**/*.ts"],
    rules: {
      "@typescript-eslint/no-floating-promises": [
        "error",
        { allowForKnownSafeCalls: [{ from: "package", name: "test", package: "node:test" }] },
      ],
      "@typescript-eslint/no-explicit-any": "off",
      "@typescript-eslint/no-unsafe-assignment": "off",
      "@typescript-eslint/no-unsafe-member-access": "off",
      "@typescript-eslint/no-unsafe-argument": "off",
      "@typescript-eslint/no-unsafe-call": "off",
      "@typescript-eslint/require-await": "off",
    },
  },
  {
    files: ["**/*.mjs"],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: {
      globals: {
        process: "readonly",
        console: "readonly",
        URL: "readonly",
        structuredClone: "readonly",
        setTimeout: "readonly",
      },
    },
  },
);
