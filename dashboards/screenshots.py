"""Render every Superset dashboard in headless Chromium, save a screenshot, report errors.

Runs in the Superset environment (Playwright drives Debian's ``chromium``; no browser is
downloaded). For each dashboard it signs in, opens the dashboard as a person would, waits
until every chart has its data and has drawn, and writes ``<slug>.png``. The JSON report
(``--report``) lists each chart with the status of its data request and any error shown,
either by the data API or on the page; the exit code is 1 when any chart has one.

The browser talks to Superset only. Superset's pages also load a telemetry pixel from
scarf.sh (compiled into its front end); a request that leaves Superset is refused and
listed in the report, so an unreachable outside host can neither delay a page nor learn
that the operator's dashboards were opened.

    python dashboards/screenshots.py --url http://127.0.0.1:8088 --out docs/img
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from playwright.sync_api import BrowserContext, Page, Request, Response, Route, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeout

VIEWPORT = {"width": 1600, "height": 1000}
# Error boxes Superset draws in a chart's place (ErrorAlert / antd alerts).
ERROR_SELECTORS = (
    "[data-test='chart-grid-component'] [role='alert']",
    "[data-test='chart-grid-component'] .ant-alert-error",
    "[data-test='chart-grid-component'] [data-test='error-tooltip']",
)
LOADING_SELECTOR = "[data-test='chart-grid-component'] [data-test='loading-indicator']"
# A chart has painted when its container holds what its viz draws: ECharts a canvas,
# tables a table, big numbers their header line.
PAINTED_CHARTS_JS = """() => Array.from(
  document.querySelectorAll("[data-test='chart-grid-component'] [data-test='slice-container']")
).filter((c) => c.getBoundingClientRect().height > 0
  && c.querySelector("canvas, svg, table, .header-line")).length"""


def chromium_path() -> str:
    path = os.environ.get("CEMS_CHROMIUM") or shutil.which("chromium")
    if not path:
        raise SystemExit(
            "no chromium on PATH: install Debian's package (apt-get install chromium), "
            "or set CEMS_CHROMIUM"
        )
    return path


def api_get(page: Page, url: str) -> Any:
    response = page.request.get(url)
    if not response.ok:
        raise SystemExit(f"GET {url} answered {response.status}: {response.text()[:200]}")
    return response.json()


def sign_in(page: Page, base: str, username: str, password: str) -> None:
    page.goto(f"{base}/login/", wait_until="domcontentloaded")
    page.fill("input[name='username'], #username", username)
    page.fill("input[name='password'], #password", password)
    page.click("button[type='submit'], input[type='submit']")
    try:
        # Leaving /login is the answer; the next page's load event is not needed.
        page.wait_for_url(lambda url: "/login" not in url, wait_until="commit", timeout=60_000)
    except PlaywrightTimeout:
        raise SystemExit(
            f"could not sign in to {base} as {username} (still on {page.url} after 60 s): "
            "check CEMS_SUPERSET_ADMIN_PASSWORD"
        ) from None


def stay_inside(context: BrowserContext, base: str) -> list[str]:
    """Refuse every request that does not go to Superset; return the list of those refused."""
    refused: list[str] = []

    def outside(url: str) -> bool:
        return not (url == base or url.startswith(base + "/"))

    def refuse(route: Route) -> None:
        refused.append(route.request.url)
        route.abort("blockedbyclient")

    context.route(outside, refuse)
    return refused


class ChartRequests:
    """The chart-data requests a dashboard makes, keyed by chart id, with their outcome."""

    def __init__(self) -> None:
        self.charts: dict[int, dict[str, Any]] = {}
        self.bodies: dict[int, str] = {}
        self.filters: list[dict[str, Any]] = []
        self.pending = 0

    @staticmethod
    def _slice_id(request: Request) -> int | None:
        try:
            body = json.loads(request.post_data or "{}")
        except ValueError:
            return None
        form_data = body.get("form_data") or {}
        slice_id = form_data.get("slice_id")
        return int(slice_id) if slice_id else None

    def started(self, request: Request) -> None:
        if "/api/v1/chart/data" in request.url and request.method == "POST":
            self.pending += 1

    def finished(self, response: Response) -> None:
        request = response.request
        if "/api/v1/chart/data" not in request.url or request.method != "POST":
            return
        self.pending -= 1
        outcome: dict[str, Any] = {"status": response.status, "rows": 0, "error": None}
        try:
            document = response.json()
        except Exception:  # a proxy error page, not JSON
            document = {}
        if response.status != 200:
            outcome["error"] = document.get("message") or f"HTTP {response.status}"
        for result in document.get("result") or []:
            outcome["rows"] += int(result.get("rowcount") or 0)
            if result.get("error"):
                outcome["error"] = result["error"]
        slice_id = self._slice_id(request)
        if slice_id is None:
            self.filters.append(outcome)
        else:
            self.charts[slice_id] = outcome
            self.bodies[slice_id] = request.post_data or ""


def save_query_contexts(page: Page, base: str, requests: ChartRequests) -> int:
    """Store the query each chart just ran as its saved query context, where it has none.

    Superset's explore view does this when a chart is saved; charts written as YAML have
    none until then, and the chart-data API (GET /api/v1/chart/<id>/data/) needs one.
    """
    token = api_get(page, f"{base}/api/v1/security/csrf_token/")["result"]
    saved = 0
    for chart_id, body in sorted(requests.bodies.items()):
        if requests.charts[chart_id]["error"] or not body:
            continue
        chart = api_get(page, f"{base}/api/v1/chart/{chart_id}")["result"]
        if chart.get("query_context"):
            continue
        response = page.request.put(
            f"{base}/api/v1/chart/{chart_id}",
            data=json.dumps({"query_context": body, "query_context_generation": True}),
            headers={"Content-Type": "application/json", "X-CSRFToken": token},
        )
        if not response.ok:
            raise SystemExit(f"saving chart {chart_id}'s query failed: {response.text()[:200]}")
        saved += 1
    return saved


def wait_until_painted(page: Page, charts: int, deadline: float) -> None:
    """Wait (until the deadline) for ``charts`` charts to have drawn."""
    while time.monotonic() < deadline and int(page.evaluate(PAINTED_CHARTS_JS)) < charts:
        page.wait_for_timeout(500)


def capture(page: Page, path: Path, charts: int, deadline: float) -> int:
    """Shoot the whole dashboard once every chart has drawn; return how many had drawn.

    A full-page capture of a page taller than the window grows the window while it shoots,
    and the grid lays out again blank. So the window is sized to the page once, before,
    and the shot is of the window itself, which nothing resizes. (Sizing it again would
    not converge: the page fills at least the window, so it grows with it.) Charts are
    counted right before and right after the shot; if one was missing, it is taken again,
    until the deadline.
    """
    wait_until_painted(page, charts, deadline)
    height = int(page.evaluate("() => document.documentElement.scrollHeight"))
    if height > VIEWPORT["height"]:
        page.set_viewport_size({"width": VIEWPORT["width"], "height": height})
        page.wait_for_timeout(1000)  # the resize reaches the grid, which lays out again
    while True:
        wait_until_painted(page, charts, deadline)
        page.wait_for_timeout(1500)  # chart animations settle
        before = int(page.evaluate(PAINTED_CHARTS_JS))
        page.screenshot(path=str(path), full_page=False)
        painted = min(before, int(page.evaluate(PAINTED_CHARTS_JS)))
        if painted >= charts or time.monotonic() >= deadline:
            return painted
        page.wait_for_timeout(1000)


def render(
    page: Page,
    base: str,
    dashboard: dict[str, Any],
    out: Path,
    timeout: float,
    save_queries: bool = False,
) -> Any:
    """Open one dashboard; return its report entry after saving the screenshot."""
    charts = api_get(page, f"{base}/api/v1/dashboard/{dashboard['id']}/charts")["result"]
    expected = {int(c["id"]): c["slice_name"] for c in charts}
    requests = ChartRequests()
    page.on("request", requests.started)
    page.on("response", requests.finished)
    slug = dashboard.get("slug") or str(dashboard["id"])
    page.goto(f"{base}/superset/dashboard/{slug}/", wait_until="domcontentloaded")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = set(requests.charts) >= set(expected)
        loading = page.locator(LOADING_SELECTOR).count()
        if done and requests.pending <= 0 and loading == 0:
            break
        page.wait_for_timeout(500)
    # Data arriving is not the grid painting: on a busy machine React can take seconds more.
    path = out / f"{slug}.png"
    painted = capture(page, path, len(expected), deadline)
    shown = []
    for selector in ERROR_SELECTORS:
        shown += [text.strip() for text in page.locator(selector).all_inner_texts() if text]
    page.remove_listener("request", requests.started)
    page.remove_listener("response", requests.finished)
    page.set_viewport_size(VIEWPORT)
    if save_queries:
        save_query_contexts(page, base, requests)
    report = []
    for chart_id, name in sorted(expected.items()):
        outcome = requests.charts.get(chart_id)
        error = None
        if outcome is None:
            error = "the chart never requested its data"
        elif outcome["error"]:
            error = str(outcome["error"])
        report.append(
            {
                "id": chart_id,
                "name": name,
                "status": outcome and outcome["status"],
                "rows": outcome and outcome["rows"],
                "error": error,
            }
        )
    filter_errors = [f["error"] for f in requests.filters if f["error"]]
    return {
        "id": dashboard["id"],
        "slug": slug,
        "title": dashboard["dashboard_title"],
        "screenshot": str(path),
        "charts": report,
        "painted_charts": painted,
        "errors_on_page": shown,
        "filter_errors": filter_errors,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True, help="Superset's base URL")
    parser.add_argument("--out", type=Path, required=True, help="folder for the PNGs")
    parser.add_argument("--report", type=Path, help="write the JSON report here")
    parser.add_argument("--timeout", type=float, default=180, help="seconds per dashboard")
    parser.add_argument(
        "--save-query-contexts",
        action="store_true",
        help="store each chart's query as its saved query context where it has none",
    )
    args = parser.parse_args(argv)
    base = args.url.rstrip("/")
    username = os.environ.get("CEMS_SUPERSET_ADMIN_USERNAME", "admin")
    password = os.environ["CEMS_SUPERSET_ADMIN_PASSWORD"]
    args.out.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium_path(),
            args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"],
        )
        context = browser.new_context(viewport=VIEWPORT, device_scale_factor=1)
        refused = stay_inside(context, base)
        page = context.new_page()
        sign_in(page, base, username, password)
        listing = api_get(page, f"{base}/api/v1/dashboard/?q=(page_size:100)")["result"]
        dashboards = [
            render(page, base, dashboard, args.out, args.timeout, args.save_query_contexts)
            for dashboard in sorted(listing, key=lambda d: d["dashboard_title"])
        ]
        browser.close()
    document = {"dashboards": dashboards, "refused_outside_requests": sorted(set(refused))}
    if args.report:
        args.report.write_text(json.dumps(document, indent=2), encoding="utf-8")
    failed = False
    for dashboard in dashboards:
        errors = [c for c in dashboard["charts"] if c["error"]]
        errors_shown = dashboard["errors_on_page"] + dashboard["filter_errors"]
        failed = failed or bool(errors or errors_shown)
        print(
            f"{dashboard['title']}: {len(dashboard['charts'])} charts, "
            f"{len(errors) + len(errors_shown)} errors, {dashboard['screenshot']}"
        )
        for chart in errors:
            print(f"  {chart['name']}: {chart['error']}")
        for text in errors_shown:
            print(f"  on the page: {text[:300]}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
