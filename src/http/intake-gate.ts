import type { NextFunction, Request, RequestHandler, Response } from 'express';

/**
 * Lets at most `concurrency` large request bodies be read and parsed at once; the others wait,
 * unread, in their sockets (TCP holds them back). Ten 100,000-item batches sent together would
 * otherwise be parsed together, each a tree of objects held until its intake is written, and the
 * heap grows by all of them at once (V8 keeps that room long after). Bodies of at most
 * `smallBodyBytes` (the common batch) pass at once.
 */
export function intakeGate(concurrency: number, smallBodyBytes: number): RequestHandler {
  let active = 0;
  const waiting: (() => void)[] = [];
  const release = (): void => {
    const next = waiting.shift();
    if (next) next();
    else active -= 1;
  };
  return (req: Request, res: Response, next: NextFunction): void => {
    const declared = Number(req.headers['content-length']);
    if (req.method !== 'POST' || (Number.isFinite(declared) && declared <= smallBodyBytes)) {
      next();
      return;
    }
    const enter = (): void => {
      let released = false;
      const done = (): void => {
        if (released) return;
        released = true;
        release();
      };
      // The client gave up while it waited: nothing to read, the slot goes on.
      if (req.socket.destroyed) {
        done();
        return;
      }
      res.once('finish', done);
      res.once('close', done);
      next();
    };
    if (active < concurrency) {
      active += 1;
      enter();
    } else {
      waiting.push(enter);
    }
  };
}
