import express from 'express';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { intakeGate } from './intake-gate.js';

describe('intakeGate (over real loopback HTTP)', () => {
  let server: Server;
  let base: string;
  const started: string[] = [];
  const holds = new Map<string, () => void>();

  beforeAll(async () => {
    const app = express();
    app.use(intakeGate(1, 100));
    app.post('/', express.json({ limit: '1mb' }), (req, res) => {
      const name = (req.body as { name: string }).name;
      started.push(name);
      holds.set(name, () => res.end(name));
    });
    await new Promise<void>((resolve) => {
      server = app.listen(0, '127.0.0.1', () => resolve());
    });
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => {
    server.closeAllConnections();
    server.close();
  });

  const post = (name: string, padding: number): Promise<string> =>
    fetch(base, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name, padding: 'x'.repeat(padding) }),
    }).then((response) => response.text());

  const until = async (check: () => boolean): Promise<void> => {
    for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 10));
  };

  it('reads one large body at a time, the next once the first is answered; small ones pass', async () => {
    const first = post('large-1', 1000);
    await until(() => started.includes('large-1'));
    const second = post('large-2', 1000);
    const small = post('small', 0);
    await until(() => started.includes('small'));
    expect(started).toEqual(['large-1', 'small']);

    holds.get('small')!();
    expect(await small).toBe('small');
    holds.get('large-1')!();
    expect(await first).toBe('large-1');
    await until(() => started.includes('large-2'));
    expect(started).toEqual(['large-1', 'small', 'large-2']);
    holds.get('large-2')!();
    expect(await second).toBe('large-2');
  });
});
