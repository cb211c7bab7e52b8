// A small typed GraphQL client for Dialogue Insights: runs the generated TypedDocumentNodes
// (src/generated/graphql.ts) with their variable and result types, sends the API key, and uses
// automatic persisted queries (API.md §6) where the browser can hash: a GET with the query's
// SHA-256 alone, and the full text once when the server answers PERSISTED_QUERY_NOT_FOUND.
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { print } from 'graphql';

export interface GraphQLErrorShape {
  message: string;
  path?: ReadonlyArray<string | number>;
  extensions?: { code?: string; [key: string]: unknown };
}

/** A request that failed: HTTP status (401 without a valid key) and the GraphQL errors. */
export class GraphQLRequestError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly errors: ReadonlyArray<GraphQLErrorShape>,
  ) {
    super(message);
    this.name = 'GraphQLRequestError';
  }

  /** The `extensions.code` of the first error (e.g. `UNAUTHENTICATED`). */
  get code(): string | undefined {
    return this.errors[0]?.extensions?.code;
  }
}

export interface ClientOptions {
  /** e.g. `https://insights.example/graphql` or `/graphql` in a page the server serves. */
  endpoint: string;
  /** Sent as `Authorization: Bearer <apiKey>`; none for a server run with --no-auth. */
  apiKey?: string | null;
  /** Automatic persisted queries by GET (default true; needs WebCrypto, else plain POSTs). */
  persistedQueries?: boolean;
  /** The browser cache mode of those GETs. The server lets browsers reuse a successful GET for
   * a few seconds (`Cache-Control: private, max-age`); a page that polls for fresh figures says
   * `'no-cache'`. Default: `'default'` (reuse). */
  cache?: RequestCache;
  fetch?: typeof fetch;
}

interface Prepared {
  text: string;
  operationName: string | undefined;
  hash: Promise<string | null>;
}

async function sha256Hex(text: string): Promise<string | null> {
  const subtle = globalThis.crypto?.subtle;
  if (!subtle) return null; // e.g. a page over plain http on another host than localhost
  const digest = await subtle.digest('SHA-256', new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
}

interface Body<R> {
  data?: R | null;
  errors?: GraphQLErrorShape[];
}

export class InsightsClient {
  private readonly prepared = new WeakMap<object, Prepared>();
  private apiKey: string | null;
  private readonly fetchImpl: typeof fetch;

  constructor(private readonly options: ClientOptions) {
    this.apiKey = options.apiKey ?? null;
    this.fetchImpl = options.fetch ?? globalThis.fetch.bind(globalThis);
  }

  setApiKey(apiKey: string | null): void {
    this.apiKey = apiKey;
  }

  private prepare(document: TypedDocumentNode<unknown, unknown>): Prepared {
    let prepared = this.prepared.get(document);
    if (!prepared) {
      const text = print(document);
      const operation = document.definitions.find((d) => d.kind === 'OperationDefinition');
      const operationName =
        operation && operation.kind === 'OperationDefinition' ? operation.name?.value : undefined;
      prepared = { text, operationName, hash: sha256Hex(text) };
      this.prepared.set(document, prepared);
    }
    return prepared;
  }

  private headers(): Record<string, string> {
    const headers: Record<string, string> = {
      Accept: 'application/graphql-response+json, application/json;q=0.9',
    };
    if (this.apiKey) headers.Authorization = `Bearer ${this.apiKey}`;
    return headers;
  }

  private async send<R>(response: Promise<Response>): Promise<{ status: number; body: Body<R> }> {
    const answer = await response;
    let body: Body<R>;
    try {
      body = (await answer.json()) as Body<R>;
    } catch {
      throw new GraphQLRequestError(`HTTP ${answer.status} without a GraphQL body`, answer.status, []);
    }
    return { status: answer.status, body };
  }

  /** Runs a query (or mutation) and returns its data; throws GraphQLRequestError on errors. */
  async request<R, V extends Record<string, unknown>>(
    document: TypedDocumentNode<R, V>,
    variables: V,
  ): Promise<R> {
    const { text, operationName, hash } = this.prepare(document as TypedDocumentNode<unknown, unknown>);
    const isQuery = /^\s*(query\b|\{)/.test(text);
    const sha256Hash = this.options.persistedQueries === false || !isQuery ? null : await hash;
    let result: { status: number; body: Body<R> } | null = null;
    if (sha256Hash) {
      const extensions = { persistedQuery: { version: 1, sha256Hash } };
      const params = new URLSearchParams({
        extensions: JSON.stringify(extensions),
        variables: JSON.stringify(variables),
      });
      if (operationName) params.set('operationName', operationName);
      const url = `${this.options.endpoint}${this.options.endpoint.includes('?') ? '&' : '?'}${params}`;
      // application/json: the server answers a miss (PERSISTED_QUERY_NOT_FOUND, expected once
      // per query and server) with 200, so browsers log no failed request for it.
      result = await this.send<R>(
        this.fetchImpl(url, {
          method: 'GET',
          headers: { ...this.headers(), Accept: 'application/json' },
          cache: this.options.cache ?? 'default',
        }),
      );
      if (result.body.errors?.some((e) => e.extensions?.code === 'PERSISTED_QUERY_NOT_FOUND')) {
        result = await this.send<R>(
          this.fetchImpl(this.options.endpoint, {
            method: 'POST',
            headers: { ...this.headers(), 'Content-Type': 'application/json' },
            body: JSON.stringify({ query: text, operationName, variables, extensions }),
          }),
        );
      }
    } else {
      result = await this.send<R>(
        this.fetchImpl(this.options.endpoint, {
          method: 'POST',
          headers: { ...this.headers(), 'Content-Type': 'application/json' },
          body: JSON.stringify({ query: text, operationName, variables }),
        }),
      );
    }
    const { status, body } = result;
    if (body.errors?.length || body.data == null) {
      const errors = body.errors ?? [];
      throw new GraphQLRequestError(errors[0]?.message ?? `HTTP ${status} without data`, status, errors);
    }
    return body.data;
  }
}
