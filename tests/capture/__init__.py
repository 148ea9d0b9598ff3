"""Server-side web capture with real Chromium, pywb and ReplayWeb.page (the slow lane)."""
