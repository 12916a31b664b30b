"""``/alerts``: the admin web page, plain HTML, CSS and JavaScript from ``api/static``.

The page is a static shell: its scripts talk only to the REST API with the token the admin
pastes (kept in the tab's ``sessionStorage``), so it needs no session or cookie of its own.
It is served with a strict Content-Security-Policy (scripts and styles from this origin only,
nothing inline); the scripts insert every piece of data as text, never as markup. The
scripts and styles themselves are the app's static files (``/static/...``).
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app, request, send_from_directory

from api.io import doc

bp = Blueprint("web", __name__)

CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
PAGE_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


@bp.get("/alerts")
@doc(content_type="text/html")
def alerts_page() -> Response:
    """The admin web page: alert configs, test alerts and the notification centre."""
    folder = current_app.static_folder
    if folder is None:  # create_app's Flask(__name__) always has api/static
        raise RuntimeError("the app has no static folder")
    response = send_from_directory(folder, "alerts.html", max_age=0)
    response.headers.update(PAGE_HEADERS)
    return response


@bp.after_app_request
def _static_headers(response: Response) -> Response:
    """Static files get the same policy (``/static/alerts.html`` too) and are never sniffed."""
    if request.endpoint == "static":
        for name, value in PAGE_HEADERS.items():
            if name != "Cache-Control":
                response.headers.setdefault(name, value)
    return response
