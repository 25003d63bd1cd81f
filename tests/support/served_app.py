"""The start of a script that serves the app with uvicorn in a subprocess until its model is
loaded, leaving `app`, `server`, `url` and `built_modules` (the modules imported once the app
was built, before it started) for the lines a test appends (answers, imports)."""

SERVED_APP_PRELUDE = """
import json, sys, threading, time
import httpx, uvicorn
from sentiment_mlops.serving.app import create_app
from sentiment_mlops.settings import Settings
app, port = create_app(Settings(_env_file=None)), int(sys.argv[1])
built_modules = sorted(sys.modules)  # what building the app imported, before it starts
server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
thread = threading.Thread(target=server.run, daemon=True)
thread.start()
deadline = time.monotonic() + 120
while app.state.store.current is None and time.monotonic() < deadline:
    time.sleep(0.05)
url = f"http://127.0.0.1:{port}"
"""
