// Plain HTTP calls to the broker's HTTP port, as curl or a browser's fetch would make them.

export interface JsonResponse {
  status: number;
  contentType: string;
  body: unknown;
}

/** POSTs `body` as JSON (a Connect unary call) and parses the answer. */
export async function postJson(url: string, body: unknown, headers: Record<string, string> = {}): Promise<JsonResponse> {
  const res = await fetch(url, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, contentType: res.headers.get("content-type") ?? "", body: text === "" ? undefined : (JSON.parse(text) as unknown) };
}
