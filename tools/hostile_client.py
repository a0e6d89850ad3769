"""How tools/hostile_requests.py sends a case: through gradio_client, as a browser uploads files, or as the raw JSON a
script can post (FileData with any path, fewer values than the endpoint takes); a case is anything with the fields of
hostile_requests.Case (api, values, raw, ...)."""
from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any, Optional


class Sender:
    """gradio_client for the keyword cases, plain HTTP for the raw ones (POST /gradio_api/call/<api>, then its
    event stream)."""

    def __init__(self, url: str, timeout: float):
        from gradio_client import Client
        self.url = url.rstrip("/") + "/"
        self.timeout = timeout
        self.client = Client(self.url, verbose=False)
        info = self.client.view_api(print_info=False, return_format="dict")["named_endpoints"]
        self.params = {api: [p["parameter_name"] for p in e["parameters"]] for api, e in info.items()}
        self.defaults = {api: [p.get("parameter_default") for p in e["parameters"]] for api, e in info.items()}

    def close(self) -> None:
        self.client.close()

    def positional(self, api: str, kwargs: dict) -> list:
        """kwargs as the endpoint's list of values, the defaults filled in."""
        return [kwargs.get(n, d) for n, d in zip(self.params[api], self.defaults[api])]

    def upload(self, path: Path) -> str:
        """The server path of a file uploaded as a browser does (POST /gradio_api/upload)."""
        boundary = uuid.uuid4().hex
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"{path.name}\"\r\n"
                "Content-Type: application/octet-stream\r\n\r\n").encode() + path.read_bytes() + \
            f"\r\n--{boundary}--\r\n".encode()
        req = urllib.request.Request(self.url + "gradio_api/upload", data=body,
                                     headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
        with urllib.request.urlopen(req, timeout=self.timeout) as r:
            return json.loads(r.read())[0]

    def send(self, case) -> tuple[bool, str, Any]:
        """(refused, message, reply)."""
        if case.raw:
            return self._raw(case.api, case.args, case.body)
        from gradio_client.exceptions import AppError
        try:
            job = self.client.submit(**case.args, api_name=case.api)
            reply = job.result(timeout=self.timeout)
            return False, str(reply)[:300], reply
        except AppError as e:
            return True, str(e), None
        except TimeoutError:
            job.cancel()
            return False, f"no reply within {self.timeout:.0f} s", None
        except Exception as e:    # a client-side refusal (a value the API schema rejects) also counts
            return True, f"{type(e).__name__}: {e}", None

    def _raw(self, api: str, data: Any, body: Optional[bytes] = None) -> tuple[bool, str, Any]:
        payload = body if body is not None else json.dumps({"data": data}).encode()
        req = urllib.request.Request(self.url + "gradio_api/call/" + api.strip("/"), data=payload,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as r:
                event_id = json.loads(r.read())["event_id"]
            with urllib.request.urlopen(f"{self.url}gradio_api/call/{api.strip('/')}/{event_id}",
                                        timeout=self.timeout) as r:
                stream = r.read().decode(errors="replace")
        except urllib.error.HTTPError as e:
            return True, f"HTTP {e.code}: {e.read().decode(errors='replace')[:300]}", None
        except (urllib.error.URLError, TimeoutError, OSError) as e:
            return False, f"no reply ({type(e).__name__}: {e})", None
        event, data_line = "", ""
        for line in stream.splitlines():
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                data_line = line[5:].strip()
        if event == "complete":
            reply = json.loads(data_line)
            return False, str(reply)[:300], reply
        try:
            error = json.loads(data_line)
        except ValueError:
            error = data_line
        message = error.get("error") if isinstance(error, dict) else error
        return True, str(message or "The upstream Gradio app has raised an exception (no message)"), None
