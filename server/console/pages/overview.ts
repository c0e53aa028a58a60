// Overview: events per second by domain (live, counted by the broker), the broker's store and
// subscribers, and every consumer group with its lag.
import { timestampFromMs, timestampMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { eventDomains } from "../../../sdk/src/catalog/catalog.js";
import { broker, describeError, isAbort } from "../api.js";
import { bytes, duration, facts, fill, h } from "../dom.js";
import { note } from "../event-view.js";
import { groupsTable, loadGroups } from "../groups-view.js";
import { drawRates } from "../rate-chart.js";
import { countDue, RateCounter, WINDOW_MS, type CountEvents } from "../rate-counter.js";
import type { Page } from "../router.js";

const REFRESH_MS = 5_000;

/**
 * The domains the caller may read: undefined when it may read every type (no policy, or an
 * operator), else those a probe count is allowed on, so that a narrower token still sees its rates.
 */
async function readableDomains(signal: AbortSignal): Promise<string[] | undefined> {
  const now = Date.now();
  const probe = (domains: string[]) => broker.countEvents({ filter: { domains }, fromTime: timestampFromMs(now - 1), toTime: timestampFromMs(now) }, { signal });
  try {
    await probe([]);
    return undefined;
  } catch (err) {
    if (ConnectError.from(err).code !== Code.PermissionDenied) throw err;
  }
  const allowed = await Promise.all(eventDomains().map((d) => probe([d]).then(() => d, () => undefined)));
  return allowed.filter((d) => d !== undefined);
}

/** How often the overview counts again the buckets that may still grow (the current one, the one just ended). */
const COUNT_EVERY_MS = 2_500;

/** Resolves after `ms`, or at once when `signal` aborts. */
function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => (clearTimeout(timer), resolve()), { once: true });
  });
}

export const overviewPage: Page = (main) => {
  const controller = new AbortController();
  const { signal } = controller;
  const stats = h("section", { id: "broker-stats" }, note("loading…"));
  const rates = h("section", { id: "rates" }, note("counting…"));
  const groupList = h("section", { id: "groups" }, note("loading…"));
  fill(main, h("h1", {}, "Overview"), stats, h("h2", {}, `Events per second by domain (last ${WINDOW_MS / 60_000} minutes)`), rates, h("h2", {}, "Consumer groups"), groupList);

  const refresh = async () => {
    try {
      const s = await broker.getBrokerStats({}, { signal });
      fill(
        stats,
        facts([
          // An unset size is one the broker could not measure: "0 B" would be a false figure.
          ["store", `${s.store} · ${s.storeSizeBytes === undefined ? "size unknown" : bytes(Number(s.storeSizeBytes))}`],
          ["subscribers", String(s.subscribers)],
          ["bus", s.bus],
          ["up", s.startTime ? duration(Date.now() - timestampMs(s.startTime)) : "?"],
        ]),
      );
    } catch (err) {
      if (!isAbort(err, signal)) fill(stats, note(describeError(err), "error"));
    }
    try {
      const rows = await loadGroups(signal);
      fill(groupList, rows.length === 0 ? note("no consumer group") : groupsTable(rows));
    } catch (err) {
      if (!isAbort(err, signal)) fill(groupList, note(describeError(err), "error"));
    }
  };
  void refresh();
  const timer = setInterval(() => void refresh(), REFRESH_MS);

  let counter: RateCounter | undefined;
  let failed = false;
  const scope = h("p", { class: "note info", id: "rates-scope" });
  const chart = h("div");
  const draw = () => {
    if (failed || !counter) return;
    if (!rates.contains(chart)) fill(rates, scope, chart);
    drawRates(chart, counter.series(Date.now()));
  };
  const redraw = setInterval(draw, 1000);
  void (async () => {
    try {
      const domains = await readableDomains(signal);
      if (domains?.length === 0) throw new ConnectError("this token may read no domain", Code.PermissionDenied);
      scope.textContent = domains ? `the domains this token may read: ${domains.join(", ")}` : "";
      const count: CountEvents = async (ds, fromMs, toMs) => Number((await broker.countEvents({ filter: { domains: [...ds] }, fromTime: timestampFromMs(fromMs), toTime: timestampFromMs(toMs) }, { signal })).count);
      const counting = new RateCounter(domains ?? eventDomains());
      while (!signal.aborted) {
        await countDue(counting, count, Date.now());
        counter = counting;
        draw();
        await pause(COUNT_EVERY_MS, signal);
      }
    } catch (err) {
      if (isAbort(err, signal)) return;
      failed = true;
      fill(rates, note(describeError(err), "error"));
    }
  })();
  return () => {
    controller.abort();
    clearInterval(timer);
    clearInterval(redraw);
  };
};
