// The portal's HTTP API client (paths and types from the shared rules crate).

import type { ApiErrorDetail, PortalApi } from "./rules";

export class PortalError extends Error {
  constructor(
    readonly detail: ApiErrorDetail | { code: "portal-unreachable"; message: string },
    readonly status: number,
  ) {
    super(detail.message);
    this.name = "PortalError";
  }
  get code(): string {
    return this.detail.code;
  }
}

export type FetchLike = (
  url: string,
  init: { method: string; headers: Record<string, string>; body: string },
) => Promise<{
  ok: boolean;
  status: number;
  json(): Promise<unknown>;
}>;

export class PortalClient {
  constructor(
    readonly baseUrl: string,
    private readonly fetcher: FetchLike = (url, init) => fetch(url, init),
  ) {}

  /** The portal's origin, which card proofs are bound to. */
  get origin(): string {
    return new URL(this.baseUrl).origin;
  }

  /** POSTs an endpoint's request body; resolves with its response body (`PortalApi`). */
  async post<P extends keyof PortalApi>(path: P, body: PortalApi[P]["request"]): Promise<PortalApi[P]["response"]> {
    let response;
    try {
      response = await this.fetcher(new URL(path, this.baseUrl).toString(), {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(body),
      });
    } catch {
      throw new PortalError(
        {
          code: "portal-unreachable",
          // For logs: pages say it from the catalogue, keyed on the code.
          message: "the portal cannot be reached",
        },
        0,
      );
    }
    const payload = (await response.json().catch(() => null)) as { error?: ApiErrorDetail } | null;
    if (!response.ok) {
      const detail = payload?.error ?? {
        code: "internal",
        message: `the portal answered ${response.status} without an error body`,
      };
      throw new PortalError(detail, response.status);
    }
    return payload as PortalApi[P]["response"];
  }
}
