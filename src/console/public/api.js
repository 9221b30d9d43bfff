// The public API, called with the key the user entered. The key lives in sessionStorage: it is
// kept for this browser tab only and sent with each call, never stored by the service's pages.

const KEY_STORAGE = 'cxo.apiKey';

export const apiKey = {
  /** null: no key entered yet; '': the user chose to go on without one (AUTH_DISABLED). */
  get: () => sessionStorage.getItem(KEY_STORAGE),
  set: (key) => sessionStorage.setItem(KEY_STORAGE, key),
  forget: () => sessionStorage.removeItem(KEY_STORAGE),
};

/** An API answer that was not a success: the problem's title and detail (RFC 9457). */
export class ApiProblem extends Error {
  constructor(status, title, detail, errors = []) {
    super(detail ? `${title}: ${detail}` : title);
    this.status = status;
    this.title = title;
    this.detail = detail;
    this.errors = errors;
  }
}

export async function api(method, path, body) {
  const headers = { accept: 'application/json, application/problem+json' };
  const key = apiKey.get();
  if (key) headers.authorization = `Bearer ${key}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: 'no-store',
    });
  } catch (error) {
    throw new ApiProblem(0, 'Cannot reach the service', error.message);
  }
  const text = await response.text();
  let json;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  if (!response.ok) {
    throw new ApiProblem(
      response.status,
      json?.title ?? `HTTP ${response.status}`,
      json?.detail ?? response.statusText,
      Array.isArray(json?.errors) ? json.errors : [],
    );
  }
  return json;
}

export const batchApi = {
  list: (cursor) =>
    api('GET', `/batch?limit=25${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`),
  status: (id, { offset = 0, limit = 50, status = '' } = {}) =>
    api(
      'GET',
      `/batch/${encodeURIComponent(id)}/status?offset=${offset}&limit=${limit}` +
        (status ? `&status=${encodeURIComponent(status)}` : ''),
    ),
  cancel: (id) => api('POST', `/batch/${encodeURIComponent(id)}/cancel`),
  redrive: (id, statuses) => api('POST', `/batch/${encodeURIComponent(id)}/redrive`, { statuses }),
  circuits: () => api('GET', '/circuits'),
};
