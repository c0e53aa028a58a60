// A real chromium (Debian's, /usr/bin/chromium) driven by playwright-core, with a fresh profile in
// the test's temporary directory. Every page error and console error is kept, so a test can assert
// that the page ran clean (a script refused by the content security policy shows up there).
import { mkdtempSync, mkdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type BrowserContext, type Page } from "playwright-core";

export const CHROMIUM_PATH = process.env["CHROMIUM_PATH"] ?? "/usr/bin/chromium";
const CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"];

export interface TestBrowser {
  readonly context: BrowserContext;
  /** A new tab whose errors are recorded in `errors`. */
  newPage(): Promise<Page>;
  /** Page errors and console errors of every tab, as "page: message". */
  readonly errors: string[];
  close(): Promise<void>;
}

export async function openBrowser(): Promise<TestBrowser> {
  const profile = mkdtempSync(join(tmpdir(), "chromium-"));
  let context: BrowserContext;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM_PATH,
      headless: true,
      args: CHROMIUM_ARGS,
      // Date-times typed into the console are local: UTC makes them the ones the test computes.
      timezoneId: "UTC",
      locale: "en-US",
      viewport: { width: 1280, height: 860 },
    });
  } catch (err) {
    rmSync(profile, { recursive: true, force: true });
    throw err;
  }
  const errors: string[] = [];
  const watch = (page: Page) => {
    page.on("pageerror", (err) => errors.push(`${page.url()}: ${err.message}`));
    page.on("console", (m) => m.type() === "error" && errors.push(`${page.url()}: ${m.text()}`));
    return page;
  };
  for (const p of context.pages()) watch(p);
  return {
    context,
    errors,
    newPage: async () => watch(await context.newPage()),
    close: async () => {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** Saves a screenshot as docs/console/<name>.png when CONSOLE_SCREENSHOTS=1 (npm run screenshots:console). */
export async function screenshot(page: Page, name: string, options: { fullPage?: boolean } = {}): Promise<void> {
  if (process.env["CONSOLE_SCREENSHOTS"] !== "1") return;
  mkdirSync("docs/console", { recursive: true });
  await page.screenshot({ path: `docs/console/${name}.png`, fullPage: options.fullPage ?? false });
}
