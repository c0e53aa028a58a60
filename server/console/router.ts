// Hash routes: #/path/segments?query. A page renders into the main element and returns what stops
// it (streams, timers) when the operator leaves.
export interface Route {
  /** Path segments after "#/", decoded. */
  readonly path: readonly string[];
  readonly query: URLSearchParams;
}

export type Page = (main: HTMLElement, route: Route) => (() => void) | void;

export function currentRoute(): Route {
  const hash = location.hash.replace(/^#\/?/, "");
  const [path = "", query = ""] = hash.split("?", 2);
  return { path: path.split("/").filter((s) => s !== "").map(decodeURIComponent), query: new URLSearchParams(query) };
}

/** The hash of a route, e.g. routeHash(["events"], q). */
export function routeHash(path: readonly string[], query?: URLSearchParams): string {
  const qs = query?.toString() ?? "";
  return `#/${path.map(encodeURIComponent).join("/")}${qs === "" ? "" : `?${qs}`}`;
}

/** Renders the page of the current hash now and on every change. */
export function startRouter(main: HTMLElement, pick: (route: Route) => Page, onRoute: (route: Route) => void): void {
  let stop: (() => void) | void;
  const render = () => {
    stop?.();
    const route = currentRoute();
    onRoute(route);
    main.replaceChildren();
    stop = pick(route)(main, route);
  };
  window.addEventListener("hashchange", render);
  render();
}
