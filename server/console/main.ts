// The web console's entry: a header with the pages and the token box, and the page of the route.
import { setToken, token } from "./api.js";
import { h } from "./dom.js";
import { catalogPage } from "./pages/catalog.js";
import { eventPage } from "./pages/event.js";
import { eventsPage } from "./pages/events.js";
import { groupsPage } from "./pages/groups.js";
import { livePage } from "./pages/live.js";
import { overviewPage } from "./pages/overview.js";
import { startRouter, type Page, type Route } from "./router.js";

const PAGES: Record<string, Page> = {
  "": overviewPage,
  events: eventsPage,
  event: eventPage,
  live: livePage,
  groups: groupsPage,
  catalog: catalogPage,
};
const NAV = [
  ["", "Overview"],
  ["events", "Events"],
  ["live", "Live tail"],
  ["groups", "Consumer groups"],
  ["catalog", "Catalog"],
] as const;

function tokenBox(): HTMLElement {
  const input = h("input", { type: "password", name: "token", placeholder: "bearer token (when the broker has a policy)", value: token(), autocomplete: "off" });
  const state = h("span", { class: "token-state" }, token() === "" ? "no token" : "token set");
  const apply = () => {
    setToken(input.value);
    state.textContent = token() === "" ? "no token" : "token set";
    // Pages read with the new token from the start.
    window.dispatchEvent(new HashChangeEvent("hashchange"));
  };
  return h("form", { class: "token", onsubmit: (e) => (e.preventDefault(), apply()) }, input, h("button", { type: "submit" }, "Use token"), state);
}

const links = NAV.map(([path, label]) => h("a", { href: `#/${path}`, "data-page": path }, label));
const main = h("main", { id: "page" });
document.body.append(h("header", {}, h("strong", { class: "brand" }, "Qingyu broker"), h("nav", {}, links), tokenBox()), main);

const pick = (route: Route): Page => PAGES[route.path[0] ?? ""] ?? ((m) => void m.append(h("p", {}, "no such page")));
const highlight = (route: Route) => {
  const current = route.path[0] === "event" ? "events" : (route.path[0] ?? "");
  for (const a of links) a.classList.toggle("active", a.dataset["page"] === current);
};
startRouter(main, pick, highlight);
