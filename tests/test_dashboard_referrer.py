"""In Chromium: the page's own requests carry its Referer (Referrer-Policy:
same-origin), and an action POSTed by the page carries its Origin and passes the
same-origin check; one from another origin's page is refused."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from .browser import serve_dashboard

if TYPE_CHECKING:
    from playwright.sync_api import Page, Request

SPEC = "003-reading-goals"
POST = """async (text) => {
  const answer = await fetch("/api/actions/tell", {method: "POST",
    headers: {"Content-Type": "application/json"},
    body: JSON.stringify({spec: "003-reading-goals", role: "overseer", text: text})});
  return answer.status;
}"""


def test_the_pages_requests_carry_its_referer_and_origin(
    page: Page, repo: Path, initialized: Path
) -> None:
    with serve_dashboard(repo) as running:
        sent: list[Request] = []
        page.on("request", lambda request: sent.append(request))
        page.goto(running.url + "/")
        page.wait_for_selector("body[data-loaded]")
        api = [r for r in sent if "/api/features" in r.url]
        assert api and all(r.all_headers().get("referer") == running.url + "/" for r in api)
        assert page.evaluate(POST, "from the page") == 200
        (action,) = [r for r in sent if r.url.endswith("/api/actions/tell")]
        assert action.all_headers().get("origin") == running.url
        # from a page of another origin (localhost is not the configured 127.0.0.1)
        page.goto(running.url.replace("127.0.0.1", "localhost") + "/api/config")
        assert page.evaluate(POST, "from elsewhere") == 403
