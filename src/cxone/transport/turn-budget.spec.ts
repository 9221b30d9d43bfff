import { TurnBudget } from './turn-budget.js';

function busy(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // the CPU work of an answer's continuation
  }
}

/** Runs `count` tasks of `taskMs` each through the budget; a timer marks every loop turn. */
async function runTasks(budgetMs: number, count: number, taskMs: number): Promise<string[]> {
  const log: string[] = [];
  const budget = new TurnBudget(budgetMs);
  await new Promise<void>((resolve) => {
    let done = 0;
    // A 0 ms timer runs in the timers phase of the next turn: one mark per turn.
    const mark = (): void => {
      log.push('turn');
      if (done < count) setTimeout(mark, 0);
    };
    setTimeout(mark, 0);
    for (let i = 0; i < count; i++) {
      budget.run(() => {
        busy(taskMs);
        log.push(`task ${i}`);
        // A continuation started by the task counts against the same slice.
        void Promise.resolve().then(() => {
          busy(taskMs);
          if (++done === count) resolve();
        });
      });
    }
  });
  return log;
}

describe('TurnBudget', () => {
  it('runs every task once, in order, at most a budget of them per loop turn', async () => {
    // Each task and its continuation take 2 ms: with 5 ms, a slice holds three tasks (the
    // third starts at 4 ms), the fourth waits for the next turn.
    const log = await runTasks(5, 9, 1);
    const tasks = log.filter((entry) => entry !== 'turn');
    expect(tasks).toEqual(Array.from({ length: 9 }, (_, i) => `task ${i}`));

    const perTurn = log
      .join(',')
      .split('turn')
      .map((slice) => slice.split(',').filter((entry) => entry.startsWith('task')).length)
      .filter((n) => n > 0);
    expect(Math.max(...perTurn)).toBeLessThanOrEqual(3);
    expect(perTurn.length).toBeGreaterThanOrEqual(3);
  });

  it('lets a turn run many short tasks', async () => {
    const log = await runTasks(50, 20, 0);
    const tasks = log.filter((entry) => entry !== 'turn');
    expect(tasks).toHaveLength(20);
    // All of them fit one slice: no turn mark between the first and the last task.
    const first = log.indexOf('task 0');
    const last = log.indexOf('task 19');
    expect(log.slice(first, last + 1)).not.toContain('turn');
  });
});
