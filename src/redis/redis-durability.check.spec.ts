import { durabilityProblems } from './redis-durability.check.js';

describe('durabilityProblems', () => {
  it('has nothing to say about a Redis that keeps its data and never evicts', () => {
    expect(
      durabilityProblems({ appendonly: 'yes', save: '', maxmemoryPolicy: 'noeviction' }),
    ).toEqual([]);
    expect(
      durabilityProblems({
        appendonly: 'no',
        save: '3600 1 300 100',
        maxmemoryPolicy: 'noeviction',
      }),
    ).toEqual([]);
  });

  it('warns when nothing reaches the disk', () => {
    const [problem] = durabilityProblems({
      appendonly: 'no',
      save: '',
      maxmemoryPolicy: 'noeviction',
    });
    expect(problem).toMatch(/keeps nothing on disk .*appendonly no, save ""/);
  });

  it('warns when keys may be evicted, naming the policy', () => {
    expect(
      durabilityProblems({ appendonly: 'yes', save: '', maxmemoryPolicy: 'allkeys-lru' }),
    ).toEqual([expect.stringContaining('maxmemory-policy allkeys-lru')]);
  });

  it('says so when the settings could not be read', () => {
    expect(durabilityProblems({})).toEqual([
      expect.stringContaining('could not read whether Redis keeps its data'),
      expect.stringContaining('could not read maxmemory-policy'),
    ]);
  });
});
