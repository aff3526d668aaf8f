// Lint rules. The important one: workflow code runs in Temporal's deterministic sandbox, so files in
// workflows/ may import only @temporalio/workflow, sibling pure modules, and *types* from elsewhere;
// and nothing at all from activities/, which implements the ports workflows/model/ declares.
// TypeScript files are linted with type information (projectService reads tsconfig.json), which
// no-floating-promises needs: a promise nobody awaits is how last month's unhandled rejections began.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import { builtinModules } from 'node:module';

const nodeBuiltins = [...builtinModules, ...builtinModules.map((m) => `node:${m}`)];

const SQL_MESSAGE = 'SQL lives in db/repos/<table>.ts: call (or add) a repository function';
/** Kysely's query builders, reached from a db or transaction handle. */
const noQueryBuilders = ['selectFrom', 'insertInto', 'updateTable', 'deleteFrom', 'mergeInto', 'replaceInto', 'selectNoFrom']
  .map((property) => ({ property, message: SQL_MESSAGE }));

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'test/fixtures/**', '.stackly/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-require-imports': 'off',
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/consistent-type-imports': ['error', { prefer: 'type-imports', fixStyle: 'inline-type-imports' }],
    },
  },
  {
    files: ['**/*.mjs', '**/*.js'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: {
      ...tseslint.configs.disableTypeChecked.languageOptions,
      globals: { process: 'readonly', console: 'readonly', setTimeout: 'readonly', require: 'readonly', module: 'writable', __dirname: 'readonly' },
    },
  },
  {
    // Layering (db/README.md, common/README.md): SQL is written in db/ only, and the environment is
    // read in common/config.ts only, once per process, then injected.
    files: ['api/**/*.ts', 'activities/**/*.ts', 'cli/**/*.ts', 'codec-server/**/*.ts', 'common/**/*.ts', 'policies/**/*.ts', 'scripts/**/*.ts', 'workers/**/*.ts', 'workflows/**/*.ts'],
    rules: {
      'no-restricted-properties': ['error',
        ...noQueryBuilders,
        { object: 'process', property: 'env', message: 'configuration is read once in common/config.ts and injected (common/README.md)' },
      ],
      'no-restricted-syntax': ['error', {
        selector: "TaggedTemplateExpression[tag.name='sql'], MemberExpression[object.name='sql']",
        message: SQL_MESSAGE,
      }],
    },
  },
  {
    // Where process.env may still be read (common/README.md says why): the config loader (also
    // hostEnvironment(), the base of tofu's and git's child environments), and the dev launchers,
    // which build the environments of the processes they start.
    files: ['common/config.ts', 'scripts/**/*.ts'],
    rules: {
      'no-restricted-properties': ['error', ...noQueryBuilders],
    },
  },
  {
    // common/ is the bottom layer with I/O (common/README.md): what it shares is used by the layers
    // above, so it imports none of them, not even their types.
    files: ['common/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': ['error', {
        patterns: [{
          group: ['**/workflows', '**/workflows/**', '**/activities', '**/activities/**', '**/api/**', '**/workers/**', '**/codec-server/**', '**/scripts/**'],
          message: 'common/ imports nothing from workflows, activities, api, workers, codec-server or scripts (common/README.md)',
        }],
      }],
    },
  },
  {
    files: ['workflows/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          paths: [
            ...nodeBuiltins.map((name) => ({ name, message: 'workflow code runs in the Temporal sandbox: no Node built-ins' })),
            ...['pg', 'kysely'].map((name) => ({ name, allowTypeImports: true, message: 'workflow code never talks to Postgres: ask an activity' })),
          ],
          patterns: [
            {
              // workflows/model/activities.ts is the ports' file, not activities/.
              group: ['**/activities', '**/activities/**', '!**/model/activities'],
              message: 'workflows/ imports nothing from activities/ (not even types): declare the type in workflows/model/, which activities implement',
            },
            {
              group: ['**/db', '**/db/**', '**/api', '**/api/**', '**/workers/**', '**/common/**', '**/codec-server/**'],
              allowTypeImports: true,
              message: 'workflow code may import only types from db, api, workers, common and codec-server',
            },
            {
              group: ['**/policies/load*', '**/scripts/**'],
              allowTypeImports: true,
              message: 'workflow code may not import the policy loader (it reads files) nor scripts/ (launchers): only their types',
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
