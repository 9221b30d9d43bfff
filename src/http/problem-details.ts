import type { FieldError } from '../lib/domain-error.js';

/** RFC 9457 problem details, as every error response of the service is shaped. */
export interface ProblemDetails {
  type: string;
  title: string;
  status: number;
  detail: string;
  instance: string;
  errors?: FieldError[];
  code?: string;
}

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';
export const PROBLEM_TYPE_BASE = 'https://cxone-orchestrator.dev/problems/';
