import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';
import noFolderCycles from './eslint-rules/no-folder-cycles.js';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'src/cri/generated/**'] },
  js.configs.recommended,
  { languageOptions: { globals: { ...globals.node } } },
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-explicit-any': 'error',
      'no-constant-condition': ['error', { checkLoops: false }],
    },
  },
  {
    // docs/architecture.md: no folder imports from a folder that imports it back.
    files: ['src/**/*.ts'],
    plugins: { berth: { rules: { 'no-folder-cycles': noFolderCycles } } },
    rules: { 'berth/no-folder-cycles': 'error' },
  },
);
