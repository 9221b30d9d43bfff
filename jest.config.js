// Jest 30 + ts-jest in ESM mode; run through `npm test` (node --experimental-vm-modules).
const tsJest = [
  'ts-jest',
  { useESM: true, tsconfig: 'tsconfig.json', diagnostics: false },
];

const common = {
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  transform: { '^.+\\.ts$': tsJest },
  testEnvironment: 'node',
  setupFiles: ['reflect-metadata'],
};

/** @type {import('jest').Config} */
export default {
  projects: [
    {
      ...common,
      displayName: 'unit',
      testMatch: ['<rootDir>/src/**/*.spec.ts', '<rootDir>/test/**/*.spec.ts'],
    },
    {
      ...common,
      displayName: 'e2e',
      testMatch: ['<rootDir>/test/**/*.e2e-spec.ts'],
    },
  ],
  globalSetup: '<rootDir>/test/global-setup.js',
  // Global, not per project: Jest reads testTimeout from the root config only (a project's was
  // ignored, so e2e specs that start `node dist/main.js` hit 5 s on a busy machine).
  testTimeout: 30000,
  maxWorkers: 2,
};
