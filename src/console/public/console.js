// The web console: Preact components written with htm tagged templates, so the browser runs the
// files as they are (no build step). Every call goes to the public API with the user's key.
import { html, render, useEffect, useState } from '/console/vendor/preact-htm.js';
import { ApiProblem, apiKey, api, batchApi } from '/console/api.js';

const FINISHED = new Set(['completed', 'cancelled', 'failed']);
const ITEM_STATUSES = ['success', 'failed', 'degraded', 'cancelled', 'pending'];
const REDRIVE_STATUSES = ['failed', 'degraded', 'cancelled'];
const ITEMS_PER_PAGE = 50;
/** A batch that runs is asked for this often; a quiet list less often. */
const RUNNING_POLL_MS = 1000;
const IDLE_POLL_MS = 3000;
const RETRY_AFTER_PROBLEM_MS = 5000;

const number = (value) => (value ?? 0).toLocaleString('en');
const when = (iso) => (iso ? new Date(iso).toLocaleString() : '—');
const ms = (value) => (value === null || value === undefined ? '—' : `${number(value)} ms`);

/** Tells the app that the key was refused: it goes back to the key form. */
function reportUnauthorized(problem) {
  window.dispatchEvent(new CustomEvent('cxo:unauthorized', { detail: problem }));
}

/**
 * Loads with `load` now and again after `nextDelay(data)` ms (null: stop), while the component is
 * shown; `reload()` loads at once (after an action).
 */
