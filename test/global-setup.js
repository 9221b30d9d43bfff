// Builds dist/ once before the suites: some e2e specs run the service and the simulator as
// separate processes (`node dist/main.js`), exactly as production and the benchmark do.
import { execSync } from 'node:child_process';

export default function globalSetup() {
  if (process.env.SKIP_BUILD === 'true') return;
  execSync('npx nest build', { stdio: 'inherit' });
}
