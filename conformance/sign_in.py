"""Plays the person in a browser for the conformance suite's authorization-code-grant scenario.

The suite prints an authorization URL and waits for the redirect to its callback; a person would open it, sign in
on the embedded authorization server's page and allow the client. This does the same over HTTP: it follows the
URL to the sign-in page, posts the secret, posts "allow" on the consent page, and follows the redirect to the
suite's callback. Standard library only.

    python3 sign_in.py AUTHORIZE_URL   (the person's secret in POLAR_CONFORMANCE_SECRET)
"""

from __future__ import annotations

import html
import os
import re
import sys
import urllib.error
import urllib.parse
import urllib.request
from html.parser import HTMLParser
from http.cookiejar import CookieJar


class Form(HTMLParser):
    """The first POST form of a page: its action and its hidden fields."""

    def __init__(self) -> None:
        super().__init__()
        self.action: str | None = None
        self.fields: dict[str, str] = {}
        self._inside = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form" and self.action is None and a.get("method", "").lower() == "post":
            self.action, self._inside = a.get("action", ""), True
        elif tag == "input" and self._inside and a.get("type") == "hidden":
            self.fields[a.get("name", "")] = a.get("value", "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._inside = False


def form_of(page: str, url: str) -> tuple[str, dict[str, str]]:
    parser = Form()
    parser.feed(page)
    if parser.action is None:
        sys.exit(f"sign-in: no form on {url}:\n{page[:2000]}")
    return urllib.parse.urljoin(url, parser.action), parser.fields


def main() -> None:
    authorize_url = sys.argv[1]
    secret = os.environ["POLAR_CONFORMANCE_SECRET"]
    origin = "{0.scheme}://{0.netloc}".format(urllib.parse.urlsplit(authorize_url))
    browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))

    def post(url: str, fields: dict[str, str]) -> tuple[str, str]:
        request = urllib.request.Request(
            url, urllib.parse.urlencode(fields).encode(), headers={"Origin": origin}, method="POST"
        )
        with browser.open(request, timeout=30) as answer:
            return answer.geturl(), answer.read().decode()

    try:
        with browser.open(authorize_url, timeout=30) as answer:  # -> /oauth/sign-in?request=...
            url, page = answer.geturl(), answer.read().decode()
        action, fields = form_of(page, url)
        url, page = post(action, {**fields, "secret": secret})  # -> /oauth/consent?request=...
        action, fields = form_of(page, url)
        url, page = post(action, {**fields, "decision": "allow"})  # -> the suite's callback
    except urllib.error.HTTPError as exc:
        page = exc.read().decode(errors="replace")
        said = re.search(r'<div class="error">(.*?)</div>', page, re.S)
        sys.exit(f"sign-in: {exc.code} from {exc.geturl()}: {html.unescape(said.group(1)) if said else page[:500]}")
    print(f"sign-in: allowed; the browser went back to {urllib.parse.urlsplit(url)._replace(query='').geturl()}")


if __name__ == "__main__":
    main()