function usePolling(load, deps, nextDelay) {
  const [state, setState] = useState({ data: undefined, problem: undefined });
  const [generation, setGeneration] = useState(0);
  useEffect(() => {
    let stopped = false;
    let timer;
    const schedule = (delay) => {
      if (!stopped && delay !== null) timer = setTimeout(run, delay);
    };
    const run = async () => {
      try {
        const data = await load();
        if (stopped) return;
        setState({ data, problem: undefined });
        schedule(nextDelay(data));
      } catch (problem) {
        if (stopped) return;
        if (problem instanceof ApiProblem && problem.status === 401) {
          reportUnauthorized(problem);
          return;
        }
        setState((previous) => ({ data: previous.data, problem }));
        schedule(
          problem instanceof ApiProblem && problem.status === 404 ? null : RETRY_AFTER_PROBLEM_MS,
        );
      }
    };
    run();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, [...deps, generation]);
  return [state, () => setGeneration((n) => n + 1)];
}

function Problem({ problem }) {
  if (!problem) return null;
  const title = problem.title ?? 'Error';
  const detail = problem.detail ?? (problem.title ? undefined : String(problem.message ?? problem));
  return html`<div class="problem" role="alert">
    <strong class="problem-title">${title}</strong>
    ${detail ? html`<span class="problem-detail">${detail}</span>` : null}
    ${
      problem.errors?.length
        ? html`<ul>
            ${problem.errors.map((e) => html`<li><code>${e.field}</code> ${e.message}</li>`)}
          </ul>`
        : null
    }
  </div>`;
}

function StatusBadge({ status }) {
  return html`<span class=${`badge badge-${status}`}>${status.replace('_', ' ')}</span>`;
}

/** Done share of a batch, in segments by outcome. */
function ProgressBar({ summary, large }) {
  const total = summary.total || 1;
  const done = summary.total - summary.pending;
  const percent = Math.floor((done * 100) / total);
  const segments = [
    ['success', summary.successful],
    ['degraded', summary.degraded],
    ['failed', summary.failed],
    ['cancelled', summary.cancelled],
  ].filter(([, count]) => count > 0);
  return html`<div class=${`progress${large ? ' progress-large' : ''}`}>
    <div
      class="bar"
      role="progressbar"
      aria-label="Progress"
      aria-valuemin="0"
      aria-valuemax="100"
      aria-valuenow=${percent}
      title=${`${number(done)} of ${number(summary.total)} done`}
    >
      ${segments.map(
        ([outcome, count]) =>
          html`<span
            class=${`segment segment-${outcome}`}
            style=${{ width: `${(count * 100) / total}%` }}
          ></span>`,
      )}
    </div>
    <span class="percent">${percent} %</span>
  </div>`;
}

function KeyForm({ problem, onKey }) {
  const [key, setKey] = useState('');
  const [checking, setChecking] = useState(false);
  const [refused, setRefused] = useState(problem);
  const submit = async (event) => {
    event.preventDefault();
    setChecking(true);
    apiKey.set(key.trim());
    try {
      await api('GET', '/batch?limit=1');
      onKey();
    } catch (error) {
      apiKey.forget();
      setRefused(error);
    } finally {
      setChecking(false);
    }
  };
  return html`<main class="key-entry">
    <h1>CXone Data Action Orchestrator</h1>
    <form onSubmit=${submit}>
      <label for="api-key">API key</label>
      <input
        id="api-key"
        name="api-key"
        type="password"
        autocomplete="off"
        value=${key}
        onInput=${(event) => setKey(event.target.value)}
        placeholder="the key you call the API with"
      />
      <button type="submit" disabled=${checking}>Open the console</button>
      <p class="hint">
        Kept for this browser tab only and sent with each API call. Leave it empty for a service
        started with AUTH_DISABLED=true.
      </p>
    </form>
    <${Problem} problem=${refused} />
  </main>`;
}

function Header({ route, onForget }) {
  const key = apiKey.get();
  return html`<header>
    <a class="brand" href="#/">CXone Orchestrator</a>
    <nav>
      <a href="#/" class=${route.view === 'batches' || route.view === 'batch' ? 'active' : ''}
        >Batches</a
      >
      <a href="#/circuits" class=${route.view === 'circuits' ? 'active' : ''}>Circuits</a>
    </nav>
    <span class="key">${key ? `key …${key.slice(-4)}` : 'no key'}</span>
    <button class="link" onClick=${onForget}>Forget key</button>
  </header>`;
}

function BatchesView() {
  const [cursors, setCursors] = useState([null]);
  const cursor = cursors[cursors.length - 1];
  const [{ data, problem }] = usePolling(
    () => batchApi.list(cursor),
    [cursor],
    (list) => (list.batches.some((b) => !FINISHED.has(b.status)) ? RUNNING_POLL_MS : IDLE_POLL_MS),
  );
  return html`<section>
    <h1>Batches</h1>
    <${Problem} problem=${problem} />
    ${
      data && data.batches.length === 0
        ? html`<p class="empty">
            No batches yet. Submit one with <code>npx cxo submit FILE --action ID</code>.
          </p>`
        : null
    }
    ${
      data && data.batches.length > 0
        ? html`<table class="batches">
            <thead>
              <tr>
                <th>Batch</th>
                <th>Action</th>
                <th>Caller</th>
                <th>Status</th>
                <th>Progress</th>
                <th class="num">Done</th>
                <th class="num">Success</th>
                <th class="num">Failed</th>
                <th class="num">Degraded</th>
                <th>Created</th>
              </tr>
            </thead>
            <tbody>
              ${data.batches.map(
                (b) =>
                  html`<tr data-batch-id=${b.batch_id}>
                    <td>
                      <a href=${`#/batches/${b.batch_id}`}
                        ><code>${b.batch_id.slice(0, 8)}</code></a
                      >
                    </td>
                    <td>${b.action_id}</td>
                    <td>${b.caller ?? '—'}</td>
                    <td><${StatusBadge} status=${b.status} /></td>
                    <td><${ProgressBar} summary=${b.summary} /></td>
                    <td class="num">
                      ${number(b.summary.total - b.summary.pending)}/${number(b.summary.total)}
                    </td>
                    <td class="num">${number(b.summary.successful)}</td>
                    <td class="num">${number(b.summary.failed)}</td>
                    <td class="num">${number(b.summary.degraded)}</td>
                    <td>${when(b.created_at)}</td>
                  </tr>`,
              )}
            </tbody>
          </table>`
        : null
    }
    <div class="pager">
      <button disabled=${cursors.length === 1} onClick=${() => setCursors(cursors.slice(0, -1))}>
        Newer
      </button>
      <button
        disabled=${!data?.next_cursor}
        onClick=${() => setCursors([...cursors, data.next_cursor])}
      >
        Older
      </button>
    </div>
  </section>`;
}

function Field({ label, children }) {
  return html`<div class="field">
    <dt>${label}</dt>
    <dd>${children}</dd>
  </div>`;
}

function itemDetail(item) {
  if (item.status === 'failed') return `${item.error_code ?? ''} ${item.error ?? ''}`.trim();
  if (item.status === 'degraded') return item.reason ?? '';
  if (item.status === 'success') {
    const text = JSON.stringify(item.data) ?? '';
    return `${item.cached ? '(cached) ' : ''}${text.length > 200 ? `${text.slice(0, 199)}…` : text}`;
  }
  return item.status === 'cancelled' ? (item.error ?? '') : '';
}

function BatchActions({ batch, onChanged }) {
  const [confirming, setConfirming] = useState(false);
  const [statuses, setStatuses] = useState(new Set(['failed', 'cancelled']));
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState();
  const [notice, setNotice] = useState();
  // A cancelled batch may still have calls in flight (finished_at comes when they end): it can
  // no longer be cancelled, and cannot be redriven yet.
  const finished = batch.finished_at !== null;
  const cancellable = !finished && !FINISHED.has(batch.status);
  const act = async (call, describe) => {
    setBusy(true);
    setProblem(undefined);
    try {
      const status = await call();
      setNotice(describe(status));
      onChanged();
    } catch (error) {
      if (error instanceof ApiProblem && error.status === 401) reportUnauthorized(error);
      setProblem(error);
    } finally {
      setBusy(false);
      setConfirming(false);
    }
  };
  const toggle = (status) => {
    const next = new Set(statuses);
    if (next.has(status)) next.delete(status);
    else next.add(status);
    setStatuses(next);
  };
  return html`<div class="actions">
    ${
      confirming
        ? html`<span class="confirm">
            Cancel this batch? Calls in flight finish; pending items become cancelled.
            <button
              class="danger"
              disabled=${busy}
              onClick=${() =>
                act(
                  () => batchApi.cancel(batch.batch_id),
                  (s) => `Cancelled: ${number(s.summary.cancelled)} items will not run.`,
                )}
            >
              Yes, cancel
            </button>
            <button disabled=${busy} onClick=${() => setConfirming(false)}>Keep running</button>
          </span>`
        : html`<button
            class="danger"
            disabled=${!cancellable || busy}
            onClick=${() => setConfirming(true)}
          >
            Cancel batch
          </button>`
    }
    <span class="redrive">
      ${REDRIVE_STATUSES.map(
        (status) =>
          html`<label>
            <input
              type="checkbox"
              name=${`redrive-${status}`}
              checked=${statuses.has(status)}
              onChange=${() => toggle(status)}
            />
            ${status}
          </label>`,
      )}
      <button
        disabled=${!finished || busy || statuses.size === 0}
        onClick=${() =>
          act(
            () => batchApi.redrive(batch.batch_id, [...statuses]),
            (s) =>
              `Redrive ${s.redrive_count ?? ''}: ${number(s.summary.pending)} items queued again.`,
          )}
      >
        Redrive
      </button>
    </span>
    ${notice ? html`<p class="notice" role="status">${notice}</p>` : null}
    <${Problem} problem=${problem} />
  </div>`;
}

function ItemsTable({ batch, filter, onFilter, onPage }) {
  const { offset, limit, total } = batch.pagination;
  return html`<section class="items">
    <div class="items-head">
      <h2>Items</h2>
      <label
        >Status
        <select name="status" value=${filter} onChange=${(event) => onFilter(event.target.value)}>
          <option value="">all</option>
          ${ITEM_STATUSES.map((status) => html`<option value=${status}>${status}</option>`)}
        </select>
      </label>
      <span class="range"
        >${total === 0 ? 'none' : `${number(offset + 1)}–${number(Math.min(offset + limit, total))} of ${number(total)}`}</span
      >
      <button disabled=${offset === 0} onClick=${() => onPage(Math.max(0, offset - limit))}>
        Previous
      </button>
      <button disabled=${offset + limit >= total} onClick=${() => onPage(offset + limit)}>
        Next
      </button>
    </div>
    <table>
      <thead>
        <tr>
          <th class="num">#</th>
          <th>Id</th>
          <th>Status</th>
          <th class="num">Attempts</th>
          <th class="num">Latency</th>
          <th>Detail</th>
        </tr>
      </thead>
      <tbody>
        ${batch.items.map(
          (item) =>
            html`<tr data-item-status=${item.status}>
              <td class="num">${item.index}</td>
              <td><code>${String(item.id)}</code></td>
              <td><${StatusBadge} status=${item.status} /></td>
              <td class="num">${item.attempts ?? ''}</td>
              <td class="num">${item.latency_ms === undefined ? '' : ms(item.latency_ms)}</td>
              <td class="detail">${itemDetail(item)}</td>
            </tr>`,
        )}
      </tbody>
    </table>
  </section>`;
}

function BatchView({ id }) {
  const [filter, setFilter] = useState('');
  const [offset, setOffset] = useState(0);
  const [{ data: batch, problem }, reload] = usePolling(
    () => batchApi.status(id, { offset, limit: ITEMS_PER_PAGE, status: filter }),
    [id, offset, filter],
    (status) => (status.finished_at === null ? RUNNING_POLL_MS : null),
  );
  const callback = batch?.callback;
  return html`<section class="batch">
    <p><a href="#/">← Batches</a></p>
    <h1>Batch <code>${id}</code></h1>
    <${Problem} problem=${problem} />
    ${
      batch
        ? html`
            <div class="batch-head">
              <${StatusBadge} status=${batch.status} />
              ${batch.failure_reason ? html`<span class="reason">${batch.failure_reason}</span>` : null}
              <${ProgressBar} summary=${batch.summary} large=${true} />
            </div>
            <${BatchActions} batch=${batch} onChanged=${reload} />
            <div class="cards">
              <dl>
                <h2>Summary</h2>
                <${Field} label="Total">${number(batch.summary.total)}<//>
                <${Field} label="Success">${number(batch.summary.successful)}<//>
                <${Field} label="Failed">${number(batch.summary.failed)}<//>
                <${Field} label="Degraded">${number(batch.summary.degraded)}<//>
                <${Field} label="Cancelled">${number(batch.summary.cancelled)}<//>
                <${Field} label="Pending">${number(batch.summary.pending)}<//>
              </dl>
              <dl>
                <h2>Run</h2>
                <${Field} label="Action">${batch.action_id}<//>
                <${Field} label="Caller">${batch.caller ?? '—'}<//>
                <${Field} label="Created">${when(batch.created_at)}<//>
                <${Field} label="Started">${when(batch.started_at)}<//>
                <${Field} label="Finished">${when(batch.finished_at)}<//>
                <${Field} label="Redrives">${batch.redrive_count ?? 0}<//>
                <${Field} label="Trace"><code>${batch.trace_id}</code><//>
              </dl>
              <dl>
                <h2>Latency</h2>
                <${Field} label="p50">${ms(batch.latency_ms.p50)}<//>
                <${Field} label="p95">${ms(batch.latency_ms.p95)}<//>
                <${Field} label="max">${ms(batch.latency_ms.max)}<//>
                <h2>Limits</h2>
                <${Field} label="Max workers">${batch.limits?.max_workers ?? '—'}<//>
                <${Field} label="Effective">${batch.limits?.effective_workers ?? '—'}<//>
                <${Field} label="Paused until">${when(batch.limits?.paused_until)}<//>
              </dl>
              <dl>
                <h2>Callback</h2>
                ${
                  callback
                    ? html`
                        <${Field} label="State"><${StatusBadge} status=${callback.status} /><//>
                        <${Field} label="Attempts">${callback.attempts}<//>
                        <${Field} label="Delivered">${when(callback.delivered_at)}<//>
                        <${Field} label="Last error">${callback.last_error ?? '—'}<//>
                      `
                    : html`<p class="empty">No callback_url.</p>`
                }
              </dl>
            </div>
            <${ItemsTable}
              batch=${batch}
              filter=${filter}
              onFilter=${(value) => {
                setFilter(value);
                setOffset(0);
              }}
              onPage=${setOffset}
            />
          `
        : null
    }
  </section>`;
}

function CircuitsView() {
  const [{ data, problem }] = usePolling(
    () => batchApi.circuits(),
    [],
    () => IDLE_POLL_MS,
  );
  return html`<section>
    <h1>Circuits</h1>
    <p class="hint">
      One circuit breaker per Data Action: open after repeated failures, forced open by an admin.
    </p>
    <${Problem} problem=${problem} />
    ${data && data.circuits.length === 0 ? html`<p class="empty">No action has been called yet.</p>` : null}
    ${
      data && data.circuits.length > 0
        ? html`<table class="circuits">
            <thead>
              <tr>
                <th>Action</th>
                <th>State</th>
                <th class="num">Consecutive failures</th>
                <th>Open until</th>
              </tr>
            </thead>
            <tbody>
              ${data.circuits.map(
                (c) =>
                  html`<tr data-action-id=${c.action_id}>
                    <td><code>${c.action_id}</code></td>
                    <td><${StatusBadge} status=${c.state} /></td>
                    <td class="num">${number(c.consecutive_failures)}</td>
                    <td>${when(c.open_until)}</td>
                  </tr>`,
              )}
            </tbody>
          </table>`
        : null
    }
  </section>`;
}

function parseRoute() {
  const hash = location.hash.replace(/^#/, '');
  const batch = /^\/batches\/([0-9a-f-]+)$/.exec(hash);
  if (batch) return { view: 'batch', id: batch[1] };
  if (hash === '/circuits') return { view: 'circuits' };
  return { view: 'batches' };
}

function App() {
  const [route, setRoute] = useState(parseRoute());
  // 'probing': no key yet, asking whether the service wants one; 'form': asking for a key.
  const [stage, setStage] = useState(apiKey.get() === null ? 'probing' : 'ready');
  const [refused, setRefused] = useState();
  useEffect(() => {
    if (stage !== 'probing') return;
    // A service started with AUTH_DISABLED=true answers without a key: no form then.
    api('GET', '/batch?limit=1').then(
      () => {
        apiKey.set('');
        setStage('ready');
      },
      () => setStage('form'),
    );
  }, []);
  useEffect(() => {
    const onHash = () => setRoute(parseRoute());
    const onUnauthorized = (event) => {
      apiKey.forget();
      setRefused(event.detail);
      setStage('form');
    };
    window.addEventListener('hashchange', onHash);
    window.addEventListener('cxo:unauthorized', onUnauthorized);
    return () => {
      window.removeEventListener('hashchange', onHash);
      window.removeEventListener('cxo:unauthorized', onUnauthorized);
    };
  }, []);
  if (stage === 'probing')
    return html`<main class="key-entry"><p class="hint">Connecting…</p></main>`;
  if (stage === 'form') {
    return html`<${KeyForm}
      problem=${refused}
      onKey=${() => {
        setRefused(undefined);
        setStage('ready');
      }}
    />`;
  }
  const forget = () => {
    apiKey.forget();
    setStage('form');
  };
  return html`<${Header} route=${route} onForget=${forget} />
    <main>
      ${
        route.view === 'batch'
          ? html`<${BatchView} key=${route.id} id=${route.id} />`
          : route.view === 'circuits'
            ? html`<${CircuitsView} />`
            : html`<${BatchesView} />`
      }
    </main>`;
}

render(html`<${App} />`, document.getElementById('app'));
