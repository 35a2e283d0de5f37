import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // vitest's default on a 2-core machine is one fork (cores - 1): the files then run one after
    // another, and most of their time is waiting (timers, child processes, the fakes, the database),
    // so two forks nearly halve the suite's wall time without saturating the CPU.
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
    reporters: ['default'],
  },
});
