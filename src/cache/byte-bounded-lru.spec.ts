import { ByteBoundedLru } from './byte-bounded-lru.js';

const bySize = (_key: string, value: unknown): number => value as number;

describe('ByteBoundedLru', () => {
  it('evicts the least recently used entries once over its bytes', () => {
    const lru = new ByteBoundedLru(100, 100, bySize);
    lru.set('a', 40);
    lru.set('b', 40);
    expect(lru.get('a')).toBe(40); // a is now the most recent
    lru.set('c', 40);
    expect(lru.has('b')).toBe(false);
    expect(lru.has('a')).toBe(true);
    expect(lru.has('c')).toBe(true);
    expect(lru.totalBytes).toBe(80);
  });

  it('evicts once over its entries, whatever their size', () => {
    const lru = new ByteBoundedLru(2, 1_000_000, bySize);
    lru.set('a', 1);
    lru.set('b', 1);
    lru.set('c', 1);
    expect([lru.has('a'), lru.has('b'), lru.has('c')]).toEqual([false, true, true]);
    expect(lru.size).toBe(2);
  });

  it('replaces an entry in place, and refuses one larger than the whole bound', () => {
    const lru = new ByteBoundedLru(10, 100, bySize);
    lru.set('a', 30);
    lru.set('a', 50);
    expect(lru.totalBytes).toBe(50);
    expect(lru.set('b', 101)).toBe(false);
    expect(lru.has('b')).toBe(false);
    expect(lru.has('a')).toBe(true);
    expect(lru.delete('a')).toBe(true);
    expect(lru.totalBytes).toBe(0);
    lru.set('c', 10);
    lru.clear();
    expect([lru.size, lru.totalBytes]).toEqual([0, 0]);
  });
});
