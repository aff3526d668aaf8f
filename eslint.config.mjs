// Lint rules. The important one: workflow code runs in Temporal's deterministic sandbox, so files in
// workflows/ may import only @temporalio/workflow, sibling pure modules, and *types* from elsewhere.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import { builtinModules } from 'node:module';

const nodeBuiltins = [...builtinModules, ...builtinModules.map((m) => `node:${m}`)];

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'test/fixtures/**', '.stackly/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-require-imports': 'off',
    },
  },
  {
    files: ['**/*.mjs', '**/*.js'],
    languageOptions: {
      globals: { process: 'readonly', console: 'readonly', setTimeout: 'readonly', require: 'readonly', module: 'writable', __dirname: 'readonly' },
    },
  },
  {
    files: ['workflows/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          paths: nodeBuiltins.map((name) => ({ name, message: 'workflow code runs in the Temporal sandbox: no Node built-ins' })),
          patterns: [
            {
              group: ['**/activities', '**/activities/**', '**/db', '**/db/**', '**/api', '**/api/**', '**/workers/**', '**/common/**', '**/codec-server/**'],
              allowTypeImports: true,
              message: 'workflow code may import only types from activities, db, api, workers, common and codec-server',
            },
            {
              group: ['@temporalio/*', '!@temporalio/workflow', '!@temporalio/common'],
              allowTypeImports: true,
              message: 'workflow code may import only @temporalio/workflow (and types of other Temporal packages)',
            },
          ],
        },
      ],
    },
  },
);
